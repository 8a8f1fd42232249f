from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from videokr.decontam.cache import HashCache, hash_videos
from videokr.decontam.run import (
    VideoRef,
    decontaminate,
    videos_in_manifest,
    write_report,
)
from videokr.decontam.search import FrameIndex, brute_force_best, verify_alignment
from videokr.decontam.settings import (
    CALIBRATED,
    PAPER,
    PAPER_MAX_DISTANCE,
    PAPER_MIN_MATCHED_FRACTION,
    PAPER_SAMPLE_FPS,
    PAPER_STRIDE_S,
    PAPER_TOP_K,
    PAPER_WINDOW_S,
    DecontamSettings,
)
from videokr.store import Store
from videokr.video.synth import scene_frames, write_video


def test_paper_settings() -> None:
    assert (PAPER_SAMPLE_FPS, PAPER_WINDOW_S, PAPER_STRIDE_S, PAPER_TOP_K) == (1.0, 20, 1, 10)
    assert (PAPER_MAX_DISTANCE, PAPER_MIN_MATCHED_FRACTION) == (30, 0.7)
    assert PAPER.hash_bits == 64 and PAPER.frames_per_window == 20 and PAPER.hash_method == "exact"
    assert CALIBRATED.name == "calibrated" and PAPER.name == "paper"


