"""A real workspace with every review queue filled, built through the CLI as a user would.

- quality: official SFT/RL lines on four PyAV-made H.264 videos, imported, probed, split;
- seeds: the bundled seed file imported (`videokr seeds import`);
- audit: three requests of `knowledge_points` answered by a loopback OpenAI-compatible model
  (`videokr models audit sample`);
- syllabus: a drafted syllabus (`videokr kb draft`) from the same loopback model.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from tests.cli_support import invoke
from videokr.demo import sample_dir
from videokr.testing import TestServer
from videokr.video.synth import scene_frames, write_video

SKILLS = ("VidR", "KnowVid", "KnowVidR")
DISCIPLINES = ("Natural Sciences", "Engineering")
VIDEO_SECONDS = 6
FPS = 8
CITED_S = 4.0  # every example's reasoning cites [00:04]


def example_line(i: int, prefix: str) -> dict[str, Any]:
    return {"problem_id": f"{prefix}{i:02d}", "problem_type": "multiple choice",
            "question": f"What happens to the ball in scene {i}?", "options": ["A. up", "B. down", "C. left"],
            "solution": "<answer>B</answer>", "think": f"At [00:04] the ball in scene {i} falls, so B.",
            "video_path": f"v{i % 4}.mp4", "skill": SKILLS[i % 3], "discipline": DISCIPLINES[i % 2]}


def write_videos(folder: Path, n: int = 4) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return [write_video(folder / f"v{i}.mp4", scene_frames(200 + i, VIDEO_SECONDS * FPS, fps=FPS, width=96, height=64),
                        fps=FPS, gop=FPS) for i in range(n)]


def syllabus_reply(body: dict, fingerprint: str) -> str:
    text = body["messages"][-1]["content"]
    found = re.search(r"^Subject: (.+)$", text, re.M)
    if found is None:  # an audited knowledge_points request: a short answer
        return json.dumps({"knowledge_points": [{"term": "inertia", "definition": "resistance to change"}]})
    subject = found.group(1)
    return json.dumps({"courses": [
        {"course": f"{subject} {n}", "lectures": [
            {"lecture": f"Foundations of {subject} {n}", "objectives": [f"Explain {subject} {n}"]},
            {"lecture": f"Methods of {subject} {n}", "objectives": ["Apply the methods"]},
        ]} for n in ("I", "II", "III", "IV")]})


def audit_requests(path: Path, n: int = 3) -> Path:
    lines = [{"custom_id": f"kp-{i}", "method": "POST", "url": "/v1/chat/completions",
              "body": {"model": "loop", "messages": [{"role": "user", "content": f"Lecture {i}: list the knowledge "
                                                                                 f"points of Newton's laws, part {i}"}]}}
             for i in range(n)]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


def build_world(root: Path, monkeypatch: Any) -> Path:
    """The workspace directory; see the module docstring."""
    monkeypatch.setenv("VIDEOKR_TEST_KEY", "sk-test-key-value")
    videos = write_videos(root / "videos")
    assert videos
    (root / "sft.jsonl").write_text("".join(json.dumps(example_line(i, "s")) + "\n" for i in range(24)),
                                    encoding="utf-8")
    (root / "rl.jsonl").write_text("".join(json.dumps(example_line(i, "r")) + "\n" for i in range(6)),
                                   encoding="utf-8")
    ws = root / "ws"
    assert invoke("init", ws).exit_code == 0
    with TestServer(responder=syllabus_reply) as server:
        config = yaml.safe_load((ws / "videokr.yaml").read_text())
        config["video_root"] = str(root / "videos")
        config["models"] = {"loop": {"base_url": server.base_url, "model": "loop", "api_key_env": "VIDEOKR_TEST_KEY",
                                     "modalities": ["text"], "price": {"input_per_mtok": 1.0, "output_per_mtok": 2.0}}}
        config["steps"] = {"kb_draft": {"models": ["loop"]}}
        (ws / "videokr.yaml").write_text(yaml.safe_dump(config))
        for name, kind in (("sft.jsonl", "sft"), ("rl.jsonl", "rl")):
            done = invoke("-w", ws, "import", root / name, "--set", kind)
            assert done.exit_code == 0, done.output
        done = invoke("-w", ws, "run", "--until", "split")
        assert done.exit_code == 0, done.output
        seeds = [json.loads(line) for line in (sample_dir() / "seeds.jsonl").read_text().splitlines() if line.strip()]
        seeds[0]["video_path"] = "v1.mp4"  # one seed written on a video the reviewer can watch
        (ws / "seeds.jsonl").write_text("".join(json.dumps(s) + "\n" for s in seeds), encoding="utf-8")
        done = invoke("-w", ws, "seeds", "import", ws / "seeds.jsonl")
        assert done.exit_code == 0, done.output
        done = invoke("-w", ws, "kb", "import", sample_dir() / "knowledge-bank.yaml")
        assert done.exit_code == 0, done.output
        done = invoke("-w", ws, "kb", "draft", "--subject", "Biology", "--subject", "Geography")
        assert done.exit_code == 0, done.output
        done = invoke("-w", ws, "models", "audit", "sample", "--step", "knowledge_points", "--model", "loop",
                      "--n", "3", "--inputs", audit_requests(root / "requests.jsonl"), "--sheet", root / "audit.csv")
        assert done.exit_code == 0, done.output
    return ws


def private_copy(world: Path, dest: Path) -> Path:
    """A copy of the shared workspace (and its videos) for tests that write verdicts or run steps."""
    import shutil

    shutil.copytree(world.parent, dest, symlinks=True)
    copy = dest / "ws"
    config = (copy / "videokr.yaml").read_text().replace(str(world.parent), str(dest))
    (copy / "videokr.yaml").write_text(config)
    return copy
