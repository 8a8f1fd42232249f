"""Images as data URLs: one encoder for prompts, evaluation and `video frames`."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from videokr.dataurl import data_url, is_data_url, jpeg_bytes, jpeg_data_url
from videokr.models.frames import frame_parts


def _decoded(url: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))


def test_arrays_and_bytes_become_jpeg_data_urls() -> None:
    image = np.random.default_rng(0).integers(0, 256, (24, 32, 3), dtype=np.uint8)
    url = jpeg_data_url(image, quality=90)
    assert url.startswith("data:image/jpeg;base64,") and is_data_url(url)
    assert _decoded(url).size == (32, 24) and _decoded(url).format == "JPEG"
    assert url == jpeg_data_url(jpeg_bytes(image, quality=90))  # bytes go in as they are
    assert jpeg_data_url(image) != url  # the default quality (85, prompts) is not 90
    grey = jpeg_data_url(np.zeros((8, 8), dtype=np.uint8))
    assert _decoded(grey).mode == "L"
    with pytest.raises(ValueError, match="HxWx3 or HxW uint8"):
        jpeg_data_url(np.zeros((8, 8, 4), dtype=np.uint8))


def test_prompt_frames_use_the_same_encoder() -> None:
    image = np.random.default_rng(1).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    [label, part] = frame_parts([(61.0, image)], max_images=4)
    assert label == {"type": "text", "text": "[01:01]"}
    assert part["image_url"]["url"] == jpeg_data_url(image)


def test_data_url_and_detection() -> None:
    assert data_url(b"\x89PNG", "image/png") == "data:image/png;base64,iVBORw=="
    assert is_data_url("data:image/png;base64,iVBORw==")
    assert not is_data_url("https://example.org/a.jpg")
    assert not is_data_url("data: not base64")
    assert not is_data_url(b"data:image/png;base64,")
