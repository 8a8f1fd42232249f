from __future__ import annotations

import asyncio
import random
import time
from email.utils import formatdate

import pytest

from videokr.models.limits import CircuitBreaker, CircuitOpenError, RateLimiter, backoff_delay, parse_retry_after


def test_retry_after_forms() -> None:
    assert parse_retry_after({"retry-after": "2"}) == 2.0
    assert parse_retry_after({"retry-after": "0.25"}) == 0.25
    assert parse_retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert 5 <= parse_retry_after({"retry-after": formatdate(time.time() + 8, usegmt=True)}) <= 8.5
    assert parse_retry_after({}) is None and parse_retry_after({"retry-after": "soon"}) is None


def test_backoff_grows_with_jitter_and_honours_retry_after() -> None:
    rng = random.Random(0)
    delays = [backoff_delay(a, base_s=1, max_s=30, rng=rng) for a in range(1, 8)]
    for attempt, delay in enumerate(delays, start=1):
        step = min(30, 2 ** (attempt - 1))
        assert step / 2 <= delay <= step
    assert 3.0 <= backoff_delay(1, base_s=1, max_s=30, retry_after_s=3.0, rng=rng) <= 3.3


def test_rate_limiter_spaces_requests() -> None:
    async def go() -> float:
        limiter = RateLimiter(per_minute=1200, burst_s=0.05)  # 20/s, bucket of 1
        start = time.monotonic()
        for _ in range(11):
            await limiter.acquire()
        return time.monotonic() - start

    assert asyncio.run(go()) >= 0.45  # 10 waits of 50 ms


def test_breaker_opens_pauses_and_closes() -> None:
    async def go() -> None:
        breaker = CircuitBreaker(threshold=3, cooldown_s=0.1, give_up_s=5)
        for _ in range(3):
            breaker.record_failure()
        assert breaker.is_open
        start = time.monotonic()
        await breaker.wait_closed()
        assert time.monotonic() - start >= 0.09
        breaker.record_failure()  # the probe failed: longer pause
        assert breaker.cooldown_s == pytest.approx(0.2)
        breaker.record_success()
        assert not breaker.is_open

    asyncio.run(go())


def test_breaker_gives_up_after_a_long_pause() -> None:
    async def go() -> None:
        breaker = CircuitBreaker(threshold=1, cooldown_s=10, give_up_s=0.05)
        breaker.record_failure()
        await asyncio.sleep(0.06)
        with pytest.raises(CircuitOpenError):
            await breaker.wait_closed()

    asyncio.run(go())
