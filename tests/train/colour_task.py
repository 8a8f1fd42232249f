"""A small learnable video task in a real workspace: the answer letter is the video's colour.

Every example asks the same question with the same options, and its chain of thought says
nothing about the colour (its length varies, so responses differ in length); only the video
differs, and its colour decides the answer (red A, green B, blue C). A model
can lower its loss on the letter only by looking at the frames, so a falling loss there
means the video reaches the model through the whole training path (decoding, budget,
inputs, the frozen vision tower).

The workspace is made as a user makes one: videos on disk, an official-format SFT file,
`import → videos → probe → decontam → split` run by the runner (split ratio 1:0, so every
example is in the live SFT set).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from videokr.config import Config
from videokr.pipeline.recipe import run_recipe
from videokr.video.synth import write_video
from videokr.workspace import Workspace

COLOURS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220)}
LETTERS = {"red": "A", "green": "B", "blue": "C"}
QUESTION = "Which colour fills the video?"
THINK = "I look at the colour of the frames."


def colour_frames(rgb: tuple[int, int, int], seed: int, count: int = 8, size: int = 112, noise: int = 20) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    base = np.asarray(rgb, dtype=np.int16)
    return [np.clip(base + rng.integers(-noise, noise + 1, (size, size, 3)), 0, 255).astype(np.uint8) for _ in range(count)]


def colour_workspace(root: Path, per_colour: int = 4, train: dict | None = None, size: int = 112, noise: int = 20) -> Workspace:
    """A workspace whose live SFT set is ``per_colour`` examples of each colour."""
    videos = root / "videos"
    videos.mkdir(parents=True)
    lines = []
    for c, (name, rgb) in enumerate(COLOURS.items()):
        for k in range(per_colour):
            path = write_video(videos / f"{name}-{k}.mp4", colour_frames(rgb, seed=10 * c + k, size=size, noise=noise), fps=4)
            lines.append({"problem_id": f"{name}-{k}", "question": QUESTION, "problem_type": "multiple choice",
                          "options": ["red", "green", "blue"], "solution": f"<answer>{LETTERS[name]}</answer>",
                          "think": f"<think>{' '.join([THINK] * (1 + k % 2))}</think>", "path": path.name, "subject": "Physics",
                          "discipline": "Natural Sciences", "skill": "VidR"})
    data = root / "sft.jsonl"
    data.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    config = Config(
        video_root=str(videos),
        recipe=["import", "videos", "probe", "decontam", "split"],
        steps={"import": {"sources": [{"path": str(data), "kind": "sft"}]}, "probe": {"executor": "local"},
               "decontam": {"executor": "local"}, "split": {"ratio": [1, 0]}},
        train=train or {},
    )
    ws = Workspace.init(root / "ws", config)
    for report in run_recipe(ws.store, ws.recipe()):
        if report.counts["accepted"] != report.seen:  # say why, rather than train on an empty set later
            problems = [f"{e.item_id}: {e.reason}" for e in ws.store.ledger_entries(report.step) if e.outcome != "accepted"]
            raise RuntimeError(f"{report.line()}: {'; '.join(problems[:3])}")
    return ws
