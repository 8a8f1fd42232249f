"""The runner's cost, each figure a ratio against a baseline run side by side in this process.

    python benchmarks/bench_pipeline.py overhead [N]      # empty step, N items (default 100,000)
    python benchmarks/bench_pipeline.py ray [VIDEOS]      # probe step: Ray executor vs the process pool
    python benchmarks/bench_pipeline.py model [N]         # a model step on the runner vs the gateway alone

overhead: `run_step` of a step that returns one small record per item (ledger + lineage +
record per item, committed in groups), against the loop a user would write by hand: call the
function, INSERT the record and an outcome row, commit every 500 — same SQLite file settings.

model: a model-bound step (one chat request per item) run by `run_step` on the async
executor, with the store (cache, ledger, lineage), against the gateway alone with the same
store and concurrency (`asyncio.gather` of `gateway.call`: today's path of `videokr llm run`),
both against a zero-latency loopback server in its own process; then the same step against a
server that answers after 1 s, at concurrency 64, against the ideal requests × latency /
concurrency (a window with no idle slot).

ray: the `probe` step (decode the container, hash the file) over real videos made with PyAV,
with `executor: ray` on a local Ray instance against `executor: process` with as many workers.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from videokr.pipeline.executors import LocalExecutor, ProcessExecutor, RayExecutor
from videokr.pipeline.runner import run_step
from videokr.pipeline.step import Result, Step, StepContext
from videokr.records import Scenario
from videokr.store import Store


class Echo(Step[int]):
    name = "echo"

    def inputs(self, store: Store):  # noqa: ANN201
        return range(self.n)

    def item_id(self, item: int) -> str:
        return str(item)

    def item_fingerprint(self, item: int) -> str:
        return str(item)

    def process(self, item: int) -> Result:
        return Result.accept(Scenario(id=f"s{item}", knowledge_point_id="kp", text="x"))


def baseline(path: Path, n: int) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE items (kind TEXT, id TEXT, data TEXT, PRIMARY KEY (kind, id))")
    conn.execute("CREATE TABLE ledger (step TEXT, item_id TEXT, outcome TEXT, PRIMARY KEY (step, item_id))")
    start = time.perf_counter()
    conn.execute("BEGIN")
    for i in range(n):
        record = Scenario(id=f"s{i}", knowledge_point_id="kp", text="x")
        conn.execute("INSERT INTO items VALUES (?,?,?)", (record.kind, record.id, record.to_json()))
        conn.execute("INSERT INTO ledger VALUES ('echo', ?, 'accepted')", (str(i),))
        if i % 500 == 499:
            conn.execute("COMMIT")
            conn.execute("BEGIN")
    conn.execute("COMMIT")
    return time.perf_counter() - start


def overhead(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        base = baseline(Path(tmp) / "base.sqlite", n)
        store = Store(Path(tmp) / "runner.sqlite")
        step = Echo()
        step.n = n  # type: ignore[attr-defined]
        start = time.perf_counter()
        report = run_step(store, step, executor=LocalExecutor())
        ours = time.perf_counter() - start
        assert report.counts["accepted"] == n
        start = time.perf_counter()
        again = run_step(store, step)
        rerun = time.perf_counter() - start
        assert again.skipped == n
    print(json.dumps({
        "items": n, "baseline_s": round(base, 2), "runner_s": round(ours, 2),
        "runner_us_per_item": round(ours / n * 1e6, 1), "baseline_us_per_item": round(base / n * 1e6, 1),
        "ratio_runner_vs_baseline": round(ours / base, 2), "rerun_all_skipped_s": round(rerun, 2),
    }))


class HashFrames(Step[Any]):
    """A video-bound step: decode every frame at 1 fps and pHash it (the work of decontamination)."""

    name = "hash_frames"

    def process(self, item: Any) -> Result:
        from videokr.video.phash import hash_video

        _, hashes = hash_video(item.path, fps=1.0)
        return Result.accept(detail={"frames": len(hashes)})


def ray_vs_pool(videos: int) -> None:
    import ray

    from videokr.records import Video
    from videokr.video.synth import scene_frames, write_video

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        made = [write_video(root / f"src{i}.mp4", scene_frames(i, 60, fps=25, width=480, height=270), fps=25, gop=125)
                for i in range(min(videos, 6))]
        items = []
        for i in range(videos):  # copies of a few encodes: the step decodes each item anew
            path = root / f"v{i}.mp4"
            path.write_bytes(made[i % len(made)].read_bytes())
            items.append(Video(id=f"v{i}", path=str(path)))
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
        timings: dict[str, list[float]] = {"process": [], "ray": []}
        for round_ in range(3):  # alternate, so that machine noise hits both alike
            for name, executor in (("process", ProcessExecutor(2)), ("ray", RayExecutor(workers=2))):
                store = Store(root / f"{name}{round_}.sqlite")
                step = HashFrames(context=StepContext(root=root))
                start = time.perf_counter()
                report = run_step(store, step, items=items, executor=executor)
                timings[name].append(time.perf_counter() - start)
                assert report.counts["accepted"] == videos, report.counts
        ray.shutdown()
    pool = sorted(timings["process"])[1]  # medians of three
    on_ray = sorted(timings["ray"])[1]
    print(json.dumps({"videos": videos, "step": "1 fps decode + pHash of 60 s 480x270 H.264",
                      "process_pool_s": round(pool, 2), "ray_s": round(on_ray, 2),
                      "ray_overhead": f"{on_ray / pool - 1:+.1%}", "all_s": {k: [round(x, 2) for x in v] for k, v in timings.items()},
                      "note": "medians of 3 alternating rounds; the pool starts its workers each run, Ray once"}))


def _server(latency: float) -> tuple[object, str]:
    import socket
    import subprocess

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    args = [sys.executable, "-m", "videokr.testing.openai_server", "--port", str(port), "--no-events"]
    if latency:
        args += ["--latency", str(latency)]
    server = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    server.stdout.readline()
    return server, f"http://127.0.0.1:{port}/v1"


def model_throughput(n: int) -> None:
    import asyncio

    from videokr.models.config import Limits, ModelConfig
    from videokr.models.gateway import Gateway
    from videokr.models.step import ModelStep
    from videokr.pipeline.executors import AsyncExecutor

    class Ask(ModelStep[int]):
        name = "ask"

        def inputs(self, store: Store):  # noqa: ANN202
            return range(self.n)

        def item_id(self, item: int) -> str:
            return str(item)

        def item_fingerprint(self, item: int) -> str:
            return f"{self.tag}{item}"

        async def ask(self, item: int, gateway: Gateway) -> Result:
            body = {"model": "bench", "messages": [{"role": "user", "content": f"{self.tag} question {item}"}],
                    "max_tokens": 8}
            reply = await gateway.call("m", body, step=self.name)
            return Result.accept(detail={"chars": len(reply.content or "")})

    def step(tag: str, count: int, models: dict, store: Store) -> Ask:
        made = Ask(context=StepContext(settings={"models": models}, store=store))
        made.n, made.tag = count, tag  # type: ignore[attr-defined]
        return made

    async def gateway_alone(models: dict, store: Store, count: int) -> float:
        async with Gateway(models, store) as gateway:
            start = time.perf_counter()
            await asyncio.gather(*(gateway.call("m", {"model": "bench", "messages": [
                {"role": "user", "content": f"gateway question {i}"}], "max_tokens": 8}, step="bench")
                for i in range(count)))
            return time.perf_counter() - start

    results: dict[str, object] = {"requests": n}
    with tempfile.TemporaryDirectory() as tmp:
        server, url = _server(0.0)
        try:
            models = {"m": ModelConfig(base_url=url, model="bench", limits=Limits(concurrency=64))}
            asyncio.run(gateway_alone(models, Store(Path(tmp) / "warm.sqlite"), 500))
            alone = asyncio.run(gateway_alone(models, Store(Path(tmp) / "g.sqlite"), n))
            store = Store(Path(tmp) / "r.sqlite")
            start = time.perf_counter()
            report = run_step(store, step("runner", n, models, store), executor=AsyncExecutor(64))
            ours = time.perf_counter() - start
            assert report.counts["accepted"] == n, report.counts
        finally:
            server.terminate()
            server.wait()
        results.update(gateway_alone_req_s=round(n / alone), runner_req_s=round(n / ours),
                       ratio_runner_vs_gateway=round(alone / ours, 2))
        server, url = _server(1.0)
        try:
            slow = 640
            models = {"m": ModelConfig(base_url=url, model="bench", limits=Limits(concurrency=64))}
            store = Store(Path(tmp) / "slow.sqlite")
            start = time.perf_counter()
            report = run_step(store, step("slow", slow, models, store), executor=AsyncExecutor(64))
            wall = time.perf_counter() - start
            assert report.counts["accepted"] == slow, report.counts
        finally:
            server.terminate()
            server.wait()
        ideal = slow * 1.0 / 64
        results.update(latency_1s_requests=slow, latency_1s_wall_s=round(wall, 2), ideal_s=ideal,
                       wall_over_ideal=f"{wall / ideal - 1:+.1%}")
    print(json.dumps(results))


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else "overhead"
    if what == "overhead":
        overhead(int(sys.argv[2]) if len(sys.argv) > 2 else 100_000)
    elif what == "ray":
        ray_vs_pool(int(sys.argv[2]) if len(sys.argv) > 2 else 40)
    elif what == "model":
        model_throughput(int(sys.argv[2]) if len(sys.argv) > 2 else 5000)
    else:
        raise SystemExit(f"unknown benchmark {what!r}: overhead | ray | model")
