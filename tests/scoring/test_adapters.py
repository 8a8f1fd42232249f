"""The RL libraries' reward signatures give exactly videokr.scoring.reward's numbers."""

from __future__ import annotations

import functools
import importlib.util
import sys
from typing import Any

import pytest

from videokr.scoring import adapters as A
from videokr.scoring import reward as R

OPTIONS = ["A. diversification", "B. vertical integration", "C. outsourcing", "D. franchising"]
OE_GOLD = "the mitochondria produce ATP"

# (output, ground truth as the dataset holds it, problem type, options)
CASES: list[tuple[str, str, str, list[str]]] = [
    ("<think>the firm buys its supplier</think><answer>B</answer>", "<answer>B</answer>", "multiple choice", OPTIONS),
    ("<think>the firm buys its supplier</think>\n<answer>B</answer>", "B", "multiple choice", OPTIONS),
    ("<think>hm</think><answer>C</answer>", "<answer>B</answer>", "multiple choice", OPTIONS),
    ("<think>hm</think><answer>(B)</answer>", "<answer>B</answer>", "multiple choice", OPTIONS),
    ("<think>hm</think><answer>vertical integration</answer>", "<answer>B</answer>", "multiple choice", OPTIONS),
    ("The answer is B.", "<answer>B</answer>", "multiple choice", OPTIONS),  # right, but no format
    ("<answer>B</answer>", "<answer>B</answer>", "multiple choice", OPTIONS),  # no think block
    ("<think>x</think><answer>B</answer> trailing", "<answer>B</answer>", "multiple choice", OPTIONS),
    ("<think>x</think><answer>B</answer>", "<answer>B</answer>", "multiple-choice", OPTIONS),
    (f"<think>cells</think><answer>{OE_GOLD}</answer>", f"<answer>{OE_GOLD}</answer>", "open-ended", []),
    ("<think>cells</think><answer>mitochondria produces energy</answer>", OE_GOLD, "open-ended", []),
    ("mitochondria produce ATP", f"<answer>{OE_GOLD}</answer>", "open-ended", []),
    ("<think>cells</think><answer></answer>", f"<answer>{OE_GOLD}</answer>", "open-ended", []),
]
OUTPUTS = [c[0] for c in CASES]
SOLUTIONS = [c[1] for c in CASES]
KINDS = [c[2] for c in CASES]
OPTION_LISTS = [c[3] for c in CASES]


def expected(mode: R.Mode = "official") -> list[R.Reward]:
    return [R.score_one(o, g, k, mode, opts or None) for o, g, k, opts in CASES]


def trl_kwargs() -> dict[str, Any]:
    """What TRL's GRPOTrainer passes besides prompts and completions: every dataset column as a
    list, plus its own keywords."""
    n = len(CASES)
    return {
        "completion_ids": [[1, 2, 3]] * n,
        "solution": list(SOLUTIONS),
        "problem_type": list(KINDS),
        "options": list(OPTION_LISTS),
        "answer": ["unused"] * n,
        "id": [f"q{i}" for i in range(n)],
        "trainer_state": object(),
        "log_extra": lambda *a, **k: None,
        "log_metric": lambda *a, **k: None,
    }


PROMPTS = [[{"role": "user", "content": "Which strategy?"}]] * len(CASES)


def test_cases_cover_good_and_bad_formats_and_both_problem_types() -> None:
    got = expected()
    assert {r.format_reward for r in got} == {0.0, 1.0}
    assert {r.accuracy_reward for r in got[:9]} == {0.0, 1.0}
    assert any(0.0 < r.accuracy_reward < 1.0 for r in got[9:])
    assert got[0].reward == 1.0 and got[2].reward == pytest.approx(0.1) and got[5].reward == 0.0


def test_trl_string_completions() -> None:
    got = A.trl_reward(prompts=["Which strategy?"] * len(CASES), completions=OUTPUTS, **trl_kwargs())
    assert got == [r.reward for r in expected()]
    assert got == [R.reward(o, g, k) for o, g, k, _ in CASES]


@pytest.mark.parametrize("shape", ["content", "parts", "history"])
def test_trl_conversational_completions(shape: str) -> None:
    if shape == "content":
        completions = [[{"role": "assistant", "content": o}] for o in OUTPUTS]
    elif shape == "parts":
        completions = [[{"role": "assistant", "content": [{"type": "text", "text": o[:7]}, {"type": "text", "text": o[7:]}]}]
                       for o in OUTPUTS]
    else:  # the last assistant message is the answer
        completions = [[{"role": "assistant", "content": "draft"}, {"role": "tool", "content": "x"},
                        {"role": "assistant", "content": o}] for o in OUTPUTS]
    got = A.trl_reward(prompts=PROMPTS, completions=completions, **trl_kwargs())
    assert got == [r.reward for r in expected()]


def test_trl_format_and_accuracy_weighted_as_trl_does_give_the_reward() -> None:
    completions = [[{"role": "assistant", "content": o}] for o in OUTPUTS]
    fmt = A.trl_format_reward(prompts=PROMPTS, completions=completions, **trl_kwargs())
    acc = A.trl_accuracy_reward(prompts=PROMPTS, completions=completions, **trl_kwargs())
    want = expected()
    assert fmt == [r.format_reward for r in want]
    assert acc == [r.accuracy_reward for r in want]
    assert A.TRL_REWARD_WEIGHTS == (0.1, 0.9)
    w_fmt, w_acc = A.TRL_REWARD_WEIGHTS
    assert [w_fmt * f + w_acc * a for f, a in zip(fmt, acc)] == pytest.approx([r.reward for r in want], abs=1e-15)


