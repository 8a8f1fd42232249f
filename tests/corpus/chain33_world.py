"""The §3.1–§3.2 chain world grown to the whole paper recipe: seeds, generation, the three validators,
then import → videos → probe → decontam → split → export.

`Chain33World` is `ChainWorld` (loopback OpenAI, YouTube, media and Azure servers) whose videos
last `SECONDS` (so 0.2 fps sampling shows several frames), whose models include the two
self-hosted ones of the video dependency filter (on the loopback server too), and whose
responder also answers §3.3's requests as a model would — from what it is sent:

- the generator reads which video it sees from the frames (each file burns its frame index,
  offset per video), the skill from the prompt, and writes one multiple-choice question tagged
  `[<video> <skill> <digest of the seeds shown>]`, answer B;
- the validators read the tag back from the question and answer by the plan below.

Planted fates, by (video, skill) — both rounds of that skill on that video:

| video      | skill    | what happens                                                 |
|------------|----------|--------------------------------------------------------------|
| INERTIA_A  | VidR     | self_consistency: inconsistent (re-derives A, not B)         |
| SHARED_B   | KnowVid  | video_dependency: video_independent (both models answer B)   |
| CATALYST_H | KnowVidR | cot_validation: unsupported_step (a critical unsupported step)|

Everything else passes: 3 videos × 6 rounds = 18 candidates, 12 examples.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import json
import re
import shutil
import threading
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from tests.collect.chain_world import (
    CATALYST_H, FILES, INERTIA_A, SHARED_B, ChainResponder, ChainWorld, catalogue,
)
from tests.collect.chain_world import FPS as VIDEO_FPS
from tests.collect.text_sources import TEXT_MODELS, models_on
from tests.corpus.replies import (  # noqa: F401  (ANSWER and the schema names are imported from here too)
    ANSWER, CONSISTENCY, DEPENDENCY, GENERATION, REVIEW, TAG, dependency_answer, generated, request_kind, rederived,
    review,
)
from videokr.config import PAPER_RECIPE
from videokr.steps.video_dependency import DEPENDENCY_MODELS
from videokr.testing.youtube_server import YouTubeServer
from videokr.timestamps import format_timestamp
from videokr.video.synth import read_index

SECONDS = 16.0  # frames at 0, 5, 10 and 15 s at 0.2 fps
SEEDS_FILE = Path(__file__).resolve().parents[2] / "src" / "videokr" / "sample" / "seeds.jsonl"
OFFSETS = {n * 7: youtube_id for n, youtube_id in enumerate(FILES)}  # chain_world.make_media's index offsets
SAFE = (INERTIA_A, SHARED_B, CATALYST_H)
FATES = {(INERTIA_A, "VidR"): "inconsistent", (SHARED_B, "KnowVid"): "video_independent",
         (CATALYST_H, "KnowVidR"): "unsupported"}
MODELS = (*TEXT_MODELS, *DEPENDENCY_MODELS)


def decode(part: dict[str, Any]) -> np.ndarray:
    from PIL import Image

    data = base64.b64decode(part["image_url"]["url"].split(",", 1)[1])
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


class Chain33Responder(ChainResponder):
    """`ChainResponder`, plus §3.3's generator and validators; logs what each §3.3 request showed."""

    def __init__(self) -> None:
        super().__init__()
        self.log: list[dict[str, Any]] = []
        self._log_lock = threading.Lock()

    def of(self, kind: str) -> list[dict[str, Any]]:
        with self._log_lock:
            return [r for r in self.log if r["kind"] == kind]

    def __call__(self, body: dict[str, Any], fingerprint: str) -> str:
        kind = request_kind(body)
        if kind not in (GENERATION, CONSISTENCY, REVIEW, DEPENDENCY):
            return super().__call__(body, fingerprint)
        (message,) = body["messages"]
        parts = message["content"]
        prompt = parts[-1]["text"]
        stamps = [p["text"] for p in parts[:-1:2]]
        images = [decode(p) for p in parts[1:-1:2]]
        indices = [read_index(i) for i in images]
        entry = {"kind": kind, "model": body["model"], "stamps": stamps, "indices": indices, "prompt": prompt,
                 "fingerprint": fingerprint}
        if kind == GENERATION:
            (video,) = {OFFSETS.get(i - round(self._time(s) * VIDEO_FPS)) for i, s in zip(indices, stamps, strict=True)}
            skill = re.search(r"^Skill: (\w+)$", prompt, re.M).group(1)
            shown = re.findall(r"^Question: (.*)$", prompt, re.M)
            tag = hashlib.sha256("\n".join(shown).encode()).hexdigest()[:8]
            entry.update(video=video, skill=skill)
            self._note(entry)
            return generated(video, skill, tag)
        video, skill, tag = TAG.search(prompt).groups()
        fate = FATES.get((video, skill))
        entry.update(video=video, skill=skill, tag=tag)
        self._note(entry)
        if kind == CONSISTENCY:
            return rederived(tag, "A" if fate == "inconsistent" else ANSWER)
        if kind == DEPENDENCY:
            return dependency_answer(right=fate == "video_independent" or body["model"] == DEPENDENCY_MODELS[0])
        return review(supported=fate != "unsupported")

    @staticmethod
    def _time(stamp: str) -> float:
        minutes, seconds = stamp.strip("[]").split(":")
        return int(minutes) * 60 + float(seconds)

    def _note(self, entry: dict[str, Any]) -> None:
        with self._log_lock:
            self.log.append(entry)


def stamps_of(times: list[float]) -> list[str]:
    return [format_timestamp(t) for t in times]


class Chain33World(ChainWorld):
    """`ChainWorld` with `SECONDS`-long videos, §3.3's responder, and workspaces running the paper recipe."""

    def __init__(self, media: Path, **kwargs: Any) -> None:
        super().__init__(media, **kwargs)
        self.responder = Chain33Responder()
        self.openai.responder = self.responder
        videos = [dataclasses.replace(v, duration=f"PT{SECONDS:g}S") if v.duration == "PT3S" else v
                  for v in catalogue()]
        self.youtube = YouTubeServer(videos, api_key=self.youtube.api_key)

    def workspace(self, root: Path, **sections: dict[str, Any]) -> Path:
        """The chain's workspace, its recipe the paper's, the sample seeds imported, every model on loopback."""
        root = super().workspace(root, **sections)
        config = yaml.safe_load((root / "videokr.yaml").read_text(encoding="utf-8"))
        shutil.copy(SEEDS_FILE, root / "seeds.jsonl")
        models = config["models"]
        for name, model in models_on(self.openai, DEPENDENCY_MODELS).items():
            models[name] = {**json.loads(model.model_dump_json()), "modalities": ["vision"]}
        config["recipe"] = list(PAPER_RECIPE)
        steps = config["steps"]
        steps["seeds"] = {"sources": ["seeds.jsonl"]}
        steps["split"] = {"ratio": [1, 1], "seed": 0, **steps.get("split", {})}
        steps["export"] = {"targets": {"sft": ["jsonl", "llamafactory"], "rl": ["jsonl"]}, **steps.get("export", {})}
        for step, settings in sections.items():
            steps[step] = {**steps.get(step, {}), **settings}
        (root / "videokr.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        return root
