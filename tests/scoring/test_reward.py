"""The GRPO reward: the paper's constants, and parity with the official verl reward.

The official function's behaviour is written down here as a reference specification in plain
string operations (not regular expressions), so the parity test compares two independent
readings of the same rules on a few thousand generated outputs.
"""

from __future__ import annotations

import random

import pytest
from rouge_score import rouge_scorer

from videokr.scoring import reward as R

# --- reference specification of the official reward -------------------------------------------


def spec_answer(text: str) -> str:
    """First '<answer>' block: from the first '<answer>' to the next '</answer>', stripped."""
    i = text.find("<answer>")
    if i < 0:
        return ""
    j = text.find("</answer>", i + len("<answer>"))
    return text[i + len("<answer>"): j].strip() if j >= 0 else ""


def spec_format(text: str) -> bool:
    """'<think>' at the very start, '</answer>' at the very end, and some '</think>' followed by
    whitespace only and then '<answer>', with room left for the closing tag."""
    if not (text.startswith("<think>") and text.endswith("</answer>")):
        return False
    end_tag = len(text) - len("</answer>")
    p = text.find("</think>", len("<think>"))
    while p >= 0:
        rest = text[p + len("</think>"):]
        skipped = len(rest) - len(rest.lstrip())
        q = p + len("</think>") + skipped
        if text.startswith("<answer>", q) and q + len("<answer>") <= end_tag:
            return True
        p = text.find("</think>", p + 1)
    return False


def spec_rouge(reference: str, hypothesis: str) -> float:
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    s = scorer.score(reference, hypothesis)
    return max(0.0, min(1.0, (s["rouge1"].fmeasure + s["rouge2"].fmeasure + s["rougeL"].fmeasure) / 3))


def spec_score(output: str, ground_truth: str, problem_type: str) -> tuple[float, float, float]:
    fmt = 1.0 if spec_format(output) else 0.0
    got, want = spec_answer(output), spec_answer(ground_truth)
    if problem_type == "multiple choice":
        acc = 1.0 if got == want else 0.0
    elif problem_type == "open-ended":
        acc = spec_rouge(want, got)
    else:
        acc = 0.0
    return 0.9 * acc + 0.1 * fmt, fmt, acc


# --- generated outputs -------------------------------------------------------------------------

WHITESPACE = ["", " ", "\n", "\n\n", "\t", "\u00a0", " \n ", "\u2003"]
MC_CONTENT = ["B", " B ", "(B)", "b", "B.", "", "C", "vertical integration", "I cannot tell", "B\n", "<answer>B"]
OE_GOLD = [
    "vertical integration", "the mitochondria produce ATP", "42 m/s", "Newton's second law",
    "increasing the temperature raises the reaction rate", "osteoporosis",
]
OE_CONTENT = OE_GOLD + [
    "vertically integrated firms", "mitochondrion", "42", "the second law of Newton", "", "rates rising with heat",
]
THINK = ["the video shows a truck", "A man walks in. I think B", "", "<think>nested</think>", "<answer>A</answer> draft"]


def generate(rng: random.Random, n: int) -> list[tuple[str, str, str]]:
    items = []
    for _ in range(n):
        kind = rng.choice(["multiple choice"] * 5 + ["open-ended"] * 4 + ["multiple-choice", "", "Open-Ended"])
        if "open" in kind.lower():
            gold = rng.choice(OE_GOLD)
            content = rng.choice(OE_CONTENT)
        else:
            gold = rng.choice(["B", "C"])
            content = rng.choice(MC_CONTENT)
        parts = []
        if rng.random() < 0.1:
            parts.append(rng.choice(["Sure. ", " ", "\n", "Answer: "]))
        if rng.random() < 0.9:
            parts.append("<think>" + rng.choice(THINK) + ("</think>" if rng.random() < 0.95 else ""))
        parts.append(rng.choice(WHITESPACE))
        if rng.random() < 0.93:
            parts.append("<answer>" + content + ("</answer>" if rng.random() < 0.95 else ""))
        else:
            parts.append(content)
        if rng.random() < 0.1:
            parts.append(rng.choice(["<answer>C</answer>", " ", "\n", " trailing words", "</answer>"]))
        output = "".join(parts)
        gt = rng.choice([f"<answer>{gold}</answer>", f"<answer> {gold} </answer>", gold])
        items.append((output, gt, kind))
    return items


ITEMS = generate(random.Random(20260501), 3000)


def test_paper_constants() -> None:
    assert R.FORMAT_WEIGHT == 0.1
    assert R.ACCURACY_WEIGHT == 0.9
    assert R.ROUGE_TYPES == ("rouge1", "rouge2", "rougeL")
    assert R.ROUGE_USE_STEMMER is True
    assert R.DEFAULT_MODE == "official"


def test_generated_outputs_cover_the_rules() -> None:
    fmt = sum(spec_format(o) for o, _, _ in ITEMS)
    assert 0.3 * len(ITEMS) < fmt < 0.95 * len(ITEMS)
    assert sum(1 for o, g, k in ITEMS if k == "multiple choice" and spec_answer(o) == spec_answer(g)) > 100


def test_official_mode_equals_official_reward_on_generated_outputs() -> None:
    outputs, gts, kinds = zip(*ITEMS)
    batch = R.score_batch(outputs, gts, kinds, "official", wrap_ground_truth=False)
    mismatches = []
    for i, (o, g, k) in enumerate(ITEMS):
        want = spec_score(o, g, k)
        got = (batch.reward[i], batch.format_reward[i], batch.accuracy_reward[i])
        if any(abs(a - b) > 1e-12 for a, b in zip(got, want)):
            mismatches.append((o, g, k, got, want))
    assert not mismatches, mismatches[:5]


