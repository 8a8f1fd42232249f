from __future__ import annotations

import itertools

import pytest

from videokr.video.budget import (
    DEFAULT_BUDGET,
    PAPER_MAX_FRAMES,
    PAPER_MAX_VIDEO_TOKENS,
    PAPER_QWEN2_5_VL,
    PAPER_QWEN3_VL,
    RELEASE,
    BudgetError,
    frame_count,
    plan,
    preset,
    smart_resize,
    video_token_cost,
)


def test_paper_settings() -> None:
    assert PAPER_MAX_FRAMES == 128 and PAPER_MAX_VIDEO_TOKENS == 4096
    assert DEFAULT_BUDGET is PAPER_QWEN2_5_VL
    assert PAPER_QWEN2_5_VL.factor == 28 and PAPER_QWEN3_VL.factor == 32
    assert (PAPER_QWEN2_5_VL.max_frames, PAPER_QWEN2_5_VL.max_video_tokens) == (128, 4096)
    assert (PAPER_QWEN3_VL.max_frames, PAPER_QWEN3_VL.max_video_tokens) == (128, 4096)


def test_release_settings() -> None:
    assert (RELEASE.fps, RELEASE.max_frames, RELEASE.min_frames) == (2.0, 128, 4)
    assert RELEASE.min_pixels == RELEASE.max_pixels == 128 * 28 * 28
    assert RELEASE.max_video_tokens is None
    assert preset("release") is RELEASE
    with pytest.raises(BudgetError, match="unknown video budget 'x'"):
        preset("x")


def test_smart_resize_matches_qwen_rule() -> None:
    assert smart_resize(1080, 1920) == (728, 1316)
    assert smart_resize(224, 224) == (224, 224)
    assert smart_resize(10, 10) == (56, 56)  # raised to min_pixels
    assert smart_resize(360, 640, 28, 128 * 784, 128 * 784) == (224, 420)
    assert smart_resize(360, 640, 32, 4 * 1024, 64 * 1024) == (192, 320)
    with pytest.raises(BudgetError, match="aspect ratio"):
        smart_resize(1, 500)


def test_frame_count_rules() -> None:
    assert frame_count(344, 344 * 25, RELEASE) == 128  # 2 fps capped at 128
    assert frame_count(10, 250, RELEASE) == 20
    assert frame_count(1, 25, RELEASE) == 4  # min_frames
    assert frame_count(1, 3, RELEASE) == 2  # never more than the video has, in pairs
    assert frame_count(10.5, 1000, RELEASE) == 20  # 21 rounded down to a pair


def test_release_gives_about_8k_tokens_at_128_frames() -> None:
    p = plan(640, 360, 344, 344 * 25, RELEASE)
    assert p.frames == 128 and (p.height, p.width) == (224, 420)
    assert p.video_tokens == 64 * 120 == 7680
    assert video_token_cost(448, 448, 344, 344 * 25, RELEASE) == 64 * 11 * 11 == 7744


@pytest.mark.parametrize("budget", [PAPER_QWEN2_5_VL, PAPER_QWEN3_VL])
def test_paper_budget_is_respected_everywhere(budget) -> None:
    sizes = [(640, 360), (1280, 720), (1920, 1080), (176, 144), (3840, 2160), (360, 640), (1000, 10), (64, 64)]
    for (w, h), (dur, fps), cap in itertools.product(sizes, [(344, 25), (5, 30), (1800, 60), (0.5, 25)], [16, 32, 64, 128]):
        b = budget.with_frames(cap)
        p = plan(w, h, dur, max(1, int(dur * fps)), b)
        assert p.video_tokens <= 4096, (w, h, dur, cap, p)
        assert p.frames <= cap and p.frames % 2 == 0
        assert p.height % b.factor == 0 and p.width % b.factor == 0
        assert p.video_tokens == (p.frames // 2) * (p.height // b.factor) * (p.width // b.factor)


def test_paper_budget_uses_most_of_it() -> None:
    p = plan(640, 360, 344, 344 * 25, PAPER_QWEN2_5_VL)
    assert p.frames == 128 and p.video_tokens == 64 * 60 == 3840
    p16 = plan(640, 360, 344, 344 * 25, PAPER_QWEN2_5_VL.with_frames(16))
    assert (p16.frames, p16.height, p16.width) == (16, 364, 644)  # native size fits: no upscaling
    assert p16.video_tokens == 8 * 13 * 23
