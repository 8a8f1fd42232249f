"""Tables 2 and 9 of the paper, read from a workspace's store, with the paper's numbers beside.

Table 2 (single-frame answerability): per probe model and source benchmark, the share of the
probed examples the model answered right in all three trials from one frame — read from the
live `FrameProbe`s. The VideoKR-Eval column is the share among the final benchmark's source
examples probed (the retained ones: 0 by construction unless the probing settings changed since),
so it is shown only beside the paper's.

Table 9 (construction): per source benchmark, candidates (examples read), filtered and retained
(of those probed; `unprobed` says how many wait), re-annotated (the experts' examples in the
benchmark) and final (VideoKR-Eval's items from that benchmark).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from videokr.benchmark.paper import (
    PAPER_TABLE2,
    PAPER_TABLE2_SIZES,
    PAPER_TABLE9,
    PAPER_TABLE9_TOTAL,
    SOURCE_BENCHMARKS,
    TABLE9_COLUMNS,
    VIDEOKR_EVAL_NAME,
)
from videokr.benchmark.retention import decisions, live_candidates, live_probes
from videokr.store import Store

REANNOTATION_STEP = "reannotation"
BENCHMARK_STEP = "benchmark"


def _percent(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def _order(names: set[str], first: tuple[str, ...]) -> list[str]:
    """The paper's order first, then any other name alphabetically."""
    return [n for n in first if n in names] + sorted(names - set(first))


def table2(store: Store) -> dict[str, Any]:
    """{"benchmarks": [...], "rows": [{"model", "cells": {benchmark: {solvable, probed, percent, paper}}}]}."""
    solvable: Counter[tuple[str, str]] = Counter()
    probed: Counter[tuple[str, str]] = Counter()
    for probes in live_probes(store).values():
        for probe in probes:
            probed[probe.model, probe.dataset] += 1
            solvable[probe.model, probe.dataset] += probe.solvable
    models = _order({m for m, _ in probed} | set(PAPER_TABLE2), tuple(PAPER_TABLE2))
    benchmarks = _order({d for _, d in probed} | set(SOURCE_BENCHMARKS), SOURCE_BENCHMARKS)
    rows = []
    for model in models:
        cells = {}
        for benchmark in benchmarks:
            n = probed[model, benchmark]
            cells[benchmark] = {"solvable": solvable[model, benchmark], "probed": n,
                                "percent": _percent(solvable[model, benchmark], n),
                                "paper": PAPER_TABLE2.get(model, {}).get(benchmark)}
        cells[VIDEOKR_EVAL_NAME] = {"solvable": None, "probed": None, "percent": None,
                                    "paper": PAPER_TABLE2.get(model, {}).get(VIDEOKR_EVAL_NAME)}
        rows.append({"model": model, "cells": cells})
    return {"benchmarks": benchmarks + [VIDEOKR_EVAL_NAME], "paper_sizes": PAPER_TABLE2_SIZES, "rows": rows}


def table9(store: Store) -> dict[str, Any]:
    """{"rows": [{"benchmark", counts..., "unprobed", "paper": {...}}], "total": {...}, "paper_total": {...}}."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for candidate in live_candidates(store):
        counts[candidate.dataset]["candidates"] += 1
    for decision in decisions(store):
        counts[decision.candidate.dataset]["retained" if decision.retained else "filtered"] += 1
    for item in store.live_outputs(BENCHMARK_STEP, "eval_item"):
        dataset = getattr(item, "dataset", None) or "?"
        counts[dataset]["final"] += 1
        if (getattr(item, "extra", {}) or {}).get("origin") == "reannotated":
            counts[dataset]["reannotated"] += 1
    rows = []
    total: Counter[str] = Counter()
    for benchmark in _order(set(counts) | set(SOURCE_BENCHMARKS), SOURCE_BENCHMARKS):
        row: dict[str, Any] = {"benchmark": benchmark, **{c: counts[benchmark][c] for c in TABLE9_COLUMNS}}
        row["unprobed"] = row["candidates"] - row["filtered"] - row["retained"]
        row["paper"] = PAPER_TABLE9.get(benchmark)
        total.update({c: row[c] for c in (*TABLE9_COLUMNS, "unprobed")})
        rows.append(row)
    return {"rows": rows, "total": {c: total[c] for c in (*TABLE9_COLUMNS, "unprobed")},
            "paper_total": PAPER_TABLE9_TOTAL}


def benchmark_report(store: Store) -> dict[str, Any]:
    return {"table2": table2(store), "table9": table9(store)}
