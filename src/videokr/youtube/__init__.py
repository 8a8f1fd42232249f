"""The YouTube Data API side of §3.2: a thin client, ISO 8601 durations and the daily quota.

The `youtube_search` and `youtube_videos` steps (`videokr.steps.youtube_search`) are built on
these; `videokr.testing.youtube_server` is a loopback stand-in of the two endpoints.
"""

from videokr.youtube.durations import parse_duration
from videokr.youtube.quota import (
    DEFAULT_DAILY_QUOTA,
    SEARCH_UNITS,
    VIDEOS_PER_CALL,
    VIDEOS_UNITS,
    QuotaExhausted,
    QuotaLedger,
    QuotaMeter,
    describe_reset,
    next_reset,
    quota_day,
)

__all__ = [
    "DEFAULT_DAILY_QUOTA",
    "SEARCH_UNITS",
    "VIDEOS_PER_CALL",
    "VIDEOS_UNITS",
    "QuotaExhausted",
    "QuotaLedger",
    "QuotaMeter",
    "describe_reset",
    "next_reset",
    "parse_duration",
    "quota_day",
]
