"""Qwen2.5-VL / Qwen3-VL video inputs built from frames with numpy.

transformers' video processors need torchvision; this module builds the same model inputs
(``pixel_values_videos``, ``video_grid_thw``, the expanded ``<|video_pad|>`` tokens, and for
Qwen3-VL the per-group ``<t seconds>`` labels) from already-sampled frames, so the
``transformers`` backend also runs where torchvision is not installed (CPU-only torch).
Resizing follows the Qwen rule: both sides a multiple of patch × merge, the pixel count
within ``[min_pixels, max_pixels]``, the aspect ratio kept.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from videokr.evaluate.frames import EvalFrame

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)  # Qwen2/2.5-VL
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
HALF_MEAN = (0.5, 0.5, 0.5)  # Qwen3-VL
HALF_STD = (0.5, 0.5, 0.5)
VIDEO_PAD = "<|video_pad|>"
VISION_START = "<|vision_start|>"
VISION_END = "<|vision_end|>"


@dataclass(frozen=True)
class QwenVision:
    patch_size: int
    temporal_patch_size: int
    merge_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    timestamps: bool  # Qwen3-VL writes "<t seconds>" before each temporal group
    min_pixels: int = 128 * 28 * 28
    max_pixels: int = 768 * 28 * 28

    @classmethod
    def from_config(cls, config: Any, **overrides: Any) -> "QwenVision":
        vision = config.vision_config
        qwen3 = "qwen3" in str(getattr(config, "model_type", "")).lower()
        fields = dict(
            patch_size=int(vision.patch_size),
            temporal_patch_size=int(getattr(vision, "temporal_patch_size", 2)),
            merge_size=int(getattr(vision, "spatial_merge_size", 2)),
            mean=HALF_MEAN if qwen3 else CLIP_MEAN,
            std=HALF_STD if qwen3 else CLIP_STD,
            timestamps=qwen3,
        )
        fields.update(overrides)
        return cls(**fields)


def smart_size(height: int, width: int, factor: int, min_pixels: int, max_pixels: int) -> tuple[int, int]:
    h = max(factor, round(height / factor) * factor)
    w = max(factor, round(width / factor) * factor)
    if h * w > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h = max(factor, math.floor(height / beta / factor) * factor)
        w = max(factor, math.floor(width / beta / factor) * factor)
    elif h * w < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h = math.ceil(height * beta / factor) * factor
        w = math.ceil(width * beta / factor) * factor
    return h, w


def _resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    from PIL import Image

    if image.shape[0] == height and image.shape[1] == width:
        return image
    return np.asarray(Image.fromarray(image).resize((width, height), Image.BICUBIC))


def video_patches(frames: Sequence[EvalFrame], vision: QwenVision) -> tuple[np.ndarray, tuple[int, int, int], list[float]]:
    """(patches [N, C·T·P·P], grid (t, h, w), the timestamp of each temporal group)."""
    if not frames:
        raise ValueError("no frames")
    frames = list(frames)
    while len(frames) % vision.temporal_patch_size:
        frames.append(frames[-1])  # pad by repeating the last frame, as the Qwen processors do
    factor = vision.patch_size * vision.merge_size
    h0, w0 = frames[0].image.shape[:2]
    h, w = smart_size(h0, w0, factor, vision.min_pixels, vision.max_pixels)
    video = np.stack([_resize(f.image, h, w) for f in frames]).astype(np.float32) / 255.0
    video = (video - np.asarray(vision.mean, np.float32)) / np.asarray(vision.std, np.float32)
    video = video.transpose(0, 3, 1, 2)  # T, C, H, W
    tp, p, m = vision.temporal_patch_size, vision.patch_size, vision.merge_size
    gt, gh, gw = len(frames) // tp, h // p, w // p
    patches = video.reshape(gt, tp, 3, gh // m, m, p, gw // m, m, p)
    patches = patches.transpose(0, 3, 6, 4, 7, 2, 1, 5, 8).reshape(gt * gh * gw, 3 * tp * p * p)
    times = [float(np.mean([f.pts_seconds for f in frames[i * tp : (i + 1) * tp]])) for i in range(gt)]
    return patches, (gt, gh, gw), times


def expand_video_tokens(text: str, grid: tuple[int, int, int], times: list[float], vision: QwenVision) -> str:
    """Replace the chat template's one ``<|video_pad|>`` with the model's video token layout.

    As the transformers processors do, only the pad token is replaced: for Qwen3-VL the
    template's own ``<|vision_start|>``/``<|vision_end|>`` stay around the per-group
    ``<t seconds><|vision_start|>…<|vision_end|>`` blocks."""
    gt, gh, gw = grid
    per_group = gh * gw // (vision.merge_size**2)
    placeholder = f"{VISION_START}{VIDEO_PAD}{VISION_END}"
    if placeholder not in text:
        raise ValueError(f"the chat template did not produce {placeholder!r}")
    if vision.timestamps:
        body = "".join(f"<{t:.1f} seconds>{VISION_START}{VIDEO_PAD * per_group}{VISION_END}" for t in times)
    else:
        body = VIDEO_PAD * (gt * per_group)
    return text.replace(placeholder, f"{VISION_START}{body}{VISION_END}", 1)
