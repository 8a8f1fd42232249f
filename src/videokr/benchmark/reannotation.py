"""§4.2's expert re-annotation: the queue of filtered examples, and new examples made into benchmark items.

"For examples outside this intersection, we discard the original QA pairs and ask domain
experts to re-annotate new QA examples using the corresponding videos. Annotators are required
to write questions grounded in clearly observable video evidence, requiring relevant domain
knowledge, and paired with uniquely determined ground truth answers."

The queue holds one entry per filtered example (`retention.filtered`): its video, and the
discarded question beside it so the expert sees what a single frame gave away. Experts answer
in the review app (queue `reannotation`: `reannotation_items`) or in a JSON Lines file
(`export_queue` writes it; the filled-in lines are read by the `reannotation` step), each with a
`ReannotationPayload`: `decision` "new" with an `example` (question, options, answer,
question_type, optional reasoning), or "drop".

A new example is checked (`check_example`) by the records' rules — 2 to 10 options for multiple
choice, none for open-ended, an answer that is exactly one offered letter — and one rule more
for "uniquely determined" answers: no two options with the same text. It becomes a
`BenchmarkCandidate` of origin "reannotated" (`new_candidate`), which the `benchmark` step makes
a VideoKR-Eval item like a retained one (`benchmark_item`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from videokr.benchmark.retention import filtered
from videokr.records import BenchmarkCandidate, EvalItem, ProblemType, Provenance, Verdict
from videokr.store import Store

if TYPE_CHECKING:
    from videokr.review.schema import ReviewItem

QUEUE = "reannotation"
REANNOTATED_SUFFIX = "/re"  # a new example's id: the filtered example's, and this
EXAMPLE_FIELDS = ("question", "options", "answer", "question_type", "reasoning")
ORIGIN_SOURCE = "source"  # a retained original example
ORIGIN_REANNOTATED = "reannotated"
INSTRUCTIONS = ("Write a new question on this video: grounded in clearly observable video evidence, needing "
                "domain knowledge, with a uniquely determined answer (one frame must not be enough). "
                "Or drop it if the video allows none.")


class ExampleError(ValueError):
    """What is wrong with a new example (the caller names the file and line, or the item)."""


@dataclass(frozen=True)
class QueueEntry:
    """One filtered example waiting for an expert: what the queue file and the review app show."""

    candidate: BenchmarkCandidate
    solvable_by: tuple[str, ...]

    @property
    def item_id(self) -> str:
        return self.candidate.id

    def title(self) -> str:
        return f"{self.candidate.dataset} · {Path(self.candidate.video_path).name}: {self.candidate.question[:80]}"

    def fields(self) -> dict[str, Any]:
        c = self.candidate
        return {"instructions": INSTRUCTIONS, "dataset": c.dataset, "video_id": c.video_id, "subject": c.subject,
                "discarded_question": c.question, "discarded_options": c.lettered_options(),
                "discarded_answer": c.answer, "solved_from_one_frame_by": list(self.solvable_by)}


def queue_entries(store: Store) -> list[QueueEntry]:
    """The filtered examples, by source benchmark and id."""
    entries = [QueueEntry(d.candidate, tuple(d.solvable_by)) for d in filtered(store)]
    return sorted(entries, key=lambda e: (e.candidate.dataset, e.item_id))


def reannotation_items(store: Store) -> list["ReviewItem"]:
    """The review app's `reannotation` queue: one `ReviewItem` per filtered example, grouped by benchmark."""
    from videokr.review.schema import ReviewItem

    return [ReviewItem(queue=QUEUE, item_id=e.item_id, group=e.candidate.dataset, title=e.title(),
                       video=e.candidate.video_path, fields=e.fields()) for e in queue_entries(store)]


def queue_line(entry: QueueEntry) -> dict[str, Any]:
    """One line of the queue file: what the expert reads, then the fields to fill in."""
    return {"item_id": entry.item_id, "video": entry.candidate.video_path, "title": entry.title(), **entry.fields(),
            "decision": None, "example": None, "reviewer": None, "note": None}


def export_queue(store: Store, out: Path) -> int:
    """Write the queue as JSON Lines (via a temporary file, so a killed export leaves the old one); the count."""
    entries = queue_entries(store)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        for entry in entries:
            handle.write(json.dumps(queue_line(entry), ensure_ascii=False) + "\n")
    tmp.replace(out)
    return len(entries)


# -- a new example ------------------------------------------------------------------------------


