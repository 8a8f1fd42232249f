"""Black bars found over neighbouring seconds, centre-crop views, and their hashes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from videokr.decontam.cache import HashCache, cache_method, hash_videos
from videokr.decontam.calibration import transform_frames
from videokr.decontam.settings import CALIBRATED, PAPER
from videokr.decontam.views import BAR_ASYMMETRY, BOX_MEDIAN_RADIUS, centre_crop, content_boxes, hash_video_views, view_hashes
from videokr.store import Store
from videokr.video.phash import gray32, hamming, hash_video
from videokr.video.synth import scene_frames, write_video


def _grey(frames: list[np.ndarray]) -> np.ndarray:
    from PIL import Image

    return np.stack([np.asarray(Image.fromarray(f).convert("L")) for f in frames])


def test_settings_geometry_is_opt_in() -> None:
    assert not PAPER.strip_bars and PAPER.bench_crops == () and not PAPER.views
    assert CALIBRATED.strip_bars and CALIBRATED.bench_crops == (0.97, 0.94, 0.91, 0.88, 0.85, 0.82, 0.79, 0.76)
    assert (CALIBRATED.max_distance, CALIBRATED.min_matched_fraction) == (8, 0.7)
    assert (CALIBRATED.min_pictures, CALIBRATED.picture_change_bits) == (3, 10) and PAPER.min_pictures == 1
    assert CALIBRATED.pictures_shown_cap and not PAPER.pictures_shown_cap
    assert CALIBRATED.views
    assert cache_method("exact") == "exact"
    assert cache_method("exact", True) == "exact+bars.v3"
    assert cache_method("exact", True, (0.88, 0.76)) == "exact+bars.v3+crops=0.88,0.76"


def test_letterbox_and_pillarbox_found() -> None:
    frames = list(scene_frames(3, 12, fps=1, width=128, height=72))
    boxed = _grey(transform_frames(frames, "letterbox", 0.75))  # 54 rows of picture, 9 black above
    assert {tuple(b) for b in content_boxes(boxed)} == {(9, 63, 0, 128)}
    pillar = np.zeros((12, 72, 128), np.uint8)
    pillar[:, :, 16:112] = _grey(frames)[:, :, 16:112]
    assert {tuple(b) for b in content_boxes(pillar)} == {(0, 72, 16, 112)}
    assert {tuple(b) for b in content_boxes(_grey(frames))} == {(0, 72, 0, 128)}


def test_bars_are_a_median_over_neighbouring_seconds() -> None:
    grey = _grey(list(scene_frames(4, 40, fps=1, width=128, height=72)))
    grey[10:30, :10] = 0  # a letterboxed stretch inside the video (a clip in a compilation)
    grey[10:30, 62:] = 0
    grey[5, :20] = 0  # one second whose content is dark at the top: not a bar
    grey[35] = 0  # a black frame (a fade) says nothing
    boxes = content_boxes(grey)
    assert all(tuple(b) == (10, 62, 0, 128) for b in boxes[10:30])
    assert all(tuple(b) == (0, 72, 0, 128) for b in np.concatenate([boxes[:10], boxes[30:]]))
    assert BOX_MEDIAN_RADIUS == 3


def test_a_dark_edge_on_one_side_is_not_a_bar() -> None:
    """A screen recording's dark title bar (or a darkened one after a brightness edit) is
    content; bars are centred, so only what the opposite edge also has is stripped."""
    grey = _grey(list(scene_frames(4, 10, fps=1, width=128, height=72)))
    title = grey.copy()
    title[:, :6] = 10
    assert {tuple(b) for b in content_boxes(title)} == {(0, 72, 0, 128)}
    boxed = grey.copy()
    boxed[:, :9], boxed[:, 62:] = 0, 0  # letterbox one row uneven, as centring an odd margin gives
    boxed[:, 9:15] = 10  # and a dark title bar inside the picture
    assert {tuple(b) for b in content_boxes(boxed)} == {(10, 62, 0, 128)}
    even = grey.copy()
    even[:, :9], even[:, 64:] = 0, 0  # 9 rows above, 8 below: both bars
    assert {tuple(b) for b in content_boxes(even)} == {(9, 64, 0, 128)}
    assert BAR_ASYMMETRY == 0.03


def test_a_dark_video_is_not_cropped_to_a_sliver() -> None:
    grey = np.zeros((10, 72, 128), np.uint8)
    grey[:, 34:38] = 200  # only a thin lit band: bars would leave < 40% of the height
    assert {tuple(b) for b in content_boxes(grey)} == {(0, 72, 0, 128)}


def test_centre_crop() -> None:
    assert centre_crop((0, 100, 0, 200), 0.76) == (12, 88, 24, 176)
    assert centre_crop((10, 60, 0, 128), 1.0) == (10, 60, 0, 128)


def test_views_keep_paper_hash_without_bars_and_undo_letterbox() -> None:
    frames = list(scene_frames(5, 30, fps=1, width=128, height=72))
    full32 = np.stack([gray32(f) for f in frames])
    plain, _ = view_hashes(full32, _grey(frames), strip_bars=True, crops=(0.88, 0.76))
    from videokr.video.phash import hash_gray32

    assert plain.shape == (30, 3) and np.array_equal(plain[:, 0], hash_gray32(full32))  # imagehash-equal
    boxed = transform_frames(frames, "letterbox", 0.72)
    stripped, _ = view_hashes(np.stack([gray32(f) for f in boxed]), _grey(boxed), strip_bars=True)
    unstripped = hash_gray32(np.stack([gray32(f) for f in boxed]))
    assert np.median(hamming(stripped[:, 0], plain[:, 0])) <= 4 < 16 <= np.median(hamming(unstripped, plain[:, 0]))
    cropped = transform_frames(frames, "crop", 0.12)
    crop_hash = hash_gray32(np.stack([gray32(f) for f in cropped]))
    assert np.median(hamming(crop_hash, plain[:, 2])) <= 4 < 16 <= np.median(hamming(crop_hash, plain[:, 0]))


def test_video_views_and_their_cache(tmp_path: Path) -> None:
    frames = list(scene_frames(6, 25, fps=5, width=128, height=72))
    path = write_video(tmp_path / "boxed.mp4", transform_frames(frames, "letterbox", 0.75), fps=5, gop=50)
    times, hashes, boxes = hash_video_views(path, strip_bars=True, crops=(0.88,))
    assert hashes.shape == (25, 2) and len(times) == 25
    assert np.abs(boxes - np.array([9, 63, 0, 128])).max() <= 1  # the encoder blurs the bar's edge by a line
    assert not np.array_equal(hashes[:, 0], hash_video(path)[1])
    cache = HashCache(Store(tmp_path / "c.sqlite"))
    first = list(hash_videos([("a", path)], cache, fps=1.0, method="exact", strip_bars=True, crops=(0.88,)))
    again = list(hash_videos([("a", path)], cache, fps=1.0, method="exact", strip_bars=True, crops=(0.88,)))
    plain = list(hash_videos([("a", path)], cache, fps=1.0, method="exact"))
    assert again[0].cached and not plain[0].cached and np.array_equal(first[0].hashes, again[0].hashes)
    assert again[0].hashes.shape == (25, 2) and plain[0].hashes.shape == (25,)
    with pytest.raises(ValueError, match="hash method"):
        hash_video_views(path, method="nope")  # type: ignore[arg-type]


def test_distinct_pictures_rule() -> None:
    from videokr.decontam.search import matched_pictures, verify_alignment

    far = np.uint64(2**20 - 1)  # 20 bits from 0
    held = np.zeros(20, np.uint64)  # one picture held 20 s
    train = np.zeros(20, np.uint64)
    assert matched_pictures(held, np.ones(20, bool), 20, 10).tolist() == [1]
    assert verify_alignment(held, train, 0, PAPER).flagged  # the paper counts frames
    # a window showing one picture (a static shot) needs only that one
    assert verify_alignment(held, train, 0, CALIBRATED).flagged
    strict = CALIBRATED.model_copy(update={"pictures_shown_cap": False})
    assert not verify_alignment(held, train, 0, strict).flagged  # three pictures, always
    three = held.copy()
    three[7:14] = far
    three[14:] = far << np.uint64(30)
    assert matched_pictures(three, np.ones(20, bool), 20, 10).tolist() == [3]
    assert verify_alignment(three, three.copy(), 0, CALIBRATED).flagged
    # a window showing three pictures whose matches show only one is not flagged, although
    # 80% of its frames match: two short pictures, then one held for 16 s
    mostly_one = held.copy()
    mostly_one[:2] = far
    mostly_one[2:4] = far << np.uint64(30)
    v = verify_alignment(mostly_one, held.copy(), 0, CALIBRATED)
    assert v.matched_fraction == 0.8 and not v.flagged and verify_alignment(mostly_one, held.copy(), 0, PAPER).flagged
