"""An imported verdict checked by the app's own rules, and saved as the app saves it.

The review app checks every submitted form against the rules the records and steps apply later
(videokr.review.forms: a re-annotated question as an `EvalItem`, an edited seed as a `Seed`, an
edited syllabus as a draft, §3.4's "an answer-changing error is a reasoning error") and
normalises what it saves (an option letter in capitals, the seed edit as the fields that
changed). A verdict made in Label Studio or Argilla must pass the same checks and come out in
the same normal form, so this module states the verdict's payload as the app's form and lets
`forms.payload_from_form` read it; the one place that knows the rules stays the one place.
A payload the app would have saved unchanged comes back unchanged.
"""

from __future__ import annotations

import json
from typing import Any

from videokr.review.schema import ReviewItem, ReviewVerdict
from videokr.store import Store

SEED_EDIT_KEYS = ("question", "options", "answer", "cot", "problem_type")


class CheckError(ValueError):
    """Why the app would not save this verdict, as the app says it."""


def form_of(payload: dict[str, Any], item: ReviewItem) -> dict[str, str]:
    """The review app's form fields that submit `payload` for `item`."""
    queue = item.queue
    if queue == "audit":
        return {"label": payload["label"]}
    if queue == "quality":
        return {name: "yes" if value else "no" for name, value in payload.items()}
    if queue == "reannotation":
        example = payload.get("example") or {}
        return {
            "decision": payload["decision"],
            "example_question": str(example.get("question") or ""),
            "example_options": "\n".join(str(o) for o in example.get("options") or []),
            "example_answer": str(example.get("answer") or ""),
            "example_question_type": str(example.get("question_type") or ""),
            "example_reasoning": str(example.get("reasoning") or ""),
        }
    edited = payload.get("edited")
    form = {"decision": payload["decision"], "edit": "1" if edited else ""}
    if not edited:
        return form
    if queue == "seeds":
        unknown = sorted(set(edited) - set(SEED_EDIT_KEYS))
        if unknown:
            raise CheckError(
                f"edited: a seed edit changes {', '.join(SEED_EDIT_KEYS)}, not {', '.join(unknown)}"
            )
        merged = {**(item.fields.get("editable") or {}), **edited}
        form.update(
            edit_question=str(merged.get("question") or ""),
            edit_options="\n".join(str(o) for o in merged.get("options") or []),
            edit_answer=str(merged.get("answer") or ""),
            edit_cot=str(merged.get("cot") or ""),
        )
    else:  # syllabus: the edited draft (JSON is YAML, which the form reads)
        form["edit_syllabus"] = json.dumps(
            {k: v for k, v in edited.items() if k != "subject"}, ensure_ascii=False
        )
    return form


def app_checked(verdict: ReviewVerdict, item: ReviewItem, store: Store) -> ReviewVerdict:
    """`verdict` with its payload as the app would save it; raises CheckError with the app's message."""
    from videokr.review.forms import FormError, payload_from_form

    try:
        payload = payload_from_form(form_of(verdict.payload, item), item, store)
    except FormError as exc:
        raise CheckError(str(exc)) from None
    return ReviewVerdict(**{**verdict.model_dump(), "payload": payload})


def save(store: Store, verdict: ReviewVerdict) -> ReviewVerdict:
    """Save as the app does: `save_verdict`, and for an audit the label the pool reads, in one transaction."""
    from videokr.review.forms import save as app_save

    return app_save(store, verdict)
