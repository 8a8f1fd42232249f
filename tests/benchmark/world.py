"""A small §4 world: three source benchmarks in their published layouts, real MP4s, and a scripted
loopback model that reads which frame it was shown.

Every video burns its frame index into each frame (`videokr.video.synth.indexed_frame`), so the
loopback "model" knows exactly which frame a request carries, checks that each request carries
exactly one image and nothing else of the video, and answers by a per-question policy: always
right, always wrong, right only on frames with an even index, or with no stated answer.
"""

from __future__ import annotations

import base64
import io
import json
import re
import threading
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from videokr.config import Config
from videokr.models.config import Limits, ModelConfig
from videokr.steps.frame_probe import PROBE_MODELS
from videokr.testing import TestServer
from videokr.video.synth import indexed_frame, read_index, write_video
from videokr.workspace import Workspace

FPS = 4
SECONDS = 40  # 160 frames: three random draws rarely meet
LIMITS = Limits(concurrency=8, timeout_s=5.0, backoff_base_s=0.01, backoff_max_s=0.02, max_attempts=2,
                breaker_failures=10_000)
GPT, CLAUDE, QWEN = "gpt-5.2", "claude-4.5-sonnet", "qwen3-vl-235b-a22b"
OPTIONS = ["rolling friction", "air pressure", "magnetism", "buoyancy"]

# question -> (answer, {model: policy}); a model not named is always wrong.
# Policies: "right", "even" (right iff the frame's index is even), "silent" (states no answer).
PLAN: dict[str, dict[str, str]] = {
    "MMVU q1 what slows the cart?": {GPT: "right", CLAUDE: "right", QWEN: "right"},  # filtered by all
    "MMVU q2 which force acts?": {},  # retained: every model wrong
    "MMVU q3 what is conserved?": {GPT: "right"},  # filtered by gpt alone
    "MMVU q4 what is the period?": {GPT: "right", CLAUDE: "right", QWEN: "right"},  # open-ended, exact
    "VideoMMMU q5 why does it float?": {CLAUDE: "even", QWEN: "even"},  # depends on the frames drawn
    "VideoMMMU q6 what is measured?": {GPT: "silent", CLAUDE: "silent", QWEN: "silent"},  # no answer: retained
    "SciVideoBench q7 which step comes first?": {QWEN: "right", CLAUDE: "right"},  # filtered
    "SciVideoBench q8 which reagent is added?": {GPT: "even"},
}
ANSWERS = {"MMVU q4 what is the period?": "2 seconds"}  # open-ended answers; the others are A


