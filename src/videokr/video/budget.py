"""How many frames, how large, and what they cost in video tokens, for Qwen2.5-VL and Qwen3-VL.

A Qwen-VL vision tower cuts each frame into patches (14 px for Qwen2.5-VL, 16 px for
Qwen3-VL), merges 2×2 patches into one token, and pairs consecutive frames (temporal
patch 2). So a frame side must be a multiple of patch·merge (28 or 32), the frame count a
multiple of 2, and a video costs (frames / 2) · (H / factor) · (W / factor) tokens.

The paper trains and evaluates with at most 128 frames and 4,096 video tokens (§5.1). The
official release instead fixes every frame at min_pixels = max_pixels = 128·28·28, which
gives 64 · 128 = 8,192 tokens at 128 frames; qwen-vl-utils' per-frame minimum likewise
overrides a total budget. Here a total budget, when set, always wins: the per-frame area
shrinks (and if need be the frame count) until the cost fits. `RELEASE` keeps the official
behaviour available by name.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

TEMPORAL_PATCH = 2
SPATIAL_MERGE = 2
QWEN2_5_VL_PATCH = 14
QWEN3_VL_PATCH = 16
MAX_ASPECT_RATIO = 200  # qwen-vl-utils refuses frames more elongated than this

PAPER_MAX_FRAMES = 128  # §5.1
PAPER_MAX_VIDEO_TOKENS = 4096  # §5.1
RELEASE_FPS = 2.0
RELEASE_MIN_FRAMES = 4
RELEASE_MAX_FRAMES = 128
RELEASE_PIXELS = 128 * 28 * 28  # min_pixels = max_pixels in the official configs


class BudgetError(ValueError):
    pass


@dataclass(frozen=True)
class VideoBudget:
    """Sampling and pixel settings; `max_video_tokens=None` means per-frame limits only."""

    name: str
    patch_size: int
    fps: float = RELEASE_FPS
    min_frames: int = RELEASE_MIN_FRAMES
    max_frames: int = PAPER_MAX_FRAMES
    min_pixels: int = 4 * 28 * 28
    max_pixels: int = 768 * 28 * 28
    max_video_tokens: int | None = PAPER_MAX_VIDEO_TOKENS

    @property
    def factor(self) -> int:
        return self.patch_size * SPATIAL_MERGE

    def with_frames(self, max_frames: int) -> "VideoBudget":
        """The same budget at another frame cap (evaluation sweeps 16/32/64/128)."""
        return replace(self, max_frames=max_frames, name=f"{self.name}@{max_frames}")


PAPER_QWEN2_5_VL = VideoBudget("paper-qwen2.5-vl", QWEN2_5_VL_PATCH)
PAPER_QWEN3_VL = VideoBudget(
    "paper-qwen3-vl", QWEN3_VL_PATCH, min_pixels=4 * 32 * 32, max_pixels=768 * 32 * 32
)
RELEASE = VideoBudget(
    "release",
    QWEN2_5_VL_PATCH,
    fps=RELEASE_FPS,
    min_frames=RELEASE_MIN_FRAMES,
    max_frames=RELEASE_MAX_FRAMES,
    min_pixels=RELEASE_PIXELS,
    max_pixels=RELEASE_PIXELS,
    max_video_tokens=None,
)
PRESETS: dict[str, VideoBudget] = {b.name: b for b in (PAPER_QWEN2_5_VL, PAPER_QWEN3_VL, RELEASE)}
DEFAULT_BUDGET = PAPER_QWEN2_5_VL


def preset(name: str) -> VideoBudget:
    try:
        return PRESETS[name]
    except KeyError:
        raise BudgetError(f"unknown video budget {name!r}; known: {', '.join(PRESETS)}") from None


def _round(x: float, f: int) -> int:
    return round(x / f) * f


def _floor(x: float, f: int) -> int:
    return math.floor(x / f) * f


def _ceil(x: float, f: int) -> int:
    return math.ceil(x / f) * f


def smart_resize(height: int, width: int, factor: int = 28, min_pixels: int = 56 * 56, max_pixels: int = 14 * 14 * 4 * 1280) -> tuple[int, int]:
    """Qwen-VL's rule: sides multiples of `factor`, area within [min_pixels, max_pixels], aspect kept."""
    if height <= 0 or width <= 0:
        raise BudgetError(f"frame size must be positive, got {width}x{height}")
    if max(height, width) / min(height, width) > MAX_ASPECT_RATIO:
        raise BudgetError(f"aspect ratio above {MAX_ASPECT_RATIO}: {width}x{height}")
    h_bar = max(factor, _round(height, factor))
    w_bar = max(factor, _round(width, factor))
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h_bar = max(factor, _floor(height / beta, factor))
        w_bar = max(factor, _floor(width / beta, factor))
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = _ceil(height * beta, factor)
        w_bar = _ceil(width * beta, factor)
    return h_bar, w_bar


def frame_count(duration_s: float, total_frames: int, budget: VideoBudget) -> int:
    """Frames to sample: duration·fps clamped to [min_frames, max_frames] and to the frames the
    video has, rounded down to a multiple of the temporal patch (at least one pair)."""
    if total_frames <= 0:
        raise BudgetError("the video has no frames")
    min_frames = _ceil(budget.min_frames, TEMPORAL_PATCH)
    max_frames = _floor(min(budget.max_frames, total_frames), TEMPORAL_PATCH)
    wanted = duration_s * budget.fps
    n = min(max(wanted, min_frames), max_frames, total_frames)
    return max(TEMPORAL_PATCH, _floor(n, TEMPORAL_PATCH))


@dataclass(frozen=True)
class VideoPlan:
    frames: int
    height: int
    width: int
    tokens_per_group: int  # tokens per pair of frames
    video_tokens: int


def plan(width: int, height: int, duration_s: float, total_frames: int, budget: VideoBudget = DEFAULT_BUDGET) -> VideoPlan:
    """Frames and frame size for one video such that the token budget, if any, holds."""
    f = budget.factor
    n = frame_count(duration_s, total_frames, budget)
    max_pixels = budget.max_pixels
    if budget.max_video_tokens is not None:
        while True:
            per_group = budget.max_video_tokens // (n // TEMPORAL_PATCH)
            if per_group >= 1 or n <= TEMPORAL_PATCH:
                break
            n -= TEMPORAL_PATCH
        if per_group < 1:
            raise BudgetError(f"a budget of {budget.max_video_tokens} tokens cannot hold one frame pair")
        max_pixels = min(max_pixels, per_group * f * f)
    min_pixels = min(budget.min_pixels, max_pixels)
    h, w = smart_resize(height, width, f, min_pixels, max_pixels)
    tokens = (h // f) * (w // f)
    if budget.max_video_tokens is not None:
        per_group = budget.max_video_tokens // (n // TEMPORAL_PATCH)
        while tokens > per_group:  # a side was held at one factor by an elongated frame
            if w >= h:
                w -= f
            else:
                h -= f
            tokens = (h // f) * (w // f)
    return VideoPlan(n, h, w, tokens, tokens * (n // TEMPORAL_PATCH))


def video_token_cost(width: int, height: int, duration_s: float, total_frames: int, budget: VideoBudget = DEFAULT_BUDGET) -> int:
    """How many video tokens the model will see for this video under `budget`."""
    return plan(width, height, duration_s, total_frames, budget).video_tokens
