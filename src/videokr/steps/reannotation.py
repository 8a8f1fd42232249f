"""§4.2's re-annotation as a step: experts' new examples on the filtered videos become candidates.

Human input is a source like a file. The step takes the experts' decisions from two places:

- the review app's final verdicts of the `reannotation` queue (`videokr.review.verdicts.final_verdicts`),
- JSON Lines files listed under `files:` (`videokr benchmark reannotate import FILE` adds one):
  the queue file `videokr benchmark reannotate export` wrote, with `decision` ("new" or "drop"),
  `example` (question, options, answer, question_type, optional reasoning) and `reviewer` filled in.
  A line whose decision is still empty is not reviewed yet and is passed over.

One item per queue entry decided (item id: the filtered example's id); a file line overrides the
app's verdict on the same entry (importing a file is the later, deliberate act). A new example is
accepted as a `BenchmarkCandidate` of origin "reannotated" (id '{filtered id}/re') that the
`benchmark` step adds to VideoKR-Eval; "drop" is rejected with code `dropped`; a line that cannot
be read, names no queue entry, repeats an entry, or carries an example that breaks the records'
rules is rejected naming FILE:LINE (or "review app: ITEM"), and the other lines go on.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from videokr.benchmark.reannotation import QUEUE, ExampleError, check_payload, new_candidate, queue_entries
from videokr.hashing import digest_json
from videokr.jsonlines import json_lines
from videokr.pipeline.recipe import register
from videokr.pipeline.step import Result, Step, StepConfig
from videokr.records import BenchmarkCandidate
from videokr.steps.importing import source_label
from videokr.store import Store

STEP = "reannotation"
REVIEW_APP = "review app"
BAD_LINE_CODE = "bad_line"
DUPLICATE_CODE = "duplicate_id"
UNKNOWN_ITEM_CODE = "unknown_item"
DROPPED_CODE = "dropped"
INVALID_EXAMPLE_CODE = "invalid_example"


class ReannotationConfig(StepConfig):
    # Each line's fingerprint carries its file and line, so adding a file redoes nothing else.
    RUN_ONLY: ClassVar[frozenset[str]] = StepConfig.RUN_ONLY | {"files"}

    files: list[str] = Field(default_factory=list,
                             description="experts' JSON Lines files (the filled-in queue), relative to the workspace")


@dataclass(frozen=True)
class Decided:
    """One expert decision (a file line or an app verdict), with the filtered example it names as it is now."""

    item_id: str
    where: str  # FILE:LINE, or "review app"
    target: str | None = None  # the queue entry named
    candidate: BenchmarkCandidate | None = None  # None: the entry is not in the queue
    data: dict[str, Any] | None = None  # decision, example, reviewer, note
    problem: str | None = None
    duplicate_of: str | None = None

    @property
    def label(self) -> str:
        return f"{self.where}: {self.target}" if self.where == REVIEW_APP else self.where


def file_decisions(path: Path, label: str, queue: dict[str, BenchmarkCandidate],
                   claimed: dict[str, str]) -> Iterator[Decided]:
    """The decided lines of one file; `claimed` (entry -> where) marks repeats across lines and files."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file (steps.{STEP}.files)")
    for line in json_lines(path):
        where = f"{label}:{line.number}"
        if line.value is None:
            yield Decided(where, where, problem=line.problem or "not a JSON object")
            continue
        data = line.value
        if data.get("decision") is None and data.get("example") is None:
            continue  # not reviewed yet
        target = data.get("item_id")
        if not isinstance(target, str) or not target.strip():
            yield Decided(where, where, problem="no item_id: name the queue entry (the filtered example's id)")
            continue
        target = target.strip()
        if target in claimed:
            yield Decided(where, where, target, duplicate_of=claimed[target])
            continue
        claimed[target] = where
        yield Decided(target, where, target, queue.get(target), data)


def app_decisions(store: Store, queue: dict[str, BenchmarkCandidate], claimed: dict[str, str]) -> Iterator[Decided]:
    """The review app's final verdicts on entries no file line decided."""
    from videokr.review.verdicts import final_verdicts

    for target, verdict in sorted(final_verdicts(store, QUEUE).items()):
        if target in claimed:
            continue
        data = {**verdict.payload, "reviewer": verdict.reviewer, "note": verdict.note}
        yield Decided(target, REVIEW_APP, target, queue.get(target), data)


@register
class ReannotationStep(Step[Decided]):
    name = STEP
    version = "1"
    Config = ReannotationConfig
    after = ("frame_probe",)
    reads = "frame_probe"
    writes = ("benchmark_candidate",)

    def inputs(self, store: Store) -> list[Decided]:
        config = self.config
        assert isinstance(config, ReannotationConfig)
        queue = {e.item_id: e.candidate for e in queue_entries(store)}
        claimed: dict[str, str] = {}
        found: list[Decided] = []
        for name in config.files:
            path = Path(name) if Path(name).is_absolute() else self.context.root / name
            found += file_decisions(path, source_label(path, self.context.root), queue, claimed)
        found += app_decisions(store, queue, claimed)
        return found

    def item_id(self, item: Decided) -> str:
        return item.item_id

    def item_fingerprint(self, item: Decided) -> str:
        return digest_json({"where": item.where, "target": item.target, "data": item.data, "problem": item.problem,
                            "duplicate_of": item.duplicate_of,
                            "candidate": None if item.candidate is None else item.candidate.model_dump(mode="json")})

    def process(self, item: Decided) -> Result:
        detail = {"where": item.where, "item": item.target}
        if item.problem is not None:
            return Result.reject(f"{item.label}: {item.problem}", code=BAD_LINE_CODE, detail=detail)
        if item.duplicate_of is not None:
            return Result.reject(f"{item.label}: {item.target!r} was decided already at {item.duplicate_of}",
                                 code=DUPLICATE_CODE, detail=detail)
        if item.candidate is None:
            return Result.reject(f"{item.label}: {item.target!r} is not in the re-annotation queue (no filtered "
                                 "example has this id)", code=UNKNOWN_ITEM_CODE, detail=detail)
        data = item.data or {}
        reviewer = data.get("reviewer")
        if not isinstance(reviewer, str) or not reviewer.strip():
            return Result.reject(f"{item.label}: no reviewer: name who wrote the example", code=BAD_LINE_CODE,
                                 detail=detail)
        note = data.get("note") if isinstance(data.get("note"), str) else None
        try:
            decision, example = check_payload(data)
            if decision == "drop":
                return Result.reject(f"{item.label}: {item.target!r} dropped by {reviewer.strip()}: no new example",
                                     code=DROPPED_CODE, detail=detail)
            assert example is not None
            made = new_candidate(item.candidate, example, reviewer=reviewer.strip(),
                                 where=None if item.where == REVIEW_APP else item.where, note=note)
        except ExampleError as exc:
            return Result.reject(f"{item.label}: example for {item.target!r}: {exc}", code=INVALID_EXAMPLE_CODE,
                                 detail=detail)
        return Result.accept(made, detail=detail)
