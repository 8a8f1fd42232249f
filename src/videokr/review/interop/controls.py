"""What a reviewer answers for each queue, said once for every outside tool, and how answers become payloads.

Label Studio calls them controls (Choices, TextArea), Argilla calls them questions (LabelQuestion,
TextQuestion); both hold the same few kinds of answer: one choice among options, free text, a
list of lines, a JSON object. This module names each queue's controls and converts a verdict's
payload to answers and back, so both tools carry exactly the same information and a round trip
through either is lossless: `payload_from_answers(queue, answers_from_payload(queue, p, note))`
gives `(p, note)` back for every payload the app saves (a payload the controls cannot carry —
an option spanning lines, an example key no control holds — is an `AnswerError` naming the
control; text left empty counts as not given).

Why booleans are yes/no choices and not one multi-select: an empty multi-select cannot tell
"no error" from "not answered", and §3.4's quality verdicts need every flag answered.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from videokr.review.forms import QUESTION_TYPES as FORM_QUESTION_TYPES
from videokr.review.schema import QueueName

Kind = Literal["choice", "text", "lines", "json"]
Answer = str | list[str]

YES, NO = "yes", "no"
QUALITY_FLAGS = ("non_visual_solvable", "reasoning_error", "answer_changing_error")
EXAMPLE_TEXT_KEYS = ("question", "answer", "reasoning")
EXAMPLE_KEYS = ("question", "options", "answer", "question_type", "reasoning")
QUESTION_TYPES: tuple[str, ...] = tuple(FORM_QUESTION_TYPES)  # as the app's form names them
NOTE = "note"


@dataclass(frozen=True)
class Control:
    """One thing a reviewer answers; `shown_when` is (control, value) for answers that only apply then."""

    name: str
    kind: Kind
    title: str
    options: tuple[str, ...] = ()
    required: bool = False
    shown_when: tuple[str, str] | None = None
    help: str = ""


class AnswerError(ValueError):
    """An answer (or a payload to export) the queue's controls cannot carry; the message names the control."""


_NOTE = Control(NOTE, "text", "Note (optional)")
_SEED_EDIT_HELP = (
    "Only if you edit: a JSON object of the fields you change among question, options (a list), answer "
    'and cot, e.g. {"answer": "B"}. Leave empty to keep the seed as it is.'
)
_SYLLABUS_EDIT_HELP = (
    'Only if you edit: the whole syllabus as a JSON object, {"courses": [{"course": ..., "lectures": '
    '[{"lecture": ..., "objectives": [...]}]}]}. Leave empty to approve it as drafted.'
)

CONTROLS: dict[QueueName, tuple[Control, ...]] = {
    "audit": (
        Control(
            "label",
            "choice",
            "Model output",
            ("fine", "soft", "hard"),
            required=True,
            help="fine: correct; soft: content error (hallucination, weak reasoning); hard: broken format",
        ),
        _NOTE,
    ),
    "quality": (
        Control("non_visual_solvable", "choice", "Solvable without the video?", (YES, NO), required=True),
        Control(
            "reasoning_error", "choice", "Does the reasoning contain an error?", (YES, NO), required=True
        ),
        Control(
            "answer_changing_error",
            "choice",
            "Does an error change the answer?",
            (YES, NO),
            required=True,
            help="an error that changes the answer is a reasoning error too",
        ),
        _NOTE,
    ),
    "seeds": (
        Control("decision", "choice", "Seed", ("keep", "drop"), required=True),
        Control(
            "edited",
            "json",
            "Edited fields (JSON object)",
            shown_when=("decision", "keep"),
            help=_SEED_EDIT_HELP,
        ),
        _NOTE,
    ),
    "reannotation": (
        Control(
            "decision",
            "choice",
            "Re-annotation",
            ("new", "drop"),
            required=True,
            help="new: write a new question for this video below; drop: the video cannot carry one",
        ),
        Control("example_question", "text", "New question", shown_when=("decision", "new")),
        Control(
            "example_options",
            "lines",
            "Options, one per line (none for open-ended)",
            shown_when=("decision", "new"),
        ),
        Control(
            "example_answer",
            "text",
            "Answer (the option's letter, or the open-ended answer)",
            shown_when=("decision", "new"),
        ),
        Control(
            "example_question_type", "choice", "Question type", QUESTION_TYPES, shown_when=("decision", "new")
        ),
        Control("example_reasoning", "text", "Reasoning (optional)", shown_when=("decision", "new")),
        _NOTE,
    ),
    "syllabus": (
        Control("decision", "choice", "Syllabus", ("approve", "reject"), required=True),
        Control(
            "edited",
            "json",
            "Edited fields (JSON object)",
            shown_when=("decision", "approve"),
            help=_SYLLABUS_EDIT_HELP,
        ),
        _NOTE,
    ),
}


def controls(queue: QueueName) -> tuple[Control, ...]:
    return CONTROLS[queue]


