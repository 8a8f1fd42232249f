"""Example generation (§3.3): requests rendered per second, frames decoded once per video, against
decoding them for every round, side by side in this process.

    python benchmarks/bench_generation.py [--videos 8] [--seconds 120] [--repeats 3]

A workspace holds N real H.264 videos (480×270, 10 fps, a keyframe every 5 s) that passed
`safety`, each linked to a knowledge point, and 3 seeds per discipline × skill. Both sides run
`example_generation` as `videokr run --dry-run` does (`run_step(..., dry_run=True)`): every
round's request is rendered — frames at 0.2 fps as JPEG data URLs after their timestamps, the
prompt with its seeds and knowledge point, the reply schema — and priced by the dry-run gateway;
nothing is sent or stored. So the time is what the step spends per request before a model sees it.

- shared: the step as it is — the frame cache decodes each video once, its six rounds share it;
- per round: the same step whose frame cache forgets everything (a fresh cache per request), so
  every round decodes its video: what the step would cost without sharing.

Prints requests/s for each (median of `--repeats`, alternating which side goes first), decodes
per video, and the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from videokr.models.config import ModelConfig
from videokr.pipeline.runner import run_step
from videokr.pipeline.step import StepContext
from videokr.records import KnowledgePoint, Outcome, Record, RelevanceJudgement, SafetyCheck, Seed, Skill, Video
from videokr.steps.example_generation import ROUNDS, SEEDS_PER_ROUND, ExampleGenerationStep
from videokr.store import ItemOutcome, Store
from videokr.video.frame_cache import CachedFrames, FrameCache
from videokr.video.synth import indexed_frame, write_video

WIDTH, HEIGHT, FPS, GOP = 480, 270, 10, 50


class PerRoundFrames:
    """The baseline's frame source: a fresh cache for every request, so every round decodes."""

    def __init__(self) -> None:
        self.decodes = 0

    def frames(self, path: Any, **kwargs: Any) -> CachedFrames:
        self.decodes += 1
        return FrameCache().frames(path, **kwargs)


def commit(store: Store, step: str, items: dict[str, list[Record]]) -> None:
    store.commit_outcomes(step, "1", [ItemOutcome(i, f"fp-{i}", Outcome.ACCEPTED, tuple(r)) for i, r in items.items()])


def workspace(root: Path, n: int, seconds: float) -> tuple[Store, Path]:
    videos = root / "videos"
    videos.mkdir(parents=True)
    store = Store(root / "videokr.sqlite")
    point = KnowledgePoint(id="kp-1", discipline="Natural Sciences", subject="Physics", course="Mechanics",
                           lecture="Dynamics", term="Newton's second law",
                           definition="The net force on a body equals its mass times its acceleration.")
    commit(store, "knowledge_points", {point.id: [point]})
    made: dict[str, Video] = {}
    for i in range(n):
        vid = f"local-{i:04d}"
        base = indexed_frame(i, WIDTH, HEIGHT)  # a moving picture: the frame scrolls one column per frame
        write_video(videos / f"{vid}.mp4", (np.roll(base, j, axis=1) for j in range(int(seconds * FPS))),
                    fps=FPS, gop=GOP)
        made[vid] = Video(id=vid, path=f"{vid}.mp4", source="local", licence="CC-BY-4.0")
    commit(store, "local_sources", {f"local:{v}": [video] for v, video in made.items()})
    commit(store, "visual_relevance", {f"visual:{v}:kp-1:s1": [RelevanceJudgement(
        id=f"visual:{v}:kp-1:s1", judge="visual", video_id=v, knowledge_point_id=point.id, scenario_id="kp-1:s1",
        relevant=True)] for v in made})
    commit(store, "safety", {v: [SafetyCheck(id=v, backend="offline", frame_times_s=[0.0], scores=[{}], safe=True)]
                             for v in made})
    seeds = [Seed(id=f"seed-{skill.value}-{k}", problem_type="multiple choice",
                  question=f"Which object moves first in example {k}?", options=["the cart", "the ball"], answer="B",
                  video_id="", video_path="", skill=skill, discipline="Natural Sciences",
                  cot="At [00:05] the ball starts rolling before the cart, so B.")
             for skill in Skill for k in range(SEEDS_PER_ROUND)]
    commit(store, "seeds", {s.id: [s] for s in seeds})
    return store, videos


def run_side(store: Store, videos: Path, frames: Any) -> tuple[float, int, int]:
    """(seconds, requests rendered, decodes) of one dry run."""
    models = {name: ModelConfig(base_url="http://127.0.0.1:9/v1", model=name)
              for name in ("gpt-5.2", "claude-4.5-sonnet", "gemini-3-flash")}
    step = ExampleGenerationStep(context=StepContext(root=videos.parent, video_root=videos,
                                                     settings={"models": models}, store=store))
    step.frame_cache = frames
    t0 = time.perf_counter()
    report = run_step(store, step, dry_run=True)
    elapsed = time.perf_counter() - t0
    requests = int((report.cost or {}).get("requests", 0))
    decodes = frames.decodes if isinstance(frames, PerRoundFrames) else sum(frames.decodes.values())
    return elapsed, requests, decodes


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--videos", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=120.0)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        store, videos = workspace(Path(tmp), args.videos, args.seconds)
        print(f"{args.videos} videos of {args.seconds:.0f} s ({WIDTH}x{HEIGHT}, {FPS} fps) written in "
              f"{time.perf_counter() - t0:.1f} s; {args.videos} × {ROUNDS} rounds = {args.videos * ROUNDS} requests")
        times: dict[str, list[float]] = {"shared": [], "per round": []}
        counts: dict[str, tuple[int, int]] = {}
        for r in range(args.repeats):
            order = ["shared", "per round"] if r % 2 == 0 else ["per round", "shared"]
            for side in order:
                frames = FrameCache() if side == "shared" else PerRoundFrames()
                elapsed, requests, decodes = run_side(store, videos, frames)
                assert requests == args.videos * ROUNDS, (side, requests)
                times[side].append(elapsed)
                counts[side] = (requests, decodes)
        rates = {}
        for side, values in times.items():
            requests, decodes = counts[side]
            median = statistics.median(values)
            rates[side] = requests / median
            print(f"{side:>9}: {rates[side]:8.1f} requests rendered/s (median {median:.2f} s of "
                  f"{', '.join(f'{v:.2f}' for v in values)}); decodes per video {decodes / args.videos:.1f}")
        print(f"ratio shared / per round: {rates['shared'] / rates['per round']:.2f}x")


if __name__ == "__main__":
    main()
