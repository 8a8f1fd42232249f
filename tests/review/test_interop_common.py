"""The tool-neutral half of the Label Studio / Argilla interop: controls, content, reviewers and rounds.

Also the shared world of the interop tests: one small queue per review queue (real items, a real
PyAV-made video), verdicts covering every payload shape (two rounds on some items), and the
answers as a reviewer gives them in a tool — written out here by hand from the controls' contract
(yes/no for flags, JSON for edits, one option per line), not by the code under test.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from videokr.review.interop.content import Media, MediaError, context_html, moment_links
from videokr.review.interop.controls import (
    CONTROLS,
    AnswerError,
    answers_from_payload,
    payload_from_answers,
)
from videokr.review.interop.importing import ToolAnswer, parse_time, reviewer_name, verdicts_from
from videokr.review.schema import PAYLOADS, QUEUES, ReviewItem, ReviewVerdict

T0 = datetime(2026, 3, 2, 9, 30, 15, 123456, tzinfo=timezone.utc)
CHOICE_CONTROLS = {
    "label",
    "non_visual_solvable",
    "reasoning_error",
    "answer_changing_error",
    "decision",
    "example_question_type",
}
REVIEWERS = ("alice", "bob")


def make_items(root: Path, video: Path) -> dict[str, list[ReviewItem]]:
    """Two or three items per queue, as the providers shape them: videos local and remote, cited moments."""
    local = str(video.relative_to(root))
    options = ["A. It speeds up", "B. It slows down", "C. It stays the same", "D. It reverses"]
    return {
        "audit": [
            ReviewItem(
                queue="audit",
                item_id="cot_validation|gpt-5.2|a1",
                group="cot_validation/gpt-5.2",
                title="Audit a1",
                fields={"input": "Is step 3 valid?", "output": '{"valid": true}'},
            ),
            ReviewItem(
                queue="audit",
                item_id="cot_validation|gpt-5.2|a2",
                group="cot_validation/gpt-5.2",
                title="Audit a2 <b>&</b>",
                fields={"input": "Is step 1 valid?", "output": "{}"},
            ),
        ],
        "quality": [
            ReviewItem(
                queue="quality",
                item_id="ex-q1",
                group="physics/Perception",
                title="Cart on a ramp",
                video=local,
                timestamps=[12.0, 83.5],
                fields={
                    "question": "What does the cart do at [00:12]?",
                    "options": options,
                    "answer": "A",
                    "reasoning": "At [01:23] the slope steepens.",
                },
            ),
            ReviewItem(
                queue="quality",
                item_id="ex-q2",
                group="chemistry/Reasoning",
                title="Titration",
                video="https://media.example.org/v/titration.mp4",
                timestamps=[3.25],
                fields={"question": "Which indicator?", "options": options[:2], "answer": "B"},
            ),
        ],
        "seeds": [
            ReviewItem(
                queue="seeds",
                item_id="seed-1",
                group="physics/Perception",
                title="Seed 1",
                video=local,
                fields={"question": "Q?", "options": options, "answer": "C"},
            ),
            ReviewItem(
                queue="seeds",
                item_id="seed-2",
                group="biology/Knowledge",
                title="Seed 2",
                video=local,
                fields={"question": "Q2?", "options": [], "answer": "mitosis"},
            ),
        ],
        "reannotation": [
            ReviewItem(
                queue="reannotation",
                item_id="VideoMMMU|r1",
                group="VideoMMMU",
                title="Filtered r1",
                video=local,
                timestamps=[0.0],
                fields={"question": "Old?", "options": options, "answer": "D", "source": "VideoMMMU"},
            ),
            ReviewItem(
                queue="reannotation",
                item_id="MMVU|r2",
                group="MMVU",
                title="Filtered r2",
                video=local,
                fields={"question": "Old 2?", "options": options[:3], "answer": "A"},
            ),
        ],
        "syllabus": [
            ReviewItem(
                queue="syllabus",
                item_id="physics/lecture-7",
                group="physics",
                title="Lecture 7",
                fields={"discipline": "physics", "knowledge_points": ["Inertia", "Momentum"]},
            ),
            ReviewItem(
                queue="syllabus",
                item_id="biology/lecture-2",
                group="biology",
                title="Lecture 2",
                fields={"discipline": "biology", "knowledge_points": ["Cell cycle"]},
            ),
        ],
    }


def _v(
    queue: str,
    item_id: str,
    reviewer: str,
    round_: int,
    payload: dict[str, Any],
    note: str | None,
    minutes: int,
) -> ReviewVerdict:
    return ReviewVerdict(
        queue=queue,
        item_id=item_id,
        reviewer=reviewer,
        round=round_,
        payload=payload,
        note=note,
        updated_at=T0 + timedelta(minutes=minutes, microseconds=minutes),
    )


def make_verdicts(items: dict[str, list[ReviewItem]]) -> dict[str, list[ReviewVerdict]]:
    """Every payload shape of every queue; items with a second-round verdict by another reviewer."""
    a, q, s, r, y = (items[name] for name in ("audit", "quality", "seeds", "reannotation", "syllabus"))
    return {
        "audit": [
            _v("audit", a[0].item_id, "alice", 1, {"label": "fine"}, None, 1),
            _v("audit", a[0].item_id, "bob", 2, {"label": "soft"}, "hallucinated a unit", 2),
            _v("audit", a[1].item_id, "alice", 1, {"label": "hard"}, "not JSON", 3),
        ],
        "quality": [
            _v(
                "quality",
                q[0].item_id,
                "alice",
                1,
                {"non_visual_solvable": False, "reasoning_error": True, "answer_changing_error": True},
                "step 2 is wrong",
                4,
            ),
            _v(
                "quality",
                q[1].item_id,
                "alice",
                1,
                {"non_visual_solvable": True, "reasoning_error": False, "answer_changing_error": False},
                None,
                5,
            ),
            _v(
                "quality",
                q[1].item_id,
                "bob",
                2,
                {"non_visual_solvable": True, "reasoning_error": True, "answer_changing_error": False},
                "minor slip",
                6,
            ),
        ],
        "seeds": [
            _v(
                "seeds",
                s[0].item_id,
                "alice",
                1,
                {
                    "decision": "keep",
                    "edited": {
                        "answer": "B",
                        "options": ["A. 1 m/s", "B. 2 m/s"],
                        "reasoning": 'Ünïcode — "quoted"\nline 2',
                        "nested": {"weight": 0.25, "ok": True, "none": None},
                    },
                },
                None,
                7,
            ),
            _v("seeds", s[1].item_id, "alice", 1, {"decision": "drop"}, "duplicate of seed-1", 8),
        ],
        "reannotation": [
            _v(
                "reannotation",
                r[0].item_id,
                "alice",
                1,
                {
                    "decision": "new",
                    "example": {
                        "question": "At [00:42], which force dominates?\nExplain briefly.",
                        "options": ["A. Gravity", "B. Friction", "C. Tension"],
                        "answer": "B",
                        "question_type": "multiple-choice",
                        "reasoning": "The block decelerates at [00:42].",
                    },
                },
                None,
                9,
            ),
            _v(
                "reannotation",
                r[1].item_id,
                "alice",
                1,
                {
                    "decision": "new",
                    "example": {
                        "question": "Name the process shown.",
                        "options": [],
                        "answer": "mitosis",
                        "question_type": "open-ended",
                    },
                },
                "open-ended",
                10,
            ),
            _v(
                "reannotation",
                r[1].item_id,
                "bob",
                2,
                {"decision": "drop"},
                "the video cannot carry a question",
                11,
            ),
        ],
        "syllabus": [
            _v(
                "syllabus",
                y[0].item_id,
                "alice",
                1,
                {"decision": "approve", "edited": {"knowledge_points": ["Inertia", "Momentum", "Impulse"]}},
                None,
                12,
            ),
            _v("syllabus", y[1].item_id, "bob", 1, {"decision": "reject"}, "off-syllabus", 13),
        ],
    }


def tool_answers(verdict: ReviewVerdict) -> dict[str, list[str]]:
    """What a reviewer enters in either tool for `verdict`, per control: the contract, written out by hand."""
    p = verdict.payload
    answers: dict[str, list[str]] = {}
    if verdict.queue == "audit":
        answers["label"] = [p["label"]]
    elif verdict.queue == "quality":
        for flag in ("non_visual_solvable", "reasoning_error", "answer_changing_error"):
            answers[flag] = ["yes" if p[flag] else "no"]
    elif verdict.queue in ("seeds", "syllabus"):
        answers["decision"] = [p["decision"]]
        if p.get("edited") is not None:
            answers["edited"] = [json.dumps(p["edited"], indent=2)]  # a reviewer's JSON need not be canonical
    else:
        answers["decision"] = [p["decision"]]
        example = p.get("example")
        if example:
            answers["example_question"] = [example["question"]]
            if example["options"]:
                answers["example_options"] = list(example["options"])
            answers["example_answer"] = [example["answer"]]
            answers["example_question_type"] = [example["question_type"]]
            if example.get("reasoning"):
                answers["example_reasoning"] = [example["reasoning"]]
    if verdict.note:
        answers["note"] = [verdict.note]
    return answers


def final_of(verdicts: list[ReviewVerdict]) -> dict[str, ReviewVerdict]:
    """Per item: the round-2 verdict if any, else the latest round-1 (the schema's `final_verdicts` rule)."""
    final: dict[str, ReviewVerdict] = {}
    for verdict in sorted(verdicts, key=lambda v: (v.round, v.updated_at)):
        final[verdict.item_id] = verdict
    return final


def served(interop: dict[str, Any], base: str | None) -> Media:
    """Local media served at `base` from the test workspace (its relative paths are relative to it too)."""
    return Media(base, interop["root"], interop["root"])


def key(verdict: ReviewVerdict) -> tuple[str, str, str, int]:
    return verdict.queue, verdict.item_id, verdict.reviewer, verdict.round


@pytest.fixture
def interop(tmp_path: Path) -> dict[str, Any]:
    from videokr.video.synth import write_indexed_video

    root = tmp_path / "ws"
    (root / "videos").mkdir(parents=True)
    video = write_indexed_video(root / "videos" / "clip one.mp4", n_frames=30, fps=10)
    items = make_items(root, video)
    return {"root": root, "video": video, "items": items, "verdicts": make_verdicts(items)}


# -- controls -----------------------------------------------------------------------------------------------


def test_every_queue_has_controls_and_a_note():
    assert set(CONTROLS) == set(QUEUES)
    for queue, controls in CONTROLS.items():
        names = [c.name for c in controls]
        assert len(names) == len(set(names)) and names[-1] == "note", queue
        assert [c.name for c in controls if c.required], f"{queue} has no required control"
        for control in controls:
            if control.shown_when:
                assert control.shown_when[0] in names and control.shown_when[0] != control.name


@pytest.mark.parametrize("queue", QUEUES)
def test_payload_answers_payload_is_the_identity(interop, queue):
    for verdict in interop["verdicts"][queue]:
        answers = answers_from_payload(queue, verdict.payload, verdict.note)
        payload, note = payload_from_answers(queue, answers)
        assert PAYLOADS[queue](**payload) == PAYLOADS[queue](**verdict.payload)
        assert note == verdict.note
        # and the hand-written contract reads the same
        assert payload_from_answers(queue, tool_answers(verdict)) == (payload, note)


def test_answer_errors_name_the_control():
    with pytest.raises(AnswerError, match=r"label: 'ok' is not one of fine, soft, hard"):
        payload_from_answers("audit", {"label": "ok"})
    with pytest.raises(AnswerError, match=r"reasoning_error: not answered"):
        payload_from_answers("quality", {"non_visual_solvable": "no", "answer_changing_error": "no"})
    with pytest.raises(AnswerError, match=r"decision: choose exactly one"):
        payload_from_answers("seeds", {"decision": ["keep", "drop"]})
    with pytest.raises(AnswerError, match=r"edited: not valid JSON"):
        payload_from_answers("seeds", {"decision": "keep", "edited": "{answer: B}"})
    with pytest.raises(AnswerError, match=r"edited: expected a JSON object, got list"):
        payload_from_answers("syllabus", {"decision": "approve", "edited": "[1, 2]"})
    with pytest.raises(AnswerError, match=r"verdict_of_doom: not a control of the audit queue"):
        payload_from_answers("audit", {"label": "fine", "verdict_of_doom": "x"})


def test_question_type_follows_the_options_when_left_out():
    payload, _ = payload_from_answers(
        "reannotation",
        {
            "decision": "new",
            "example_question": "Q?",
            "example_options": "A. x\n\nB. y\n",
            "example_answer": "A",
        },
    )
    assert payload["example"] == {
        "question": "Q?",
        "options": ["A. x", "B. y"],
        "answer": "A",
        "question_type": "multiple-choice",
    }
    payload, _ = payload_from_answers(
        "reannotation", {"decision": "new", "example_question": "Q?", "example_answer": "42"}
    )
    assert payload["example"]["question_type"] == "open-ended" and payload["example"]["options"] == []


def test_an_example_the_tools_cannot_carry_is_refused_on_export():
    with pytest.raises(AnswerError, match="example: the tools carry .* not difficulty"):
        answers_from_payload(
            "reannotation",
            {
                "decision": "new",
                "example": {
                    "question": "Q",
                    "options": [],
                    "answer": "a",
                    "question_type": "open-ended",
                    "difficulty": 3,
                },
            },
            None,
        )
    with pytest.raises(AnswerError, match="example_options: an option is empty or spans lines"):
        answers_from_payload(
            "reannotation",
            {
                "decision": "new",
                "example": {
                    "question": "Q",
                    "options": ["A. one\ntwo", "B. three"],
                    "answer": "A",
                    "question_type": "multiple-choice",
                },
            },
            None,
        )


# -- content --------------------------------------------------------------------------------------------------


def test_media_urls(tmp_path):
    ws, videos = tmp_path / "ws", tmp_path / "videos"
    at = Media("http://127.0.0.1:8000", videos, ws)
    assert at.url("https://x.org/a.mp4") == "https://x.org/a.mp4" and at.url(None) is None
    assert at.url(str(videos / "a b.mp4")) == "http://127.0.0.1:8000/a%20b.mp4"
    assert at.url("../videos/sub/a.mp4") == "http://127.0.0.1:8000/sub/a.mp4"  # relative to the workspace
    assert Media("http://h/media/", ws, ws).url("videos/a.mp4") == "http://h/media/videos/a.mp4"
    assert (
        Media("/data/local-files/?d=ws/", ws, ws).url("videos/a.mp4")
        == "/data/local-files/?d=ws/videos/a.mp4"
    )
    with pytest.raises(MediaError, match="a.mp4 is not under .*videos, the folder --media-url serves"):
        at.url(str(ws / "a.mp4"))
    with pytest.raises(MediaError, match="a.mp4 is a local file: pass --media-url"):
        Media(None, ws, ws).url("videos/a.mp4")
    assert Media(None, ws, ws).url("https://x.org/a.mp4") == "https://x.org/a.mp4"


def test_context_escapes_and_links_the_cited_moments(interop):
    item = interop["items"]["quality"][0]
    html = context_html(item, "http://h/v.mp4", served(interop, "http://h"))
    assert '<a href="http://h/v.mp4#t=83.5" target="_blank">[01:23]</a>' in html
    assert "reasoning" in html and "question" not in html.split("<dl>")[1]  # shown on its own, not in context
    audit = interop["items"]["audit"][1]
    assert "Audit a2 &lt;b&gt;&amp;&lt;/b&gt;" in context_html(audit, None, served(interop, None))
    assert moment_links(None, [5.0]) == "[00:05]"


# -- reviewers and rounds --------------------------------------------------------------------------------------


def _answer(where, user, answers, order, item_id="ex-q1", queue="quality"):
    return ToolAnswer(where, queue, item_id, user, answers, order=order, updated_at=T0)


FLAGS_NO = {"non_visual_solvable": "no", "reasoning_error": "no", "answer_changing_error": "no"}


def test_reviewers_become_rounds_in_order_and_a_third_is_a_problem():
    known = lambda queue: {"ex-q1"}  # noqa: E731
    answers = [
        _answer("f: task 1, annotation 3", "carol@x", FLAGS_NO, (3,)),
        _answer("f: task 1, annotation 1", "alice@x", FLAGS_NO, (1,)),
        _answer("f: task 1, annotation 2", "7", FLAGS_NO, (2,)),
    ]
    got = verdicts_from(answers, tool="label-studio", known_items=known, reviewers={"alice@x": "alice"})
    assert [(v.reviewer, v.round) for v in got.verdicts] == [("alice", 1), ("label-studio:7", 2)]
    assert len(got.problems) == 1 and str(got.problems[0]).startswith(
        "f: task 1, annotation 3: carol@x is reviewer 3"
    )
    given = verdicts_from(answers, tool="label-studio", known_items=known, round=2)
    assert (
        sorted((v.reviewer, v.round) for v in given.verdicts)
        == [("alice@x", 2), ("carol@x", 2), ("label-studio:7", 2)]
        and not given.problems
    )


def test_a_reviewers_later_answer_supersedes_the_earlier():
    later = dict(FLAGS_NO, reasoning_error="yes")
    got = verdicts_from(
        [_answer("a", "alice@x", FLAGS_NO, (1,)), _answer("b", "alice@x", later, (2,))],
        tool="label-studio",
        known_items=lambda q: {"ex-q1"},
    )
    assert got.superseded == 1 and [v.payload["reasoning_error"] for v in got.verdicts] == [True]


def test_unknown_items_queues_and_schema_failures_are_problems():
    got = verdicts_from(
        [
            _answer("w1", "u", FLAGS_NO, (1,), item_id="ex-404"),
            _answer("w2", "u", {"label": "fine"}, (1,), queue="nope", item_id="x"),
            ToolAnswer("w3", None, None, "u", {}),
            _answer("w4", "u", dict(FLAGS_NO, answer_changing_error="maybe"), (1,)),
        ],
        tool="argilla",
        known_items=lambda q: {"ex-q1"},
    )
    messages = [str(p) for p in got.problems]
    assert messages[0] == "w1: item 'ex-404' is not in the quality queue of this workspace"
    assert messages[1].startswith("w2: 'nope' is not a review queue")
    assert messages[2].startswith("w3: no videokr queue and item id")
    assert messages[3] == "w4: argilla:u: answer_changing_error: 'maybe' is not one of yes, no"
    assert not got.verdicts


def test_reviewer_names_and_times():
    assert reviewer_name("alice@lab.org", {}, "label-studio") == "alice@lab.org"
    assert reviewer_name("12", {"12": "Alice"}, "label-studio") == "Alice"
    assert reviewer_name("5f0c", {}, "argilla") == "argilla:5f0c"
    assert parse_time("2021-03-09T22:16:08.728378Z") == datetime(
        2021, 3, 9, 22, 16, 8, 728378, tzinfo=timezone.utc
    )
    assert parse_time("2021-03-09T23:16:08+01:00") == datetime(2021, 3, 9, 22, 16, 8, tzinfo=timezone.utc)
    assert parse_time("2021-03-09T22:16:08") == datetime(2021, 3, 9, 22, 16, 8, tzinfo=timezone.utc)
    assert parse_time("yesterday") is None and parse_time(None) is None
