"""`videokr train sft` end to end, and its errors (said plainly, exit code 1, no traceback)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from videokr.cli.main import app

from ..scoring.bench_fixtures import make_benchmarks
from .colour_task import colour_workspace

SMALL = {"global_batch": 2, "micro_batch": 1, "max_frames": 4, "max_video_tokens": 64, "precision": "fp32",
         "gradient_checkpointing": False, "save_steps": 2, "data_workers": 1}


def _run(*args: str) -> object:
    return CliRunner().invoke(app, [str(a) for a in args])


def _words(text: str) -> str:
    return " ".join(text.split())


def test_train_sft_on_a_tiny_model_then_evaluate_it(checkpoints, tmp_path: Path) -> None:
    ws = colour_workspace(tmp_path / "data", per_colour=2, train={"sft": SMALL})
    (ws.video_root() / "green-1.mp4").write_bytes(b"this file was damaged after the pipeline accepted it")
    out = tmp_path / "sft-out"
    result = _run("-w", ws.root, "train", "sft", "--model", checkpoints["qwen2.5-vl"], "--out", out, "--max-steps", "3")
    assert result.exit_code == 0, result.output
    said = _words(result.output)
    assert "sft done (from the start): 3/3 steps, 5 examples" in said
    assert "1 example(s) skipped" in said and "green-1: " in said  # the reason (with the path) is in skipped.jsonl
    assert [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()] == [1, 2, 3]
    skipped = [json.loads(line) for line in (out / "skipped.jsonl").read_text().splitlines()]
    assert [s["id"] for s in skipped] == ["green-1"] and "green-1.mp4" in skipped[0]["reason"]
    settings = json.loads((out / "sft_config.json").read_text())["settings"]
    assert (settings["global_batch"], settings["max_steps"], settings["lr"]) == (2, 3, 1e-5)  # yaml, option, paper

    bench = make_benchmarks(tmp_path / "bench")
    evaluated = _run("-w", ws.root, "eval", "run", "--backend", "transformers", "--model", out, "--label", "sft",
                     "--family", "qwen-instruct", "-b", f"videokr_eval={bench['videokr_eval']}", "--frames", "2",
                     "--runs", "1", "--max-new-tokens", "4", "--batch-size", "2")
    assert evaluated.exit_code == 0, evaluated.output
    assert "2 samples generated" in _words(evaluated.output)


def test_no_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = _run("train", "sft", "--model", tmp_path, "--out", tmp_path / "out")
    assert result.exit_code == 1 and "no videokr workspace" in _words(result.output)
    assert isinstance(result.exception, SystemExit)  # a message, not a traceback


def test_empty_sft_set(checkpoints, tmp_path: Path) -> None:
    _run("init", tmp_path / "ws")
    result = _run("-w", tmp_path / "ws", "train", "sft", "--model", checkpoints["qwen2.5-vl"], "--out", tmp_path / "o")
    assert result.exit_code == 1 and "no live SFT examples; run `videokr run` first" in _words(result.output)


@pytest.fixture(scope="module")
def small_ws(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    return colour_workspace(tmp_path_factory.mktemp("small"), per_colour=1, train={"sft": SMALL})


def test_missing_model_path(small_ws, tmp_path: Path) -> None:
    result = _run("-w", small_ws.root, "train", "sft", "--model", tmp_path / "nowhere", "--out", tmp_path / "o")
    assert result.exit_code == 1 and "nowhere: no such model directory" in _words(result.output)
    result = _run("-w", small_ws.root, "train", "sft", "--out", tmp_path / "o")
    assert result.exit_code == 1 and "pass --model PATH" in _words(result.output)


def test_a_directory_that_is_no_checkpoint(small_ws, tmp_path: Path) -> None:
    result = _run("-w", small_ws.root, "train", "sft", "--model", tmp_path, "--out", tmp_path / "o")
    assert result.exit_code == 1 and "no model checkpoint there (no config.json)" in _words(result.output)


def test_training_packages_missing(small_ws, checkpoints, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "accelerate", None)  # what `import accelerate` meets where it is not installed
    result = _run("-w", small_ws.root, "train", "sft", "--model", checkpoints["qwen2.5-vl"], "--out", tmp_path / "o")
    assert result.exit_code == 1
    assert "training needs accelerate: pip install 'videokr[train]'" in _words(result.output)


def test_settings_errors_name_the_key(small_ws, checkpoints, tmp_path: Path) -> None:
    result = _run("-w", small_ws.root, "train", "sft", "--model", checkpoints["qwen2.5-vl"], "--out", tmp_path / "o",
                  "--precision", "fp8")
    assert result.exit_code == 1 and "train.sft.precision: Input should be 'bf16', 'fp16' or 'fp32'" in _words(result.output)
    result = _run("-w", small_ws.root, "train", "sft", "--model", checkpoints["qwen2.5-vl"], "--out", tmp_path / "o",
                  "--micro-batch", "3")
    assert result.exit_code == 1 and "global_batch 2 is not a multiple of micro_batch × processes" in _words(result.output)


@pytest.mark.slow
def test_the_demo_trains_with_the_two_commands_it_prints(tmp_path: Path) -> None:
    """`videokr demo`, then the two training commands it prints (and docs/training.md shows), as a user
    types them: SFT then GRPO on the demo workspace, on a CPU, ending with models that load."""
    import shlex
    import subprocess
    import sys

    demo = subprocess.run([sys.executable, "-m", "videokr.cli.main", "demo", "--out", str(tmp_path / "d")],
                          capture_output=True, text=True, timeout=600)
    assert demo.returncode == 0, demo.stderr[-3000:]
    printed = [line.strip() for line in demo.stderr.splitlines() if line.strip().startswith("videokr -w ")]
    assert [shlex.split(c)[3:5] for c in printed] == [["train", "sft"], ["train", "grpo"]], printed
    for command in printed:
        done = subprocess.run([sys.executable, "-m", "videokr.cli.main", *shlex.split(command)[1:]],
                              capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, done.stderr[-3000:]
    for stage, log in (("sft", "metrics.jsonl"), ("grpo", "metrics.jsonl")):
        assert (tmp_path / "d" / stage / "model.safetensors").is_file()
        assert (tmp_path / "d" / stage / log).read_text().strip()
