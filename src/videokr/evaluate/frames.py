"""Frames for evaluation: ``n`` frames sampled uniformly over the video, with their timestamps.

The video core (:mod:`videokr.video.sampling`) decodes the exact frames at uniform targets;
this module fixes the evaluation's choices (uniform over the whole video, longer side capped)
and turns decoding failures into one error type the runner records per sample.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from videokr.video.probe import VideoError as CoreVideoError
from videokr.video.probe import probe
from videokr.video.sampling import sample_frames


@dataclass(frozen=True)
class EvalFrame:
    index: int
    pts_seconds: float
    image: np.ndarray  # H×W×3 uint8


class VideoError(RuntimeError):
    pass


def load_frames(path: str | Path, n: int, *, max_side: int | None = None) -> list[EvalFrame]:
    """``n`` uniformly spaced frames of ``path`` (fewer when the video has fewer)."""
    path = Path(path)
    if not path.is_file():
        raise VideoError(f"{path}: no such video file")
    try:
        info = probe(path)
        size = _fit(info.display_size, max_side)
        frames = sample_frames(path, n=n, size=size, info=info)
    except CoreVideoError as exc:
        raise VideoError(str(exc)) from None
    return [EvalFrame(f.index, float(f.pts_seconds), f.image) for f in frames]


def _fit(display: tuple[int, int], max_side: int | None) -> tuple[int, int] | None:
    """(width, height) with the longer side at most ``max_side``, even, aspect kept."""
    width, height = display
    if not max_side or max(width, height) <= max_side:
        return None
    scale = max_side / max(width, height)
    return max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2)
