"""From a submitted review form to a checked verdict payload, and the saving of verdicts.

Every queue's form is read here and checked by the rules the records and steps apply later —
a re-annotated question by `EvalItem`'s (options, one offered answer), an edited seed by
`Seed`'s, a quality verdict by the `quality_review` step's, an edited syllabus by the draft
schema — so a reviewer learns about a mistake on the page, not in a later run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml
from pydantic import ValidationError

from videokr.records import ProblemType, Seed
from videokr.review.schema import ReannotationPayload, ReviewItem, ReviewVerdict
from videokr.store import Store

QUESTION_TYPES = {"multiple-choice": ProblemType.MULTIPLE_CHOICE, "open-ended": ProblemType.OPEN_ENDED}


class FormError(ValueError):
    """What is wrong with a submitted form, said so the reviewer can fix it."""


def _text(form: Mapping[str, Any], name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _lines(form: Mapping[str, Any], name: str) -> list[str]:
    return [line.strip() for line in _text(form, name).splitlines() if line.strip()]


def _problem(exc: ValidationError) -> str:
    return "; ".join(str(e.get("msg", "")).removeprefix("Value error, ") for e in exc.errors())


def check_example(example: dict[str, Any]) -> dict[str, Any]:
    """A re-annotated example checked by the one rule set imports use too (the records' rules, a unique answer)."""
    from videokr.benchmark.reannotation import ExampleError
    from videokr.benchmark.reannotation import check_example as checked

    given = {k: v for k, v in example.items() if v not in (None, "")} | {"options": example.get("options") or []}
    answer = given.get("answer")
    if given["options"] and isinstance(answer, str) and len(answer.strip()) == 1:
        given["answer"] = answer.strip().upper()  # a letter typed in lower case
    try:
        return checked(given)
    except ExampleError as exc:
        raise FormError(str(exc)) from None


def _audit(form: Mapping[str, Any], item: ReviewItem, store: Store) -> dict[str, Any]:
    label = _text(form, "label")
    if label not in ("fine", "soft", "hard"):
        raise FormError("choose a label: fine, soft (content error) or hard (compliance error)")
    return {"label": label}


def _quality(form: Mapping[str, Any], item: ReviewItem, store: Store) -> dict[str, Any]:
    from videokr.records import Example
    from videokr.steps.quality_review import REVIEW_LABEL, VERDICT_FIELDS, VerdictError, VerdictLine, parse_verdict

    flags = {name: _text(form, name) in ("on", "true", "yes", "1") for name in VERDICT_FIELDS}
    example = store.get("example", item.item_id)
    if isinstance(example, Example):  # the step's own rules (an answer-changing error is a reasoning error)
        try:
            parse_verdict(VerdictLine(REVIEW_LABEL, 0, {"id": item.item_id, **flags, "reviewer": "-"}, None, example))
        except VerdictError as exc:
            raise FormError(str(exc)) from None
    return flags


def _seed_edit(form: Mapping[str, Any], item: ReviewItem) -> dict[str, Any] | None:
    before = item.fields.get("editable") or {}
    after = {"question": _text(form, "edit_question"), "options": _lines(form, "edit_options"),
             "answer": _text(form, "edit_answer"), "cot": _text(form, "edit_cot")}
    edited = {k: v for k, v in after.items() if v != before.get(k)}
    if not edited:
        return None
    problem_type = ProblemType.MULTIPLE_CHOICE if after["options"] else ProblemType.OPEN_ENDED
    if problem_type.value != item.fields.get("problem_type"):
        edited["problem_type"] = problem_type.value
    answer = after["answer"].upper() if problem_type is ProblemType.MULTIPLE_CHOICE else after["answer"]
    try:
        Seed(id=item.item_id, problem_type=problem_type, question=after["question"], options=after["options"],
             answer=answer, video_id="", video_path="", skill=item.fields["skill"],
             discipline=item.fields["discipline"], cot=after["cot"] or None)
    except ValidationError as exc:
        raise FormError(_problem(exc)) from None
    if not after["cot"]:
        raise FormError("a seed needs its reasoning: the generator is told to emulate it (§3.3)")
    if "answer" in edited:
        edited["answer"] = answer
    return edited


def _seeds(form: Mapping[str, Any], item: ReviewItem, store: Store) -> dict[str, Any]:
    decision = _text(form, "decision")
    if decision not in ("keep", "drop"):
        raise FormError("choose keep or drop")
    edited = _seed_edit(form, item) if decision == "keep" and _text(form, "edit") else None
    return {"decision": decision, "edited": edited}


def _reannotation(form: Mapping[str, Any], item: ReviewItem, store: Store) -> dict[str, Any]:
    decision = _text(form, "decision")
    if decision == "drop":
        return {"decision": "drop", "example": None}
    if decision != "new":
        raise FormError("choose new (write a question below) or drop")
    example = check_example({"question": _text(form, "example_question"), "options": _lines(form, "example_options"),
                             "answer": _text(form, "example_answer"),
                             "question_type": _text(form, "example_question_type"),
                             "reasoning": _text(form, "example_reasoning")})
    return ReannotationPayload(decision="new", example=example).model_dump(mode="json")


def _syllabus(form: Mapping[str, Any], item: ReviewItem, store: Store) -> dict[str, Any]:
    from videokr.knowledge.draft import DraftSyllabus

    decision = _text(form, "decision")
    if decision not in ("approve", "reject"):
        raise FormError("choose approve or reject")
    edited = None
    if decision == "approve" and _text(form, "edit"):
        try:
            raw = yaml.safe_load(_text(form, "edit_syllabus") or "{}")
            syllabus = DraftSyllabus.model_validate(raw).model_dump(mode="json")
        except yaml.YAMLError as exc:
            raise FormError(f"the edited syllabus is not YAML: {' '.join(str(exc).split())}") from None
        except ValidationError as exc:
            raise FormError(f"the edited syllabus: {_problem(exc)}") from None
        if syllabus != DraftSyllabus.model_validate(item.fields.get("syllabus") or {}).model_dump(mode="json"):
            edited = {"subject": item.fields.get("subject"), **syllabus}
    return {"decision": decision, "edited": edited}


_READERS = {"audit": _audit, "quality": _quality, "seeds": _seeds, "reannotation": _reannotation,
            "syllabus": _syllabus}


def payload_from_form(form: Mapping[str, Any], item: ReviewItem, store: Store) -> dict[str, Any]:
    """The checked payload of a submitted form for `item`'s queue; raises FormError."""
    return _READERS[item.queue](form, item, store)


def save(store: Store, verdict: ReviewVerdict) -> ReviewVerdict:
    """Save a verdict; for an audit item also set the label the pool reads — in the same transaction.

    The label written is the item's final verdict (a second reviewer's wins), so the error rate
    of each (step, model) and its eligibility follow the review."""
    from videokr.models.audit import set_audit_label
    from videokr.review.queues import split_audit_id
    from videokr.review.verdicts import final_verdicts, save_verdict

    with store.transaction():
        saved = save_verdict(store, verdict)
        if verdict.queue == "audit":
            step, model, audit_id = split_audit_id(verdict.item_id)
            final = final_verdicts(store, "audit")[verdict.item_id]
            set_audit_label(store, step, model, audit_id, final.payload["label"], final.note)
    return saved
