"""Fingerprints, frames in messages and token estimates."""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image

from videokr.models.fingerprint import legacy_request_fingerprint, request_fingerprint
from videokr.models.frames import frame_parts, thin_uniformly, user_message_with_frames
from videokr.models.tokens import DEFAULT_OUTPUT_TOKENS, estimate_request_tokens
from videokr.timestamps import format_timestamp

BODY = {"model": "a", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.1}


def test_fingerprint_changes_with_what_changes_the_reply() -> None:
    base = request_fingerprint(model="m", body=BODY, step="s", step_version="1")
    assert base == request_fingerprint(model="m", body=dict(reversed(list(BODY.items()))), step="s",
                                       step_version="1")
    assert base != request_fingerprint(model="m2", body=BODY, step="s", step_version="1")
    assert base != request_fingerprint(model="m", body={**BODY, "temperature": 0.2}, step="s", step_version="1")
    assert base != request_fingerprint(model="m", body=BODY, step="s", step_version="1", salt="trial-2")
    # the key is the request: which step asks, and its version, are not part of it
    assert base == request_fingerprint(model="m", body=BODY, step="s", step_version="2")
    assert base == request_fingerprint(model="m", body=BODY, step="t", step_version="1")
    assert base == request_fingerprint(model="m", body=BODY)
    schema = {**BODY, "response_format": {"type": "json_schema", "json_schema": {"name": "X", "schema": {}}}}
    assert base != request_fingerprint(model="m", body=schema, step="s", step_version="1")
    # the body's own 'model' field is replaced by the endpoint's model name
    assert base == request_fingerprint(model="m", body={**BODY, "model": "other"}, step="s", step_version="1")


def test_the_legacy_key_is_the_one_older_stores_were_written_with() -> None:
    import hashlib
    import json

    old_text = json.dumps({"model": "m", "body": {k: v for k, v in BODY.items() if k != "model"}, "step": "s",
                           "version": "1", "salt": ""}, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    old = hashlib.sha256(old_text.encode("utf-8")).hexdigest()[:32]
    assert legacy_request_fingerprint(model="m", body=BODY, step="s", step_version="1") == old
    assert legacy_request_fingerprint(model="m", body=BODY, step="s", step_version="2") != old


def test_timestamps() -> None:
    assert format_timestamp(5) == "[00:05]"
    assert format_timestamp(85.9) == "[01:25]"
    assert format_timestamp(3725) == "[1:02:05]"


def test_frames_become_timestamp_then_jpeg_within_the_budget() -> None:
    rng = np.random.default_rng(0)
    frames = [(5.0 * i, rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)) for i in range(10)]
    parts = frame_parts(frames, max_images=4)
    assert len(parts) == 8
    assert [p["text"] for p in parts[::2]] == ["[00:00]", "[00:15]", "[00:30]", "[00:45]"]
    url = parts[1]["image_url"]["url"]
    assert url.startswith("data:image/jpeg;base64,")
    image = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert image.format == "JPEG" and image.size == (32, 24)
    message = user_message_with_frames("What happens?", frames, max_images=2)
    assert message["content"][-1] == {"type": "text", "text": "What happens?"}
    assert len(message["content"]) == 5


def test_frame_objects_with_pts_and_image_are_accepted() -> None:
    class Frame:
        def __init__(self, pts: float) -> None:
            self.pts_seconds = pts
            self.image = np.zeros((8, 8, 3), dtype=np.uint8)

    parts = frame_parts([Frame(61.0)], max_images=8)
    assert parts[0]["text"] == "[01:01]"


def test_thinning_keeps_ends_and_spreads() -> None:
    assert thin_uniformly(5, 10) == [0, 1, 2, 3, 4]
    assert thin_uniformly(100, 3) == [0, 50, 99]
    assert thin_uniformly(100, 0) == []


def test_token_estimate_is_chars_over_four_plus_images() -> None:
    body = {"messages": [{"role": "user", "content": [{"type": "text", "text": "x" * 400},
                                                       {"type": "image_url", "image_url": {"url": "data:"}}]}]}
    estimate = estimate_request_tokens(body, image_tokens=100)
    assert estimate.text_tokens == 100 + 4 and estimate.images == 1
    assert estimate.input_tokens == 204 and estimate.output_tokens == DEFAULT_OUTPUT_TOKENS
    assert estimate_request_tokens({**body, "max_tokens": 7}, image_tokens=0).output_tokens == 7
