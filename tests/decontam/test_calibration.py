"""The generated labelled set (six footage styles) and what the settings do on it.

A subset with one benchmark video per style, every transform and two hard negatives per
style runs here (the default setting must find every copy and flag no negative); the full
set (36 benchmark videos, 180 planted copies, 60 hard negatives) runs in the slow test.
benchmarks/calibrate_decontam.py prints the same figures with a grid around them
(docs/video.md).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from videokr.decontam.cache import HashCache
from videokr.decontam.calibration import (
    BENCH_SECONDS,
    BRIGHTNESS_SHIFT,
    CROP_PER_SIDE,
    FPS,
    LETTERBOX_HEIGHT,
    STYLES,
    TRANSFORMS,
    CalibrationSet,
    build_calibration_set,
    recall_by_transform,
    score,
    transform_frames,
)
from videokr.decontam.run import VideoRef, decontaminate, flags
from videokr.decontam.settings import CALIBRATED, DEFAULT_SETTINGS, PAPER, SETTINGS
from videokr.store import Store
from videokr.video.synth import FOOTAGE_STYLES, scene_frames


def test_transforms_keep_size() -> None:
    frames = list(scene_frames(0, 1, fps=2))
    for t in TRANSFORMS:
        out = transform_frames(frames, t)
        assert len(out) == len(frames) and out[0].shape == frames[0].shape and out[0].dtype == frames[0].dtype
    with pytest.raises(ValueError, match="unknown transform"):
        transform_frames(frames, "mirror")
    assert CROP_PER_SIDE == (0.06, 0.12) and LETTERBOX_HEIGHT == (0.70, 0.80) and BRIGHTNESS_SHIFT == (25, 40)
    grey = np.full((4, 4, 3), 100, np.uint8)
    assert transform_frames([grey], "brightness", -25)[0].max() == 75
    assert transform_frames([grey], "brightness", 25)[0].min() == 125


def test_footage_styles() -> None:
    """Seeded, the calibration size, and as still as each style should be: mean change from
    one second to the next (static shots and screen recordings barely move, scenes do)."""
    assert STYLES == ("scene", "drift", "slow_motion", "screen", "static", "slides") == tuple(FOOTAGE_STYLES)
    change = {}
    for name, frames_of in FOOTAGE_STYLES.items():
        frames = list(frames_of(7, 4, fps=FPS))
        assert len(frames) == 4 * FPS and frames[0].shape == (72, 128, 3) and frames[0].dtype == np.uint8
        assert all(np.array_equal(a, b) for a, b in zip(frames, frames_of(7, 4, fps=FPS)))
        assert not np.array_equal(frames[0], list(frames_of(8, 1, fps=FPS))[0])
        change[name] = float(np.mean([np.abs(frames[i].astype(int) - frames[i + FPS]).mean() for i in range(0, 2 * FPS, FPS)]))
    assert change["static"] < 8 and change["screen"] < 2 and change["slides"] < 2 and change["slow_motion"] < 2
    assert change["drift"] < change["scene"] and change["slow_motion"] < change["scene"]
    with pytest.raises(ValueError, match="unknown footage style"):
        build_calibration_set(Path("."), styles=("cartoon",))


def test_scores_count_videos_and_pairs(tmp_path: Path) -> None:
    from videokr.decontam.calibration import TrainVideo

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


def test_default_setting_is_calibrated_and_paper_stays_by_name() -> None:
    from videokr.steps.decontam import DecontamConfig

    assert DEFAULT_SETTINGS == "calibrated" and SETTINGS[DEFAULT_SETTINGS] is CALIBRATED
    assert DecontamConfig().settings == DEFAULT_SETTINGS
    assert SETTINGS["paper"] is PAPER and PAPER.min_pictures == 1 and not PAPER.pictures_shown_cap


@pytest.fixture(scope="module")
def subset(tmp_path_factory: pytest.TempPathFactory) -> tuple[CalibrationSet, HashCache]:
    root = tmp_path_factory.mktemp("calibration")
    cset = build_calibration_set(root, bench_per_style=1, negatives_per_style=2, seed=0)
    return cset, HashCache(Store(root / "cache.sqlite"))


def _decode(path: Path) -> np.ndarray:
    import av

    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def test_subset_labels(subset: tuple[CalibrationSet, HashCache]) -> None:
    """Every copy is where its label says: the planted stretch of the training video shows the
    labelled stretch of its benchmark video (re-encoded copies are compared pixel by pixel:
    closer there than a few frames either way), and no negative names a benchmark video."""
    cset, _ = subset
    assert [b for b, _ in cset.bench] == [f"bench-{s}-0" for s in STYLES]
    positives = [t for t in cset.train if t.bench_id is not None]
    assert sorted((t.bench_id, t.transform) for t in positives) == sorted(
        (f"bench-{s}-0", t) for s in STYLES for t in TRANSFORMS
    )
    assert sum(t.bench_id is None and t.transform is None for t in cset.train) == 2 * len(STYLES)
    for t in positives:
        assert 20 <= t.seconds <= 60 and 0 <= t.bench_start_s <= BENCH_SECONDS - t.seconds and t.train_start_s >= 5
        if t.transform == "brightness":
            assert BRIGHTNESS_SHIFT[0] <= abs(t.amount) <= BRIGHTNESS_SHIFT[1]
    bench = {b: _decode(p) for b, p in cset.bench}
    for t in (t for t in positives if t.transform == "reencode"):
        video = _decode(t.path)
        start, offset = int(t.bench_start_s * FPS), round(t.train_start_s * FPS)
        n = int(t.seconds * FPS) - 10
        original = bench[t.bench_id][start : start + n].astype(int)

        def diff(shift: int) -> float:
            return float(np.abs(video[offset + shift : offset + shift + n].astype(int) - original).mean())

        assert diff(0) < 15 and diff(0) < min(diff(-3), diff(3), diff(-8), diff(8)), t.id


def _run(cset: CalibrationSet, cache: HashCache, settings):  # noqa: ANN001, ANN202
    bench = [VideoRef(i, str(p)) for i, p in cset.bench]
    train = [VideoRef(t.id, str(t.path)) for t in cset.train]
    found = set(flags(decontaminate(train, bench, settings=settings, cache=cache, workers=2)))
    return score(cset, found, settings), recall_by_transform(cset, found), found


def test_default_setting_on_the_subset(subset: tuple[CalibrationSet, HashCache]) -> None:
    """Every copy of every style and transform found with its own benchmark video, no hard
    negative flagged; the paper's 30 bits flag same-style negatives on the same set."""
    cset, cache = subset
    default, by_transform, _ = _run(cset, cache, SETTINGS[DEFAULT_SETTINGS])
    assert default.recall == 1.0 and default.negatives_flagged == 0 and default.precision == 1.0
    assert by_transform == {t: (len(STYLES), len(STYLES)) for t in TRANSFORMS}
    paper, _, found = _run(cset, cache, PAPER)
    assert paper.negatives_flagged >= 3 and paper.precision < 1.0
    assert {t.split("-")[1] for t, _ in found if t.startswith("neg-")} >= {"screen"}


@pytest.mark.slow
def test_full_calibration_set(tmp_path: Path) -> None:
    cset = build_calibration_set(tmp_path)  # the default set: the figures in docs/video.md
    assert sum(t.bench_id is not None for t in cset.train) == 180 and len(cset.bench) == 36
    cache = HashCache(Store(tmp_path / "c.sqlite"))
    default, by_transform, _ = _run(cset, cache, SETTINGS[DEFAULT_SETTINGS])
    assert default.recall == 1.0 and default.negatives_flagged == 0 and default.precision == 1.0
    paper, paper_by_transform, _ = _run(cset, cache, PAPER)
    # the paper's rule is loose (same-style negatives match) and blind to crops
    assert paper.negatives_flagged >= 20 and paper_by_transform["crop"][0] < 18
    # the distinct-pictures rule without its cap: static shots and slow motion are missed
    strict, _, found = _run(cset, cache, CALIBRATED.model_copy(update={"pictures_shown_cap": False}))
    missed = {t.id.split("-")[1] for t in cset.train if t.bench_id and (t.id, t.bench_id) not in found}
    assert strict.recall < 0.8 and {"static", "slow_motion"} <= missed
