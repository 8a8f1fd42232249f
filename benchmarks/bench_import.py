"""Import throughput: `videokr import` of N official-format lines into a fresh store, against a
baseline that only parses the same lines with `json.loads` (the floor any importer pays).

    python benchmarks/bench_import.py [N]     # default 100,000
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
import time
from pathlib import Path

from videokr.steps.importing import import_file
from videokr.store import Store


def make_lines(n: int, path: Path) -> None:
    rng = random.Random(0)
    with path.open("w", encoding="utf-8") as handle:
        for i in range(n):
            row = {"problem_id": f"p{i}", "question": f"In the clip, what happens at 00:{i % 60:02d}? " * 3,
                   "video_path": f"Videos/v{i // 6}.mp4", "subject": "Physics", "discipline": "Natural Sciences",
                   "skill": ["VidR", "KnowVid", "KnowVidR"][i % 3],
                   "think": "<think>" + "I watch the video and reason step by step. " * 12 + "</think>"}
            if i % 2:
                row.update(problem_type="multiple choice", options=[f"{c}. option {c}" for c in "ABCD"],
                           solution=f"<answer>{rng.choice('ABCD')}</answer>")
            else:
                row.update(problem_type="open-ended", solution="<answer>42 N</answer>")
            handle.write(json.dumps(row) + "\n")


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "lines.jsonl"
        make_lines(n, path)
        t0 = time.perf_counter()
        with path.open() as handle:
            parsed = [json.loads(line) for line in handle]
        baseline = time.perf_counter() - t0
        assert len(parsed) == n
        store = Store(Path(tmp) / "videokr.sqlite")
        t0 = time.perf_counter()
        report = import_file(store, path, "sft")
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        again = import_file(store, path, "sft")
        second = time.perf_counter() - t0
        assert report.step.counts["accepted"] == n and again.step.skipped == n
        print(json.dumps({
            "lines": n,
            "baseline_json_loads_s": round(baseline, 2),
            "import_s": round(first, 2),
            "import_lines_per_s": round(n / first),
            "reimport_noop_s": round(second, 2),
            "import_over_baseline": round(first / baseline, 1),
            "store_mb": round(store.path.stat().st_size / 2**20, 1),
        }))


if __name__ == "__main__":
    main()
