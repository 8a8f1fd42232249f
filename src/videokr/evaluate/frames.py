"""Frames for evaluation: ``n`` frames sampled uniformly over the video, with their timestamps.

Uses the video core (:mod:`videokr.video.sampling`) when it is installed; otherwise a small
PyAV reader that decodes sequentially and keeps the frames nearest to the uniform targets.
Either way one function, :func:`load_frames`, is what the evaluation runner calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class EvalFrame:
    index: int
    pts_seconds: float
    image: np.ndarray  # H×W×3 uint8


class VideoError(RuntimeError):
    pass


def uniform_times(duration_s: float, n: int) -> list[float]:
    """Centres of ``n`` equal segments of the video: the usual uniform sampling."""
    if n <= 0:
        raise ValueError(f"frame count must be positive, got {n}")
    return [duration_s * (i + 0.5) / n for i in range(n)]


def load_frames(path: str | Path, n: int, *, max_side: int | None = None) -> list[EvalFrame]:
    """``n`` uniformly spaced frames of ``path`` (fewer when the video has fewer)."""
    path = Path(path)
    if not path.is_file():
        raise VideoError(f"{path}: no such video file")
    try:
        from videokr.video.sampling import sample_frames  # the video core, when present
    except ImportError:
        return _pyav_frames(path, n, max_side)
    size = None if max_side is None else max_side
    frames = sample_frames(path, n=n, size=size)
    return [EvalFrame(f.index, float(f.pts_seconds), f.image) for f in frames]


def _pyav_frames(path: Path, n: int, max_side: int | None) -> list[EvalFrame]:
    import av

    try:
        container = av.open(str(path))
    except av.error.FFmpegError as exc:  # type: ignore[attr-defined]
        raise VideoError(f"{path}: cannot open video ({exc})") from None
    with container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        tb = float(stream.time_base) if stream.time_base else 0.0
        duration = float(stream.duration * tb) if stream.duration else (container.duration or 0) / 1e6
        if duration <= 0:
            raise VideoError(f"{path}: unknown duration")
        targets = uniform_times(duration, n)
        picked: list[EvalFrame] = []
        t_i = 0
        previous = None
        for index, frame in enumerate(container.decode(stream)):
            t = float(frame.pts * tb) if frame.pts is not None else index / float(stream.average_rate or 25)
            while t_i < len(targets) and t >= targets[t_i]:
                chosen = frame
                if previous is not None and abs(previous[1] - targets[t_i]) < abs(t - targets[t_i]):
                    chosen_index, chosen_t, chosen = previous
                else:
                    chosen_index, chosen_t = index, t
                picked.append(EvalFrame(chosen_index, chosen_t, _rgb(chosen, max_side)))
                t_i += 1
            if t_i >= len(targets):
                break
            previous = (index, t, frame)
        if t_i < len(targets) and previous is not None:  # the tail: the last frame stands in
            picked.extend(EvalFrame(previous[0], previous[1], _rgb(previous[2], max_side)) for _ in targets[t_i:])
    if not picked:
        raise VideoError(f"{path}: no decodable frames")
    return picked


def _rgb(frame, max_side: int | None) -> np.ndarray:  # type: ignore[no-untyped-def]
    if max_side and max(frame.width, frame.height) > max_side:
        scale = max_side / max(frame.width, frame.height)
        frame = frame.reformat(width=max(2, int(frame.width * scale) // 2 * 2), height=max(2, int(frame.height * scale) // 2 * 2))
    return frame.to_ndarray(format="rgb24")
