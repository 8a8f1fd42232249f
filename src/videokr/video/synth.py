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


# -- footage styles of knowledge videos (decontamination calibration) -----------------------
#
# Each generator is seeded and yields RGB uint8 frames. They are what the calibration set
# needs to be hard in the ways real knowledge videos are: little change from second to
# second (slow drift, slow motion, held shots, a screen where only the cursor moves), so a
# rule that wants many distinct pictures in a window, or that accepts loose matches between
# look-alike pictures of one style, shows it.


def _smooth_field(rng: np.random.Generator, width: int, height: int, waves: int = 4) -> list[tuple]:
    return [
        (rng.uniform(0.5, 4.0) * 2 * np.pi / width, rng.uniform(0.5, 4.0) * 2 * np.pi / height,
         rng.uniform(0, 2 * np.pi, 3), rng.uniform(20, 60, 3))
        for _ in range(waves)
    ]


def _render_field(base: np.ndarray, waves: list[tuple], x: np.ndarray, y: np.ndarray, phase_shift: float = 0.0) -> np.ndarray:
    """The field at column coordinates `x` (W,) and row coordinates `y` (H,), as float
    (H, W, 3); each plane wave is sin(kx·x + ky·y + φ), expanded into row and column factors
    so that no sine is taken per pixel."""
    img = np.broadcast_to(np.asarray(base, np.float32), (len(y), len(x), 3)).copy()
    for kx, ky, phase, amp in waves:
        a = (kx * x)[None, :, None]
        b = (ky * y)[:, None, None] + (phase + phase_shift)[None, None, :]
        img += (amp * np.sin(b)).astype(np.float32) * np.cos(a).astype(np.float32)
        img += (amp * np.cos(b)).astype(np.float32) * np.sin(a).astype(np.float32)
    return img


def drift_frames(
    seed: int, seconds: float, *, fps: float = 10, width: int = 128, height: int = 72, scene_s: tuple[float, float] = (5, 11)
) -> Iterable[np.ndarray]:
    """Slowly drifting scenes with a cut every 5–11 s: a smooth field that pans at a
    fraction of a pixel per frame while its pattern slowly evolves (phase drift), so
    consecutive seconds of one shot lie a few hash bits apart and a 20 s window holds only
    two to four shots."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * fps))
    x, y = np.arange(width, dtype=np.float64), np.arange(height, dtype=np.float64)
    i = 0
    while i < n:
        length = max(1, int(rng.uniform(*scene_s) * fps))
        waves = _smooth_field(rng, width, height)
        base = rng.uniform(60, 190, 3)
        vx, vy = rng.uniform(-0.15, 0.15, 2)
        drift = rng.uniform(-0.02, 0.02)  # radians per frame
        for j in range(min(length, n - i)):
            img = _render_field(base, waves, x + vx * j, y + vy * j, drift * j)
            yield np.clip(img, 0, 255).astype(np.uint8)
            i += 1


def slow_motion_frames(
    seed: int, seconds: float, *, fps: float = 10, width: int = 128, height: int = 72, shot_s: tuple[float, float] = (10, 30)
) -> Iterable[np.ndarray]:
    """Slow motion: long shots of a few soft objects gliding over a still background, a
    few pixels per second, so a shot changes gradually and cuts are rare."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * fps))
    x, y = np.arange(width, dtype=np.float64), np.arange(height, dtype=np.float64)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    i = 0
    while i < n:
        length = max(1, int(rng.uniform(*shot_s) * fps))
        background = _render_field(rng.uniform(70, 180, 3), _smooth_field(rng, width, height, 3), x, y)
        blobs = [
            (rng.uniform(0, width), rng.uniform(0, height), rng.uniform(-0.25, 0.25), rng.uniform(-0.15, 0.15),
             rng.uniform(height / 10, height / 4), rng.uniform(-110, 110, 3))
            for _ in range(int(rng.integers(2, 5)))
        ]
        for j in range(min(length, n - i)):
            img = background.copy()
            for bx, by, vx, vy, radius, colour in blobs:
                d2 = (xx - (bx + vx * j)) ** 2 + (yy - (by + vy * j)) ** 2
                img += np.exp(-d2 / (2 * radius**2))[..., None] * colour
            yield np.clip(img, 0, 255).astype(np.uint8)
            i += 1