def _payload_problem(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"])
        message = err["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


def check_payload(data: Mapping[str, Any]) -> tuple[str, dict[str, Any] | None]:
    """(decision, example) of a line's or a verdict's payload, checked by the review schema's model."""
    from videokr.review.schema import ReannotationPayload

    try:
        payload = ReannotationPayload.model_validate({k: data.get(k) for k in ("decision", "example")
                                                      if data.get(k) is not None})
    except ValidationError as exc:
        raise ExampleError(_payload_problem(exc)) from None
    return payload.decision, payload.example


def check_example(example: Mapping[str, Any]) -> dict[str, Any]:
    """An expert's example in its normal form — question, option texts (no letters), the answer as a letter
    (multiple choice) or text, question_type "multiple-choice" | "open-ended", reasoning when given — checked
    by the records' rules and the unique-answer rule. Raises ExampleError saying what to fix."""
    from videokr.formats.official import LineError, question_fields

    unknown = sorted(set(example) - set(EXAMPLE_FIELDS))
    if unknown:
        raise ExampleError(f"unknown field(s) {', '.join(unknown)}; an example has {', '.join(EXAMPLE_FIELDS)}")
    raw_type = example.get("question_type")
    if raw_type is None:
        raise ExampleError("no question_type: give 'multiple-choice' or 'open-ended'")
    options_given = example.get("options")
    if options_given is not None and not isinstance(options_given, list):
        raise ExampleError(f"options must be a list of texts, not {type(options_given).__name__}")
    try:
        question, options, problem_type, answer = question_fields(dict(example), raw_type, noun="example")
    except LineError as exc:
        raise ExampleError(str(exc)) from None
    if problem_type is ProblemType.OPEN_ENDED and options:
        raise ExampleError(f"an open-ended example carries no options (got {len(options)}); "
                           "make it multiple-choice or drop the options")
    folded = [o.strip().casefold() for o in options]
    twice = sorted({o for o in options if folded.count(o.strip().casefold()) > 1})
    if twice:
        raise ExampleError(f"option {twice[0]!r} is offered twice, so the answer is not uniquely determined")
    reasoning = example.get("reasoning")
    if reasoning is not None and not isinstance(reasoning, str):
        raise ExampleError("reasoning must be text")
    multiple_choice = problem_type is ProblemType.MULTIPLE_CHOICE
    checked: dict[str, Any] = {"question": question, "options": options, "answer": answer,
                               "question_type": "multiple-choice" if multiple_choice else "open-ended"}
    if reasoning and reasoning.strip():
        checked["reasoning"] = reasoning.strip()
    try:  # the records' own rules: 2–10 options, an offered letter
        EvalItem(id="-", problem_type=problem_type, question=question, options=options, answer=answer,
                 video_id="-", video_path="-")
    except ValidationError as exc:
        raise ExampleError(_payload_problem(exc).replace("item '-': ", "")) from None
    return checked


def new_candidate(candidate: BenchmarkCandidate, example: Mapping[str, Any], *, reviewer: str, where: str | None,
                  note: str | None = None) -> BenchmarkCandidate:
    """The candidate an expert's new example makes, on the filtered example's video. Raises ExampleError."""
    checked = check_example(example)
    extra: dict[str, Any] = {}
    if "reasoning" in checked:
        extra["reasoning"] = checked["reasoning"]
    if note:
        extra["note"] = note
    multiple_choice = checked["question_type"] == "multiple-choice"
    return BenchmarkCandidate(
        id=candidate.id + REANNOTATED_SUFFIX, origin=ORIGIN_REANNOTATED, replaces=candidate.id, reviewer=reviewer,
        problem_type=ProblemType.MULTIPLE_CHOICE if multiple_choice else ProblemType.OPEN_ENDED,
        question=checked["question"], options=checked["options"], answer=checked["answer"],
        video_id=candidate.video_id, video_path=candidate.video_path, subject=candidate.subject,
        dataset=candidate.dataset, discipline=candidate.discipline, youtube_id=candidate.youtube_id,
        question_type=checked["question_type"], source_file=where, extra=extra)


def benchmark_item(candidate: BenchmarkCandidate) -> EvalItem:
    """A VideoKR-Eval item: a retained source example unchanged, or an expert's new one; `extra.origin` says which."""
    extra: dict[str, Any] = {**candidate.extra, "origin": candidate.origin}
    verdicts = []
    if candidate.origin == ORIGIN_REANNOTATED:
        extra.update(replaces=candidate.replaces, reviewer=candidate.reviewer)
        verdicts.append(Verdict(step=QUEUE, verdict="new", detail=f"re-annotated by {candidate.reviewer}"))
    else:
        extra["source_id"] = candidate.source_id
    return EvalItem(
        id=candidate.id, problem_type=candidate.problem_type, question=candidate.question,
        options=list(candidate.options), answer=candidate.answer, video_id=candidate.video_id,
        video_path=candidate.video_path, subject=candidate.subject, dataset=candidate.dataset,
        discipline=candidate.discipline, question_type=candidate.question_type, youtube_id=candidate.youtube_id,
        provenance=Provenance(source_file=candidate.source_file, verdicts=verdicts), extra=extra)

