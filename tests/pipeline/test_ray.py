"""The Ray executor on a local Ray instance started by the test: same outcomes as the process pool."""

from __future__ import annotations

import pytest

from tests.pipeline.steps_for_tests import Words, WordsConfig, seed_scenarios
from videokr.pipeline.executors import ProcessExecutor, RayExecutor
from videokr.pipeline.runner import run_step
from videokr.store import Store

ray = pytest.importorskip("ray", reason="the ray extra: pip install 'videokr[ray]' (CI installs it)")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


def test_ray_executor_matches_the_process_pool(tmp_path, local_ray) -> None:
    texts = {f"s{i:03d}": f"alpha beta {i}" for i in range(60)}
    pool_store, ray_store = Store(tmp_path / "pool.sqlite"), Store(tmp_path / "ray.sqlite")
    for store in (pool_store, ray_store):
        seed_scenarios(store, texts)
    config = WordsConfig(reject=["alpha beta 7"])
    run_step(pool_store, Words(config), executor=ProcessExecutor(2))
    report = run_step(ray_store, Words(config), executor=RayExecutor(window=8), commit_every=5)
    assert report.executor == "ray" and report.counts == {"accepted": 59, "rejected": 1, "quarantined": 0}
    live = lambda s: {r.id: r.text for r in s.live_outputs("words", "search_keyword")}  # noqa: E731
    assert live(ray_store) == live(pool_store)
    assert ray_store.ledger_get("words", "s007").code == "not_allowed"
    # a worker that dies is a quarantine, never a lost item or a broken run
    seed_scenarios(ray_store, {**texts, "z": "boom"})
    crash = run_step(ray_store, Words(WordsConfig(reject=["alpha beta 7"], crash_on="boom")), executor=RayExecutor())
    assert crash.counts["quarantined"] == 1 and ray_store.ledger_get("words", "z").code == "worker_died"


def test_executor_ray_in_a_step_section_runs_the_probe_on_ray(tmp_path, local_ray, sample) -> None:
    from videokr.pipeline.step import StepContext
    from videokr.records import Video
    from videokr.steps.probe import ProbeStep

    step = ProbeStep(ProbeStep.Config(executor="ray"), StepContext(root=tmp_path, video_root=sample))
    videos = [Video(id=p.stem, path=str(p)) for p in sorted((sample / "Videos").rglob("*.mp4"))[:6]]
    store = Store(tmp_path / "ws.sqlite")
    report = run_step(store, step, items=videos)
    assert report.executor == "ray" and report.counts["accepted"] == 6
    assert {p.id for p in store.live_outputs("probe", "video_probe")} == {v.id for v in videos}
