"""Appendix C.2 prompts per family and benchmark, and the four layouts not run end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from videokr.evaluate import prompts as P
from videokr.evaluate.benchmarks import read_benchmark

MC = P.PromptItem("Which part moves?", ("piston", "valve"), "multiple choice")
OE = P.PromptItem("What is produced?", (), "open-ended")


def test_videokr_prompt_is_the_official_post_prompt() -> None:
    text = P.build_prompt(P.VIDEOKR, P.VIDEOKR_EVAL, MC)
    assert text == (
        "Which part moves?\nA. piston\nB. valve\nPlease answer this question based on the visual content.\n"
        "Provide your thinking process between the <think> and </think> tags, and then give your final answer "
        "between the <answer> and </answer> tags.\nAt the end, you must output the final answer in the format:\n"
        "<answer><your answer here></answer>"
    )


def test_videoauto_r1_boxed() -> None:
    assert P.build_prompt(P.VIDEOAUTO_R1, P.MMVU, MC).endswith("B. valve\nPut your final answer in \\boxed{}.")
    assert P.build_prompt(P.VIDEOAUTO_R1, P.VIDEO_MME, MC).startswith(
        "Select the best answer to the following multiple-choice question based on the video. Respond with only "
        "the letter (A, B, C, or D) of the correct option\nWhich part moves?")


def test_video_r1_mc_and_open() -> None:
    assert P.build_prompt(P.VIDEO_R1, P.MMVU, MC).endswith(
        "Please provide only the single option letter (e.g., A, B, C, D, etc.) within the <answer> </answer> tags.")
    assert P.build_prompt(P.VIDEO_R1, P.MMVU, OE).endswith(
        "Please provide your text answer within the <answer> </answer> tags.")


def test_qwen_prompts_by_benchmark() -> None:
    mme = P.build_prompt(P.QWEN_INSTRUCT, P.VIDEO_MME, MC)
    assert "Question: Which part moves? Possible answer choices:\nA. piston\nB. valve\nThe best answer is:" in mme
    assert P.build_prompt(P.QWEN_THINKING, P.MVBENCH, MC).endswith(
        "analyze key timestamps and clues, and then provide the final answer.")
    mmvu = P.build_prompt(P.QWEN_INSTRUCT, P.MMVU, MC)
    assert "Visual Information: processed video" in mmvu and '"Therefore, the final answer is: $LETTER"' in mmvu
    assert P.build_prompt(P.QWEN_INSTRUCT, P.SCIVIDEOBENCH, MC).endswith(
        "Answer with the option's letter from the given choices directly.")
    assert "$ANSWER" in P.build_prompt(P.QWEN_THINKING, P.SCIVIDEOBENCH, MC)
    assert P.build_prompt(P.QWEN_INSTRUCT, P.VIDEOKR_EVAL, OE) == (
        "What is produced?\nPlease answer the question using a single word or phrase.")
    assert P.build_prompt(P.OTHER, P.MMVU, OE).endswith("Do not generate any intermediate reasoning process. "
                                                        "Directly output the final answer.")


def test_videommmu_tracks() -> None:
    adapt = P.PromptItem("Q?", ("x", "y"), "multiple choice", "Adaptation")
    assert P.build_prompt(P.OTHER, P.VIDEOMMMU, adapt).startswith(
        "You should watch and learn the video content. Then apply what you learned to answer the following "
        "multi-choice question.")
    perc = P.PromptItem("Q?", ("x", "y"), "multiple choice", "Perception")
    assert P.build_prompt(P.QWEN_INSTRUCT, P.VIDEOMMMU, perc).endswith(
        "Please ignore the Quiz question in last frame of the video.")


@pytest.mark.parametrize("family", P.FAMILIES)
@pytest.mark.parametrize("benchmark", P.BENCHMARK_NAMES)
def test_every_family_and_benchmark_has_a_prompt(family: str, benchmark: str) -> None:
    for item in (MC, OE):
        text = P.build_prompt(family, benchmark, item)
        assert item.question in text and "{" not in text.replace("\\boxed{}", "")


def test_family_guess() -> None:
    assert P.family_of("minuzero/VideoKR-Qwen3-VL-8B") == P.VIDEOKR
    assert P.family_of("Qwen/Qwen3-VL-8B-Thinking") == P.QWEN_THINKING
    assert P.family_of("Qwen/Qwen2.5-VL-7B-Instruct") == P.QWEN_INSTRUCT
    assert P.family_of("llava-onevision") == P.OTHER
    with pytest.raises(ValueError, match="unknown model family"):
        P.build_prompt("nope", P.MMVU, MC)


def _write(path: Path, rows: list) -> Path:
    path.write_text(json.dumps(rows))
    return path


def test_longvideobench_layout(tmp_path: Path) -> None:
    rows = [{"id": "q1", "video_id": "v1", "video_path": "v1.mp4", "question": "Q?", "candidates": ["a", "b", "c"],
             "correct_choice": 2, "question_category": "E2O", "duration_group": 600},
            {"id": "q2", "video_path": "v2.mp4", "question": "Q?", "candidates": ["a"], "correct_choice": 5}]
    read = read_benchmark("longvideobench", _write(tmp_path / "lvb_val.json", rows))
    assert read.items[0].answer == "C" and read.items[0].question_type == "E2O"
    assert "correct_choice 5" in read.rejected[0] and "lvb_val.json:2" in read.rejected[0]


def test_videommmu_layout(tmp_path: Path) -> None:
    rows = [{"id": "Art_1", "question": "Q?", "options": ["x", "y", "z"], "answer": "B", "question_type": "multiple-choice"},
            {"id": "Art_2", "question": "How many?", "options": [], "answer": "42", "question_type": "open"}]
    read = read_benchmark("videommmu", _write(tmp_path / "Adaptation.json", rows))
    assert [i.problem_type.value for i in read.items] == ["multiple choice", "open-ended"]
    assert read.items[0].question_type == "Adaptation" and read.items[1].answer == "42"


def test_mmvu_layout(tmp_path: Path) -> None:
    rows = [{"id": "m1", "question": "Q?", "choices": {"A": "x", "B": "y"}, "answer": "y",
             "question_type": "multiple-choice", "video": "https://host/videos/a.mp4", "metadata": {"subject": "Chemistry"}},
            {"id": "m2", "question": "Q?", "choices": {}, "answer": "ATP", "question_type": "open-ended", "video": "b.mp4"}]
    read = read_benchmark("mmvu", _write(tmp_path / "validation.json", rows))
    assert read.items[0].answer == "B" and read.items[0].subject == "Chemistry"
    assert read.items[0].video_path.endswith("a.mp4") and read.items[1].problem_type.value == "open-ended"


def test_scivideobench_layout(tmp_path: Path) -> None:
    rows = [{"video_id": "123", "question_id": "s1", "question": "Q?", "options": {"A": "x", "B": "y", "C": "z"},
             "answer": "C", "question_type": "Quantitative", "discipline": "Physics", "video_duration": 300}]
    read = read_benchmark("scivideobench", _write(tmp_path / "scivideobench.json", rows))
    item = read.items[0]
    assert item.answer == "C" and item.options == ["x", "y", "z"] and item.video_path.endswith("jove_123.mp4")


def test_unknown_benchmark(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown benchmark"):
        read_benchmark("imagenet", tmp_path)