def test_verl_entry_point_equals_official_reward() -> None:
    for o, g, k in ITEMS[:800]:
        want = spec_score(o, g, k)
        assert R.compute_score("videokr", o, g, {"problem_type": k}) == pytest.approx(want[0], abs=1e-12)
        d = R.compute_score("videokr", o, g, {"problem_type": k}, return_dict=True)
        assert (d["format_score"], d["accurate_score"]) == pytest.approx(want[1:], abs=1e-12)


def test_batch_equals_one_by_one() -> None:
    for mode in R.MODES:
        outputs, gts, kinds = zip(*ITEMS[:600])
        batch = R.score_batch(outputs, gts, kinds, mode)
        for i, (o, g, k) in enumerate(ITEMS[:600]):
            one = R.score_one(o, g, k, mode)
            assert (batch.reward[i], batch.format_reward[i], batch.accuracy_reward[i]) == pytest.approx(
                (one.reward, one.format_reward, one.accuracy_reward), abs=1e-12
            )


def test_official_quirks_are_reproduced() -> None:
    # a bare ground truth reads as "" and matches an output without an answer block
    assert R.compute_score("videokr", "no tags at all", "B", {"problem_type": "multiple choice"}) == pytest.approx(0.9)
    # the evaluation files' spelling scores 0 accuracy in the official reward
    ok = "<think>x</think><answer>B</answer>"
    assert R.compute_score("videokr", ok, "<answer>B</answer>", {"problem_type": "multiple-choice"}) == pytest.approx(0.1)
    # the first answer block counts, and the format check accepts nested blocks
    two = "<think>x</think><answer>A</answer><answer>B</answer>"
    assert R.compute_score("videokr", two, "<answer>B</answer>", {"problem_type": "multiple choice"}) == pytest.approx(0.1)
    assert R.format_reward(two) == 1.0
    assert R.compute_score("videokr", ok, "<answer>B</answer>", None) == pytest.approx(0.1)


def test_strict_mode_reads_like_a_human() -> None:
    ok = "<think>x</think>\n<answer>(B)</answer>"
    assert R.reward(ok, "B", "multiple-choice", "strict") == pytest.approx(1.0)
    assert R.reward(ok, "B", "multiple choice", "official") == pytest.approx(0.1)
    assert R.reward("<think>x</think><answer>b</answer>", "B", "multiple choice", "strict") == pytest.approx(1.0)
    assert R.reward("<think>x</think><answer>I cannot tell</answer>", "I", "multiple choice", "strict") == pytest.approx(0.1)
    two = "<think>x</think><answer>A</answer><answer>B</answer>"
    assert R.format_reward(two, "strict") == 0.0
    assert R.accuracy_reward(two, "B", "multiple choice", "strict") == 1.0  # last block counts
    assert R.reward("no tags", "B", "multiple choice", "strict") == 0.0
    opts = ["diversification", "vertical integration", "outsourcing"]
    out = "<think>x</think><answer>vertical integration</answer>"
    assert R.reward(out, "B", "multiple choice", "strict", opts) == pytest.approx(1.0)


def test_open_ended_rouge() -> None:
    out = "<think>x</think><answer>the mitochondria produce ATP</answer>"
    assert R.reward(out, "the mitochondria produce ATP", "open-ended") == pytest.approx(1.0)
    partial = R.accuracy_reward("<answer>mitochondria produces energy</answer>", "<answer>the mitochondria produce ATP</answer>", "open-ended")
    assert 0.0 < partial < 1.0
    assert partial == pytest.approx(spec_rouge("the mitochondria produce ATP", "mitochondria produces energy"))


def test_batch_rejects_mismatched_lengths() -> None:
    with pytest.raises(ValueError, match="2 outputs but 1 ground truths"):
        R.score_batch(["a", "b"], ["A"], "multiple choice")
    with pytest.raises(ValueError, match="unknown reward mode"):
        R.score_batch(["a"], ["A"], "multiple choice", "lenient")  # type: ignore[arg-type]


def test_docstring_examples() -> None:
    import doctest

    assert doctest.testmod(R).failed == 0


def test_a_missing_rouge_scorer_is_an_error_not_a_zero(monkeypatch) -> None:
    """Regression: without rouge-score every open-ended reward silently became 0 (format only)."""
    import sys

    import videokr.scoring.reward as reward

    monkeypatch.setattr(reward, "_SCORER", None)
    monkeypatch.setitem(sys.modules, "rouge_score", None)  # import fails as if not installed
    out = "<think>t</think><answer>a red ball</answer>"
    with pytest.raises(ImportError):
        reward.score_one(out, "a red ball", "open-ended")
    with pytest.raises(ImportError):
        reward.score_batch([out], ["a red ball"], "open-ended")


def test_unknown_modes_and_unhashable_ground_truths() -> None:
    from videokr.scoring.reward import score_batch, score_one

    with pytest.raises(ValueError, match="unknown reward mode"):
        score_one("<think>t</think><answer>B</answer>", "B", "multiple choice", mode="lenient")  # type: ignore[arg-type]
    batch = score_batch(["<think>t</think><answer>B</answer>"], [["B"]], "multiple choice", mode="strict")  # type: ignore[list-item]
    assert len(batch) == 1
