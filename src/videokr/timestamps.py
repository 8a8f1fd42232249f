"""How a moment of a video is written: `[MM:SS]`, or `[H:MM:SS]` from one hour on.

Why one function: the generation prompts (§3.3) label every frame with its time and ask the
model to cite moments by that label; the frames a prompt shows, the frames `videokr video
frames` prints and the frames an evaluation sends must carry the same label for the same
time, or a cited moment points at the wrong frame.
"""

from __future__ import annotations

import math

# Presentation times are ticks × time base: 3.0 s may arrive as 2.9999999999. Rounding down
# after this nudge labels such a frame [00:03], as the player shows it, not [00:02].
EPSILON_S = 1e-6


def format_timestamp(seconds: float) -> str:
    """`[MM:SS]` (or `[H:MM:SS]` past an hour), rounded down to the second; before 0 is `[00:00]`."""
    total = int(math.floor(max(0.0, seconds) + EPSILON_S))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"[{hours}:{minutes:02d}:{secs:02d}]" if hours else f"[{minutes:02d}:{secs:02d}]"
