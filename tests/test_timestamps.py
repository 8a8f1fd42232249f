"""One timestamp label for a moment of a video: what prompts, `video frames` and evaluation print."""

from __future__ import annotations

import pytest

from videokr.timestamps import format_timestamp


@pytest.mark.parametrize(("seconds", "label"), [
    (0, "[00:00]"),
    (5, "[00:05]"),
    (59.9999, "[00:59]"),  # rounded down: the frame is shown from its time on
    (59.9999999, "[01:00]"),  # ...but 60 s stored as ticks × time base is still 60 s
    (60, "[01:00]"),
    (85.9, "[01:25]"),
    (3599.99, "[59:59]"),
    (3600, "[1:00:00]"),
    (3725, "[1:02:05]"),
    (36000, "[10:00:00]"),
    (-0.5, "[00:00]"),
    (-3600, "[00:00]"),
])
def test_format_timestamp_boundaries(seconds: float, label: str) -> None:
    assert format_timestamp(seconds) == label


def test_time_base_noise_is_not_a_second_earlier() -> None:
    from fractions import Fraction

    three_seconds = float(Fraction(2_999_999_999, 1_000_000_000))  # 3 s as a 1 ns time base may give it
    assert format_timestamp(three_seconds) == "[00:03]"
    assert format_timestamp(float(Fraction(90_000 * 3 - 1, 90_000))) == "[00:02]"  # one 90 kHz tick before 3 s
