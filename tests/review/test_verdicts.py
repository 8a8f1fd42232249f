"""Verdicts in the store: upserts per reviewer and round, the final verdict, agreement between rounds."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest

from videokr.review.schema import ReviewVerdict
from videokr.review.verdicts import agreement, cohen_kappa, final_verdicts, save_verdict, verdicts
from videokr.store import Store

T0 = datetime(2026, 3, 1, 9, 0, 0, 123456, tzinfo=timezone.utc)


def label(item: str, who: str, value: str, *, round: int = 1, minutes: int = 0, note: str | None = None):
    return ReviewVerdict(queue="audit", item_id=item, reviewer=who, round=round, payload={"label": value},
                         note=note, updated_at=T0 + timedelta(minutes=minutes))


def test_round_trip_is_exact(store: Store):
    saved = save_verdict(store, label("a", "ana", "soft", note="weak reasoning"))
    assert verdicts(store) == [saved]
    assert verdicts(store, "audit", item_id="a") == [saved]
    assert verdicts(store, "seeds") == []


def test_two_reviewers_both_kept_same_reviewer_replaced(store: Store):
    save_verdict(store, label("a", "ana", "fine"))
    save_verdict(store, label("a", "ben", "hard", minutes=1))
    save_verdict(store, label("a", "ana", "soft", minutes=2))
    kept = {(v.reviewer, v.payload["label"]) for v in verdicts(store, "audit")}
    assert kept == {("ana", "soft"), ("ben", "hard")}


def test_final_is_round_two_else_latest_round_one(store: Store):
    save_verdict(store, label("a", "ana", "fine", minutes=5))
    save_verdict(store, label("a", "ben", "hard", minutes=1))
    save_verdict(store, label("b", "ana", "fine", minutes=0))
    save_verdict(store, label("b", "cy", "soft", round=2, minutes=-10))
    final = final_verdicts(store, "audit")
    assert final["a"].reviewer == "ana" and final["a"].payload == {"label": "fine"}
    assert final["b"].round == 2 and final["b"].payload == {"label": "soft"}
    # Equal times: the later save wins.
    save_verdict(store, label("c", "ana", "fine"))
    save_verdict(store, label("c", "ben", "hard"))
    assert final_verdicts(store, "audit")["c"].reviewer == "ben"


def test_concurrent_saves_from_threads(tmp_path):
    path = tmp_path / "videokr.sqlite"
    Store(path)
    errors: list[BaseException] = []

    def work(who: str) -> None:
        store = Store(path)
        try:
            for i in range(20):
                save_verdict(store, label("same", who, "fine" if i % 2 else "soft", minutes=i))
        except BaseException as exc:  # noqa: BLE001 - surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(name,)) for name in ("ana", "ben", "ana")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    kept = verdicts(Store(path), "audit")
    assert sorted(v.reviewer for v in kept) == ["ana", "ben"]


def test_agreement_percent_and_kappa(store: Store):
    # 4 items with both rounds: agree on 3 (fine, fine, hard), disagree on one (fine vs soft).
    for item, first, second in [("1", "fine", "fine"), ("2", "fine", "fine"), ("3", "hard", "hard"),
                                ("4", "fine", "soft")]:
        save_verdict(store, label(item, "ana", first))
        save_verdict(store, label(item, "ben", second, round=2))
    save_verdict(store, label("5", "ana", "hard"))  # one round only: not counted
    figures = agreement(store, "audit")
    assert figures["items"] == 4 and figures["agreed"] == 3 and figures["percent"] == 75.0
    # p_o = 0.75; rater 1: fine 3, hard 1; rater 2: fine 2, hard 1, soft 1 -> p_e = (3*2 + 1*1)/16
    p_e = 7 / 16
    assert figures["kappa"] == pytest.approx((0.75 - p_e) / (1 - p_e))


def test_agreement_per_question_for_quality(store: Store):
    def q(item, who, rnd, nvs, re, ace):
        return ReviewVerdict(queue="quality", item_id=item, reviewer=who, round=rnd, updated_at=T0,
                             payload={"non_visual_solvable": nvs, "reasoning_error": re,
                                      "answer_changing_error": ace})

    save_verdict(store, q("x", "ana", 1, True, False, False))
    save_verdict(store, q("x", "ben", 2, True, True, False))
    save_verdict(store, q("y", "ana", 1, False, False, False))
    save_verdict(store, q("y", "ben", 2, False, False, False))
    figures = agreement(store, "quality")
    assert figures["items"] == 2 and figures["agreed"] == 1
    assert figures["facets"]["reasoning_error"]["agreed"] == 1
    assert figures["facets"]["non_visual_solvable"]["percent"] == 100.0
    assert figures["facets"]["answer_changing_error"]["kappa"] is None  # all "false": kappa undefined


def test_edits_are_their_own_category(store: Store):
    keep = {"decision": "keep"}
    edit = {"decision": "keep", "edited": {"scenario": "new"}}
    save_verdict(store, ReviewVerdict(queue="seeds", item_id="s", reviewer="a", payload=keep, updated_at=T0))
    save_verdict(store, ReviewVerdict(queue="seeds", item_id="s", reviewer="b", round=2, payload=edit,
                                      updated_at=T0))
    assert agreement(store, "seeds")["agreed"] == 0


def test_kappa_edges():
    assert cohen_kappa([]) is None
    assert cohen_kappa([("a", "a"), ("a", "a")]) is None
    assert cohen_kappa([("a", "a"), ("b", "b")]) == 1.0
    assert cohen_kappa([("a", "b"), ("b", "a")]) == -1.0
