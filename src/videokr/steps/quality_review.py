"""§3.4's manual quality assessment as a source step: `quality_review` (reviewers' verdict lines → `QualityVerdict`).

Reviewers fill in the queue `videokr corpus quality sample` wrote (or any JSON Lines file) with,
per example: `id`, `non_visual_solvable`, `reasoning_error`, `answer_changing_error` (booleans),
`reviewer` and an optional `note`. Each good line becomes one `QualityVerdict` whose id is the
example's, tracked as the item `quality_review:<example id>`: importing a corrected file (or
another reviewer's file naming the same example) reprocesses that item and replaces its verdict,
while verdicts of other examples stay. A bad line is rejected as `FILE:LINE: reason`; the good
lines are imported anyway.

Why a step and not a direct write: only the runner writes the store, so an import killed at any
instant loses nothing and a repeat import redoes only the lines that changed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from videokr.hashing import digest_json
from videokr.jsonlines import json_lines
from videokr.pipeline.recipe import register
from videokr.pipeline.step import Result, Step, StepConfig
from videokr.records import Example, QualityVerdict
from videokr.store import Store

QUALITY_STEP = "quality_review"
VERDICT_FIELDS = ("non_visual_solvable", "reasoning_error", "answer_changing_error")
BAD_LINE_CODE = "bad_line"
UNKNOWN_EXAMPLE_CODE = "unknown_example"
DUPLICATE_CODE = "duplicate_id"


@dataclass(frozen=True)
class VerdictLine:
    """One line of a verdicts file, with the example it names as it is now (None: not a live SFT example)."""

    label: str  # the file as messages name it
    number: int
    data: dict[str, Any] | None
    problem: str | None  # why the line is not a JSON object
    example: Example | None
    duplicate_of: int | None = None

    @property
    def where(self) -> str:
        return f"{self.label}:{self.number}" if self.number else f"{self.label} {self.example_id}"

    @property
    def example_id(self) -> str | None:
        raw = (self.data or {}).get("id")
        return raw.strip() if isinstance(raw, str) and raw.strip() else None


def verdict_lines(path: Path, label: str, examples: Mapping[str, Example]) -> Iterator[VerdictLine]:
    """The lines of a verdicts file; a repeated example id is marked with the line it repeats."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    seen: dict[str, int] = {}
    for line in json_lines(path):
        data = line.value if isinstance(line.value, dict) else None
        item = VerdictLine(label, line.number, data, line.problem, None)
        id_ = item.example_id
        if id_ is None:
            yield item
            continue
        if id_ in seen:
            yield VerdictLine(label, line.number, data, line.problem, None, duplicate_of=seen[id_])
            continue
        seen[id_] = line.number
        yield VerdictLine(label, line.number, data, line.problem, examples.get(id_))


REVIEW_QUEUE = "quality"
REVIEW_LABEL = "review:quality"  # how verdicts of the review app are named in messages and details


def review_lines(store: Store) -> list[VerdictLine]:
    """The final verdicts of the review app's `quality` queue, as lines of a verdicts file would be."""
    from videokr.review.verdicts import final_verdicts
    from videokr.sets import live_set

    examples = {e.id: e for e in live_set(store, "sft")}
    lines = []
    for example_id, verdict in final_verdicts(store, REVIEW_QUEUE).items():
        data = {"id": example_id, **verdict.payload, "reviewer": verdict.reviewer, "note": verdict.note or ""}
        lines.append(VerdictLine(REVIEW_LABEL, 0, data, None, examples.get(example_id)))  # type: ignore[arg-type]
    return lines


class VerdictError(ValueError):
    """What is wrong with a verdict line (the step prefixes FILE:LINE)."""


def _flag(data: Mapping[str, Any], name: str) -> bool:
    if name not in data or data[name] is None:
        raise VerdictError(f"{name} is missing: give true or false (not reviewed yet?)")
    value = data[name]
    if not isinstance(value, bool):
        raise VerdictError(f"{name} must be true or false, not {value!r}")
    return value


def parse_verdict(item: VerdictLine) -> QualityVerdict:
    """A good line → its `QualityVerdict`. Raises VerdictError naming what is wrong."""
    data = item.data
    assert data is not None
    id_ = item.example_id
    if id_ is None:
        raise VerdictError("no example id ('id')")
    flags = {name: _flag(data, name) for name in VERDICT_FIELDS}
    if flags["answer_changing_error"] and not flags["reasoning_error"]:
        raise VerdictError("answer_changing_error is true but reasoning_error is false: an error that changes "
                           "the answer is a reasoning error too")
    reviewer = data.get("reviewer")
    if not isinstance(reviewer, str) or not reviewer.strip():
        raise VerdictError("no reviewer: name who reviewed the example")
    note = data.get("note") or ""
    if not isinstance(note, str):
        raise VerdictError(f"note must be text, not {note!r}")
    example = item.example
    assert example is not None
    return QualityVerdict(id=id_, example_id=id_, reviewer=reviewer.strip(), note=note, skill=example.skill,
                          discipline=example.discipline, source_file=item.label, source_line=item.number, **flags)


@register
class QualityReviewStep(Step[VerdictLine]):
    """One item per example reviewed; a good line is accepted with its `QualityVerdict`."""

    name = QUALITY_STEP
    version = "1"
    Config = StepConfig
    writes = ("quality_verdict",)
    source = True

    def inputs(self, store: Store) -> list[VerdictLine]:
        # Files come in through `videokr corpus quality import FILE` (it passes their lines); the review
        # app's verdicts are read here, so `videokr run --only quality_review` brings them in.
        return review_lines(store)

    def item_id(self, item: VerdictLine) -> str:
        id_ = item.example_id
        if id_ is None or item.duplicate_of is not None:
            return f"{QUALITY_STEP}:{item.label}:{item.number}"
        return f"{QUALITY_STEP}:{id_}"

    def item_fingerprint(self, item: VerdictLine) -> str:
        example = item.example
        return digest_json({"file": item.label, "line": item.number, "data": item.data, "problem": item.problem,
                            "duplicate_of": item.duplicate_of,
                            "example": None if example is None else [example.skill, example.discipline]})

    def process(self, item: VerdictLine) -> Result:
        detail = {"file": item.label, "line": item.number}
        if item.data is None:
            return Result.reject(f"{item.where}: {item.problem or 'not a JSON object'}", code=BAD_LINE_CODE,
                                 detail=detail)
        if item.duplicate_of is not None:
            return Result.reject(f"{item.where}: example {item.example_id!r} repeats line {item.duplicate_of}",
                                 code=DUPLICATE_CODE, detail=detail)
        if item.example_id is not None and item.example is None:
            return Result.reject(f"{item.where}: {item.example_id!r} is not an example of the live SFT set",
                                 code=UNKNOWN_EXAMPLE_CODE, detail=detail)
        try:
            verdict = parse_verdict(item)
        except VerdictError as exc:
            return Result.reject(f"{item.where}: {exc}", code=BAD_LINE_CODE, detail=detail)
        return Result.accept(verdict, detail=detail)