def test_trl_function_names_are_distinct_for_its_logs() -> None:
    names = {f.__name__ for f in (A.trl_reward, A.trl_format_reward, A.trl_accuracy_reward)}
    assert names == {"videokr_reward", "videokr_format", "videokr_accuracy"}


def test_trl_strict_mode_reads_options() -> None:
    reward, fmt, acc = A.make_trl_rewards("strict")
    got = reward(prompts=PROMPTS, completions=OUTPUTS, **trl_kwargs())
    assert got == [r.reward for r in expected("strict")]
    assert got[4] == 1.0  # "vertical integration" is option B when the options are known
    assert acc(prompts=PROMPTS, completions=OUTPUTS, **trl_kwargs()) == [r.accuracy_reward for r in expected("strict")]
    assert fmt(prompts=PROMPTS, completions=OUTPUTS) == [r.format_reward for r in expected("strict")]


def test_trl_columns_answer_fallback_and_fixed_problem_type() -> None:
    mc = [i for i, c in enumerate(CASES) if c[2] == "multiple choice"]
    outputs = [OUTPUTS[i] for i in mc]
    bare = [R.official_answer(R.wrap_answer(SOLUTIONS[i])) for i in mc]
    reward, _, _ = A.make_trl_rewards(problem_type="multiple choice")
    got = reward(prompts=[""] * len(mc), completions=outputs, answer=bare)
    assert got == [R.reward(OUTPUTS[i], SOLUTIONS[i], "multiple choice") for i in mc]


def test_trl_missing_or_misaligned_columns_fail_loudly() -> None:
    with pytest.raises(ValueError, match="neither a 'solution' nor an 'answer'"):
        A.trl_reward(prompts=["p"], completions=["x"], problem_type=["multiple choice"])
    with pytest.raises(ValueError, match="no 'problem_type' column"):
        A.trl_reward(prompts=["p"], completions=["x"], solution=["B"])
    with pytest.raises(ValueError, match="2 completions but 1 values in the dataset column 'solution'"):
        A.trl_reward(prompts=["p", "q"], completions=["x", "y"], solution=["B"], problem_type=["multiple choice"] * 2)
    with pytest.raises(ValueError, match="unknown reward mode"):
        A.make_trl_rewards("lenient")  # type: ignore[arg-type]


def test_trl_warns_when_reasoning_was_parsed_out_of_content(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(A, "_warned_reasoning", False)
    completion = [{"role": "assistant", "reasoning_content": "the firm buys", "content": "<answer>B</answer>"}]
    with pytest.warns(UserWarning, match="outside 'content'"):
        got = A.trl_reward(prompts=["p"], completions=[completion], solution=["B"], problem_type=["multiple choice"])
    assert got == [R.reward("<answer>B</answer>", "B", "multiple choice")]


# --- EasyR1 ------------------------------------------------------------------------------------


def easyr1_inputs(with_type: bool = False) -> list[dict[str, Any]]:
    """EasyR1's RewardInput: response, response_length, ground_truth (the answer column)."""
    items: list[dict[str, Any]] = []
    for o, g, k, opts in CASES:
        truth: Any = {"solution": g, "problem_type": k, "options": opts} if with_type else g
        items.append({"response": o, "response_length": len(o.split()), "ground_truth": truth})
    return items


def test_easyr1_batch_with_mapping_ground_truths() -> None:
    got = A.easyr1_compute_score(easyr1_inputs(with_type=True))
    assert isinstance(got, list)
    assert all(set(s) == {"overall", "format", "accuracy"} for s in got)
    assert got == [{"overall": r.reward, "format": r.format_reward, "accuracy": r.accuracy_reward} for r in expected()]


def test_easyr1_strict_mode_with_mapping_ground_truths() -> None:
    got = A.easyr1_compute_score(easyr1_inputs(with_type=True), mode="strict")
    assert [s["overall"] for s in got] == [r.reward for r in expected("strict")]  # type: ignore[index]


def test_easyr1_sequential_and_run_wide_problem_type() -> None:
    mc = [i for i, c in enumerate(CASES) if c[2] == "multiple choice"]
    inputs = [easyr1_inputs()[i] for i in mc]
    for i, item in zip(mc, inputs):
        score = A.easyr1_compute_score(item, problem_type="multiple choice")
        assert isinstance(score, dict)
        want = R.score_one(OUTPUTS[i], SOLUTIONS[i], "multiple choice")
        assert score == {"overall": want.reward, "format": want.format_reward, "accuracy": want.accuracy_reward}
    with pytest.raises(ValueError, match="no problem type"):
        A.easyr1_compute_score(inputs)


def test_easyr1_loads_the_module_by_path_as_easyr1_does() -> None:
    """EasyR1 imports the reward file by path, reads REWARD_TYPE and binds reward_function_kwargs."""
    spec = importlib.util.spec_from_file_location("custom_reward_fn", A.__file__)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    previous = sys.modules.get("custom_reward_fn")
    sys.modules["custom_reward_fn"] = module
    try:
        spec.loader.exec_module(module)
    finally:
        if previous is None:
            sys.modules.pop("custom_reward_fn", None)
        else:
            sys.modules["custom_reward_fn"] = previous
    assert getattr(module, "REWARD_TYPE", "batch") == "batch"
    reward_fn = functools.partial(module.easyr1_compute_score, **{"mode": "official"})
    scores = reward_fn(easyr1_inputs(with_type=True))
    assert [s["overall"] for s in scores] == [r.reward for r in expected()]


# --- verl --------------------------------------------------------------------------------------


def test_verl_entry_point_is_the_reward_modules_own() -> None:
    assert A.compute_score is R.compute_score
    for o, g, k, _ in CASES:
        if g.startswith("<answer>"):  # verl data holds tagged ground truths; then all entry points agree
            assert A.compute_score("videokr", o, g, {"problem_type": k}) == R.reward(o, g, k)
