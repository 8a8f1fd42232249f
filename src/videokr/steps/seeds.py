"""§3.3's expert seed examples as a source step: `seeds` (JSONL/JSON files → `Seed` records).

Experts write seed examples for every discipline × core skill; example generation shows three
of the same discipline and skill to the generator in each round. A seed line has the official
example fields (`problem_id`/`id`, `problem_type`, `question`, `options`, `solution`/`answer`,
`think`, optionally `video_path`…) read exactly as `import` reads them, plus the required
`skill` (VidR, KnowVid, KnowVidR) and `discipline` (one of Table 6's four). Each line is an
item `seeds:<file>#<id>` (a line without a usable id: `seeds:<file>:<line>`); a bad line is
rejected as `FILE:LINE: reason` and the good lines are imported anyway.

Seeds are their own record kind, written by their own step: no set reader (`videokr.sets`),
export, split or benchmark ever takes one for an example, even when ids coincide.

A seed names no video of its own necessarily: the generator sees it as text. A line may name
the video the expert wrote it on; it is kept as provenance (`video_id`, `video_path`), never
opened. Its reasoning (`think`) is required: the generator is told to emulate the seeds'
reasoning, and a seed without one cannot show it how.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, ValidationError

from videokr.formats.official import (
    CONSUMED_KEYS,
    SKILL_NAMES,
    ANSWER_KEYS,
    COT_KEYS,
    OPTION_KEYS,
    QUESTION_KEYS,
    TYPE_KEYS,
    LineError,
    SourceLine,
    describe_validation_error,
    read_enum,
    example_id,
    first,
    normalize_video_path,
    question_fields,
    read_source,
    strip_think_tags,
    video_paths,
)
from videokr.hashing import digest_json, digest_parts
from videokr.knowledge.subjects import UnknownName, find_discipline, find_subject
from videokr.pipeline.recipe import register
from videokr.pipeline.step import Result, Step, StepConfig, StepContext
from videokr.records import Discipline, Outcome, ProblemType, Seed, Skill
from videokr.steps.importing import FileImport, source_label
from videokr.store import Store

SEEDS_STEP = "seeds"
# §3.3: "150 examples are created for each skill within every discipline" (4 × 3 × 150 = 1,800 seeds).
PAPER_SEEDS_PER_SKILL_PER_DISCIPLINE = 150


class SeedsConfig(StepConfig):
    # Each line's fingerprint is its file and text, so adding a file redoes nothing else.
    RUN_ONLY: ClassVar[frozenset[str]] = StepConfig.RUN_ONLY | {"sources"}

    sources: list[str] = Field(default_factory=list, description="seed files (JSONL or a JSON array), relative to "
                               "the workspace")


@dataclass(frozen=True)
class SeedLine:
    """One line of a seed file, with the item id it is tracked under."""

    line: SourceLine
    item_id: str
    label: str  # the file as ids and messages name it (relative to the workspace when inside it)
    duplicate_of: int | None = None
    review: dict[str, Any] | None = None  # the final verdict of the review app's `seeds` queue, if any

    @property
    def where(self) -> str:
        return f"{self.label}:{self.line.line_no}"


def seed_lines(path: Path, root: Path) -> Iterator[SeedLine]:
    """A file's lines; a line with an id is tracked by it, a repeated id or an unreadable line by its position."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    label = source_label(path, root)
    seen: dict[str, int] = {}
    for line in read_source(path):
        if line.data is None:
            yield SeedLine(line, f"{SEEDS_STEP}:{label}:{line.line_no}", label)
            continue
        id_ = example_id(line.data)
        if id_ in seen:
            yield SeedLine(line, f"{SEEDS_STEP}:{label}:{line.line_no}", label, duplicate_of=seen[id_])
            continue
        seen[id_] = line.line_no
        yield SeedLine(line, f"{SEEDS_STEP}:{label}#{id_}", label)


REVIEW_QUEUE = "seeds"
DROPPED_CODE = "dropped_by_review"
# An edit names seed fields; each replaces every spelling of that field in the line.
EDIT_KEYS: dict[str, tuple[str, ...]] = {
    "question": QUESTION_KEYS, "options": OPTION_KEYS, "answer": ANSWER_KEYS, "cot": COT_KEYS,
    "problem_type": TYPE_KEYS + ("question_type",), "subject": ("subject",), "skill": ("skill",),
    "discipline": ("discipline",), "knowledge_point": ("knowledge_point",),
}
_EDIT_TARGET = {"answer": "solution", "cot": "think"}


