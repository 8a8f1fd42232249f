"""The SFT loop on tiny real models and real videos: it learns, it logs, it resumes, it saves."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from videokr.train.data import SFTRows, collate, training_budget
from videokr.train.loss import forward_loss_sum
from videokr.train.model import load_processor, vision_module
from videokr.train.sft import train_sft

from .conftest import fast_config


def _metrics(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def _preferred_letter(model, processor, example, ws) -> str:  # type: ignore[no-untyped-def]
    """The answer the model finds likeliest for the example's video: the lowest response loss
    among the same response with each letter (everything but the letter is the same)."""
    chosen = training_budget("paper", model.config, 4, 64)
    losses = {}
    for letter in "ABC":
        row = SFTRows([example.model_copy(update={"answer": letter})], model, processor, chosen, ws.video_root()).row(0)
        with torch.no_grad():
            losses[letter] = float(forward_loss_sum(model, collate([row], processor)))
    return min(losses, key=losses.__getitem__)


def _learns_the_colour_task(family: str, checkpoints, colour_ws, colour_examples,  # type: ignore[no-untyped-def]
                            out: Path) -> None:
    from transformers import AutoModelForImageTextToText

    steps = 100
    config = fast_config(lr=5e-3, warmup_ratio=0.1, max_steps=steps, data_workers=2)
    result = train_sft(colour_examples, checkpoints[family], out, config, colour_ws.video_root(), show_progress=False)
    assert (result.steps, result.examples, result.skipped) == (steps, steps * 6, 0)
    lines = _metrics(out)
    assert [m["step"] for m in lines] == list(range(1, steps + 1))  # every logged step, once
    for m in lines:
        assert m["loss"] > 0 and m["grad_norm"] > 0 and m["tokens_per_s"] > 0 and m["lr"] >= 0
    assert lines[-1]["loss"] == pytest.approx(result.last_loss)
    first, last = (sum(m["loss"] for m in part) / 3 for part in (lines[:3], lines[-3:]))
    assert last < 0.25 * first
    assert any((out / "tensorboard").rglob("events.out.tfevents.*"))

    trained = AutoModelForImageTextToText.from_pretrained(out).eval()  # the final model, Hugging Face format
    source = AutoModelForImageTextToText.from_pretrained(checkpoints[family])
    before = dict(source.named_parameters())
    for name, param in trained.named_parameters():
        frozen = name.startswith(tuple(n for n, m in trained.named_modules() if m is vision_module(trained)))
        assert torch.equal(param, before[name]) == frozen, name  # vision tower and projector untouched, the rest trained
    processor = load_processor(out)
    for example in colour_examples:  # the answer follows the video: the model looks at the frames
        assert _preferred_letter(trained, processor, example, colour_ws) == example.answer, example.id


def test_loss_falls_and_the_answer_follows_the_video(checkpoints, colour_ws, colour_examples, tmp_path: Path) -> None:
    _learns_the_colour_task("qwen2.5-vl", checkpoints, colour_ws, colour_examples, tmp_path / "out")


@pytest.mark.slow
def test_qwen3_vl_learns_the_colour_task_too(checkpoints, colour_ws, colour_examples, tmp_path: Path) -> None:
    _learns_the_colour_task("qwen3-vl", checkpoints, colour_ws, colour_examples, tmp_path / "out")


def test_the_step_does_not_depend_on_how_the_batch_is_cut(checkpoints, colour_ws, colour_examples, tmp_path: Path) -> None:
    """Six examples as one forward pass or as six: the same loss, gradient norm and weights, because
    the loss is the mean over every response token of the step (responses differ in length)."""
    runs = {}
    for micro in (6, 1):
        out = tmp_path / f"micro{micro}"
        config = fast_config(micro_batch=micro, max_steps=2, warmup_ratio=0.0, lr=1e-3)
        train_sft(colour_examples, checkpoints["qwen3-vl"], out, config, colour_ws.video_root(), show_progress=False)
        runs[micro] = (_metrics(out), load_file(out / "model.safetensors"))
    (lines6, weights6), (lines1, weights1) = runs[6], runs[1]
    for a, b in zip(lines6, lines1):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-5)
        assert a["grad_norm"] == pytest.approx(b["grad_norm"], rel=1e-4)
    for name, tensor in weights6.items():  # two AdamW steps of lr 1e-3 move a weight by up to 2e-3
        torch.testing.assert_close(tensor, weights1[name], rtol=1e-4, atol=2e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="`compile: auto` compiles on a CUDA device only")
def test_compiled_layers_train_as_eager_ones_on_a_gpu(checkpoints, colour_ws, colour_examples, tmp_path: Path) -> None:
    runs = {}
    for setting in ("auto", False):
        out = tmp_path / str(setting)
        config = fast_config(micro_batch=2, max_steps=3, warmup_ratio=0.0, lr=1e-3, compile=setting)
        train_sft(colour_examples, checkpoints["qwen3-vl"], out, config, colour_ws.video_root(), show_progress=False)
        assert json.loads((out / "sft_config.json").read_text())["compiled"] is (setting == "auto")
        runs[setting] = (_metrics(out), load_file(out / "model.safetensors"))
    (compiled, weights_c), (eager, weights_e) = runs["auto"], runs[False]
    for a, b in zip(compiled, eager):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-4)
    for name, tensor in weights_e.items():
        torch.testing.assert_close(weights_c[name], tensor, rtol=1e-3, atol=2e-5)


RUN = """
import os, signal, sys
from pathlib import Path
from videokr.sets import live_set
from videokr.train.config import SFTConfig
from videokr.train.sft import train_sft
from videokr.workspace import Workspace

