"""§3.4's manual quality assessment: a seeded sample of the SFT set to review, the verdicts, the rates.

The paper samples 800 examples of VideoKR-SFT-201K; ten expert annotators flag 52 as
potentially solvable without the video, find 32 reasoning errors, of which 17 change the final
answer. Here:

- `sample_queue`: a seeded random sample of the live SFT set (`videokr.sets.live_set`), one line
  per example with everything a reviewer needs (the question, options, answer, reasoning, the
  video, the skill and discipline) and the verdict fields left empty for the reviewer to fill in.
  The same store and seed give the same sample; the draw is over the examples sorted by id, so
  it does not depend on the order the store returns them in.
- `import_verdicts`: the filled-in lines through the `quality_review` source step on the one
  runner (`videokr.steps.quality_review`): one `QualityVerdict` per example, replaced when the
  example is imported again; a bad line is reported as `FILE:LINE: reason`.
- `quality_report`: counts and rates of the three categories against the paper's, overall and
  by skill and discipline.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from videokr.hashing import seed_of
from videokr.pipeline.step import StepConfig, StepContext
from videokr.records import Example, Outcome, QualityVerdict
from videokr.sets import live_set
from videokr.steps.importing import FileImport, source_label
from videokr.steps.quality_review import QUALITY_STEP, VERDICT_FIELDS, QualityReviewStep, verdict_lines
from videokr.store import Store

# -- the paper's assessment (§3.4) -------------------------------------------------------------

PAPER_SAMPLE_SIZE = 800  # "we randomly sample 800 examples from VideoKR-SFT-201K"
PAPER_NON_VISUAL_SOLVABLE = 52  # "52 questions are flagged as potentially non visual solvable"
PAPER_REASONING_ERRORS = 32  # "annotators identify 32 errors" in the reasoning traces
PAPER_ANSWER_CHANGING_ERRORS = 17  # "Among these, 17 cases change the final answer"
PAPER_REVIEWERS = 10  # "ten expert annotators"
PAPER_COUNTS = {"non_visual_solvable": PAPER_NON_VISUAL_SOLVABLE, "reasoning_error": PAPER_REASONING_ERRORS,
                "answer_changing_error": PAPER_ANSWER_CHANGING_ERRORS}
DEFAULT_SEED = 0
SAMPLE_SALT = "quality.sample"  # this draw apart from other seeded draws


class QualityError(ValueError):
    """A sample or an import that cannot be made; the message says why."""


# -- the queue ---------------------------------------------------------------------------------


def draw_sample(examples: Iterable[Example], size: int = PAPER_SAMPLE_SIZE, seed: int = DEFAULT_SEED) -> list[Example]:
    """`size` examples drawn at random with `seed` (all of them, shuffled, when fewer), in draw order."""
    if size < 1:
        raise QualityError(f"the sample size must be at least 1, not {size}")
    pool = sorted(examples, key=lambda e: e.id)
    rng = random.Random(seed_of(SAMPLE_SALT, seed))
    return rng.sample(pool, min(size, len(pool)))


def queue_line(example: Example, video_root: Path | None = None) -> dict[str, Any]:
    """What a reviewer sees of one example, with the verdict fields to fill in (null until reviewed)."""
    from videokr.formats.official import resolve_video

    line: dict[str, Any] = {
        "id": example.id,
        "video_id": example.video_id,
        "video_path": example.video_path,
        "video_file": str(resolve_video(example.video_path, video_root)),
        "problem_type": example.problem_type.value,
        "question": example.question,
        "options": example.lettered_options(),
        "answer": example.answer,
        "answer_text": example.answer_text(),
        "cot": example.cot,
        "skill": example.skill.value if example.skill else None,
        "discipline": example.discipline.value if example.discipline else None,
        "subject": example.subject,
        "knowledge_point": example.knowledge_point,
    }
    line.update({name: None for name in VERDICT_FIELDS})
    line.update({"reviewer": None, "note": ""})
    return line


def sample_queue(store: Store, out: Path, *, size: int = PAPER_SAMPLE_SIZE, seed: int = DEFAULT_SEED,
                 video_root: Path | None = None) -> list[Example]:
    """Write the review queue of a seeded sample of the live SFT set to `out` (JSON Lines); return the sample."""
    examples = live_set(store, "sft")
    if not examples:
        raise QualityError("the SFT set is empty: import and split examples first (videokr import, videokr split)")
    sample = draw_sample(examples, size, seed)  # type: ignore[arg-type]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        for example in sample:
            handle.write(json.dumps(queue_line(example, video_root), ensure_ascii=False) + "\n")
    tmp.replace(out)
    return sample


# -- the import ---------------------------------------------------------------------------------


def import_verdicts(store: Store, path: Path, *, root: Path | None = None, step: QualityReviewStep | None = None,
                    on_progress: Callable[[int], None] | None = None) -> FileImport:
    """Run the `quality_review` step over one verdicts file; verdicts of examples it names are replaced."""
    from videokr.pipeline.runner import run_step

    root = root or Path.cwd()
    label = source_label(path, root)
    examples = {e.id: e for e in live_set(store, "sft")}
    lines = list(verdict_lines(path, label, examples))  # type: ignore[arg-type]
    step = step or QualityReviewStep(StepConfig(), StepContext(root=root))
    report = run_step(store, step, items=lines, on_progress=on_progress)
    ids = {step.item_id(line) for line in lines}
    order = {step.item_id(line): n for n, line in enumerate(lines)}
    entries = [e for e in store.ledger_entries(QUALITY_STEP) if e.item_id in ids
               and (e.detail or {}).get("file") == label]
    accepted = sum(1 for e in entries if e.outcome is Outcome.ACCEPTED)
    rejected = sorted((e for e in entries if e.outcome is Outcome.REJECTED), key=lambda e: order[e.item_id])
    return FileImport(path, report, [e.reason or e.item_id for e in rejected], label=label, accepted=accepted)


def live_verdicts(store: Store) -> list[QualityVerdict]:
    """The verdicts in force: the live outputs of `quality_review`, by example id."""
    verdicts = [r for r in store.live_outputs(QUALITY_STEP, "quality_verdict") if isinstance(r, QualityVerdict)]
    return sorted(verdicts, key=lambda v: v.id)


# -- the report ---------------------------------------------------------------------------------


def _counts(verdicts: list[QualityVerdict]) -> dict[str, Any]:
    n = len(verdicts)
    out: dict[str, Any] = {"reviewed": n}
    for name in VERDICT_FIELDS:
        count = sum(1 for v in verdicts if getattr(v, name))
        out[name] = {"count": count, "rate": count / n if n else None}
    return out


def _by(verdicts: list[QualityVerdict], key: Callable[[QualityVerdict], str]) -> dict[str, Any]:
    groups: dict[str, list[QualityVerdict]] = {}
    for verdict in verdicts:
        groups.setdefault(key(verdict), []).append(verdict)
    return {name: _counts(group) for name, group in sorted(groups.items())}


def quality_report(verdicts: list[QualityVerdict]) -> dict[str, Any]:
    """Counts and rates per category, the paper's beside them, and the same by skill and by discipline."""
    paper = {name: {"count": count, "of": PAPER_SAMPLE_SIZE, "rate": count / PAPER_SAMPLE_SIZE}
             for name, count in PAPER_COUNTS.items()}
    return {
        **_counts(verdicts),
        "reviewers": len({v.reviewer for v in verdicts}),
        "reasoning_errors_keeping_the_answer": sum(1 for v in verdicts
                                                   if v.reasoning_error and not v.answer_changing_error),
        "paper": paper,
        "by_skill": _by(verdicts, lambda v: v.skill.value if v.skill else "unknown"),
        "by_discipline": _by(verdicts, lambda v: v.discipline.value if v.discipline else "unknown"),
    }