def with_review(store: Store, lines: list[SeedLine]) -> list[SeedLine]:
    """The lines with the final verdicts of the `seeds` review queue folded in (so fingerprints follow them)."""
    from dataclasses import replace

    from videokr.review.verdicts import final_verdicts

    final = final_verdicts(store, REVIEW_QUEUE)
    return [replace(line, review={**final[line.item_id].payload, "reviewer": final[line.item_id].reviewer})
            if line.item_id in final else line for line in lines]


def apply_edit(data: dict[str, Any], edited: dict[str, Any]) -> dict[str, Any]:
    """A seed line with a reviewer's edit applied (seed field names, see EDIT_KEYS). Raises LineError."""
    unknown = sorted(set(edited) - set(EDIT_KEYS))
    if unknown:
        raise LineError(f"the review edit names unknown field(s) {', '.join(unknown)}; "
                        f"editable: {', '.join(EDIT_KEYS)}")
    out = dict(data)
    for name, value in edited.items():
        for key in EDIT_KEYS[name]:
            out.pop(key, None)
        out[_EDIT_TARGET.get(name, name)] = value
    return out


def _discipline(raw: Any) -> Discipline:
    if raw is None or not str(raw).strip():
        raise LineError(f"no discipline; expected one of {', '.join(d.value for d in Discipline)}")
    try:
        return find_discipline(str(raw))
    except UnknownName as exc:
        raise LineError(str(exc)) from None


def _skill(raw: Any) -> Skill:
    if raw is None or not str(raw).strip():
        raise LineError(f"no skill; expected one of {', '.join(s.value for s in Skill)}")
    skill: Skill = read_enum(raw, SKILL_NAMES, "skill")
    return skill


def _subject(raw: Any, discipline: Discipline) -> str | None:
    """The Table 6 spelling of the seed's subject, which must belong to its discipline."""
    if raw is None or not str(raw).strip():
        return None
    try:
        subject = find_subject(str(raw))
    except UnknownName as exc:
        raise LineError(str(exc)) from None
    if subject.discipline is not discipline:
        raise LineError(f"subject {subject.name!r} is in {subject.discipline.value}, not {discipline.value}")
    return subject.name


def parse_seed(data: dict[str, Any], *, source: str, line_no: int) -> Seed:
    """One seed line → a `Seed`, its question fields read as `import` reads official lines. Raises LineError."""
    skill = _skill(data.get("skill"))
    discipline = _discipline(data.get("discipline"))
    subject = _subject(data.get("subject"), discipline)

    question, options, problem_type, answer = question_fields(
        data, first(data, ("problem_type", "type", "question_type")), noun="seed")
    cot = first(data, COT_KEYS)
    cot = strip_think_tags(cot) if cot is not None else ""
    if not cot:
        raise LineError("a seed needs its reasoning ('think'): the generator is told to emulate it (§3.3)")

    paths = video_paths(data)
    if len(paths) > 1:
        raise LineError(f"a seed names at most one video; this line names {len(paths)}")
    path = normalize_video_path(paths[0]) if paths else ""
    try:
        return Seed(
            id=example_id(data),
            problem_type=problem_type,
            question=question,
            options=options if problem_type is ProblemType.MULTIPLE_CHOICE else [],
            answer=answer,
            video_id=str(data.get("video_id") or path),
            video_path=path,
            subject=subject,
            skill=skill,
            discipline=discipline,
            cot=cot,
            knowledge_point=data.get("knowledge_point"),
            source_file=source,
            source_line=line_no,
            extra={k: v for k, v in data.items() if k not in CONSUMED_KEYS},
        )
    except ValidationError as exc:
        raise LineError(describe_validation_error(exc)) from None


