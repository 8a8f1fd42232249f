"""The live sets: what the SFT, RL and evaluation sets hold now, as the steps left them.

An example belongs to a set by its split step's `SplitAssignment`, not by a field anyone may
overwrite; an example whose video decontamination removed has no assignment (the split never
saw it), so it is in no set and in no export. Every reader of the sets (exports, statistics,
training) goes through here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Literal

from videokr.records import EvalItem, Example, record_from_json
from videokr.store import Store

SetName = Literal["sft", "rl", "eval"]
IMPORT_STEP = "import"
SPLIT_STEP = "split"
# The steps whose live outputs are training examples: the official files' import, and the last
# validator of §3.3 (the only corpus step that writes `Example` records).
EXAMPLE_STEPS = (IMPORT_STEP, "cot_validation")
# The steps whose live outputs are video files: those official items name, and those §3.2 collected.
VIDEO_STEPS = ("videos", "download", "local_sources")
# The steps whose live outputs are benchmark items: the official evaluation file's import, and §4's
# assembly of VideoKR-Eval (`benchmark`). Their videos are the benchmark side of decontamination.
BENCHMARK_STEPS = (IMPORT_STEP, "benchmark")


def _live(kind: str, steps: tuple[str, ...]) -> str:
    named = ", ".join(f"'{step}'" for step in steps)
    return (f"EXISTS (SELECT 1 FROM outputs o WHERE o.kind='{kind}' AND o.record_id=i.id AND o.step IN ({named}))")


def live_examples(store: Store, *, with_sets: bool = True) -> Iterator[Example]:
    """Every live example, its `split` set to its assignment (None when unassigned) when `with_sets`."""
    sql = (
        "SELECT i.data, a.data FROM items i "
        "LEFT JOIN items a ON a.kind='split_assignment' AND a.id=i.id AND EXISTS (SELECT 1 FROM outputs o "
        "WHERE o.kind='split_assignment' AND o.record_id=a.id AND o.step=?) "
        f"WHERE i.kind='example' AND {_live('example', EXAMPLE_STEPS)} ORDER BY i.id"
    )
    cursor = store.execute(sql, (SPLIT_STEP,))
    while batch := cursor.fetchmany(1000):
        for data, assignment in batch:
            example = record_from_json("example", data)
            assert isinstance(example, Example)
            if with_sets:
                chosen = json.loads(assignment)["set"] if assignment else None
                example = example.model_copy(update={"split": chosen})
            yield example


def live_benchmark_items(store: Store) -> Iterator[EvalItem]:
    """Every live benchmark item: imported from an official evaluation file, or assembled by §4's `benchmark`."""
    for item in store.live_outputs(BENCHMARK_STEPS, "eval_item"):
        assert isinstance(item, EvalItem)
        yield item


def live_set(store: Store, name: SetName) -> list[Example] | list[EvalItem]:
    """The examples of the SFT or RL set (by the split's assignment), or the evaluation items."""
    if name == "eval":
        return list(live_benchmark_items(store))
    return [e for e in live_examples(store) if e.split == name]


def set_sizes(store: Store) -> dict[str, int]:
    sizes = {"sft": 0, "rl": 0, "unassigned": 0}
    for example in live_examples(store):
        sizes[example.split or "unassigned"] += 1
    sizes["eval"] = sum(1 for _ in live_benchmark_items(store))
    return sizes
