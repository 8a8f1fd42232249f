"""The frames a video is moderated on: four drawn at random (§3.2), the same four on every run.

The draw is seeded by the video's id, so a rerun, another worker or another machine looks at
the same moments, and a moderation reply cached for one run is found by the next. Frames are
sent as JPEG bytes encoded once here (`videokr.dataurl`): the bytes are what the reply cache
is keyed on.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Literal

from videokr.dataurl import jpeg_bytes
from videokr.hashing import seed_of

SAFETY_FRAMES = 4  # "we randomly sample four frames from each video" (§3.2)
SEED_SALT = "safety"  # the draw of the safety step, apart from other random draws on the same video


@dataclass(frozen=True)
class ModerationFrame:
    """One frame as a backend sees it."""

    time_s: float
    jpeg: bytes
    width: int
    height: int

    @cached_property
    def sha256(self) -> str:
        """The content hash a backend's reply is cached under."""
        return hashlib.sha256(self.jpeg).hexdigest()


def safety_seed(video_id: str) -> int:
    """The seed of a video's frame draw: its id, nothing that changes between runs."""
    return seed_of(SEED_SALT, video_id)


def safety_times(path: str | Path, video_id: str, k: int = SAFETY_FRAMES) -> list[float]:
    """The presentation times (seconds) of the k frames drawn for this video, in time order."""
    from videokr.video.probe import probe
    from videokr.video.sampling import times_random

    return times_random(probe(path), k, safety_seed(video_id))


def safety_frames(path: str | Path, video_id: str, k: int = SAFETY_FRAMES,
                  mode: Literal["exact", "keyframe"] = "exact") -> list[ModerationFrame]:
    """The k drawn frames, decoded and JPEG-encoded (fewer if the video has fewer frames).

    `keyframe` decodes the nearest keyframes instead (faster, a few seconds off; two draws
    can share a keyframe, which is then moderated once)."""
    from videokr.video.sampling import sample_frames

    frames = sample_frames(path, k=k, seed=safety_seed(video_id), mode=mode)
    chosen: dict[float, ModerationFrame] = {}
    for frame in frames:
        if frame.pts_seconds not in chosen:
            height, width = frame.image.shape[:2]
            chosen[frame.pts_seconds] = ModerationFrame(round(frame.pts_seconds, 6), jpeg_bytes(frame.image),
                                                        width, height)
    return [chosen[t] for t in sorted(chosen)]
