"""How a moment of a video is written: `[MM:SS]`, or `[H:MM:SS]` from one hour on.

Why one function: the generation prompts (§3.3) label every frame with its time and ask the
model to cite moments by that label; the frames a prompt shows, the frames `videokr video
frames` prints and the frames an evaluation sends must carry the same label for the same
time, or a cited moment points at the wrong frame.
"""

from __future__ import annotations

import math
import re

# Presentation times are ticks × time base: 3.0 s may arrive as 2.9999999999. Rounding down
# after this nudge labels such a frame [00:03], as the player shows it, not [00:02].
EPSILON_S = 1e-6


def format_timestamp(seconds: float) -> str:
    """`[MM:SS]` (or `[H:MM:SS]` past an hour), rounded down to the second; before 0 is `[00:00]`."""
    total = int(math.floor(max(0.0, seconds) + EPSILON_S))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"[{hours}:{minutes:02d}:{secs:02d}]" if hours else f"[{minutes:02d}:{secs:02d}]"


# `[01:23]`, `01:23`, `1:02:03`, optionally with fractional seconds (`01:23.5`); not part of a longer
# number or a ratio like `16:9:4`.
_CITED = re.compile(r"(?<![\d:.])(?:(\d{1,2}):)?(\d{1,2}):(\d{2})(?:\.(\d+))?(?![\d:])")


def parse_timestamps(text: str) -> list[float]:
    """The moments a text cites as `MM:SS` or `H:MM:SS` (bracketed or not), in seconds, first mention order.

    Why: questions and reasoning cite moments as `format_timestamp` writes them ("at [01:23]")
    or as people write them ("at 01:23"); a reviewer jumps to each one. Minutes and seconds
    past 59 are not times and are skipped."""
    seen: list[float] = []
    for match in _CITED.finditer(text or ""):
        hours, minutes, secs, fraction = match.groups()
        if int(secs) > 59 or (hours is not None and int(minutes) > 59):
            continue
        value = int(hours or 0) * 3600 + int(minutes) * 60 + int(secs) + (float(f"0.{fraction}") if fraction else 0.0)
        if value not in seen:
            seen.append(value)
    return seen