def _random_hashes(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(0, 2**63, n, dtype=np.int64).astype(np.uint64) * np.uint64(2) + rng.integers(0, 2, n).astype(np.uint64)


def _noisy(rng: np.random.Generator, hashes: np.ndarray, bits: int) -> np.ndarray:
    out = hashes.copy()
    for i in range(len(out)):
        for b in rng.choice(64, bits, replace=False):
            out[i] ^= np.uint64(1) << np.uint64(int(b))
    return out


def test_verify_alignment_rule() -> None:
    bench = np.zeros(25, np.uint64)
    train = np.zeros(40, np.uint64)
    far = np.uint64(2**40 - 1)  # 40 bits away
    train[10 + 5 : 10 + 11] = far  # 6 of the 20 frames of the best window differ
    v = verify_alignment(bench, train, 10, PAPER)
    assert v is not None and v.matched_fraction == 0.7 and v.flagged
    train[10 + 11] = far  # now every window of the 25-frame overlap holds 7 distant frames
    v = verify_alignment(bench, train, 10, PAPER)
    assert v.matched_fraction == 0.65 and not v.flagged
    assert verify_alignment(bench, train, 10, DecontamSettings(max_distance=40)).matched_fraction == 1.0
    train[10:] = far
    train[10 : 10 + 13] = 0
    v = verify_alignment(bench, train, 10, PAPER)
    assert v.matched_fraction == 13 / 20 and not v.flagged
    assert verify_alignment(bench, train[:15], 0, PAPER).distances == tuple([0] * 15)  # short video: whole
    assert verify_alignment(bench, train, 35, PAPER) is None  # overlap shorter than a window


def test_candidate_search_finds_what_brute_force_finds() -> None:
    rng = np.random.default_rng(0)
    trains = [_random_hashes(rng, int(rng.integers(170, 300))) for _ in range(200)]
    bench = _random_hashes(rng, 60)
    # plant noisy copies: 40 s of the bench video at three places
    for v, start, noise in ((3, 50, 4), (77, 0, 7), (150, 120, 10)):
        trains[v][start : start + 40] = _noisy(rng, bench[10:50], noise)
    tight = DecontamSettings(max_distance=14)  # at 30 bits random hashes match by chance (see docs)
    index = FrameIndex.build([(str(i), h) for i, h in enumerate(trains)], tight)
    found = {(v.train_video, v.train_offset - v.bench_offset) for v in index.search(bench) if v.flagged}
    assert found == {(3, 40), (77, -10), (150, 110)}
    exhaustive = {(v.train_video, v.train_offset - v.bench_offset) for v in brute_force_best(bench, trains, tight) if v.flagged}
    assert exhaustive == found


def test_paper_threshold_is_loose_on_random_hashes() -> None:
    """Unrelated 64-bit hashes lie within 30 bits a third of the time."""
    rng = np.random.default_rng(0)
    d = np.bitwise_count(_random_hashes(rng, 100_000) ^ _random_hashes(rng, 100_000))
    assert 0.30 < (d <= PAPER_MAX_DISTANCE).mean() < 0.36


def test_top_k_limits_candidates() -> None:
    rng = np.random.default_rng(1)
    bench = _random_hashes(rng, 30)
    trains = [np.concatenate([_random_hashes(rng, 5), _noisy(rng, bench, 2)]) for _ in range(15)]
    index = FrameIndex.build([(str(i), h) for i, h in enumerate(trains)], PAPER)
    assert len(index.candidates(bench)) == 10
    wider = FrameIndex.build([(str(i), h) for i, h in enumerate(trains)], DecontamSettings(top_k=20))
    assert len([v for v in wider.search(bench) if v.flagged]) == 15


@pytest.fixture(scope="module")
def small_case(tmp_path_factory: pytest.TempPathFactory):
    """A benchmark video, a training video that contains 30 s of it, and one that does not."""
    root = tmp_path_factory.mktemp("decontam")
    bench_frames = list(scene_frames(1, 50, fps=5, width=96, height=64))
    copy = list(scene_frames(2, 12, fps=5, width=96, height=64)) + bench_frames[50:200] + list(
        scene_frames(3, 10, fps=5, width=96, height=64)
    )
    bench = write_video(root / "bench.mp4", bench_frames, fps=5, gop=50)
    dirty = write_video(root / "dirty.mp4", copy, fps=5, gop=50, options={"crf": "35"})
    clean = write_video(root / "clean.mp4", scene_frames(4, 60, fps=5, width=96, height=64), fps=5, gop=50)
    return root, bench, dirty, clean


def test_end_to_end_report(small_case, tmp_path: Path) -> None:
    root, bench, dirty, clean = small_case
    store = Store(tmp_path / "ws.sqlite")
    cache = HashCache(store)
    train = [VideoRef("dirty", str(dirty)), VideoRef("clean", str(clean)), VideoRef("yt", str(clean), "abcdefghijk"),
             VideoRef("gone", str(root / "missing.mp4"))]
    benches = [VideoRef("b1", str(bench), "abcdefghijk")]
    result = decontaminate(train, benches, settings=PAPER, cache=cache)
    by_id = {line["train_video"]: line for line in result.flagged}
    assert set(by_id) == {"dirty", "yt"}
    line = by_id["dirty"]
    assert line["reason"] == "near_duplicate" and line["bench_video"] == "b1"
    assert line["matched_fraction"] >= 0.7 and len(line["distances"]) == 20
    assert line["train_offset_s"] - line["bench_offset_s"] == 2  # copied from 10 s, placed at 12 s
    assert by_id["yt"]["reason"] == "youtube_id"
    assert result.errors == [("train", "gone", f"{root / 'missing.mp4'}: no such file")]

    report = write_report(result, tmp_path / "report.jsonl")
    assert [json.loads(x)["train_video"] for x in report.read_text().splitlines()] == ["dirty", "yt"]

    # hashes are cached by content: a second run decodes nothing
    again = decontaminate(train, benches, settings=PAPER, cache=cache)
    assert again.cached == 3 and again.flagged_ids() == {"dirty", "yt"}


def test_hash_cache_by_content(small_case, tmp_path: Path) -> None:
    root, bench, _, _ = small_case
    copy = tmp_path / "renamed.mp4"
    copy.write_bytes(bench.read_bytes())
    cache = HashCache(Store(tmp_path / "c.sqlite"))
    first = list(hash_videos([("a", bench)], cache, fps=1.0, method="exact"))
    second = list(hash_videos([("b", copy)], cache, fps=1.0, method="exact"))
    assert not first[0].cached and second[0].cached
    assert np.array_equal(first[0].hashes, second[0].hashes) and len(first[0].hashes) == 50


def test_manifest(tmp_path: Path) -> None:
    (tmp_path / "m.jsonl").write_text('{"id": "x", "path": "v/a.mp4", "youtube_id": "abcdefghijk"}\n\n{"video_path": "/abs/b.mp4"}\n')
    refs = videos_in_manifest(tmp_path / "m.jsonl")
    assert refs[0] == VideoRef("x", str(tmp_path / "v/a.mp4"), "abcdefghijk")
    assert refs[1].path == "/abs/b.mp4"
    (tmp_path / "bad.jsonl").write_text('{"id": 1}\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:1: no 'path'"):
        videos_in_manifest(tmp_path / "bad.jsonl")
