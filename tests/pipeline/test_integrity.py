"""Regression tests of the store's integrity defects, on real workspaces, files and videos.

Each test is named after the defect it pins: decontamination reaching every export, roles
of a video not overwriting each other, ids clashing across files, probe results surviving
imports, and exit codes that say when a command could not do what was asked.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.cli_support import invoke
from videokr.sets import live_set
from videokr.video.synth import scene_frames, write_video
from videokr.workspace import Workspace

ALL_EXPORTS = {"sft": ["llamafactory", "verl", "hf", "jsonl"], "rl": ["llamafactory", "verl", "hf", "jsonl"]}




def sft_line(i: int, video: str, **extra: object) -> str:
    return json.dumps({"problem_id": f"p{i}", "problem_type": "open-ended", "question": f"what happens {i}?",
                       "solution": f"<answer>{i}</answer>", "think": f"I watch it {i}.", "video_path": video,
                       "subject": "Physics", "discipline": "Natural Sciences", **extra})


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six unrelated training videos and two benchmark videos; train/copy.mp4 re-encodes benchmark b0."""
    root = tmp_path_factory.mktemp("videos")
    (root / "train").mkdir()
    (root / "bench").mkdir()
    for i in range(6):
        write_video(root / "train" / f"v{i}.mp4", scene_frames(100 + i, 30, fps=4, width=96, height=64), fps=4, gop=40)
    bench = list(scene_frames(7, 30, fps=4, width=96, height=64))
    write_video(root / "bench" / "b0.mp4", bench, fps=4, gop=40)
    write_video(root / "bench" / "b1.mp4", scene_frames(8, 30, fps=4, width=96, height=64), fps=4, gop=40)
    write_video(root / "train" / "copy.mp4", bench, fps=4, gop=40, options={"crf": "36"})
    return root


def make_workspace(tmp_path: Path, videos: Path, **steps: dict) -> Workspace:
    ws = Workspace.init(tmp_path / "ws")
    config = yaml.safe_load((ws.root / "videokr.yaml").read_text())
    config["video_root"] = str(videos)
    config["steps"] = {"export": {"targets": ALL_EXPORTS, "val_size": 1}, **steps}
    (ws.root / "videokr.yaml").write_text(yaml.safe_dump(config))
    return Workspace.open(ws.root)


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_decontamination_reaches_the_split_and_every_export(tmp_path: Path, videos: Path) -> None:
    """Defect 1: a video decontamination flags leaves the split and all eight sft/rl exports."""
    train = [f"train/v{i}.mp4" for i in range(6)] + ["train/copy.mp4"]
    sft = write_lines(tmp_path / "sft.jsonl", [sft_line(i, v) for i, v in enumerate(train * 2)])
    bench = write_lines(tmp_path / "eval.jsonl", [json.dumps({"id": f"e{i}", "question": "q?", "answer": "a",
                                                              "video_path": f"bench/b{i}.mp4"}) for i in range(2)])
    ws = make_workspace(tmp_path, videos)
    assert invoke("-w", ws.root, "import", sft, "--set", "sft").exit_code == 0
    assert invoke("-w", ws.root, "import", bench, "--set", "eval").exit_code == 0
    result = invoke("-w", ws.root, "run")
    assert result.exit_code == 0, result.output
    decontam = {e.item_id: e for e in ws.store.ledger_entries("decontam")}
    assert decontam["train/copy.mp4"].outcome.value == "rejected" and decontam["train/copy.mp4"].code == "near_duplicate"
    assert all(e.outcome.value == "accepted" for k, e in decontam.items() if k != "train/copy.mp4")
    in_sets = {e.video_path for s in ("sft", "rl") for e in live_set(ws.store, s)}
    assert "train/copy.mp4" not in in_sets and len(in_sets) == 6
    exports = ws.root / "exports"
    for set_name, formats in ALL_EXPORTS.items():
        for fmt in formats:
            folder = exports / f"{set_name}-{fmt}"
            if not folder.exists():  # an empty set is rejected, not written
                assert not live_set(ws.store, set_name)
                continue
            text = b"".join(p.read_bytes() for p in folder.rglob("*") if p.is_file())
            assert b"copy.mp4" not in text, f"{set_name}-{fmt}"
            assert b"train/v" in text, f"{set_name}-{fmt}"
    # an expert overrules the flag: the video comes back into the sets and exports
    assert invoke("-w", ws.root, "decontam", "--restore", "train/copy.mp4").exit_code == 0
    assert invoke("-w", ws.root, "run").exit_code == 0
    assert "train/copy.mp4" in {e.video_path for s in ("sft", "rl") for e in live_set(ws.store, s)}


def test_a_benchmark_import_does_not_take_training_videos_away(tmp_path: Path, videos: Path) -> None:
    """Defect 2: training and benchmark are roles of a file; the eval import must not hide a training
    video from decontamination (an exact copy must be flagged)."""
    sft = write_lines(tmp_path / "sft.jsonl", [sft_line(0, "bench/b1.mp4"), sft_line(1, "train/v0.mp4")])
    bench = write_lines(tmp_path / "eval.jsonl", [json.dumps({"id": "e0", "question": "q?", "answer": "a",
                                                              "video_path": "bench/b1.mp4"})])
    ws = make_workspace(tmp_path, videos)
    invoke("-w", ws.root, "import", sft, "--set", "sft")
    invoke("-w", ws.root, "import", bench, "--set", "eval")
    assert invoke("-w", ws.root, "run", "--until", "split").exit_code == 0
    video = ws.store.get("video", "bench/b1.mp4")
    assert video is not None and video.source == "local"  # no 'benchmark' overwrite
    entry = ws.store.ledger_get("decontam", "bench/b1.mp4")
    assert entry.outcome.value == "rejected" and entry.code == "same_file"
    assert [e.id for s in ("sft", "rl") for e in live_set(ws.store, s)] == ["p1"]
    assert [e.id for e in live_set(ws.store, "eval")] == ["e0"]


