"""The review contract: item and verdict shapes, per-queue payload checks."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from videokr.review.schema import PAYLOADS, QUEUES, ROUNDS, ReviewItem, ReviewVerdict


def test_queues_in_order_and_each_has_a_payload():
    assert QUEUES == ("audit", "seeds", "quality", "reannotation", "syllabus")
    assert set(PAYLOADS) == set(QUEUES)
    assert ROUNDS == (1, 2)


def test_item_is_frozen_and_strict():
    item = ReviewItem(queue="quality", item_id="ex-1", group="physics/VidR", title="t", timestamps=[1.5])
    with pytest.raises(ValidationError):
        item.title = "other"
    with pytest.raises(ValidationError):
        ReviewItem(queue="quality", item_id="ex-1", group="g", title="t", colour="red")
    with pytest.raises(ValidationError):
        ReviewItem(queue="nope", item_id="ex-1", group="g", title="t")


@pytest.mark.parametrize(
    ("queue", "good", "bad"),
    [
        ("audit", {"label": "soft"}, {"label": "medium"}),
        ("quality", {"non_visual_solvable": False, "reasoning_error": True, "answer_changing_error": False},
         {"non_visual_solvable": False, "reasoning_error": True}),
        ("seeds", {"decision": "keep", "edited": {"scenario": "x"}}, {"decision": "maybe"}),
        ("reannotation", {"decision": "new", "example": {"question": "q?", "options": [], "answer": "4",
                                                          "question_type": "open-ended"}}, {"decision": "new"}),
        ("syllabus", {"decision": "approve"}, {"decision": "approve", "extra": 1}),
    ],
)
def test_payload_checked_by_its_queue(queue, good, bad):
    verdict = ReviewVerdict(queue=queue, item_id="i", reviewer="ana", payload=good)
    assert PAYLOADS[queue].model_validate(verdict.payload)
    with pytest.raises(ValidationError):
        ReviewVerdict(queue=queue, item_id="i", reviewer="ana", payload=bad)


def test_payload_normalised_so_equal_decisions_compare_equal():
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    a = ReviewVerdict(queue="seeds", item_id="i", reviewer="ana", payload={"decision": "drop"}, updated_at=when)
    b = ReviewVerdict(queue="seeds", item_id="i", reviewer="ana", payload={"decision": "drop", "edited": None},
                      updated_at=when)
    assert a == b
    assert a.payload == {"decision": "drop", "edited": None}


def test_reviewer_round_and_time():
    with pytest.raises(ValidationError, match="reviewer"):
        ReviewVerdict(queue="audit", item_id="i", reviewer="  ", payload={"label": "fine"})
    with pytest.raises(ValidationError, match="round"):
        ReviewVerdict(queue="audit", item_id="i", reviewer="ana", round=3, payload={"label": "fine"})
    naive = ReviewVerdict(queue="audit", item_id="i", reviewer=" ana ", payload={"label": "fine"},
                          updated_at=datetime(2026, 1, 1, 12))
    assert naive.reviewer == "ana" and naive.updated_at.tzinfo == timezone.utc
    local = datetime(2026, 1, 1, 14, tzinfo=timezone(timedelta(hours=2)))
    assert ReviewVerdict(queue="audit", item_id="i", reviewer="a", payload={"label": "fine"},
                         updated_at=local).updated_at == datetime(2026, 1, 1, 12, tzinfo=timezone.utc)
    fresh = ReviewVerdict(queue="audit", item_id="i", reviewer="a", payload={"label": "fine"})
    assert abs(fresh.updated_at - datetime.now(timezone.utc)) < timedelta(minutes=1)
