"""GRPO on tiny real models and real videos: rewards are the scoring code's, the KL starts at 0,
the reward rises on a learnable task, and `videokr train grpo` runs end to end.

A random tiny model never writes ``<think>…</think><answer>…</answer>``, so every reward would be
0 and nothing could be learned or checked. The tests therefore start GRPO where the paper starts
it, from an SFT model: the tiny checkpoint fine-tuned for a few seconds on the colour task
(:mod:`tests.train.colour_task`), which writes the format and some letter. The RL set holds
green videos only (answer B), so raising the reward means preferring B — cheap to learn.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from videokr.cli.main import app
from videokr.config import Config
from videokr.formats.instructions import answer_tagged
from videokr.pipeline.recipe import run_recipe
from videokr.scoring.reward import score_batch, score_one
from videokr.sets import live_set
from videokr.train.grpo import train_grpo
from videokr.train.grpo_config import GRPOConfig
from videokr.train.sft import train_sft
from videokr.video.synth import write_video
from videokr.workspace import Workspace

from .colour_task import COLOURS, LETTERS, QUESTION, colour_frames
from .conftest import fast_config

SMALL_VIDEO = dict(max_frames=2, max_video_tokens=16)


def rl_workspace(root: Path, colours: tuple[str, ...] = ("green",), per_colour: int = 4,
                 train: dict | None = None) -> Workspace:
    """A workspace whose live RL set is ``per_colour`` colour-task questions per colour (no SFT set)."""
    videos = root / "videos"
    videos.mkdir(parents=True)
    lines = []
    for name in colours:
        c = list(COLOURS).index(name)
        for k in range(per_colour):
            path = write_video(videos / f"{name}-{k}.mp4", colour_frames(COLOURS[name], seed=100 + 10 * c + k), fps=4)
            lines.append({"problem_id": f"rl-{name}-{k}", "question": QUESTION, "problem_type": "multiple choice",
                          "options": ["red", "green", "blue"], "solution": f"<answer>{LETTERS[name]}</answer>",
                          "path": path.name})
    data = root / "rl.jsonl"
    data.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    config = Config(video_root=str(videos), recipe=["import", "videos", "probe", "decontam", "split"],
                    steps={"import": {"sources": [{"path": str(data), "kind": "rl"}]}, "probe": {"executor": "local"},
                           "decontam": {"executor": "local"}, "split": {"ratio": [0, 1]}},
                    train=train or {})
    ws = Workspace.init(root / "ws", config)
    for report in run_recipe(ws.store, ws.recipe()):
        assert report.counts["accepted"] == report.seen, report.line()
    return ws


@pytest.fixture(scope="module")
def green_ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return rl_workspace(tmp_path_factory.mktemp("green"))


@pytest.fixture(scope="module")
def sft_model(checkpoints, colour_ws, colour_examples, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny Qwen2.5-VL after 100 SFT steps on the colour task: it writes the answer format."""
    out = tmp_path_factory.mktemp("sft") / "model"
    config = fast_config(lr=5e-3, warmup_ratio=0.1, max_steps=100, **SMALL_VIDEO)
    train_sft(colour_examples, checkpoints["qwen2.5-vl"], out, config, colour_ws.video_root(), show_progress=False)
    return out


def _grpo(examples, model: Path, out: Path, ws: Workspace, steps: int, **settings):  # type: ignore[no-untyped-def]
    seen: list[tuple[dict, list[dict]]] = []
    config = GRPOConfig(**{"batch_prompts": 2, "max_response_tokens": 48, "lr": 1e-3, "max_steps": steps,
                           "save_rollouts": True, **SMALL_VIDEO, **settings})
    result = train_grpo(examples, model, out, config, ws.video_root(), on_step=lambda m, r: seen.append((m, r)))
    return result, seen