def test_clashing_ids_are_never_overwritten(tmp_path: Path, videos: Path) -> None:
    """Defect 4: an RL file numbered like the SFT file, or two SFT files that disagree, must not replace examples."""
    sft = write_lines(tmp_path / "sft.jsonl", [sft_line(i, "train/v0.mp4") for i in range(3)])
    rl = write_lines(tmp_path / "rl.jsonl", [json.dumps({"problem_id": f"p{i}", "problem_type": "open-ended",
                                                         "question": f"another question {i}", "solution": "x",
                                                         "video_path": "train/v1.mp4"}) for i in range(3)])
    other = write_lines(tmp_path / "sft2.jsonl", [sft_line(0, "train/v2.mp4"), sft_line(1, "train/v0.mp4")])
    ws = make_workspace(tmp_path, videos)
    assert invoke("-w", ws.root, "import", sft, "--set", "sft").exit_code == 0
    before = {e.id: e for e in ws.store.iter_records("example")}
    result = invoke("-w", ws.root, "import", rl, "--set", "rl")
    assert result.exit_code == 1 and "0 accepted, 3 rejected" in result.text and "--id-prefix" in result.text
    assert "already exists with other content" in result.text
    result = invoke("-w", ws.root, "import", other, "--set", "sft")
    assert "0 accepted, 2 rejected" in result.text  # another file's p0 and p1 (other source lines): refused
    assert {e.id: e for e in ws.store.iter_records("example")} == before  # chain of thought and all kept
    result = invoke("-w", ws.root, "import", rl, "--set", "rl", "--id-prefix", "rl-")
    assert result.exit_code == 0 and "3 accepted" in result.text
    assert sorted(e.id for e in ws.store.iter_records("example")) == ["p0", "p1", "p2", "rl-p0", "rl-p1", "rl-p2"]
    funnel = json.loads(invoke("-w", ws.root, "status", "--funnel", "--json").output)
    imported = next(s for s in funnel["steps"] if s["step"] == "import")
    assert imported["rejected_by_reason"] == {"conflict": 2}  # the RL lines, re-read with a prefix, were accepted
    assert imported["in"] == imported["accepted"] + imported["rejected"] + imported["quarantined"]


def test_probe_results_survive_a_new_import(tmp_path: Path, videos: Path) -> None:
    """Defect 5: importing another file that refers to a probed video keeps the probe and its result."""
    ws = make_workspace(tmp_path, videos)
    invoke("-w", ws.root, "import", write_lines(tmp_path / "a.jsonl", [sft_line(0, "train/v3.mp4")]), "--set", "sft")
    assert invoke("-w", ws.root, "probe").exit_code == 0
    probed = ws.store.get("video_probe", "train/v3.mp4")
    assert probed is not None and probed.duration_s == pytest.approx(30, abs=0.5) and len(probed.sha256) == 64
    invoke("-w", ws.root, "import", write_lines(tmp_path / "b.jsonl", [sft_line(9, "train/v3.mp4")]), "--set", "sft")
    result = invoke("-w", ws.root, "run", "--until", "probe")
    assert result.exit_code == 0 and "probe 1 in — 0 accepted, 0 rejected, 0 quarantined, 1 already done" in result.text
    assert ws.store.get("video_probe", "train/v3.mp4") == probed


def test_exit_codes_say_when_nothing_could_be_done(tmp_path: Path, videos: Path) -> None:
    """Defect 9: exit 1 when every line was rejected, and when decontamination could not read a benchmark video."""
    ws = make_workspace(tmp_path, videos)
    bad = write_lines(tmp_path / "bad.jsonl", ["{oops", json.dumps({"problem_id": "x"})])
    result = invoke("-w", ws.root, "import", bad, "--set", "sft")
    assert result.exit_code == 1 and "no line could be imported" in result.text
    good = write_lines(tmp_path / "good.jsonl", [sft_line(0, "train/v0.mp4"), "{oops"])
    assert invoke("-w", ws.root, "import", good, "--set", "sft").exit_code == 0
    assert invoke("-w", ws.root, "import", good, "--set", "sft", "--strict").exit_code == 1
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 2000)
    manifest = write_lines(tmp_path / "bench.jsonl", [json.dumps({"id": "broken", "path": str(broken)})])
    result = invoke("-w", ws.root, "decontam", "--bench", manifest)
    assert result.exit_code == 1 and "check is incomplete" in result.text
    assert ws.store.ledger_get("decontam", "train/v0.mp4").outcome.value == "quarantined"
    assert not [e for s in ("sft", "rl") for e in live_set(ws.store, s)]


def test_split_with_nothing_to_split_exits_1(tmp_path: Path, videos: Path) -> None:
    ws = make_workspace(tmp_path, videos)
    invoke("-w", ws.root, "import", write_lines(tmp_path / "a.jsonl", [sft_line(0, "train/missing.mp4")]), "--set", "sft")
    result = invoke("-w", ws.root, "split")
    assert result.exit_code == 1 and "nothing to split" in result.text and "1 examples are in no set" in result.text
    assert ws.store.ledger_get("probe", "train/missing.mp4").code == "file_missing"
