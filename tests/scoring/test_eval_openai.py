"""End to end over a real HTTP endpoint: three benchmark layouts, real videos, 2 runs, report."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from videokr.cli.main import app
from videokr.evaluate.backends import EVAL_FRAME_BUDGETS, EVAL_MAX_NEW_TOKENS, EVAL_RUNS, EVAL_TEMPERATURE
from videokr.evaluate.benchmarks import read_benchmark
from videokr.evaluate.runner import results

from .bench_fixtures import make_benchmarks


def test_paper_defaults() -> None:
    assert EVAL_TEMPERATURE == 0.1
    assert EVAL_MAX_NEW_TOKENS == 8192
    assert EVAL_FRAME_BUDGETS == (16, 32, 64, 128)
    assert EVAL_RUNS == 3
    from videokr.evaluate.backends import EVAL_TOP_P
    from videokr.evaluate.runner import EVAL_MAX_SIDE, EvalSettings

    assert EVAL_TOP_P == 0.001 and EVAL_MAX_SIDE == 448
    assert EvalSettings("m", "other", [16], 3).temperature == 0.1


def test_readers_resolve_videos_and_report_bad_records(tmp_path: Path) -> None:
    paths = make_benchmarks(tmp_path)
    mme = read_benchmark("video-mme", paths["videomme"])
    assert [i.id for i in mme.items] == ["001-1", "002-1"] and mme.items[0].options[0] == "a bicycle"
    assert Path(mme.items[0].video_path).is_file()
    assert len(mme.rejected) == 1 and "videomme.json:3" in mme.rejected[0]
    mvb = read_benchmark("mvbench", paths["mvbench"], paths["mvbench_root"])
    assert [i.answer for i in mvb.items] == ["A", "A"] and Path(mvb.items[0].video_path).is_file()
    assert mvb.items[0].question_type == "action_count"
    vkr = read_benchmark("videokr_eval", paths["videokr_eval"])
    assert all(Path(i.video_path).is_file() for i in vkr.items)


def _reply(body: dict) -> str:
    content = body["messages"][0]["content"]
    images = sum(1 for part in content if part["type"] == "image_url")
    prompt = content[-1]["text"]
    letter = "AB"[body["seed"] % 2]  # independent runs: the answer depends on the sample's seed
    return f"<think>{images} frames seen</think><answer>{letter}</answer>" if "<answer>" in prompt else letter


def _run(tmp_path: Path, base_url: str, paths: dict[str, Path], extra: list[str] = ()) -> object:  # type: ignore[assignment]
    return CliRunner().invoke(app, [
        "--workspace", str(tmp_path / "ws"), "eval", "run", "--backend", "openai", "--base-url", base_url,
        "--model", "VideoKR-Qwen3-VL-8B", "-b", f"videomme={paths['videomme']}", "-b", f"mvbench={paths['mvbench']}",
        "--video-root", f"mvbench={paths['mvbench_root']}", "-b", f"videokr-eval={paths['videokr_eval']}",
        "--frames", "4,8", "--runs", "2", *extra,
    ])


def test_eval_run_resume_and_report(tmp_path: Path, loopback) -> None:
    paths = make_benchmarks(tmp_path)
    CliRunner().invoke(app, ["init", str(tmp_path / "ws")])
    server = loopback(_reply)
    result = _run(tmp_path, server.base_url, paths)
    assert result.exit_code == 0, result.output
    assert len(server.requests) == 6 * 2 * 2  # items × frame budgets × runs
    first = server.requests[0]
    assert first["temperature"] == 0.1 and first["max_tokens"] == 8192
    counts = sorted({sum(p["type"] == "image_url" for p in r["messages"][0]["content"]) for r in server.requests})
    assert counts == [4, 8]
    assert "Please answer this question based on the visual content." in first["messages"][0]["content"][-1]["text"]

    again = _run(tmp_path, server.base_url, paths)  # everything is stored: nothing is generated twice
    assert again.exit_code == 0 and len(server.requests) == 24
    assert "0 samples generated, 24 already stored" in " ".join(again.output.split())

    from videokr.store import Store

    samples = results(Store(tmp_path / "ws" / "videokr.sqlite"))
    assert len(samples) == 24 and {s["run"] for s in samples} == {0, 1}
    assert any(s["correct"] for s in samples) and any(s["correct"] is False for s in samples)

    out = tmp_path / "report"
    rep = CliRunner().invoke(app, ["--workspace", str(tmp_path / "ws"), "eval", "report", "--out", str(out)])
    assert rep.exit_code == 0, rep.output
    md = (out / "report.md").read_text()
    assert "| VideoKR-Qwen3-VL-8B | 4 |" in md and "Video-MME" in md and "±" in md
    assert "Accuracy by question type" in md and "Accuracy by subject" in md and "Accuracy by source dataset" in md
    page = (out / "report.html").read_text()
    assert "data:image/png;base64," in page and "<table>" in page
    assert (out / "frame_scaling.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_interrupted_eval_resumes(tmp_path: Path, loopback) -> None:
    paths = make_benchmarks(tmp_path)
    CliRunner().invoke(app, ["init", str(tmp_path / "ws")])
    calls = {"n": 0}

    def flaky(body: dict) -> object:
        calls["n"] += 1
        return (400, "model unloaded") if calls["n"] > 5 else _reply(body)

    server = loopback(flaky)
    broken = _run(tmp_path, server.base_url, paths, ["--batch-size", "1"])
    assert broken.exit_code == 1 and "rerun the same command to resume" in " ".join(broken.output.split())
    from videokr.store import Store

    kept = len(results(Store(tmp_path / "ws" / "videokr.sqlite")))
    assert kept == 4  # the batches that landed before the failure (one item, its 2 runs, each) are kept
    server.reply = _reply  # the endpoint is back (the same endpoint: the same settings)
    before = len(server.requests)
    resumed = _run(tmp_path, server.base_url, paths, ["--batch-size", "1"])
    assert resumed.exit_code == 0, resumed.output
    assert len(server.requests) - before == 24 - 5  # the 5th reply came back before the failure: the model cache has it


def test_runs_of_an_item_decode_its_frames_once(tmp_path: Path, loopback, monkeypatch) -> None:
    import videokr.evaluate.frames as runner

    paths = make_benchmarks(tmp_path)
    CliRunner().invoke(app, ["init", str(tmp_path / "ws")])
    decoded: list[str] = []
    load = runner.load_frames
    monkeypatch.setattr(runner, "load_frames", lambda path, n, **kw: decoded.append(str(path)) or load(path, n, **kw))
    server = loopback(_reply)
    result = _run(tmp_path, server.base_url, paths, ["--batch-size", "2"])
    assert result.exit_code == 0, result.output
    assert len(server.requests) == 24 and len(decoded) == 24 // 2  # 2 runs per item, one decoding


def test_unreadable_video_is_recorded_not_wrong(tmp_path: Path, loopback) -> None:
    paths = make_benchmarks(tmp_path)
    video = tmp_path / "videomme" / "data" / "phone01.mp4"
    video.write_bytes(video.read_bytes()[:2000])  # truncated: not decodable
    CliRunner().invoke(app, ["init", str(tmp_path / "ws")])
    server = loopback(_reply)
    result = CliRunner().invoke(app, [
        "--workspace", str(tmp_path / "ws"), "eval", "run", "--backend", "openai", "--base-url", server.base_url,
        "--model", "m", "--family", "other", "-b", f"videomme={paths['videomme']}", "--frames", "4", "--runs", "1",
    ])
    assert result.exit_code == 0, result.output
    assert "1 failed" in " ".join(result.output.split())
    from videokr.store import Store

    rows = {s["item_id"]: s for s in results(Store(tmp_path / "ws" / "videokr.sqlite"))}
    assert rows["002-1"]["output"] is None and rows["002-1"]["error"] and rows["002-1"]["correct"] is None
    assert rows["001-1"]["output"] is not None
    rep = CliRunner().invoke(app, ["--workspace", str(tmp_path / "ws"), "eval", "report", "--out", str(tmp_path / "r")])
    assert "1 samples failed" in (tmp_path / "r" / "report.md").read_text()


def test_training_set_difficulty_table5(tmp_path: Path, loopback) -> None:
    import shutil

    from videokr.demo import sample_dir
    from videokr.evaluate.corpus import DIFFICULTY_FRAMES, DIFFICULTY_SAMPLE

    assert (DIFFICULTY_SAMPLE, DIFFICULTY_FRAMES) == (3000, 128)
    corpus = tmp_path / "corpus"
    shutil.copytree(sample_dir(), corpus)
    train = corpus / "videokr-rl-sample.json"
    CliRunner().invoke(app, ["init", str(tmp_path / "ws")])
    server = loopback(lambda body: "A")
    result = CliRunner().invoke(app, [
        "--workspace", str(tmp_path / "ws"), "eval", "run", "--backend", "openai", "--base-url", server.base_url,
        "--model", "Qwen3-VL-8B-Instruct", "--on", str(train), "--sample", "3", "--frames", "4", "--runs", "1",
    ])
    assert result.exit_code == 0, result.output
    assert len(server.requests) == 3
    rep = CliRunner().invoke(app, ["--workspace", str(tmp_path / "ws"), "eval", "report", "--on", str(train),
                                   "--out", str(tmp_path / "r")])
    assert rep.exit_code == 0, rep.output
    md = (tmp_path / "r" / "report.md").read_text()
    assert "Training-data difficulty (Table 5)" in md and "| Qwen3-VL-8B-Instruct |" in md