@pytest.fixture(scope="module")
def short_run(sft_model: Path, green_ws: Workspace, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    examples = live_set(green_ws.store, "rl")
    out = tmp_path_factory.mktemp("grpo") / "out"
    result, seen = _grpo(examples, sft_model, out, green_ws, steps=2)
    return examples, out, result, seen


def test_the_logged_reward_is_the_scoring_codes_on_the_same_outputs(short_run) -> None:  # type: ignore[no-untyped-def]
    examples, out, result, seen = short_run
    by_id = {e.id: e for e in examples}
    assert result.steps == 2 and len(seen) == 2
    saved = [json.loads(line) for line in (out / "rollouts.jsonl").read_text().splitlines()]
    assert saved == [r for _, rollouts in seen for r in rollouts]
    logged = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in logged] == [1, 2]
    rewarded = 0.0
    for (metrics, rollouts), line in zip(seen, logged):
        assert len(rollouts) == 2 * 8  # batch_prompts × group_size
        texts = [r["response"] for r in rollouts]
        truths = [answer_tagged(by_id[r["id"]]) for r in rollouts]
        again = score_batch(texts, truths, "multiple choice")
        assert [r["reward"] for r in rollouts] == again.reward
        assert [r["reward"] for r in rollouts] == [score_one(t, g, "multiple choice").reward for t, g in zip(texts, truths)]
        assert line["reward"] == pytest.approx(sum(again.reward) / len(texts), abs=1e-12)
        assert line["format_reward"] == pytest.approx(sum(again.format_reward) / len(texts), abs=1e-12)
        assert line["accuracy_reward"] == pytest.approx(sum(again.accuracy_reward) / len(texts), abs=1e-12)
        assert line == json.loads(json.dumps(metrics))
        for key in ("loss", "kl", "response_length", "tokens_per_s"):
            assert line[key] is not None
        rewarded += sum(again.reward)
    assert rewarded > 0  # the SFT model writes the format: the comparison is not of zeros
    assert any((out / "tensorboard").rglob("events.out.tfevents.*"))  # the same metrics for TensorBoard


def test_the_kl_is_zero_while_the_policy_is_the_reference(short_run) -> None:  # type: ignore[no-untyped-def]
    _, out, _, seen = short_run
    first, second = seen[0][0], seen[1][0]
    assert GRPOConfig().kl_coef > 0 and first["kl"] == 0.0  # the paper's kl_coef; step 1 runs the starting model
    assert first["grad_norm"] > 0  # rewards differ within groups: the policy moves
    assert second["kl"] > 0  # ... so at step 2 it is no longer the reference


@pytest.mark.slow
def test_the_reward_rises_on_a_learnable_task(sft_model: Path, green_ws: Workspace, tmp_path: Path) -> None:
    examples = live_set(green_ws.store, "rl")
    result, seen = _grpo(examples, sft_model, tmp_path / "out", green_ws, steps=30)
    rewards = [m["reward"] for m, _ in seen]
    assert result.steps == 30 and len(rewards) == 30
    first, last = sum(rewards[:5]) / 5, sum(rewards[-5:]) / 5
    assert last > first + 0.2, rewards
    assert all(m["kl"] >= 0 for m, _ in seen)


def _run(*args: object) -> object:
    return CliRunner().invoke(app, [str(a) for a in args])


def test_train_grpo_cli_end_to_end(checkpoints, tmp_path: Path) -> None:
    from transformers import AutoModelForImageTextToText

    ws = rl_workspace(tmp_path / "data", colours=("red", "green"), per_colour=1,
                      train={"grpo": {"batch_prompts": 2, "group_size": 4, "max_response_tokens": 8}})
    out = tmp_path / "out"
    result = _run("-w", ws.root, "train", "grpo", "--model", checkpoints["qwen2.5-vl"], "--out", out, "--zero-rl",
                  "--max-steps", "2", "--max-frames", "2", "--max-video-tokens", "16")
    assert result.exit_code == 0, result.output
    assert "grpo done (from the start, zero-RL): 2/2 steps, 4 prompts" in " ".join(result.output.split())
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in lines] == [1, 2] and all(m["responses"] == 8 for m in lines)
    described = json.loads((out / "grpo_config.json").read_text())
    assert described["zero_rl"] is True
    assert (described["settings"]["batch_prompts"], described["settings"]["lr"]) == (2, 5e-6)  # yaml, paper
    model = AutoModelForImageTextToText.from_pretrained(out)
    assert model.config.model_type.startswith("qwen2")


