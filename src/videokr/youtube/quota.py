"""YouTube Data API quota: what each call costs, what a day allows, and when the day ends.

Why it is kept in the store: the API gives a project a daily budget of units (10,000 by
default) and answers `quotaExceeded` once it is spent, until midnight Pacific time. A run
that stops there and a rerun the same day must not send again only to be told no, and a
run the next day must start from a fresh budget; so the units spent per Pacific-time day
are counted in the workspace's store (table `youtube_quota`), written *before* each request
goes out. A process killed after sending therefore never under-counts; every request sent
counts, failed ones too, since the API may charge them.

The table belongs to this module (created with `Store.ensure_schema`), not to the store's
core schema.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from videokr.errors import Stop
from videokr.store import Store

SEARCH_UNITS = 100  # one search.list call (one page of results)
VIDEOS_UNITS = 1  # one videos.list call (up to VIDEOS_PER_CALL ids)
VIDEOS_PER_CALL = 50  # the most ids one videos.list call takes
DEFAULT_DAILY_QUOTA = 10_000  # the API's default daily quota per project
QUOTA_TIMEZONE = "America/Los_Angeles"  # the API's day ends at midnight Pacific time

SCHEMA = """
CREATE TABLE IF NOT EXISTS youtube_quota (
    day TEXT NOT NULL,
    step TEXT NOT NULL,
    units INTEGER NOT NULL DEFAULT 0,
    calls INTEGER NOT NULL DEFAULT 0,
    exhausted_at TEXT,
    PRIMARY KEY (day, step)
) WITHOUT ROWID;
"""

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _pacific() -> ZoneInfo:
    return ZoneInfo(QUOTA_TIMEZONE)


def quota_day(now: datetime) -> date:
    """The Pacific-time date whose budget a call made at `now` counts against."""
    return _aware(now).astimezone(_pacific()).date()


def next_reset(now: datetime) -> datetime:
    """The next midnight in Pacific time after `now`, in UTC (daylight saving time included)."""
    day = quota_day(now) + timedelta(days=1)
    return datetime.combine(day, time(0), tzinfo=_pacific()).astimezone(timezone.utc)


def describe_reset(now: datetime) -> str:
    """'2025-03-10 07:00 UTC, in 3 h 12 min': when the quota resets, absolute and from now."""
    reset = next_reset(now)
    return f"{reset:%Y-%m-%d %H:%M} UTC, in {_span(reset - _aware(now))}"


def _span(delta: timedelta) -> str:
    minutes = max(1, math.ceil(delta.total_seconds() / 60))
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


def _aware(now: datetime) -> datetime:
    return now if now.tzinfo is not None else now.replace(tzinfo=timezone.utc)


class QuotaExhausted(Stop):
    """The day's budget is spent (by our count or the API's word): the step stops until the reset."""


@dataclass
class QuotaMeter:
    """Calls and units one step would send: a dry run's answer (nothing is sent)."""

    search_calls: int = 0
    video_ids: int = 0
    videos_per_call: int = VIDEOS_PER_CALL

    @property
    def videos_calls(self) -> int:
        return math.ceil(self.video_ids / self.videos_per_call) if self.video_ids else 0

    @property
    def requests(self) -> int:
        return self.search_calls + self.videos_calls

    @property
    def units(self) -> int:
        return self.search_calls * SEARCH_UNITS + self.videos_calls * VIDEOS_UNITS

    def as_dict(self) -> dict[str, int]:
        return {"requests": self.requests, "quota_units": self.units, "search_calls": self.search_calls,
                "videos_calls": self.videos_calls}


class QuotaLedger:
    """The units a workspace spent per Pacific-time day, checked against a daily budget before each call."""

    def __init__(self, store: Store, *, step: str, daily_quota: int = DEFAULT_DAILY_QUOTA,
                 clock: Clock = utc_now) -> None:
        self.store = store
        self.step = step
        self.daily_quota = daily_quota
        self.clock = clock
        store.ensure_schema("youtube_quota", SCHEMA)

    def spent(self, day: date | None = None) -> int:
        """Units spent on `day` (default: today, Pacific time) by every step."""
        day = day or quota_day(self.clock())
        row = self.store.execute("SELECT coalesce(sum(units), 0) FROM youtube_quota WHERE day=?",
                                 (day.isoformat(),)).fetchone()
        return int(row[0])

    def spent_by_step(self, day: date | None = None) -> dict[str, int]:
        day = day or quota_day(self.clock())
        rows = self.store.execute("SELECT step, units FROM youtube_quota WHERE day=? ORDER BY step",
                                  (day.isoformat(),))
        return {step: int(units) for step, units in rows}

    def exhausted(self, day: date | None = None) -> bool:
        """Whether the API said `quotaExceeded` on `day` (then nothing more is sent before the reset)."""
        day = day or quota_day(self.clock())
        row = self.store.execute("SELECT 1 FROM youtube_quota WHERE day=? AND exhausted_at IS NOT NULL LIMIT 1",
                                 (day.isoformat(),)).fetchone()
        return row is not None

    def charge(self, units: int) -> None:
        """Count `units` for a call about to be sent, or raise QuotaExhausted if the budget does not allow it."""
        now = self.clock()
        day = quota_day(now).isoformat()
        with self.store.transaction() as conn:
            if conn.execute("SELECT 1 FROM youtube_quota WHERE day=? AND exhausted_at IS NOT NULL LIMIT 1",
                            (day,)).fetchone() is not None:
                raise QuotaExhausted(f"the YouTube API said today's quota is spent; it resets at midnight Pacific "
                                     f"time: {describe_reset(now)}")
            spent = int(conn.execute("SELECT coalesce(sum(units), 0) FROM youtube_quota WHERE day=?",
                                     (day,)).fetchone()[0])
            if spent + units > self.daily_quota:
                raise QuotaExhausted(
                    f"the YouTube API budget for today is spent ({spent} of {self.daily_quota} units used; the next "
                    f"call needs {units}); it resets at midnight Pacific time: {describe_reset(now)}")
            conn.execute(
                "INSERT INTO youtube_quota (day, step, units, calls) VALUES (?,?,?,1) ON CONFLICT (day, step) "
                "DO UPDATE SET units=units+excluded.units, calls=calls+1", (day, self.step, units))

    def mark_exhausted(self) -> str:
        """Record the API's `quotaExceeded` for today; returns the message a run stops with."""
        now = self.clock()
        day = quota_day(now).isoformat()
        with self.store.transaction() as conn:
            conn.execute(
                "INSERT INTO youtube_quota (day, step, exhausted_at) VALUES (?,?,?) ON CONFLICT (day, step) "
                "DO UPDATE SET exhausted_at=excluded.exhausted_at", (day, self.step, _aware(now).isoformat()))
        return (f"the YouTube API answered quotaExceeded ({self.spent()} units counted today by this workspace); "
                f"the quota resets at midnight Pacific time: {describe_reset(now)}")