def screen_frames(
    seed: int, seconds: float, *, fps: float = 10, width: int = 128, height: int = 72, page_s: tuple[float, float] = (12, 40)
) -> Iterable[np.ndarray]:
    """A screen recording: one application layout (title bar, side panel, editor) held for
    the whole video, text lines typed in a character block at a time, a moving cursor, and
    now and then a new page or a scroll. Recordings of one style share the layout, so they
    differ only in their text: the hardest negatives for a frame hash."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * fps))
    bar, side = max(3, height // 12), width // 5
    line_h, gap = max(2, height // 24), max(2, height // 18)
    chrome = np.full((height, width, 3), 235, dtype=np.uint8)
    chrome[:bar] = (60, 64, 72)
    chrome[bar:, :side] = (214, 218, 224)
    for r in range(bar + gap, height - gap, line_h + gap):  # the side panel's file list
        chrome[r : r + line_h, side // 6 : side // 6 + int(rng.integers(side // 3, side * 4 // 5))] = (120, 124, 132)
    i = 0
    while i < n:
        length = max(1, int(rng.uniform(*page_s) * fps))
        rows = list(range(bar + gap, height - line_h, line_h + gap))
        lines = [(r, side + 4 + int(rng.integers(0, 4)) * 4, int(rng.integers(width // 8, width - side - 8)),
                  tuple(int(c) for c in rng.integers(20, 120, 3))) for r in rows]
        typed_by = np.sort(rng.uniform(0, 0.8, len(lines))) * length  # frame by which each line is complete
        cursor = np.array([rng.uniform(side, width), rng.uniform(bar, height)])
        target = np.array([rng.uniform(side, width), rng.uniform(bar, height)])
        for j in range(min(length, n - i)):
            img = chrome.copy()
            for (r, x0, full, colour), done in zip(lines, typed_by):
                shown = full if j >= done else int(full * max(0.0, 1 - (done - j) / (fps * 3)))
                shown -= shown % 3  # whole characters
                img[r : r + line_h, x0 : min(width - 2, x0 + shown)] = colour
            if rng.random() < 0.02:
                target = np.array([rng.uniform(side, width), rng.uniform(bar, height)])
            cursor += np.clip(target - cursor, -2.0, 2.0)
            cx, cy = int(cursor[0]), int(cursor[1])
            img[max(0, cy) : cy + 4, max(0, cx) : cx + 2] = 0
            yield img
            i += 1


def static_frames(
    seed: int, seconds: float, *, fps: float = 10, width: int = 128, height: int = 72, shot_s: tuple[float, float] = (20, 60)
) -> Iterable[np.ndarray]:
    """Static shots: a near-still camera on one scene for tens of seconds (a lab bench, a
    whiteboard), with a little hand-held shake and sensor noise, so every second of a shot
    hashes within a few bits of the others."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * fps))
    x, y = np.arange(width, dtype=np.float64), np.arange(height, dtype=np.float64)
    i = 0
    while i < n:
        length = max(1, int(rng.uniform(*shot_s) * fps))
        waves = _smooth_field(rng, width, height, 5)
        base = rng.uniform(60, 190, 3)
        for _ in range(min(length, n - i)):
            sx, sy = rng.normal(0, 0.4, 2)  # shake, pixels
            img = _render_field(base, waves, x + sx, y + sy) + rng.normal(0, 3.0, (height, width, 1))
            yield np.clip(img, 0, 255).astype(np.uint8)
            i += 1


FOOTAGE_STYLES = {
    "scene": scene_frames,
    "drift": drift_frames,
    "slow_motion": slow_motion_frames,
    "screen": screen_frames,
    "static": static_frames,
    "slides": slide_frames,
}
"""Every generated footage style by name (the calibration set's styles)."""
