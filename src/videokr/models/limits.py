"""Staying inside a provider's limits, and backing off when it says no.

- `RateLimiter`: a token bucket per limit (requests per minute, tokens per minute). A bucket
  holds five seconds' worth, so a run starts without a minute-sized burst that the provider's
  own limiter would answer with 429s.
- `backoff_delay`: exponential with full jitter between half and the whole step, or exactly
  what the provider asked for in Retry-After (plus up to 10% jitter, so that a crowd of
  waiting requests does not return in one instant).
- `CircuitBreaker`: after many consecutive failures a model is paused as a whole, instead of
  every item burning its own retries against a provider that is down; the pause doubles while
  the failures go on, and a model paused for too long fails what is waiting, with the reason.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from collections.abc import Mapping

BUCKET_SECONDS = 5.0
RETRY_AFTER_MAX_S = 600.0  # a provider asking for more than this is treated as asking for this


class RateLimiter:
    """Async token bucket refilled at `per_minute / 60` a second."""

    def __init__(self, per_minute: float, *, burst_s: float = BUCKET_SECONDS) -> None:
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, self.rate * burst_s)
        self._level = self.capacity
        self._updated = time.monotonic()
        self._lock = asyncio.Lock()

    async def acquire(self, amount: float = 1.0) -> float:
        """Wait until `amount` is available (capped at the bucket size); returns seconds waited."""
        amount = min(amount, self.capacity)
        waited = 0.0
        async with self._lock:
            while True:
                now = time.monotonic()
                self._level = min(self.capacity, self._level + (now - self._updated) * self.rate)
                self._updated = now
                if self._level >= amount:
                    self._level -= amount
                    return waited
                delay = (amount - self._level) / self.rate
                waited += delay
                await asyncio.sleep(delay)


def parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds to wait from `retry-after-ms`, `retry-after` (seconds or an HTTP date), or None."""
    if not headers:
        return None
    value = headers.get("retry-after-ms")
    if value:
        try:
            return max(0.0, float(value) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def backoff_delay(
    attempt: int, *, base_s: float, max_s: float, retry_after_s: float | None = None, rng: random.Random | None = None
) -> float:
    """Delay before resend number `attempt` (1 = first resend).

    A provider's Retry-After is obeyed even beyond `max_s`: it knows when its window reopens.
    """
    rng = rng or random
    if retry_after_s is not None:
        return min(RETRY_AFTER_MAX_S, retry_after_s) * (1.0 + 0.1 * rng.random())
    step = min(max_s, base_s * (2 ** (attempt - 1)))
    return step * (0.5 + 0.5 * rng.random())


class CircuitOpenError(RuntimeError):
    pass


class CircuitBreaker:
    """Closed → (threshold consecutive failures) → open for a cooldown → one probe → closed or open again."""

    def __init__(self, threshold: int, cooldown_s: float, give_up_s: float, *, max_cooldown_s: float = 600.0) -> None:
        self.threshold = threshold
        self.base_cooldown_s = cooldown_s
        self.cooldown_s = cooldown_s
        self.max_cooldown_s = max_cooldown_s
        self.give_up_s = give_up_s
        self.failures = 0
        self.open_until = 0.0
        self.opened_at: float | None = None
        self.trips = 0
        self._probe: asyncio.Lock | None = None

    @property
    def is_open(self) -> bool:
        return self.opened_at is not None

    async def wait_closed(self) -> None:
        """Return when a request may be sent; raise CircuitOpenError once paused past give_up_s."""
        while self.opened_at is not None:
            now = time.monotonic()
            if now - self.opened_at > self.give_up_s:
                raise CircuitOpenError(
                    f"model paused for {now - self.opened_at:.0f} s after {self.threshold} consecutive failures; "
                    "giving up on the requests still waiting"
                )
            if now >= self.open_until:
                return  # half-open: let requests probe; the first outcome decides
            await asyncio.sleep(min(self.open_until - now, 1.0))

    def record_success(self) -> None:
        self.failures = 0
        self.opened_at = None
        self.cooldown_s = self.base_cooldown_s

    def record_failure(self) -> None:
        self.failures += 1
        now = time.monotonic()
        if self.opened_at is not None and now >= self.open_until:
            # a probe after the cooldown failed: pause again, longer
            self.cooldown_s = min(self.max_cooldown_s, self.cooldown_s * 2)
            self.open_until = now + self.cooldown_s
            self.trips += 1
        elif self.opened_at is None and self.failures >= self.threshold:
            self.opened_at = now
            self.open_until = now + self.cooldown_s
            self.trips += 1
