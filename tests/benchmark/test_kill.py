"""`kill -9` in the middle of `videokr benchmark build`, then reruns: nothing answered is asked again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.benchmark.test_build import build_args
from tests.benchmark.world import Model, make_workspace, write_sources
from videokr.steps.benchmark import live_benchmark
from videokr.steps.frame_probe import PROBE_MODELS
from videokr.store import Store
from videokr.testing import TestServer, body_fingerprint

REPO = Path(__file__).resolve().parents[2]
KILLS = 3


def command(args: list[object]) -> list[str]:
    return [sys.executable, "-m", "videokr.cli.main", *(str(a) for a in args)]


def stored_requests(ws: Path) -> set[str]:
    """Server-side fingerprints of the requests whose replies the store holds."""
    try:
        rows = Store(ws / "videokr.sqlite").execute("SELECT request FROM model_calls WHERE state='done'").fetchall()
    except Exception:  # no model call yet: the cache table does not exist
        return set()
    return {body_fingerprint(json.loads(request)) for (request,) in rows}


def test_kill_nine_while_probing_then_rerun(tmp_path: Path) -> None:
    sources = write_sources(tmp_path / "bench")
    model = Model()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with TestServer(responder=model, latency_s=0.1) as server:
        ws = make_workspace(tmp_path, server)
        args = command(build_args(ws, sources))
        snapshots: list[tuple[int, set[str]]] = []
        kills = 0
        while kills < KILLS:
            proc = subprocess.Popen(args, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            target = len(stored_requests(ws)) + 6  # kill once a few more replies are stored
            deadline = time.monotonic() + 60
            while proc.poll() is None and len(stored_requests(ws)) < target and time.monotonic() < deadline:
                time.sleep(0.02)
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            kills += 1
            snapshots.append((len(server.stats.events), stored_requests(ws)))
        done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        events = list(server.stats.events)

    partial = [len(stored) for _, stored in snapshots if 0 < len(stored) < 8 * 9]
    assert partial, snapshots  # the kills landed while probing was half done
    for count, stored in snapshots:  # no request whose reply was stored was sent again
        again = [e.fingerprint for e in events[count:] if e.fingerprint in stored]
        assert again == [], again
    store = Store(ws / "videokr.sqlite")
    solvable = model.solvable()
    questions = {q for q, _ in solvable}
    assert len(questions) == 8
    retained = {q for q in questions if not any(solvable[q, m] for m in PROBE_MODELS)}
    assert {i.question for i in live_benchmark(store)} == retained
    for step in ("benchmark_sources", "frame_probe", "benchmark"):
        assert all(e.outcome.value != "quarantined" for e in store.ledger_entries(step))