def test_train_grpo_without_rl_examples_says_so(checkpoints, colour_ws, tmp_path: Path) -> None:
    result = _run("-w", colour_ws.root, "train", "grpo", "--model", checkpoints["qwen2.5-vl"], "--out", tmp_path / "o")
    assert result.exit_code == 1 and "no live RL examples" in " ".join(result.output.split())
    assert isinstance(result.exception, SystemExit)


def test_bf16_weights_train_and_save(sft_model: Path, green_ws: Workspace, tmp_path: Path) -> None:
    """`precision: bf16`: policy and reference in bfloat16, a step moves the policy, the model is saved."""
    examples = live_set(green_ws.store, "rl")
    seen: list[dict] = []
    config = GRPOConfig(batch_prompts=2, max_response_tokens=24, max_steps=1, precision="bf16", rollout_rows=4,
                        **SMALL_VIDEO)
    result = train_grpo(examples, sft_model, tmp_path / "out", config, green_ws.video_root(),
                        on_step=lambda m, r: seen.append(m))
    assert result.steps == 1 and seen[0]["responses"] == 16
    assert seen[0]["loss"] is not None and seen[0]["kl"] == 0.0
    assert (tmp_path / "out" / "config.json").is_file()
    with pytest.raises(ValueError, match="precision"):
        GRPOConfig(precision="fp16")


def test_a_crashed_run_resumes_at_the_same_step_and_ends_with_the_same_weights(sft_model: Path, green_ws: Workspace,
                                                                              tmp_path: Path) -> None:
    """A run that dies after step 2 of 3 resumes from its step-2 checkpoint (optimizer, RNG, data position)
    and samples the rollouts the dead run would have: the final weights equal an uninterrupted run's."""
    import torch
    from safetensors.torch import load_file

    examples = live_set(green_ws.store, "rl")
    config = GRPOConfig(batch_prompts=2, max_response_tokens=48, lr=1e-3, max_steps=3, save_steps=1, **SMALL_VIDEO)
    whole = train_grpo(examples, sft_model, tmp_path / "whole", config, green_ws.video_root())
    assert whole.steps == 3

    class Crash(Exception):
        pass

    def crash_after_two(metrics: dict, rollouts: list) -> None:
        if metrics["step"] == 2:
            raise Crash

    with pytest.raises(Crash):
        train_grpo(examples, sft_model, tmp_path / "crashed", config, green_ws.video_root(), on_step=crash_after_two)
    resumed = train_grpo(examples, sft_model, tmp_path / "crashed", config.model_copy(update={"save_rollouts": True}),
                         green_ws.video_root())  # a run-only setting may change on resume
    assert resumed.resumed_from == 2 and resumed.steps == 3
    logged = [json.loads(line)["step"] for line in (tmp_path / "crashed" / "metrics.jsonl").read_text().splitlines()]
    assert logged == [1, 2, 3]
    ours, theirs = load_file(tmp_path / "crashed" / "model.safetensors"), load_file(tmp_path / "whole" / "model.safetensors")
    for name in ours:
        torch.testing.assert_close(ours[name], theirs[name], rtol=1e-5, atol=1e-7)
    start = load_file(sft_model / "model.safetensors")
    assert any(not torch.equal(start[name], theirs[name]) for name in theirs)  # the three steps did train


def test_recomputing_the_prompt_trains_the_same_weights(sft_model: Path, green_ws: Workspace, tmp_path: Path) -> None:
    """`recompute_prompt: true` (the prompt pass run again after its responses' backward) is a memory
    setting only: two steps end with the weights of the same run without it."""
    import torch
    from safetensors.torch import load_file

    examples = live_set(green_ws.store, "rl")
    config = GRPOConfig(batch_prompts=2, max_response_tokens=48, lr=1e-3, max_steps=2, **SMALL_VIDEO)
    kept = train_grpo(examples, sft_model, tmp_path / "kept", config, green_ws.video_root())
    again = train_grpo(examples, sft_model, tmp_path / "again", config.model_copy(update={"recompute_prompt": True}),
                       green_ws.video_root())
    assert kept.steps == again.steps == 2
    ours, theirs = load_file(tmp_path / "again" / "model.safetensors"), load_file(tmp_path / "kept" / "model.safetensors")
    for name in ours:
        torch.testing.assert_close(ours[name], theirs[name], rtol=1e-4, atol=1e-6)
    start = load_file(sft_model / "model.safetensors")
    assert any(not torch.equal(start[name], theirs[name]) for name in theirs)