def answers_from_payload(queue: QueueName, payload: dict[str, Any], note: str | None) -> dict[str, Answer]:
    """A verdict's payload (and note) as the answers a reviewer would give; empty answers are left out."""
    answers: dict[str, Answer] = {}
    if queue == "audit":
        answers["label"] = payload["label"]
    elif queue == "quality":
        for flag in QUALITY_FLAGS:
            answers[flag] = YES if payload[flag] else NO
    elif queue in ("seeds", "syllabus"):
        answers["decision"] = payload["decision"]
        if payload.get("edited") is not None:
            answers["edited"] = json.dumps(payload["edited"], ensure_ascii=False, sort_keys=True)
    elif queue == "reannotation":
        answers["decision"] = payload["decision"]
        answers.update(_example_answers(payload.get("example")))
    if note:
        answers[NOTE] = note
    return answers


def _example_answers(example: dict[str, Any] | None) -> dict[str, Answer]:
    if example is None:
        return {}
    extra = sorted(set(example) - set(EXAMPLE_KEYS))
    if extra:
        raise AnswerError(f"example: the tools carry {', '.join(EXAMPLE_KEYS)}, not {', '.join(extra)}")
    answers: dict[str, Answer] = {}
    for key in EXAMPLE_TEXT_KEYS:
        if example.get(key) is not None:
            answers[f"example_{key}"] = str(example[key])
    options = [str(option) for option in example.get("options") or []]
    if any("\n" in option or not option.strip() for option in options):
        raise AnswerError(
            "example_options: an option is empty or spans lines; one option per line cannot carry it"
        )
    if options:
        answers["example_options"] = options
    if example.get("question_type") is not None:
        answers["example_question_type"] = example["question_type"]
    return answers


def payload_from_answers(queue: QueueName, answers: dict[str, Answer]) -> tuple[dict[str, Any], str | None]:
    """(payload, note) from a reviewer's answers; raises AnswerError naming the control that is wrong.

    The payload is then validated by the schema's model for the queue when the verdict is built."""
    known = {control.name: control for control in CONTROLS[queue]}
    unknown = sorted(set(answers) - set(known))
    if unknown:
        raise AnswerError(f"{', '.join(unknown)}: not a control of the {queue} queue")
    values = {name: _checked(known[name], answer) for name, answer in answers.items()}
    for control in CONTROLS[queue]:
        if control.required and values.get(control.name) in (None, ""):
            raise AnswerError(f"{control.name}: not answered (one of {', '.join(control.options)})")
    note = values.get(NOTE) or None
    if queue == "audit":
        return {"label": values["label"]}, note
    if queue == "quality":
        return {flag: values[flag] == YES for flag in QUALITY_FLAGS}, note
    if queue in ("seeds", "syllabus"):
        return {"decision": values["decision"], "edited": values.get("edited")}, note
    example = _example(values)
    return {"decision": values["decision"], "example": example}, note


def _checked(control: Control, answer: Answer) -> Any:
    """An answer of the control's kind, normalised: one choice, text, lines without blanks, a JSON object."""
    if control.kind == "lines":
        parts = [answer] if isinstance(answer, str) else list(answer)
        if not all(isinstance(part, str) for part in parts):
            raise AnswerError(f"{control.name}: expected lines of text, got {answer!r}")
        return [line.strip() for part in parts for line in part.splitlines() if line.strip()]
    if isinstance(answer, list):
        if not all(isinstance(part, str) for part in answer):
            raise AnswerError(f"{control.name}: expected text, got {answer!r}")
        if control.kind == "choice" and len(answer) != 1:
            raise AnswerError(
                f"{control.name}: choose exactly one of {', '.join(control.options)}, " f"not {len(answer)}"
            )
        answer = "\n".join(answer)
    if not isinstance(answer, str):
        raise AnswerError(f"{control.name}: expected text, got {answer!r}")
    if control.kind == "choice":
        if answer not in control.options:
            raise AnswerError(f"{control.name}: {answer!r} is not one of {', '.join(control.options)}")
        return answer
    if control.kind == "json":
        if not answer.strip():
            return None
        try:
            value = json.loads(answer)
        except json.JSONDecodeError as exc:
            raise AnswerError(f"{control.name}: not valid JSON ({exc.msg} at column {exc.colno})") from None
        if not isinstance(value, dict):
            raise AnswerError(f"{control.name}: expected a JSON object, got {type(value).__name__}")
        return value
    return answer


def _example(values: dict[str, Any]) -> dict[str, Any] | None:
    """The re-annotated example, when any of its controls was answered; the question type follows the options
    when the reviewer left it out."""
    if not any(values.get(f"example_{key}") not in (None, "", []) for key in EXAMPLE_KEYS):
        return None
    options = values.get("example_options") or []
    example: dict[str, Any] = {
        "question": values.get("example_question") or "",
        "options": options,
        "answer": values.get("example_answer") or "",
        "question_type": values.get("example_question_type")
        or (QUESTION_TYPES[0] if options else QUESTION_TYPES[1]),
    }
    if values.get("example_reasoning"):
        example["reasoning"] = values["example_reasoning"]
    return example
