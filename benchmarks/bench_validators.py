"""§3.3's three validators at zero model latency: candidates per second end to end through
self-consistency → video dependency → CoT validation, against the bare gateway issuing the very
same requests, side by side in this process; and decodes per video.

    python benchmarks/bench_validators.py [VIDEOS]      # VIDEOS real MP4s, six candidates each (default 40)

Both sides talk real HTTP to the loopback OpenAI-compatible server, run in its own process and
answering at once (every candidate passes every check, so all three validators see all of
them), at the same concurrency (64), each on a fresh store (every request is sent, none is a
cache hit).

- steps: `run_step` of the three validators in recipe order over the candidates of
  `example_generation` — `inputs()` joins each candidate with the checks before it; frames come
  from the process's frame cache (`videokr.video.frame_cache`, cleared before each round, so the
  validators pay for decoding: the candidates' 0.2 fps frames once per video, the dependency
  filter's 4 random frames once per candidate); each prompt rendered, sent, the reply read and
  checked, the `ExampleCheck`s and the final `Example`s committed with their ledger rows;
- baseline: for each validator in turn, `asyncio.gather` of `gateway.call` with the bodies the
  steps sent (read from the steps' request cache beforehand, frames already encoded in them):
  the model door alone, with its cache writes, and nothing of the steps, the frames or the runner.

Medians of 3 rounds that alternate which side goes first. Then the steps once more with every
frame already in the cache (what the steps and the runner cost without decoding), and a rerun:
every item skipped, no request.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from videokr.models.config import INTERNVL_38B, QWEN3_VL_32B, Limits, ModelConfig
from videokr.models.gateway import Gateway
from videokr.pipeline.executors import AsyncExecutor
from videokr.pipeline.recipe import build_step
from videokr.pipeline.runner import run_step
from videokr.pipeline.step import StepContext
from videokr.records import CandidateExample, Outcome
from videokr.store import ItemOutcome, Store
from videokr.video.frame_cache import shared_cache
from videokr.video.synth import indexed_frame, write_video

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loopback import start_server  # noqa: E402

CONCURRENCY = 64
ROUNDS_PER_VIDEO = 6  # §3.3: six candidates per video
SECONDS, FPS, WIDTH, HEIGHT = 20, 10, 320, 180
GENERATORS = ("gpt-5.2", "claude-4.5-sonnet", "gemini-3-flash")  # Table 8's generators and CoT validators
VALIDATORS = ("self_consistency", "video_dependency", "cot_validation")
OPTIONS = ["the cart stops", "the ball starts rolling", "the rope goes slack", "the light turns on"]


def reply(body: dict[str, Any], fingerprint: str) -> str:
    """Every check passes: the generator agrees, one dependency model is wrong, every step is supported."""
    format_ = body.get("response_format")
    if format_ is None:  # the video dependency filter asks in plain text
        return "Answer: C" if body["model"] == QWEN3_VL_32B else "Answer: B"
    if format_["json_schema"]["name"] == "Rederived":
        return json.dumps({"reasoning": "At [00:05] the ball starts rolling before anything else, so B.",
                           "answer": "B"})
    return json.dumps({"steps": [{"step": "At [00:05] the ball rolls.", "supported": True, "critical": True,
                                  "evidence": "the frame at [00:05]"}], "rules_out_alternatives": True})


def make_videos(folder: Path, n: int) -> list[str]:
    """n real H.264 files, each frame burning its index (so no two videos are alike)."""
    names = []
    for v in range(n):
        name = f"v{v:04d}.mp4"
        frames = (indexed_frame(v * 1000 + i, WIDTH, HEIGHT) for i in range(SECONDS * FPS))
        write_video(folder / name, frames, fps=FPS, gop=2 * FPS)
        names.append(name)
    return names


def candidates(videos: list[str]) -> list[CandidateExample]:
    made = []
    for v, name in enumerate(videos):
        for r in range(ROUNDS_PER_VIDEO):
            made.append(CandidateExample(
                id=f"{name[:-4]}:r{r}", problem_type="multiple choice", options=OPTIONS, answer="B",
                question=f"In video {v}, round {r}: which happens first after [00:05]?", video_id=name[:-4],
                video_path=name, subject="Physics", skill=("VidR", "KnowVid", "KnowVidR")[r // 2], round=r,
                cot="the generator's reasoning", discipline="Natural Sciences",
                generator_model=GENERATORS[(v + r) % len(GENERATORS)], seed_ids=["s1", "s2", "s3"],
                frame_times_s=[0.0, 5.0, 10.0, 15.0]))
    return made


def fresh_store(path: Path, made: list[CandidateExample]) -> Store:
    store = Store(path)
    store.commit_outcomes("example_generation", "1",
                          [ItemOutcome(c.id, "seed", Outcome.ACCEPTED, (c,)) for c in made])
    return store


def by_steps(root: Path, store: Store, models: dict[str, ModelConfig], *,
             cold: bool = True) -> tuple[float, Counter[str]]:
    """Seconds for the three validators over every candidate, and the decodes they made per file;
    `cold`: the frame cache is emptied first (else the frames of an earlier round serve)."""
    cache = shared_cache()
    if cold:
        cache.clear()
    before = Counter(cache.decodes)
    context = StepContext(root=root, video_root=root / "videos", settings={"models": models}, store=store)
    start = time.perf_counter()
    for name in VALIDATORS:
        report = run_step(store, build_step(name, {}, context), executor=AsyncExecutor(CONCURRENCY))
        assert report.counts["rejected"] == report.counts["quarantined"] == 0, (name, report.counts)
    took = time.perf_counter() - start
    return took, cache.decodes - before


def sent_requests(store: Store) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """The (model, body) each validator sent, from its request cache: what the baseline sends again."""
    rows = store.execute("SELECT step, model, request FROM model_calls WHERE state='done'").fetchall()
    sent: dict[str, list[tuple[str, dict[str, Any]]]] = {name: [] for name in VALIDATORS}
    for step, model, request in rows:
        sent[step].append((model, json.loads(request)))
    return sent


async def gateway_alone(models: dict[str, ModelConfig], store: Store,
                        requests: dict[str, list[tuple[str, dict[str, Any]]]]) -> float:
    window = asyncio.Semaphore(CONCURRENCY)
    async with Gateway(models, store) as gateway:
        async def one(step: str, model: str, body: dict[str, Any]) -> None:
            async with window:
                answer = await gateway.call(model, body, step=step, step_version="1")
                assert answer.ok, answer.error

        start = time.perf_counter()
        for step in VALIDATORS:  # each validator waits for the one before, as in the recipe
            await asyncio.gather(*(one(step, model, body) for model, body in requests[step]))
        return time.perf_counter() - start


def main(n_videos: int, rounds: int = 3) -> None:
    server, url = start_server(reply)
    try:
        limits = Limits(concurrency=CONCURRENCY)
        models = {name: ModelConfig(base_url=url, model=name, limits=limits) for name in GENERATORS}
        models |= {name: ModelConfig(base_url=url, model=name, limits=limits, modalities=["vision"])
                   for name in (INTERNVL_38B, QWEN3_VL_32B)}
        with tempfile.TemporaryDirectory() as tmp:
            base = Path(tmp)
            (base / "videos").mkdir()
            made = candidates(make_videos(base / "videos", n_videos))
            n = len(made)
            # warm-up (imports, first connections), which also records the requests the baseline sends
            _, decodes = by_steps(base, fresh_store(base / "warm.sqlite", made), models)
            requests = sent_requests(Store(base / "warm.sqlite"))
            assert sum(map(len, requests.values())) == n * (2 + 2)  # 1 + 2 dependency models + 1
            timings = []
            for round_ in range(rounds):  # alternate which side goes first, so drift hits both alike
                def steps(round_: int = round_) -> float:
                    return by_steps(base, fresh_store(base / f"steps{round_}.sqlite", made), models)[0]

                def alone(round_: int = round_) -> float:
                    return asyncio.run(gateway_alone(models, Store(base / f"gateway{round_}.sqlite"), requests))

                if round_ % 2:
                    ours = steps()
                    timings.append((alone(), ours))
                else:
                    bare = alone()
                    timings.append((bare, steps()))
            # the same with the frames already decoded: what the steps and the runner cost without decoding
            warm = by_steps(base, fresh_store(base / "warm-cache.sqlite", made), models, cold=False)[0]
            store = Store(base / "steps0.sqlite")
            context = StepContext(root=base, video_root=base / "videos", settings={"models": models}, store=store)
            start = time.perf_counter()
            for name in VALIDATORS:
                again = run_step(store, build_step(name, {}, context), executor=AsyncExecutor(CONCURRENCY))
                assert again.processed == 0 and again.skipped == n, again.counts
            rerun = time.perf_counter() - start
    finally:
        server.terminate()
        server.join()
    bare = sorted(t[0] for t in timings)[len(timings) // 2]  # medians
    ours = sorted(t[1] for t in timings)[len(timings) // 2]
    requests_n = sum(map(len, requests.values()))
    print(json.dumps({
        "videos": n_videos, "candidates": n, "requests": requests_n, "concurrency": CONCURRENCY, "latency_s": 0,
        "video": f"{SECONDS}s {WIDTH}x{HEIGHT} {FPS}fps", "rounds": rounds,
        "gateway_alone_candidates_s": round(n / bare, 1), "gateway_alone_req_s": round(requests_n / bare),
        "steps_candidates_s": round(n / ours, 1), "ratio_steps_vs_gateway": round(bare / ours, 2),
        "steps_frames_cached_candidates_s": round(n / warm, 1),
        "decodes_per_video": round(sum(decodes.values()) / n_videos, 2),
        "decodes_per_video_min_max": [min(decodes.values()), max(decodes.values())],
        "all_s": {"gateway": [round(t[0], 2) for t in timings], "steps": [round(t[1], 2) for t in timings]},
        "rerun_all_skipped_s": round(rerun, 2),
    }))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 40)
