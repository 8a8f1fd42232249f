"""The generated labelled set: what the paper's rule and the calibrated one do on it.

The full set (24 benchmark videos, 120 planted copies, 50 hard negatives) runs in the slow
test; benchmarks/calibrate_decontam.py prints the same figures with a grid around them
(docs/video.md).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from videokr.decontam.cache import HashCache
from videokr.decontam.calibration import (
    CROP_PER_SIDE,
    LETTERBOX_HEIGHT,
    TRANSFORMS,
    build_calibration_set,
    recall_by_transform,
    score,
    transform_frames,
)
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
    assert CROP_PER_SIDE == (0.06, 0.12) and LETTERBOX_HEIGHT == (0.70, 0.80)


def test_scores_count_videos_and_pairs(tmp_path: Path) -> None:
    from videokr.decontam.calibration import CalibrationSet, TrainVideo

    p = tmp_path / "x.mp4"
    cset = CalibrationSet(
        [("A", p), ("B", p)],
        [TrainVideo("pa", p, "A", "crop"), TrainVideo("pb", p, "B", "letterbox"), TrainVideo("n", p, None, None)],
    )
    sc = score(cset, [("pa", "A"), ("pa", "B"), ("n", "A")], PAPER)
    assert (sc.true_positives, sc.false_positives, sc.false_negatives) == (1, 2, 1)
    assert (sc.videos_flagged, sc.negatives_flagged, sc.negatives) == (2, 1, 1)
    assert sc.precision == 0.5 and sc.pair_precision == 1 / 3 and sc.recall == 0.5
    assert recall_by_transform(cset, [("pa", "A")]) == {"crop": (1, 1), "letterbox": (0, 1)}


def _run(cset, tmp_path: Path, settings):
    cache = HashCache(Store(tmp_path / "c.sqlite"))
    bench = [VideoRef(i, str(p)) for i, p in cset.bench]
    train = [VideoRef(t.id, str(t.path)) for t in cset.train]
    found = set(flags(decontaminate(train, bench, settings=settings, cache=cache, workers=2)))
    return score(cset, found, settings), recall_by_transform(cset, found)


def test_calibrated_finds_cropped_and_letterboxed_copies(tmp_path: Path) -> None:
    cset = build_calibration_set(
        tmp_path, bench_per_style=1, transforms=("crop", "letterbox"), negatives_per_style=1, seed=3
    )
    sc, by_transform = _run(cset, tmp_path, CALIBRATED)
    assert by_transform == {"crop": (2, 2), "letterbox": (2, 2)}
    assert sc.negatives_flagged == 0


@pytest.mark.slow
def test_full_calibration_set(tmp_path: Path) -> None:
    cset = build_calibration_set(tmp_path)  # the default set: the figures in docs/video.md
    assert sum(t.bench_id is not None for t in cset.train) == 120
    calibrated, by_transform = _run(cset, tmp_path, CALIBRATED)
    assert calibrated.recall >= 0.99 and calibrated.negatives_flagged == 0 and calibrated.precision == 1.0
    assert all(hit >= total - 1 for hit, total in by_transform.values())
    paper, paper_by_transform = _run(cset, tmp_path, PAPER)
    # the paper's rule is loose (same-style negatives match) and blind to crops
    assert paper.negatives_flagged >= 10 and paper_by_transform["crop"][0] < 12
    for transform in ("reencode", "rescale", "brightness"):
        assert paper_by_transform[transform] == (24, 24)
