"""The 64-bit DCT perceptual hash of Appendix A.5, bit for bit `imagehash.phash`, batched.

imagehash: greyscale with PIL's ITU-R 601 integer weights, LANCZOS resize to 32×32, a 2-D
type-II DCT (rows then columns, scipy.fftpack), the top-left 8×8 coefficients compared with
their median; bit order row-major, first bit most significant. The exact path keeps the
PIL steps (they define the pixels) and batches the DCT and median across frames, which
scipy computes identically per transform, so the hashes are equal to imagehash's.

The fast variant asks the decoder's scaler for a 32×32 grey picture directly, skipping the
full-size RGB frame; its hashes differ from the exact ones by a measured fraction of bits
(see `docs/video.md`), so it is opt-in and never the default for reproduction.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np

HASH_SIZE = 8  # 8×8 = 64 bits (Appendix A.5)
HIGHFREQ_FACTOR = 4  # imagehash's default: DCT over a 32×32 image
HASH_BITS = HASH_SIZE * HASH_SIZE
DCT_SIDE = HASH_SIZE * HIGHFREQ_FACTOR
HashMethod = Literal["exact", "fast"]
DEFAULT_METHOD: HashMethod = "exact"
_BIT_WEIGHTS = (np.uint64(1) << np.arange(HASH_BITS - 1, -1, -1, dtype=np.uint64)).astype(np.uint64)


def gray32(image: np.ndarray) -> np.ndarray:
    """imagehash's pixels: PIL 'L' conversion then LANCZOS to 32×32 (uint8)."""
    from PIL import Image

    pil = Image.fromarray(image)
    return np.asarray(pil.convert("L").resize((DCT_SIDE, DCT_SIDE), Image.Resampling.LANCZOS))


def hash_gray32(pixels: np.ndarray) -> np.ndarray:
    """uint64 hashes of a (B, 32, 32) or (32, 32) stack of grey pixels."""
    import scipy.fftpack

    stack = np.asarray(pixels)
    single = stack.ndim == 2
    if single:
        stack = stack[None]
    if stack.shape[1:] != (DCT_SIDE, DCT_SIDE):
        raise ValueError(f"expected (B, {DCT_SIDE}, {DCT_SIDE}) grey pixels, got {stack.shape}")
    if stack.shape[0] == 0:
        return np.zeros(0, dtype=np.uint64)
    dct = scipy.fftpack.dct(scipy.fftpack.dct(stack, axis=1), axis=2)
    low = dct[:, :HASH_SIZE, :HASH_SIZE].reshape(len(stack), HASH_BITS)
    bits = low > np.median(low, axis=1, keepdims=True)
    hashes = (bits.astype(np.uint64) * _BIT_WEIGHTS).sum(axis=1, dtype=np.uint64)
    return hashes[0:1] if single else hashes


def phash_images(images: Sequence[np.ndarray]) -> np.ndarray:
    """Exact pHash of RGB (H, W, 3) uint8 images, as uint64."""
    if not len(images):
        return np.zeros(0, dtype=np.uint64)
    return hash_gray32(np.stack([gray32(img) for img in images]))


def phash_image(image: np.ndarray) -> int:
    return int(phash_images([image])[0])


def to_hex(h: int | np.uint64) -> str:
    """The 16-hex-digit form `str(imagehash.phash(...))` prints."""
    return f"{int(h):016x}"


def hamming(a: np.ndarray | int, b: np.ndarray | int) -> np.ndarray:
    """Bitwise Hamming distances, broadcasting."""
    return np.bitwise_count(np.bitwise_xor(np.asarray(a, dtype=np.uint64), np.asarray(b, dtype=np.uint64)))


def frame_converter(method: HashMethod = DEFAULT_METHOD):
    """A `sampling.decode_at` converter yielding 32×32 grey pixels, so that hashing a long
    video keeps 1 KB per frame instead of the decoded picture."""
    from videokr.video.sampling import rgb_converter

    if method == "exact":
        rgb = rgb_converter(None)

        def exact(av_frame, info) -> np.ndarray:
            return gray32(rgb(av_frame, info))

        return exact
    if method == "fast":
        from videokr.video.sampling import upright

        def fast(av_frame, info) -> np.ndarray:
            grey = av_frame.reformat(DCT_SIDE, DCT_SIDE, format="gray", interpolation="AREA", threads=1).to_ndarray()
            return upright(grey[..., None], info.rotation)[..., 0]

        return fast
    raise ValueError(f"hash method must be 'exact' or 'fast', got {method!r}")


def hash_video(
    path: str | Path,
    *,
    fps: float = 1.0,
    method: HashMethod = DEFAULT_METHOD,
    info=None,
    threads: int = 1,
    skip_nonref: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """(times in seconds, uint64 hashes) of the frames shown at 0, 1/fps, 2/fps, … seconds
    (with `skip_nonref`, of the last reference frame at or before each; see `decode_at`)."""
    from videokr.video.probe import probe
    from videokr.video.sampling import decode_at, times_by_rate

    info = info or probe(path)
    targets = times_by_rate(info.duration_s, fps)
    frames = decode_at(path, info, targets, convert=frame_converter(method), threads=threads, skip_nonref=skip_nonref)
    times = np.array([f.target_seconds for f in frames], dtype=np.float64)
    return times, hash_gray32(np.stack([f.image for f in frames]))
