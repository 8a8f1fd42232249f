"""Video frames in chat messages: each a JPEG data URL after its timestamp as text.

Why timestamps as text: the generation prompts of §3.3 ask the model to cite moments of the
video ("at [01:25] …"); a model can only do that if every image arrives labelled. The image
budget is per model (providers cap images per request); frames beyond it are thinned
uniformly, never cut from the end, so the whole video stays covered.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from videokr.dataurl import JPEG_QUALITY, jpeg_data_url
from videokr.timestamps import format_timestamp

__all__ = ["JPEG_QUALITY", "FrameLike", "frame_parts", "thin_uniformly", "user_message_with_frames"]


class FrameLike(Protocol):
    pts_seconds: float
    image: np.ndarray


def thin_uniformly(n: int, budget: int) -> list[int]:
    """Indices of at most `budget` of n items, spread evenly, first and last kept."""
    if budget <= 0:
        return []
    if n <= budget:
        return list(range(n))
    if budget == 1:
        return [0]
    return [round(i * (n - 1) / (budget - 1)) for i in range(budget)]


def frame_parts(
    frames: Sequence[tuple[float, np.ndarray]] | Sequence[FrameLike],
    *,
    max_images: int,
    quality: int = JPEG_QUALITY,
) -> list[dict[str, Any]]:
    """Content parts: for each kept frame, a text part `[MM:SS]` then an image_url part."""
    pairs = [(f.pts_seconds, f.image) if hasattr(f, "pts_seconds") else (f[0], f[1]) for f in frames]
    parts: list[dict[str, Any]] = []
    for index in thin_uniformly(len(pairs), max_images):
        pts, image = pairs[index]
        parts.append({"type": "text", "text": format_timestamp(pts)})
        parts.append({"type": "image_url", "image_url": {"url": jpeg_data_url(image, quality=quality)}})
    return parts


def user_message_with_frames(
    text: str,
    frames: Sequence[tuple[float, np.ndarray]] | Sequence[FrameLike],
    *,
    max_images: int,
    text_first: bool = False,
) -> dict[str, Any]:
    """A user message with the frames and the prompt (after the frames unless `text_first`)."""
    frames_content = frame_parts(frames, max_images=max_images)
    text_part = [{"type": "text", "text": text}]
    content = text_part + frames_content if text_first else frames_content + text_part
    return {"role": "user", "content": content}
