"""Images as `data:` URLs, the form OpenAI-style `image_url` parts carry them in.

Why one module: the bytes of every image are part of a request's fingerprint, so two ways
of encoding the same frame would make the same request twice (and pay twice). Frames for
prompts, frames for evaluation and frames printed by `videokr video frames` are all encoded
here, with one JPEG encoder and explicit quality.
"""

from __future__ import annotations

import base64
import io

import numpy as np

JPEG_QUALITY = 85  # prompts to models (§3.3); `videokr video frames` asks for 90


def data_url(data: bytes, mime: str) -> str:
    """`data:MIME;base64,…` for raw bytes."""
    return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")


def jpeg_bytes(image: np.ndarray, *, quality: int = JPEG_QUALITY) -> bytes:
    """An HxWx3 (RGB) or HxW (grey) uint8 array as JPEG bytes."""
    from PIL import Image

    array = np.asarray(image)
    if array.dtype != np.uint8 or not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] == 3)):
        raise ValueError(f"an image must be an HxWx3 or HxW uint8 array, got shape {array.shape} dtype {array.dtype}")
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def jpeg_data_url(image: np.ndarray | bytes, *, quality: int = JPEG_QUALITY) -> str:
    """`data:image/jpeg;base64,…` for an image array (encoded at `quality`) or JPEG bytes (as they are)."""
    data = image if isinstance(image, bytes) else jpeg_bytes(image, quality=quality)
    return data_url(data, "image/jpeg")


def is_data_url(value: object) -> bool:
    """Whether `value` is a base64 data URL (the test the model-call cache uses to digest images)."""
    return isinstance(value, str) and value.startswith("data:") and ";base64," in value[:64]
