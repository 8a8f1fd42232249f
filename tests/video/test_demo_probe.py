"""The demo probes the sample videos, so its statistics report their durations."""

from __future__ import annotations

import json
from pathlib import Path

from videokr.demo import run_demo


def test_demo_stats_have_durations(tmp_path: Path) -> None:
    outputs = run_demo(tmp_path / "d")
    stats = json.loads(outputs["report"].with_suffix(".json").read_text())
    duration = stats["video_duration_s"]
    assert duration["videos_with_duration"] > 0
    assert sum(duration["histogram"].values()) == duration["videos_with_duration"]
    assert duration["summary"]["min"] > 0
    # a rerun skips the probing already done
    run_demo(tmp_path / "d")
