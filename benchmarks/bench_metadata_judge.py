"""The metadata judge (§3.2) at zero model latency: candidates per second through the step, against
the bare gateway issuing the same requests, side by side in this process.

    python benchmarks/bench_metadata_judge.py [N]      # N (video, scenario) candidates (default 3,000)

Both sides talk real HTTP to the loopback OpenAI-compatible server, run in its own process and
answering at once (`{"relevant": true, ...}`), at the same concurrency (64), each with a fresh
store (so every request is sent, none is a cache hit).

- step: `run_step` of `metadata_relevance` — `inputs()` joins the live search hits (two
  keywords per link), videos, scenarios and knowledge points; each item is fingerprinted
  (with its model draw), its prompt rendered, asked through `ask_structured` (schema in
  `response_format`, reply validated), and committed with its `RelevanceJudgement`, ledger
  row and lineage, in groups;
- baseline: `asyncio.gather` of `gateway.chat` with the very same models, messages and
  `response_format` (rendered beforehand, outside the timing): the model door alone, with its
  cache writes, and nothing of the step or the runner.

The issue's target is ≥ 500 candidates/s for the step; the ratio says what the step and the
runner cost on top of the requests themselves (medians of 3 rounds that alternate which side goes
first). Then a rerun: every item skipped, no request.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from videokr.models.config import Limits, ModelConfig
from videokr.models.gateway import Gateway
from videokr.models.structured import response_format_for
from videokr.pipeline.executors import AsyncExecutor
from videokr.pipeline.runner import run_step
from videokr.pipeline.step import StepContext
from videokr.records import KnowledgePoint, Outcome, Scenario, SearchHit, YouTubeVideo
from videokr.steps.metadata_relevance import MetadataRelevanceStep, MetadataVerdict
from videokr.store import ItemOutcome, Store

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loopback import start_server  # noqa: E402

CONCURRENCY = 64
JUDGES = ("gpt-5.2", "claude-4.5-sonnet")  # Table 8's eligible metadata judges


def verdict_reply(body: dict[str, Any], fingerprint: str) -> str:
    return json.dumps({"relevant": True, "reason": "the title names the scenario"})


def seed(store: Store, n: int) -> None:
    """n candidate links: n/2 scenarios × 2 videos, each video found by 2 keywords of its scenario."""
    points, scenarios, hits, videos = [], [], [], []
    for p in range(max(1, n // 4)):
        points.append(KnowledgePoint(id=f"kp-{p:06d}", discipline="Natural Sciences", subject="Physics",
                                     course="Mechanics", lecture=f"Lecture {p}", term=f"Term {p}",
                                     definition=f"Term {p} is a principle of mechanics. " * 6, lecture_id=f"kb:{p}"))
    for s in range(max(1, n // 2)):
        scenario = Scenario(id=f"kp-{s // 2:06d}:s{s % 2 + 1}", knowledge_point_id=f"kp-{s // 2:06d}",
                            text=f"a heavy cart {s} rolling down a ramp")
        scenarios.append(scenario)
        for v in range(2):
            youtube_id = f"{s:09d}v{v}"
            videos.append(YouTubeVideo(id=youtube_id, title=f"Cart on a ramp, take {s}-{v}",
                                       description="Filmed in our school lab. " * 80, channel_title="Lab channel",
                                       duration_s=190 + v, licence="creativeCommon",
                                       url=f"https://www.youtube.com/watch?v={youtube_id}"))
            for k in (1, 2):
                keyword = f"{scenario.id}:k{k}"
                hits.append(SearchHit(id=f"{keyword}:{youtube_id}", keyword_id=keyword, scenario_id=scenario.id,
                                      knowledge_point_id=scenario.knowledge_point_id, youtube_id=youtube_id, rank=k,
                                      query="cart ramp"))
    for step, records in (("knowledge_points", points), ("scenarios", scenarios), ("youtube_search", hits),
                          ("youtube_videos", videos)):
        store.commit_outcomes(step, "1", [ItemOutcome(r.id, "seed", Outcome.ACCEPTED, (r,)) for r in records])


def judge(store: Store, models: dict[str, ModelConfig]) -> MetadataRelevanceStep:
    return MetadataRelevanceStep(context=StepContext(settings={"models": models}, store=store))


def requests_of(step: MetadataRelevanceStep, store: Store) -> list[tuple[str, list[dict[str, str]]]]:
    """The (model, messages) the step sends for each of its items: what the baseline sends too."""
    return [(step.draw_model(item.id), step.messages(step.values(item))) for item in step.inputs(store)]


async def gateway_alone(models: dict[str, ModelConfig], store: Store, requests: list[tuple[str, Any]]) -> float:
    params = {"response_format": response_format_for(MetadataVerdict)}
    window = asyncio.Semaphore(CONCURRENCY)
    async with Gateway(models, store) as gateway:
        async def one(model: str, messages: Any) -> None:
            async with window:
                reply = await gateway.chat(model, messages, params=params, step="metadata_relevance",
                                           step_version="1")
                assert reply.ok, reply.error

        start = time.perf_counter()
        await asyncio.gather(*(one(model, messages) for model, messages in requests))
        return time.perf_counter() - start


def one_round(root: Path, n: int, models: dict[str, ModelConfig], step_first: bool) -> tuple[float, float]:
    """(gateway alone s, step s) over n fresh candidates, each side on a fresh store."""
    store = Store(root / "step.sqlite")
    seed(store, n)
    requests = requests_of(judge(store, models), store)
    assert len(requests) == n, len(requests)

    def by_step() -> float:
        start = time.perf_counter()
        report = run_step(store, judge(store, models), executor=AsyncExecutor(CONCURRENCY))
        took = time.perf_counter() - start
        assert report.counts["accepted"] == n, report.counts
        return took

    def by_gateway() -> float:
        return asyncio.run(gateway_alone(models, Store(root / "gateway.sqlite"), requests))

    if step_first:
        ours = by_step()
        return by_gateway(), ours
    alone = by_gateway()
    return alone, by_step()


def main(n: int, rounds: int = 3) -> None:
    server, url = start_server(verdict_reply)
    try:
        limits = Limits(concurrency=CONCURRENCY)
        models = {name: ModelConfig(base_url=url, model=name, limits=limits) for name in JUDGES}
        with tempfile.TemporaryDirectory() as tmp:
            warm = Path(tmp) / "warm"  # imports, first connections, the server's first requests
            warm.mkdir()
            one_round(warm, 300, models, True)
            timings = []
            for round_ in range(rounds):  # alternate which side goes first, so drift hits both alike
                root = Path(tmp) / f"round{round_}"
                root.mkdir()
                timings.append(one_round(root, n, models, step_first=round_ % 2 == 1))
            store = Store(Path(tmp) / "round0" / "step.sqlite")
            start = time.perf_counter()
            again = run_step(store, judge(store, models), executor=AsyncExecutor(CONCURRENCY))
            rerun = time.perf_counter() - start
            assert again.skipped == n and again.processed == 0
    finally:
        server.terminate()
        server.join()
    alone = sorted(t[0] for t in timings)[len(timings) // 2]  # medians
    ours = sorted(t[1] for t in timings)[len(timings) // 2]
    print(json.dumps({
        "candidates": n, "concurrency": CONCURRENCY, "latency_s": 0, "rounds": rounds,
        "gateway_alone_req_s": round(n / alone), "step_items_s": round(n / ours),
        "ratio_step_vs_gateway": round(alone / ours, 2), "target_items_s": 500,
        "step_overhead_us_per_item": round((ours - alone) / n * 1e6),
        "all_s": {"gateway": [round(t[0], 2) for t in timings], "step": [round(t[1], 2) for t in timings]},
        "rerun_all_skipped_s": round(rerun, 2),
    }))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3000)