def make_video(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_video(path, (indexed_frame(i, 160, 96) for i in range(SECONDS * FPS)), fps=FPS, gop=16)


def write_sources(root: Path) -> dict[str, tuple[Path, Path]]:
    """The three benchmarks' files and videos; returns name -> (file, video folder)."""
    mmvu, mmmu, sci = root / "mmvu", root / "videommmu", root / "scivideobench"
    choices = dict(zip("ABCD", OPTIONS))
    rows = [
        {"id": "m1", "question": "MMVU q1 what slows the cart?", "choices": choices, "answer": "A",
         "question_type": "multiple-choice", "video": "https://example.org/videos/cart.mp4",
         "metadata": {"subject": "Physics"}},
        {"id": "m2", "question": "MMVU q2 which force acts?", "choices": choices, "answer": "A",
         "question_type": "multiple-choice", "video": "https://example.org/videos/cart.mp4",
         "metadata": {"subject": "Physics"}},
        {"id": "m3", "question": "MMVU q3 what is conserved?", "choices": choices, "answer": "rolling friction",
         "question_type": "multiple-choice", "video": "https://example.org/videos/wheel.mp4"},
        {"id": "m4", "question": "MMVU q4 what is the period?", "answer": "2 seconds", "question_type": "open-ended",
         "video": "https://example.org/videos/pendulum.mp4"},
        {"id": "m5", "question": "MMVU bad: the answer is no option", "choices": choices, "answer": "F",
         "question_type": "multiple-choice", "video": "https://example.org/videos/cart.mp4"},
    ]
    (mmvu).mkdir(parents=True)
    (mmvu / "validation.json").write_text(json.dumps(rows, indent=1), encoding="utf-8")
    for name in ("cart", "wheel", "pendulum"):
        make_video(mmvu / "videos" / f"{name}.mp4")
    lines = [
        {"id": "Perception_1", "question": "VideoMMMU q5 why does it float?", "options": OPTIONS, "answer": "A",
         "question_type": "multiple-choice"},
        {"id": "Perception_2", "question": "VideoMMMU q6 what is measured?", "options": OPTIONS, "answer": "A",
         "question_type": "multiple-choice"},
    ]
    mmmu.mkdir(parents=True)
    (mmmu / "Perception.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines) + "{not json\n",
                                          encoding="utf-8")
    for row in lines:
        make_video(mmmu / "videos" / f"{row['id']}.mp4")
    lines = [
        {"question_id": "s1", "video_id": "1001", "question": "SciVideoBench q7 which step comes first?",
         "options": {"A": OPTIONS[0], "B": OPTIONS[1], "C": OPTIONS[2], "D": OPTIONS[3]}, "answer": "A",
         "discipline": "Chemistry"},
        {"question_id": "s2", "video_id": "1001", "question": "SciVideoBench q8 which reagent is added?",
         "options": OPTIONS, "answer": "A", "discipline": "Chemistry"},
        {"question_id": "s3", "video_id": "1002", "question": "SciVideoBench q9 a video that is not there",
         "options": OPTIONS, "answer": "A"},
    ]
    sci.mkdir(parents=True)
    (sci / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines), encoding="utf-8")
    make_video(sci / "videos" / "jove_1001.mp4")
    return {"MMVU": (mmvu / "validation.json", mmvu / "videos"),
            "VideoMMMU": (mmmu / "Perception.jsonl", mmmu / "videos"),
            "SciVideoBench": (sci / "test.jsonl", sci / "videos")}


class Model:
    """The loopback model: one image per request (its frame index read back), answers from PLAN."""

    def __init__(self) -> None:
        self.log: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.problems: list[str] = []

    def __call__(self, body: dict[str, Any], fingerprint: str) -> str:
        from PIL import Image

        (message,) = body["messages"]
        parts = message["content"]
        images = [p for p in parts if p["type"] == "image_url"]
        texts = [p["text"] for p in parts if p["type"] == "text"]
        if len(images) != 1 or len(texts) != 1 or parts[0]["type"] != "image_url":
            self.problems.append(f"request parts: {[p['type'] for p in parts]}")
        picture = np.asarray(Image.open(io.BytesIO(base64.b64decode(images[0]["image_url"]["url"].split(",")[1]))))
        index = read_index(picture)
        prompt = texts[-1]
        question = re.search(r"^Question: (.*)$", prompt, re.M).group(1)
        policy = PLAN.get(question, {}).get(body["model"], "wrong")
        right = policy == "right" or (policy == "even" and index % 2 == 0)
        with self.lock:
            self.log.append({"model": body["model"], "question": question, "index": index, "prompt": prompt,
                             "right": right and policy != "silent"})
        if policy == "silent":
            return "I am not sure what the frame shows."
        if question in ANSWERS:
            return f"The pendulum swings.\nAnswer: {ANSWERS[question] if right else '7 metres'}"
        return f"Looking at the frame.\nAnswer: {'A' if right else 'C'}"

    def frames(self) -> dict[tuple[str, str], list[int]]:
        found: dict[tuple[str, str], list[int]] = defaultdict(list)
        for entry in self.log:
            found[entry["question"], entry["model"]].append(entry["index"])
        return found

    def solvable(self) -> dict[tuple[str, str], bool]:
        """(question, model) -> right in every trial, from what the model itself did."""
        found: dict[tuple[str, str], list[bool]] = defaultdict(list)
        for entry in self.log:
            found[entry["question"], entry["model"]].append(entry["right"])
        return {key: all(marks) for key, marks in found.items()}


def models_on(server: TestServer) -> dict[str, ModelConfig]:
    return {name: ModelConfig(base_url=server.base_url, model=name, limits=LIMITS) for name in PROBE_MODELS}


def make_workspace(root: Path, server: TestServer) -> Path:
    ws = root / "ws"
    Workspace.init(ws, Config(models=models_on(server)))
    return ws
