"""End to end with the transformers backend: tiny random Qwen2.5-VL and Qwen3-VL on CPU."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from videokr.cli.main import app
from videokr.evaluate.frames import EvalFrame, load_frames
from videokr.inference.qwen_video import QwenVision, expand_video_tokens, smart_size, video_patches

from .bench_fixtures import make_benchmarks
from videokr.testing.tiny_models import tiny_qwen3vl, tiny_qwen25vl, tiny_tokenizer


def test_smart_size_keeps_multiples_and_budget() -> None:
    h, w = smart_size(360, 640, 28, 128 * 28 * 28, 768 * 28 * 28)
    assert h % 28 == 0 and w % 28 == 0 and 128 * 784 <= h * w <= 768 * 784
    assert abs(w / h - 640 / 360) < 0.15


def test_video_patches_layout() -> None:
    frames = [EvalFrame(i, float(i), np.full((56, 84, 3), i * 20, np.uint8)) for i in range(3)]
    vision = QwenVision(14, 2, 2, (0.5,) * 3, (0.5,) * 3, timestamps=True, min_pixels=1, max_pixels=10**6)
    patches, grid, times = video_patches(frames, vision)
    assert grid == (2, 4, 6) and patches.shape == (2 * 4 * 6, 3 * 2 * 14 * 14)
    assert times == [0.5, 2.0]  # the odd frame is padded by repeating the last one
    text = expand_video_tokens("x<|vision_start|><|video_pad|><|vision_end|>y", grid, times, vision)
    assert text.count("<|video_pad|>") == 2 * 4 * 6 // 4 and "<0.5 seconds>" in text and "<2.0 seconds>" in text
    # the template's own start/end stay around the per-group blocks, as the transformers processor leaves them
    assert text.startswith("x<|vision_start|><0.5 seconds><|vision_start|><|video_pad|>")
    assert text.endswith("<|video_pad|><|vision_end|><|vision_end|>y")


@pytest.mark.parametrize("make", [tiny_qwen25vl, tiny_qwen3vl], ids=["qwen2.5-vl", "qwen3-vl"])
def test_eval_end_to_end_on_cpu(tmp_path: Path, make) -> None:  # type: ignore[no-untyped-def]
    tok = tiny_tokenizer()
    model_dir = tmp_path / "tiny-model"
    make(tok).save_pretrained(model_dir)
    tok.save_pretrained(model_dir)
    paths = make_benchmarks(tmp_path)
    ws = tmp_path / "ws"
    CliRunner().invoke(app, ["init", str(ws)])
    args = ["--workspace", str(ws), "eval", "run", "--backend", "transformers", "--model", str(model_dir),
            "--label", "tiny", "--family", "qwen-instruct", "-b", f"videomme={paths['videomme']}",
            "-b", f"mvbench={paths['mvbench']}", "--video-root", f"mvbench={paths['mvbench_root']}",
            "-b", f"videokr_eval={paths['videokr_eval']}", "--frames", "2,4", "--runs", "2",
            "--max-new-tokens", "8", "--batch-size", "3"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "24 samples generated" in " ".join(result.output.split())
    again = CliRunner().invoke(app, args)
    assert "0 samples generated, 24 already stored" in " ".join(again.output.split())
    out = tmp_path / "report"
    rep = CliRunner().invoke(app, ["--workspace", str(ws), "eval", "report", "--out", str(out)])
    assert rep.exit_code == 0, rep.output
    assert "| tiny | 2 |" in (out / "report.md").read_text() and (out / "frame_scaling.png").exists()


def test_frames_are_uniform_with_timestamps() -> None:
    from videokr.demo import sample_dir

    video = next((sample_dir() / "Videos").rglob("*.mp4"))
    frames = load_frames(video, 4)
    times = [f.pts_seconds for f in frames]
    assert times == sorted(times) and len(frames) == 4
    assert all(f.image.dtype == np.uint8 and f.image.shape[2] == 3 for f in frames)


def test_unknown_decoding_is_a_clear_error(tmp_path: Path) -> None:
    paths = make_benchmarks(tmp_path)
    ws = tmp_path / "ws"
    CliRunner().invoke(app, ["init", str(ws)])
    result = CliRunner().invoke(app, ["--workspace", str(ws), "eval", "run", "--backend", "transformers", "--model",
                                      str(tmp_path / "no-model"), "-b", f"videomme={paths['videomme']}",
                                      "--decoding", "fastest"])
    assert result.exit_code != 0 and "--decoding must be one of engine, generate" in result.output
