"""The runner's cost, each figure a ratio against a baseline run side by side in this process.

    python benchmarks/bench_pipeline.py overhead [N]      # empty step, N items (default 100,000)
    python benchmarks/bench_pipeline.py ray [VIDEOS]      # probe step: Ray executor vs the process pool

overhead: `run_step` of a step that returns one small record per item (ledger + lineage +
record per item, committed in groups), against the loop a user would write by hand: call the
function, INSERT the record and an outcome row, commit every 500 — same SQLite file settings.

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


def ray_vs_pool(videos: int) -> None:
    import ray

    from videokr.records import Video
    from videokr.steps.probe import ProbeStep
    from videokr.video.synth import scene_frames, write_video

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        items = []
        for i in range(videos):
            path = write_video(root / f"v{i}.mp4", scene_frames(i, 60, fps=10, width=320, height=180), fps=10, gop=50)
            items.append(Video(id=f"v{i}", path=str(path)))
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
        timings = {}
        for name, executor in (("process", ProcessExecutor(2)), ("ray", RayExecutor(workers=2)),
                               ("process_again", ProcessExecutor(2)), ("ray_again", RayExecutor(workers=2))):
            store = Store(root / f"{name}.sqlite")
            step = ProbeStep(context=StepContext(root=root))
            start = time.perf_counter()
            report = run_step(store, step, items=items, executor=executor)
            timings[name] = time.perf_counter() - start
            assert report.counts["accepted"] == videos, report.counts
        ray.shutdown()
    pool = min(timings["process"], timings["process_again"])
    on_ray = min(timings["ray"], timings["ray_again"])
    print(json.dumps({"videos": videos, "process_pool_s": round(pool, 2), "ray_s": round(on_ray, 2),
                      "ray_overhead": f"{on_ray / pool - 1:+.1%}", "all_s": {k: round(v, 2) for k, v in timings.items()}}))


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else "overhead"
    if what == "overhead":
        overhead(int(sys.argv[2]) if len(sys.argv) > 2 else 100_000)
    elif what == "ray":
        ray_vs_pool(int(sys.argv[2]) if len(sys.argv) > 2 else 40)
    else:
        raise SystemExit(f"unknown benchmark {what!r}: overhead | ray")
