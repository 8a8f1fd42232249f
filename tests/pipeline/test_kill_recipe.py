"""`kill -9` at 20 random instants of a multi-step recipe against a faulty loopback provider.

The recipe (import → keywords, a model-bound step → split → export) runs in a subprocess that
is killed with SIGKILL at random moments, then rerun until it finishes. The provider answers
with 10% 429, 5% 500, 2% timeouts and 5% malformed bodies. After the reruns: exports and live
records are byte-identical to an uninterrupted run's, no request whose reply was stored was
sent again, and every step accounts for each item it took in.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.pipeline.model_steps import keywords_reply
from videokr.store import Store
from videokr.testing import FaultRates, TestServer, body_fingerprint

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
N_LINES = 600
LATENCY_S = 0.3  # per request: a run takes ~12 s, so kills land in every phase of it
KILLS = 20


def write_data(path: Path) -> None:
    rng = random.Random(3)
    lines = []
    for i in range(N_LINES):
        words = " ".join(rng.choice(["force", "torque", "enzyme", "ledger", "voltage", "erosion"]) for _ in range(5))
        lines.append(json.dumps({"problem_id": f"p{i}", "problem_type": "open-ended", "question": f"Why {words} {i}?",
                                 "solution": f"<answer>{i}</answer>", "think": "I watch. " * 5,
                                 "video_path": f"v/{i // 4}.mp4", "subject": f"s{i % 5}",
                                 "discipline": "Engineering"}))
        if i % 97 == 0:
            lines.append("{broken")
    path.write_text("\n".join(lines) + "\n")


def make_workspace(root: Path, server: TestServer) -> Path:
    root.mkdir(parents=True)
    write_data(root / "data.jsonl")
    config = {
        "recipe": ["import", "keywords", "split", "export"],
        "models": {"loop": {"base_url": server.base_url, "model": "loop", "api_key_env": "VIDEOKR_TEST_KEY",
                            "limits": {"concurrency": 16, "timeout_s": 0.8, "max_attempts": 6,
                                       "backoff_base_s": 0.01, "backoff_max_s": 0.05}}},
        "steps": {
            "import": {"sources": [{"path": "data.jsonl", "kind": "sft"}]},
            "keywords": {"uses": "tests.pipeline.model_steps:KeywordsStep", "concurrency": 16},
            "export": {"targets": {"sft": ["jsonl", "llamafactory"], "rl": ["jsonl"]}},
        },
    }
    (root / "videokr.yaml").write_text(yaml.safe_dump(config))
    return root


def command(ws: Path) -> list[str]:
    return [sys.executable, "-m", "videokr.cli.main", "-w", str(ws), "run"]


def environment() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "VIDEOKR_TEST_KEY": "sk-test"}


def run_to_completion(ws: Path, attempts: int = 10) -> None:
    for _ in range(attempts):
        done = subprocess.run(command(ws), env=environment(), capture_output=True, text=True, timeout=300)
        if done.returncode == 0:
            return
        assert "quarantined" in done.stderr, done.stderr  # only transient failures may remain
    raise AssertionError(f"{ws}: still not done after {attempts} runs")


def outputs(ws: Path) -> dict[str, bytes]:
    """Everything the recipe produced: export files and the live records of every step."""
    found = {str(p.relative_to(ws)): p.read_bytes() for p in sorted((ws / "exports").rglob("*")) if p.is_file()}
    store = Store(ws / "videokr.sqlite")
    for step, kind in (("import", "example"), ("keywords", "search_keyword"), ("split", "split_assignment")):
        found[f"{step}/{kind}"] = "\n".join(r.to_json() for r in store.live_outputs(step, kind)).encode()
    return found


def stored_requests(ws: Path) -> set[str]:
    """Server-side fingerprints of the requests whose replies the cache holds."""
    store = Store(ws / "videokr.sqlite")
    try:
        rows = store.execute("SELECT request FROM model_calls WHERE state='done'").fetchall()
    except Exception:  # the cache table does not exist before the first model call
        return set()
    return {body_fingerprint(json.loads(request)) for (request,) in rows}


def test_kill_nine_at_random_instants_then_rerun(tmp_path: Path) -> None:
    rates = FaultRates(p429=0.10, p500=0.05, ptimeout=0.02, pmalformed=0.05)
    with TestServer(rates=rates, responder=keywords_reply, seed=1, timeout_delay_s=1.0,
                    latency_s=LATENCY_S) as reference_server:
        reference = make_workspace(tmp_path / "reference", reference_server)
        run_to_completion(reference)
    expected = outputs(reference)
    assert expected["keywords/search_keyword"] and expected["exports/sft-jsonl/videokr-sft.jsonl"]

    rng = random.Random(7)
    with TestServer(rates=rates, responder=keywords_reply, seed=2, timeout_delay_s=1.0, latency_s=LATENCY_S) as server:
        ws = make_workspace(tmp_path / "killed", server)
        snapshots: list[tuple[int, set[str]]] = []
        kills = 0
        while kills < KILLS:
            proc = subprocess.Popen(command(ws), env=environment(), start_new_session=True,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(rng.uniform(0.2, 1.4))
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                kills += 1
            proc.wait()
            Store(ws / "videokr.sqlite").ledger_summary()  # the store opens after every kill
            snapshots.append((len(server.stats.events), stored_requests(ws)))
            if proc.returncode == 0:  # it finished before the kill: start over to keep killing mid-run
                Store(ws / "videokr.sqlite").forget_step("keywords")
        run_to_completion(ws)
        events = list(server.stats.events)

    assert kills == KILLS
    partial = [len(stored) for _, stored in snapshots if 0 < len(stored) < N_LINES]
    assert len(partial) >= 5, partial  # kills landed while the model step was half done
    # 0 requests re-sent after their reply was stored
    resent = {e.fingerprint for start, stored in snapshots for e in events[start:] if e.fingerprint in stored}
    assert resent == set()
    # byte-identical outputs
    assert outputs(ws) == expected
    # every step accounts for every item it took in, and nothing is left pending
    funnel = subprocess.run(command(ws)[:-1] + ["status", "--funnel", "--json"], env=environment(),
                            capture_output=True, text=True, check=True)
    for row in json.loads(funnel.stdout)["steps"]:
        assert row["in"] == row["accepted"] + row["rejected"] + row["quarantined"], row
        assert row["quarantined"] == 0 and row["pending"] == 0, row
    assert stored_requests(ws)  # the mapping from cache rows to server fingerprints is live
