"""Videos made on the spot: frames that carry their own index, and procedural scenes.

Tests, benchmarks and the decontamination calibration need videos whose content is known
exactly (which frame is shown when) and in quantity, without downloading anything. The
index is burned in as a row of black/white blocks big enough to survive lossy encoding.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np

INDEX_BITS = 16
INDEX_STRIP_FRACTION = 8  # the block strip fills the top 1/8 of the picture


def burn_index(image: np.ndarray, index: int) -> np.ndarray:
    """Write `index` as INDEX_BITS blocks across the top eighth (white = 1), in place."""
    h, w, _ = image.shape
    block = w // INDEX_BITS
    rows = max(4, h // INDEX_STRIP_FRACTION)
    for bit in range(INDEX_BITS):
        value = 255 if (index >> (INDEX_BITS - 1 - bit)) & 1 else 0
        image[:rows, bit * block : (bit + 1) * block] = value
    return image


def read_index(image: np.ndarray) -> int:
    """The index burned by `burn_index`, read from block centres at whatever size the frame has."""
    h, w, _ = image.shape
    r0, r1 = h // (INDEX_STRIP_FRACTION * 4), max(h // (INDEX_STRIP_FRACTION * 4) + 1, h * 3 // (INDEX_STRIP_FRACTION * 4))
    block = w / INDEX_BITS  # exact when the written width is a multiple of INDEX_BITS
    value = 0
    for bit in range(INDEX_BITS):
        x0, x1 = int(bit * block + block * 0.3), int(bit * block + block * 0.7)
        cell = image[r0:r1, x0 : max(x0 + 1, x1)]
        value = (value << 1) | int(cell.mean() > 127)
    return value


def indexed_frame(index: int, width: int, height: int) -> np.ndarray:
    """A moving gradient with the index burned in: every frame differs and names itself."""
    y, x = np.mgrid[0:height, 0:width]
    r = (x * 255 // max(1, width - 1) + index * 3) % 256
    g = (y * 255 // max(1, height - 1) + index * 5) % 256
    b = np.full_like(r, (index * 7) % 256)
    image = np.stack([r, g, b], axis=-1).astype(np.uint8)
    return burn_index(image, index)


def write_video(
    path: str | Path,
    frames: Iterable[np.ndarray],
    *,
    fps: float = 25,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    gop: int = 250,
    pts_seconds: Sequence[float] | None = None,
    rotation_ccw: int = 0,
    options: dict[str, str] | None = None,
    container_format: str | None = None,
) -> Path:
    """Encode RGB frames. `pts_seconds` gives a variable frame rate; `rotation_ccw` sets the
    display matrix as phones do (counter-clockwise degrees, as FFmpeg stores it)."""
    import av

    path = Path(path)
    frames = iter(frames)
    first = next(frames)
    height, width = first.shape[:2]
    rate = Fraction(fps).limit_denominator(1001)
    with av.open(str(path), mode="w", format=container_format) as container:
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        stream.codec_context.gop_size = gop
        opts = {"g": str(gop), "keyint_min": str(gop)} if codec in ("libx264", "libx265") else {}
        if codec == "libx264":
            opts.update({"preset": "ultrafast", "crf": "23", "sc_threshold": "0"})
        if codec == "libx265":
            opts.update({"preset": "ultrafast", "x265-params": f"keyint={gop}:min-keyint={gop}:scenecut=0:log-level=none"})
        if codec == "libsvtav1":
            opts.update({"preset": "12", "svtav1-params": f"keyint={gop}"})
        if codec == "libvpx-vp9":
            opts.update({"deadline": "realtime", "cpu-used": "8"})
        opts.update(options or {})
        stream.options = opts
        if pts_seconds is not None:
            stream.codec_context.time_base = Fraction(1, 1000)
        if rotation_ccw:
            stream.set_display_rotation(rotation_ccw)
        for i, image in enumerate(_chain(first, frames)):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            if pts_seconds is not None:
                frame.pts = int(round(pts_seconds[i] * 1000))
                frame.time_base = Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_indexed_video(path: str | Path, n_frames: int, width: int = 160, height: int = 96, **kwargs) -> Path:
    return write_video(path, (indexed_frame(i, width, height) for i in range(n_frames)), **kwargs)


def _chain(first: np.ndarray, rest: Iterable[np.ndarray]) -> Iterable[np.ndarray]:
    yield first
    yield from rest


# -- procedural scenes: content with the statistics of real footage, from a seed --------


def scene_frames(
    seed: int, seconds: float, *, fps: float = 10, width: int = 128, height: int = 72, scene_s: tuple[float, float] = (3, 8)
) -> Iterable[np.ndarray]:
    """Smooth random fields panning slowly, with a cut every few seconds (seeded)."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * fps))
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    i = 0
    while i < n:
        length = int(rng.uniform(*scene_s) * fps)
        waves = [
            (rng.uniform(0.5, 4.0) * 2 * np.pi / width, rng.uniform(0.5, 4.0) * 2 * np.pi / height,
             rng.uniform(0, 2 * np.pi, 3), rng.uniform(20, 60, 3))
            for _ in range(4)
        ]
        base = rng.uniform(60, 190, 3)
        vx, vy = rng.uniform(-0.4, 0.4, 2)  # pixels per frame: a slow pan
        for j in range(min(length, n - i)):
            img = np.broadcast_to(base, (height, width, 3)).astype(np.float32).copy()
            for kx, ky, phase, amp in waves:
                arg = kx * (x + vx * j) + ky * (y + vy * j)
                img += amp * np.sin(arg[..., None] + phase)
            yield np.clip(img, 0, 255).astype(np.uint8)
            i += 1


def slide_frames(
    seed: int, seconds: float, *, fps: float = 10, width: int = 128, height: int = 72, slide_s: tuple[float, float] = (4, 10)
) -> Iterable[np.ndarray]:
    """Lecture-like slides: a light page with dark text bars, changing every few seconds."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * fps))
    i = 0
    while i < n:
        length = int(rng.uniform(*slide_s) * fps)
        page = np.full((height, width, 3), rng.integers(225, 250), dtype=np.uint8)
        top = int(height * 0.12)
        page[top : top + max(2, height // 14), width // 10 : width // 10 + int(width * rng.uniform(0.4, 0.8))] = 30
        row = top + height // 6
        while row < height - height // 10:
            bar = max(1, height // 30)
            x0 = width // 10 + int(rng.integers(0, width // 12))
            page[row : row + bar, x0 : x0 + int(width * rng.uniform(0.3, 0.75))] = rng.integers(20, 90)
            row += bar + int(rng.integers(height // 25 + 1, height // 8 + 2))
        for _ in range(min(length, n - i)):
            yield page
            i += 1
