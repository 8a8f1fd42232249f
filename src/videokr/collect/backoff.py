"""One backoff shared by every download of a run: when the source says "slow down", everyone slows down.

A bot check, an HTTP 403 or an HTTP 429 says nothing about the video and everything about
us: the next download would meet the same refusal. So one refusal quarantines its item and
makes every later download wait (the wait doubles with each refusal in a row, up to a cap),
and after `max_blocks` refusals in a row the step stops cleanly (`videokr.errors.Stop`):
what finished is kept, the rest stays pending for a later run. One success resets the count.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

from videokr.errors import Stop

DEFAULT_BACKOFF_S = 60.0  # the first wait after a refusal
BACKOFF_FACTOR = 2.0  # each further refusal in a row doubles it
DEFAULT_BACKOFF_MAX_S = 1800.0  # never wait more than half an hour between attempts
DEFAULT_MAX_BLOCKS = 5  # refusals in a row after which the step stops


class Backoff:
    """Thread-safe: downloads run in threads and coroutines of one process."""

    def __init__(self, first_s: float = DEFAULT_BACKOFF_S, max_s: float = DEFAULT_BACKOFF_MAX_S,
                 max_blocks: int = DEFAULT_MAX_BLOCKS, factor: float = BACKOFF_FACTOR,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.first_s, self.max_s, self.max_blocks, self.factor = first_s, max_s, max_blocks, factor
        self.clock = clock
        self.in_a_row = 0
        self.not_before = 0.0
        self.waits: list[float] = []  # every wait imposed, for reports and tests
        self._lock = threading.Lock()

    def delay(self) -> float:
        """Seconds a download starting now must wait."""
        with self._lock:
            return max(0.0, self.not_before - self.clock())

    def wait(self) -> None:
        while (pause := self.delay()) > 0:
            time.sleep(pause)

    async def await_turn(self) -> None:
        while (pause := self.delay()) > 0:
            await asyncio.sleep(pause)

    def blocked(self, why: str) -> float:
        """Record a refusal; returns the wait it imposes, or raises Stop after `max_blocks` in a row."""
        with self._lock:
            self.in_a_row += 1
            if self.in_a_row >= self.max_blocks:
                raise Stop(f"the source refused {self.in_a_row} downloads in a row (last: {why}); stopping so the "
                           "rest stay pending — run again later, or with a cookies file")
            pause = min(self.max_s, self.first_s * self.factor ** (self.in_a_row - 1))
            self.not_before = max(self.not_before, self.clock() + pause)
            self.waits.append(pause)
            return pause

    def succeeded(self) -> None:
        with self._lock:
            self.in_a_row = 0
