from __future__ import annotations

import pytest

from videokr.scoring import judge_prompts
from videokr.scoring.judge import Judge, build_prompt, full_question, openai_complete, parse_reply
from videokr.scoring.rules import NUMERIC_REL_TOL, normalise_text, rule_open_ended, score_item


def test_named_defaults() -> None:
    assert NUMERIC_REL_TOL == 0.01
    assert judge_prompts.JUDGE_TEMPERATURE == 1.0
    assert judge_prompts.JUDGE_MAX_TOKENS == 256
    assert judge_prompts.JUDGE_DEFAULT_MODEL == "gpt-4o"


def test_multiple_choice_by_rule() -> None:
    opts = ["A. piston", "B. valve", "C. crankshaft"]
    assert score_item("<answer>B</answer>", "B", "multiple-choice", opts).correct is True
    assert score_item("a piston moves. The answer is: C", "A", "multiple choice", opts).correct is False
    s = score_item("I cannot determine the answer", "A", "multiple choice", opts)
    assert (s.pred, s.correct, s.method) == (None, False, "rule")
    assert score_item("valve", "B", "multiple choice", opts).correct is True
    with pytest.raises(ValueError, match="not a letter"):
        score_item("B", "Z9", "multiple choice", opts)


@pytest.mark.parametrize(
    ("pred", "answer", "verdict"),
    [
        ("The Mitochondria.", "mitochondria", True),
        ("42.2 m/s", "42 m/s", True),  # within 1%
        ("50 m/s", "42 m/s", False),
        ("1,000", "1000", True),
        ("-5", "5", False),
        ("ATP", "adenosine triphosphate", None),  # only a judge can tell
        ("50 km", "42 m/s", None),
        ("", "x", None),
    ],
)
def test_open_ended_rules(pred: str, answer: str, verdict: bool | None) -> None:
    assert rule_open_ended(pred, answer) is verdict


def test_open_ended_without_judge_is_unscored_never_wrong() -> None:
    s = score_item("<think>…</think><answer>ATP synthase</answer>", "adenosine triphosphate synthase", "open-ended")
    assert s.correct is None and s.method == "unscored" and s.pred == "ATP synthase"


def test_normalise_text() -> None:
    assert normalise_text("The  Answer: 3.5 m/s.") == "answer 3.5 m/s"


def test_prompt_is_the_official_template() -> None:
    p = build_prompt("Which part?", ["piston", "valve"], "B", "<think>x</think><answer>B</answer>", "multiple-choice")
    assert p.startswith("You are a strict evaluator assessing answer correctness.")
    assert "Question:\nWhich part?\nA. piston\nB. valve\nGround Truth Answer:\nB\nModel Prediction:\nB\n" in p
    o = build_prompt("Q?", None, "ATP", "no tags here", "open-ended")
    assert o.startswith("You are a fair evaluator assessing answer correctness.") and "Model Prediction:\nno tags here\n" in o
    assert full_question("Q", {"A": "x", "B": "y"}) == "Q\nA. x\nB. y"


def test_parse_reply() -> None:
    assert parse_reply(" 1\n") is True and parse_reply("0") is False and parse_reply("`1`") is True
    assert parse_reply("I think 1") is None


def test_judge_over_real_http_is_cached(loopback) -> None:
    server = loopback(lambda body: "1" if "ATP" in body["messages"][0]["content"] else "0")
    judge = Judge(openai_complete(server.base_url), model="judge-m")
    v = judge.judge("What?", None, "adenosine triphosphate", "<answer>ATP</answer>", "open-ended")
    assert v.correct is True and not v.cached
    assert server.requests[0]["temperature"] == 1.0 and server.requests[0]["max_tokens"] == 256
    assert server.requests[0]["model"] == "judge-m"
    again = judge.judge("What?", None, "adenosine triphosphate", "<answer>ATP</answer>", "open-ended")
    assert again.correct is True and again.cached and len(server.requests) == 1
    assert judge.judge("What?", None, "glucose", "<answer>fructose</answer>", "open-ended").correct is False


def test_judge_failure_leaves_item_unscored(loopback) -> None:
    server = loopback(lambda body: (400, "bad request"))
    v = Judge(openai_complete(server.base_url)).judge("Q", None, "x", "y", "open-ended")
    assert v.correct is None and "BadRequest" in (v.error or "")
    garbled = Judge(lambda m, p: "maybe").judge("Q", None, "x", "y", "open-ended")
    assert garbled.correct is None and "not 1 or 0" in (garbled.error or "")
