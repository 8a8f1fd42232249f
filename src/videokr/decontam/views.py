"""Frame hashes that survive re-upload geometry: black bars stripped, centre crops tried.

A 64-bit pHash changes by 20–35 bits when a picture is letterboxed or cropped by a tenth,
far beyond any useful match threshold (measured in docs/video.md). Two remedies, both
opt-in (the `calibrated` setting) so the paper's hashes stay untouched by default:

- **Bars.** Black bars (letterbox, pillarbox) are the dark lines touching a frame's edges,
  taken as a median over the neighbouring seconds rather than from one frame (see
  `content_boxes`). The picture inside is hashed; pHash squeezes it to 32×32 anyway, so a
  letterboxed copy hashes like the original. A frame without bars keeps its paper hash
  exactly (imagehash-equal).
- **Crops.** A benchmark frame is also hashed at a few centre crops of its picture
  (`crops`, fractions of each side); a copy cropped by up to about half a grid step from
  one of them lands within a few bits of that view. Only the benchmark side needs views
  (it is small); training frames keep one hash each.

The bars and crops are taken on a reduced grey copy of each frame (at most
`REDUCED_SIDE` pixels on its long side, so an hour of video holds about 50 MB); the
uncropped view of a video without bars comes from the full frame as imagehash does.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from videokr.video.phash import DCT_SIDE, HashMethod, hash_gray32

REDUCED_SIDE = 160
DARK_LEVEL = 24  # grey level at or below which a pixel counts as black (encoded black is 0–5)
DARK_PIXELS = 0.97  # a line is dark in a frame when this share of its pixels is black
BOX_MEDIAN_RADIUS = 3  # frames (seconds at 1 fps) either side whose bars a frame's box is the median of
BAR_ASYMMETRY = 0.03  # opposite bars differing by more than this share of the side are not both bars
MIN_CONTENT_SIDE = 0.4  # bars leaving less than this share of a side are not bars (a dark video)


def content_boxes(grey: np.ndarray) -> np.ndarray:
    """(N, 4) boxes (top, bottom, left, right) of the picture inside black bars, for each
    frame of a (N, H, W) grey stack.

    A frame's own bars are the dark lines touching its edges; the box then taken is the
    median over the frames within `BOX_MEDIAN_RADIUS` of it (all-black frames left out), so
    a dark edge of a moment's content does not count while a letterboxed stretch inside a
    longer video (a clip in a compilation) does, up to its first and last frames. Bars are
    centred (see `_centred`)."""
    n, h, w = grey.shape
    boxes = np.tile(np.array([0, h, 0, w]), (n, 1))
    if n == 0:
        return boxes
    dark = grey <= DARK_LEVEL
    lit = ~dark.all(axis=(1, 2))
    rows = dark.mean(axis=2) >= DARK_PIXELS  # (N, H)
    cols = dark.mean(axis=1) >= DARK_PIXELS  # (N, W)
    own = np.stack(
        [_edge_runs(rows), h - _edge_runs(rows[:, ::-1]), _edge_runs(cols), w - _edge_runs(cols[:, ::-1])], axis=1
    ).astype(np.float64)
    own[~lit] = np.nan
    for i in range(n):
        near = own[max(0, i - BOX_MEDIAN_RADIUS) : i + BOX_MEDIAN_RADIUS + 1]
        near = near[~np.isnan(near[:, 0])]
        if len(near):
            boxes[i] = np.round(np.median(near, axis=0)).astype(int)
    boxes = _centred(boxes, h, w)
    too_thin = boxes[:, 1] - boxes[:, 0] < MIN_CONTENT_SIDE * h
    boxes[too_thin, 0], boxes[too_thin, 1] = 0, h
    too_narrow = boxes[:, 3] - boxes[:, 2] < MIN_CONTENT_SIDE * w
    boxes[too_narrow, 2], boxes[too_narrow, 3] = 0, w
    return boxes


def _centred(boxes: np.ndarray, h: int, w: int) -> np.ndarray:
    """Letterbox and pillarbox bars are centred: where one dark edge is more than
    `BAR_ASYMMETRY` of the side deeper than the opposite one, only as much as the opposite
    edge has is a bar (a dark title bar of a screen recording, darkened by a brightness edit,
    is content)."""
    out = boxes.copy()
    for lo, hi, side in ((0, 1, h), (2, 3, w)):
        near, far = boxes[:, lo], side - boxes[:, hi]
        uneven = np.abs(near - far) > max(1, round(BAR_ASYMMETRY * side))
        both = np.minimum(near, far)
        out[uneven, lo], out[uneven, hi] = both[uneven], side - both[uneven]
    return out


def _edge_runs(flags: np.ndarray) -> np.ndarray:
    """Per row of a (N, L) boolean array, how many leading entries are True."""
    return np.where(flags.all(axis=1), flags.shape[1], np.argmin(flags, axis=1))


def centre_crop(box: tuple[int, int, int, int], fraction: float) -> tuple[int, int, int, int]:
    top, bottom, left, right = box
    h, w = bottom - top, right - left
    ch, cw = max(1, round(h * fraction)), max(1, round(w * fraction))
    t, lft = top + (h - ch) // 2, left + (w - cw) // 2
    return t, t + ch, lft, lft + cw


def _gray32(image: np.ndarray) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(image).resize((DCT_SIDE, DCT_SIDE), Image.Resampling.LANCZOS))


def view_hashes(
    full32: np.ndarray, reduced: np.ndarray, *, strip_bars: bool, crops: Sequence[float] = ()
) -> tuple[np.ndarray, np.ndarray]:
    """(N, 1 + len(crops)) hashes: the picture inside the bars, then each centre crop of it.

    `full32` holds the imagehash pixels of the whole frames (N, 32, 32), `reduced` the
    reduced grey frames (N, h, w); the boxes come back in `reduced` coordinates."""
    n, h, w = reduced.shape
    boxes = content_boxes(reduced) if strip_bars else np.tile(np.array([0, h, 0, w]), (n, 1))
    whole = (boxes == np.array([0, h, 0, w])).all(axis=1)
    pixels = np.empty((n, 1 + len(crops), DCT_SIDE, DCT_SIDE), dtype=np.uint8)
    for i in range(n):
        box = tuple(int(x) for x in boxes[i])
        pixels[i, 0] = full32[i] if whole[i] else _gray32_of(reduced[i], box)
        for v, fraction in enumerate(crops, 1):
            pixels[i, v] = _gray32_of(reduced[i], centre_crop(box, fraction))
    hashes = hash_gray32(pixels.reshape(-1, DCT_SIDE, DCT_SIDE)).reshape(n, 1 + len(crops))
    return hashes, boxes


def _gray32_of(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    t, b, left, r = box
    return _gray32(np.ascontiguousarray(image[t:b, left:r]))


def views_converter(method: HashMethod):
    """A `decode_at` converter giving (imagehash 32×32 pixels, reduced grey frame)."""
    from PIL import Image

    from videokr.video.phash import frame_converter
    from videokr.video.sampling import rgb_converter, upright

    if method == "exact":
        rgb = rgb_converter(None)

        def exact(av_frame, info) -> tuple[np.ndarray, np.ndarray]:
            grey = Image.fromarray(rgb(av_frame, info)).convert("L")
            full32 = np.asarray(grey.resize((DCT_SIDE, DCT_SIDE), Image.Resampling.LANCZOS))
            size = _reduced_size(grey.width, grey.height)
            small = grey if size == grey.size else grey.resize(size, Image.Resampling.BOX)
            return full32, np.asarray(small)

        return exact
    fast32 = frame_converter(method)

    def fast(av_frame, info) -> tuple[np.ndarray, np.ndarray]:
        w, h = _reduced_size(av_frame.width, av_frame.height)
        small = av_frame.reformat(w, h, format="gray", interpolation="AREA", threads=1).to_ndarray()
        return fast32(av_frame, info), upright(small[..., None], info.rotation)[..., 0]

    return fast


def _reduced_size(width: int, height: int) -> tuple[int, int]:
    scale = min(1.0, REDUCED_SIDE / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def hash_video_views(
    path: str | Path,
    *,
    fps: float = 1.0,
    method: HashMethod = "exact",
    strip_bars: bool = True,
    crops: Sequence[float] = (),
    info=None,
    threads: int = 1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(times, (N, 1 + len(crops)) hashes, (N, 4) content boxes in reduced-frame pixels) at `fps`."""
    from videokr.video.probe import probe
    from videokr.video.sampling import decode_at, times_by_rate

    info = info or probe(path)
    frames = decode_at(path, info, times_by_rate(info.duration_s, fps), convert=views_converter(method), threads=threads)
    times = np.array([f.target_seconds for f in frames], dtype=np.float64)
    full32 = np.stack([f.image[0] for f in frames])
    reduced = np.stack([f.image[1] for f in frames])
    hashes, boxes = view_hashes(full32, reduced, strip_bars=strip_bars, crops=crops)
    return times, hashes, boxes