@register
class SeedsStep(Step[SeedLine]):
    """One item per line of the seed files; a good line is accepted with its `Seed`."""

    name = SEEDS_STEP
    version = "1"
    Config = SeedsConfig
    writes = ("seed",)
    source = True

    def inputs(self, store: Store) -> Iterator[SeedLine]:
        assert isinstance(self.config, SeedsConfig)
        lines: list[SeedLine] = []
        for source in self.config.sources:
            path = Path(source)
            lines += seed_lines(path if path.is_absolute() else self.context.root / path, self.context.root)
        yield from with_review(store, lines)

    def item_id(self, item: SeedLine) -> str:
        return item.item_id

    def item_fingerprint(self, item: SeedLine) -> str:
        if item.review is None:
            return digest_parts(item.label, item.line.line_no, item.line.text, item.duplicate_of)
        return digest_parts(item.label, item.line.line_no, item.line.text, item.duplicate_of, digest_json(item.review))

    def process(self, item: SeedLine) -> Result:
        line = item.line
        detail = {"file": item.label, "line": line.line_no}
        if line.error is not None:
            return Result.reject(f"{item.where}: {line.error}", code="bad_line", detail=detail)
        assert line.data is not None
        if item.duplicate_of is not None:
            return Result.reject(f"{item.where}: id {example_id(line.data)!r} repeats line {item.duplicate_of}",
                                 code="duplicate_id", detail=detail)
        review = item.review or {}
        if review.get("decision") == "drop":
            return Result.reject(f"{item.where}: dropped by reviewer {review.get('reviewer')}", code=DROPPED_CODE,
                                 detail=detail)
        try:
            data = apply_edit(line.data, review["edited"]) if review.get("edited") else line.data
            seed = parse_seed(data, source=item.label, line_no=line.line_no)
        except LineError as exc:
            return Result.reject(f"{item.where}: {exc}", code="invalid", detail=detail)
        return Result.accept(seed, detail=detail)


def live_seeds(store: Store) -> list[Seed]:
    """The seeds example generation may show: the live outputs of the `seeds` step, by id."""
    seeds = [r for r in store.live_outputs(SEEDS_STEP, "seed") if isinstance(r, Seed)]
    return sorted(seeds, key=lambda s: s.id)


def import_file(
    store: Store,
    path: Path,
    *,
    root: Path | None = None,
    step: SeedsStep | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> FileImport:
    """Run the `seeds` step over one file (what `videokr seeds import` does), then retire what it no longer holds.

    The retiring happens after the run's commit, so a process killed in between loses nothing:
    importing again redoes it."""
    from videokr.pipeline.runner import run_step

    root = root or Path.cwd()
    step = step or SeedsStep(SeedsConfig(), StepContext(root=root))
    lines = with_review(store, list(seed_lines(path, root)))
    report = run_step(store, step, items=lines, on_progress=on_progress)
    label = source_label(path, root)
    ids = {line.item_id for line in lines}
    mine = [e for e in store.ledger_entries(step.name) if (e.detail or {}).get("file") == label]
    gone = [e.item_id for e in mine if e.item_id not in ids]
    removed = store.retire(step.name, gone) if gone else 0
    accepted = sum(1 for e in mine if e.item_id in ids and e.outcome is Outcome.ACCEPTED)
    order = {line.item_id: n for n, line in enumerate(lines)}
    rejected = sorted((e for e in mine if e.item_id in ids and e.outcome is Outcome.REJECTED),
                      key=lambda e: order[e.item_id])
    return FileImport(path, report, [e.reason or e.item_id for e in rejected], label=label, accepted=accepted,
                      removed=removed)


# -- coverage ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CoverageCell:
    discipline: Discipline
    skill: Skill
    seeds: int
    target: int = PAPER_SEEDS_PER_SKILL_PER_DISCIPLINE

    @property
    def missing(self) -> int:
        return max(0, self.target - self.seeds)

    @property
    def met(self) -> bool:
        return self.seeds >= self.target


def coverage(seeds: list[Seed], target: int = PAPER_SEEDS_PER_SKILL_PER_DISCIPLINE) -> list[CoverageCell]:
    """Seeds per discipline × skill, every one of the 4 × 3 cells in Table 6's and §3.3's order."""
    counts: dict[tuple[Discipline, Skill], int] = {}
    for seed in seeds:
        counts[(seed.discipline, seed.skill)] = counts.get((seed.discipline, seed.skill), 0) + 1
    return [CoverageCell(d, s, counts.get((d, s), 0), target) for d in Discipline for s in Skill]


def coverage_dict(cells: list[CoverageCell]) -> dict[str, Any]:
    """The coverage as `videokr seeds status --json` prints it."""
    target = cells[0].target if cells else PAPER_SEEDS_PER_SKILL_PER_DISCIPLINE
    return {
        "target_per_skill_per_discipline": target,
        "seeds": sum(c.seeds for c in cells),
        "target": target * len(cells),
        "missing": sum(c.missing for c in cells),
        "cells_met": sum(c.met for c in cells),
        "cells": [{"discipline": c.discipline.value, "skill": c.skill.value, "seeds": c.seeds, "target": c.target,
                   "missing": c.missing, "met": c.met} for c in cells],
    }