TWO_PROCESS_RUN = """
import sys
from pathlib import Path
from videokr.sets import live_set
from videokr.train.grpo import train_grpo
from videokr.train.grpo_config import GRPOConfig
from videokr.workspace import Workspace

ws, model, out, config = Workspace.open(Path(sys.argv[1])), Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]
train_grpo(live_set(ws.store, "rl"), model, out, GRPOConfig.model_validate_json(config), ws.video_root())
"""


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.slow)])
def test_two_processes_train_as_one(device: str, sft_model: Path, green_ws: Workspace, tmp_path: Path) -> None:
    """`torchrun` with two processes — on the CPU over gloo, and on two GPUs over NCCL as `accelerate launch
    --multi_gpu` runs it: each process takes every other prompt of the step, and the run samples the same
    rollouts, logs the same rewards, losses and gradient norms, and ends with the same weights as one
    process — three prompts per step, so the processes' shares differ in size. (On GPUs the one-process
    run decodes other batch shapes than each of the two, so sampled tokens may part after a rounding
    difference; there the checks are the run itself, its counts and weights that moved.)"""
    import os
    import subprocess
    import sys

    import torch
    from safetensors.torch import load_file

    if device == "cuda" and torch.cuda.device_count() < 2:
        pytest.skip("needs two GPUs")
    # CPU processes even on a GPU host (there accelerate would otherwise hand gloo a CUDA device id)
    on_cpu = {"ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    config = GRPOConfig(batch_prompts=3, max_response_tokens=48, lr=1e-3, max_steps=2, save_rollouts=True,
                        **SMALL_VIDEO)
    script = tmp_path / "run.py"
    script.write_text(TWO_PROCESS_RUN, encoding="utf-8")
    for processes, out in ((1, "one"), (2, "two")):  # both launched alike, each in a fresh process
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes),
                   str(script), str(green_ws.root), str(sft_model), str(tmp_path / out), config.model_dump_json()]
        env = {**os.environ, **(on_cpu if device == "cpu" else {})}
        done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
        assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads((tmp_path / "two" / "grpo_config.json").read_text())["processes"] == 2

    def lines(run: str, name: str) -> list[dict]:
        return [json.loads(line) for line in (tmp_path / run / name).read_text().splitlines()]

    exact = device == "cpu"
    one, two = lines("one", "rollouts.jsonl"), lines("two", "rollouts.jsonl")
    assert [r["id"] for r in one] == [r["id"] for r in two]
    if exact:
        assert [(r["response"], r["reward"]) for r in one] == [(r["response"], r["reward"]) for r in two]
    for a, b in zip(lines("one", "metrics.jsonl"), lines("two", "metrics.jsonl"), strict=True):
        assert (a["prompts"], a["responses"]) == (b["prompts"], b["responses"])
        assert b["grad_norm"] > 0 and math.isfinite(b["loss"])
        if exact:
            assert (a["response_tokens"], a["tokens"]) == (b["response_tokens"], b["tokens"])
            assert a["reward"] == pytest.approx(b["reward"], abs=1e-12)
            assert a["loss"] == pytest.approx(b["loss"], rel=1e-5, abs=1e-7)
            assert a["grad_norm"] == pytest.approx(b["grad_norm"], rel=1e-4)
    ours, theirs = load_file(tmp_path / "one" / "model.safetensors"), load_file(tmp_path / "two" / "model.safetensors")
    for name in ours:
        assert torch.isfinite(theirs[name]).all()
        if exact:
            torch.testing.assert_close(ours[name], theirs[name], rtol=1e-4, atol=1e-6)
    start = load_file(sft_model / "model.safetensors")
    assert any(not torch.equal(start[name], theirs[name]) for name in theirs)