ws, model, out, config, kill_at = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4], int(sys.argv[5])
ws = Workspace.open(ws)

def on_step(metrics):  # kill_at 0: run to the end
    if metrics["step"] == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)

train_sft(live_set(ws.store, "sft"), model, out, SFTConfig.model_validate_json(config), ws.video_root(),
          show_progress=False, on_step=on_step)
"""


def test_a_run_killed_after_a_checkpoint_resumes_to_the_same_weights(checkpoints, colour_ws, colour_examples,
                                                                   tmp_path: Path) -> None:
    # Eager kernels (on a CPU `compile: auto` is eager anyway): a compiled run resumes to the same data
    # order and optimizer state too, but kernels compiled in another process may round differently.
    config = fast_config(global_batch=4, micro_batch=2, max_steps=6, save_steps=2, lr=1e-3, warmup_ratio=0.2,
                         compile=False)
    model = checkpoints["qwen2.5-vl"]
    reference = tmp_path / "uninterrupted"
    train_sft(colour_examples, model, reference, config, colour_ws.video_root(), show_progress=False)

    out = tmp_path / "killed"
    killed = subprocess.run([sys.executable, "-c", RUN, str(colour_ws.root), str(model), str(out),
                             config.model_dump_json(), "5"], capture_output=True, text=True, timeout=300,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert [p.name for p in (out / "checkpoints").iterdir()] == ["step-000004"]  # keeps the last one
    assert [m["step"] for m in _metrics(out)] == [1, 2, 3, 4, 5]  # step 5 ran, then the kill
    assert not (out / "model.safetensors").exists()

    result = train_sft(colour_examples, model, out, config, colour_ws.video_root(), show_progress=False)
    assert result.resumed_from == 4 and result.steps == 6 and result.examples == 6 * 4
    resumed, uninterrupted = _metrics(out), _metrics(reference)
    assert [m["step"] for m in resumed] == list(range(1, 7))  # step 5 is logged once, from the resumed run
    assert [m["loss"] for m in resumed] == [m["loss"] for m in uninterrupted]  # the same data, in the same order
    assert [m["lr"] for m in resumed] == [m["lr"] for m in uninterrupted]
    final, expected = load_file(out / "model.safetensors"), load_file(reference / "model.safetensors")
    assert final.keys() == expected.keys()
    for name in expected:
        assert torch.equal(final[name], expected[name]), name  # optimizer state restored: bitwise the same


def test_resuming_with_other_settings_is_refused(checkpoints, colour_ws, colour_examples, tmp_path: Path) -> None:
    from videokr.train.sft import TrainError

    config = fast_config(global_batch=6, max_steps=2, save_steps=1)
    train_sft(colour_examples, checkpoints["qwen2.5-vl"], tmp_path, config, colour_ws.video_root(), show_progress=False)
    other = config.model_copy(update={"seed": 1})
    with pytest.raises(TrainError, match=r"seed: 42 then, 1 now.*--no-resume"):
        train_sft(colour_examples, checkpoints["qwen2.5-vl"], tmp_path, other, colour_ws.video_root(), show_progress=False)
    result = train_sft(colour_examples, checkpoints["qwen2.5-vl"], tmp_path, other, colour_ws.video_root(),
                       resume=False, show_progress=False)
    assert result.resumed_from is None and [m["step"] for m in _metrics(tmp_path)] == [1, 2]


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.slow)])
def test_two_processes_train_as_one(device: str, checkpoints, colour_ws, colour_examples, tmp_path: Path) -> None:
    """`torchrun` with two processes — on the CPU over gloo, and on two GPUs over NCCL as `accelerate launch
    --multi_gpu` runs it, the layers compiled (`compile: auto`): the same losses, gradient norms and
    weights as one process, a partial last step included (12 examples, global batch 8: the second step's 4
    leave each process empty micro-batches)."""
    if device == "cuda" and torch.cuda.device_count() < 2:
        pytest.skip("needs two GPUs")
    config = fast_config(global_batch=8, micro_batch=2, max_steps=2, warmup_ratio=0.0, lr=1e-3, data_workers=0)
    model = checkpoints["qwen2.5-vl"]
    single, two = tmp_path / "one", tmp_path / "two"
    script = tmp_path / "run.py"
    script.write_text(RUN, encoding="utf-8")
    # CPU processes even on a GPU host (there accelerate would otherwise hand gloo a CUDA device id); both
    # runs launched alike, each in a fresh process (accelerate's state is per process)
    on_cpu = {"ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    for processes, out in ((1, single), (2, two)):
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes),
                   str(script), str(colour_ws.root), str(model), str(out), config.model_dump_json(), "0"]
        env = {**os.environ, **(on_cpu if device == "cpu" else {})}
        done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
        assert done.returncode == 0, done.stderr[-3000:]
    described = json.loads((two / "sft_config.json").read_text())
    assert described["processes"] == 2 and described["compiled"] is (device == "cuda")
    close = 1 if device == "cpu" else 10  # compiled GPU kernels: rounding of another reduction order
    for a, b in zip(_metrics(single), _metrics(two), strict=True):
        assert (a["examples"], a["response_tokens"]) == (b["examples"], b["response_tokens"])
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-5 * close)
        assert a["grad_norm"] == pytest.approx(b["grad_norm"], rel=1e-4 * close)
    ours, theirs = load_file(single / "model.safetensors"), load_file(two / "model.safetensors")
    for name in ours:
        torch.testing.assert_close(ours[name], theirs[name], rtol=1e-4 * close, atol=1e-6 * close)
