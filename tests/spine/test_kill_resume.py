"""A multi-step run (import → split → export) killed with SIGKILL at random points, then resumed.

After the final run the store opens, every step's totals add up, and no import line was
processed twice: a line is committed together with its ledger row, so a rerun skips it,
and the ledger's `attempts` column would show any second processing.
"""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from videokr.store import Store

pytestmark = pytest.mark.slow


def write_corpus(path: Path, n: int) -> None:
    with path.open("w") as handle:
        for i in range(n):
            row = {"problem_id": f"p{i}", "problem_type": "open-ended", "question": f"question {i}",
                   "solution": f"<answer>{i}</answer>", "think": "because " * 20, "video_path": f"v{i // 6}.mp4",
                   "subject": f"s{i % 7}", "discipline": "Engineering"}
            if i % 97 == 0:
                handle.write("{not json\n")
                continue
            handle.write(json.dumps(row) + "\n")


def pipeline_command(ws: Path, data: Path, out: Path) -> list[str]:
    videokr = [sys.executable, "-m", "videokr.cli.main", "-w", str(ws)]
    steps = [
        videokr + ["import", str(data), "--set", "sft"],
        videokr + ["split", "--seed", "4"],
        videokr + ["export", "--set", "sft", "--format", "jsonl", "--out", str(out)],
        videokr + ["export", "--set", "rl", "--format", "verl", "--out", str(out / "verl")],
    ]
    return ["bash", "-c", " && ".join(" ".join(f"'{a}'" for a in step) for step in steps)]


def test_kill_at_random_points_then_resume(tmp_path):
    n = 30_000
    data = tmp_path / "data.jsonl"
    write_corpus(data, n)
    ws = tmp_path / "ws"
    subprocess.run([sys.executable, "-m", "videokr.cli.main", "init", str(ws)], check=True, capture_output=True)
    # the files name no real videos: a recipe of the verbs' steps without probing and decontamination
    config = ws / "videokr.yaml"
    config.write_text(config.read_text().replace("- videos\n- probe\n- decontam\n", ""))
    out = tmp_path / "out"
    command = pipeline_command(ws, data, out)
    rng = random.Random(1)
    kills = 0
    for _ in range(5):
        proc = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.8, 4.0))
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            kills += 1
        proc.wait()
        Store(ws / "videokr.sqlite").ledger_summary()  # opens after every kill
    assert kills >= 3
    final = subprocess.run(command, capture_output=True, text=True)
    assert final.returncode == 0, final.stderr

    store = Store(ws / "videokr.sqlite")
    summary = store.ledger_summary()
    bad = len(range(0, n, 97))
    assert summary["import"] == {"accepted": n - bad, "rejected": bad, "quarantined": 0, "in": n}
    assert summary["split"]["in"] == n - bad == store.count("example")
    attempts = store.execute("SELECT max(attempts) FROM ledger WHERE step='import'").fetchone()[0]
    assert attempts == 1, "an import line was processed twice"
    exported = (out / "videokr-sft.jsonl").read_text().count("\n")
    rl = store.execute("SELECT count(*) FROM items WHERE kind='split_assignment' AND json_extract(data,'$.set')='rl'")
    assert exported + rl.fetchone()[0] == n - bad
    assert (out / "verl" / "train.parquet").is_file()
