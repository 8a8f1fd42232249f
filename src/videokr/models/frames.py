"""Video frames in chat messages: each a JPEG data URL after its timestamp as text.

Why timestamps as text: the generation prompts of §3.3 ask the model to cite moments of the
video ("at [01:25] …"); a model can only do that if every image arrives labelled. The image
budget is per model (providers cap images per request); frames beyond it are thinned
uniformly, never cut from the end, so the whole video stays covered.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

JPEG_QUALITY = 85


class FrameLike(Protocol):
    pts_seconds: float
    image: np.ndarray


def format_timestamp(seconds: float) -> str:
    """[MM:SS], or [H:MM:SS] from one hour on; rounded down to the second."""
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"[{hours}:{minutes:02d}:{secs:02d}]" if hours else f"[{minutes:02d}:{secs:02d}]"


def jpeg_data_url(image: np.ndarray, *, quality: int = JPEG_QUALITY) -> str:
    """An HxWx3 uint8 RGB array as a data:image/jpeg;base64 URL."""
    from PIL import Image

    array = np.asarray(image)
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"a frame must be an HxWx3 uint8 array, got shape {array.shape} dtype {array.dtype}")
    buffer = io.BytesIO()
    Image.fromarray(array, "RGB").save(buffer, format="JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


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
