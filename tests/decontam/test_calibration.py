"""The generated labelled set: what the paper's rule and the calibrated one do on it.

Full figures (8 benchmark videos, 40 planted copies, 20 hard negatives) come from
benchmarks/calibrate_decontam.py and are in docs/video.md; this runs a smaller set.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from videokr.decontam.cache import HashCache
from videokr.decontam.calibration import TRANSFORMS, build_calibration_set, score, transform_frames
from videokr.decontam.run import VideoRef, decontaminate, flags
from videokr.decontam.settings import CALIBRATED, PAPER
from videokr.store import Store
from videokr.video.synth import scene_frames


def test_transforms_keep_size() -> None:
    frames = list(scene_frames(0, 1, fps=2))
    for t in TRANSFORMS:
        out = transform_frames(frames, t)
        assert len(out) == len(frames) and out[0].shape == frames[0].shape and out[0].dtype == frames[0].dtype
    with pytest.raises(ValueError, match="unknown transform"):
        transform_frames(frames, "mirror")


@pytest.mark.slow
def test_paper_and_calibrated_settings_on_generated_set(tmp_path: Path) -> None:
    cset = build_calibration_set(tmp_path, bench_per_style=2, negatives_per_style=5, seed=1)
    cache = HashCache(Store(tmp_path / "c.sqlite"))
    bench = [VideoRef(i, str(p)) for i, p in cset.bench]
    train = [VideoRef(t.id, str(t.path)) for t in cset.train]
    results = {}
    for s in (PAPER, CALIBRATED):
        found = set(flags(decontaminate(train, bench, settings=s, cache=cache, workers=2)))
        hit = Counter(t.transform for t in cset.train if t.bench_id and (t.id, t.bench_id) in found)
        results[s.name] = (score(cset, found, s), hit)
    paper, paper_hit = results["paper"]
    calibrated, calibrated_hit = results["calibrated"]
    # copies that keep the picture geometry are all found by both
    for transform in ("reencode", "rescale", "brightness"):
        assert paper_hit[transform] == 4 and calibrated_hit[transform] == 4, transform
    # the calibrated rule never flags a hard negative; the paper's is looser
    assert calibrated.negatives_flagged == 0
    assert paper.negatives_flagged >= calibrated.negatives_flagged
