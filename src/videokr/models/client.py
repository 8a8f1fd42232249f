"""Sending one request to one OpenAI-compatible endpoint, within its limits, until it is answered.

The official `openai` client does the HTTP (its own retries are off: videokr retries, so that
every resend is counted, Retry-After is honoured and the circuit breaker sees every failure).
The reply body is taken raw and checked here: a 200 whose body is not a chat completion is a
fault of the transport, retried like a 500, never stored as an answer.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from dataclasses import dataclass
from typing import Any

from videokr.models.config import ModelConfig
from videokr.models.limits import CircuitBreaker, CircuitOpenError, RateLimiter, backoff_delay, parse_retry_after
from videokr.models.secrets import Redactor  # re-exported: the gateway imports it from here
from videokr.models.tokens import estimate_request_tokens

RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 520, 522, 524, 529})
CHAT_PATH = "/chat/completions"
MODERATIONS_PATH = "/moderations"  # image/text moderation (safety step of §3.2)


@dataclass
class SendResult:
    ok: bool
    status_code: int | None
    text: str | None  # the reply body as received (JSON text), also for HTTP errors
    error: str | None
    attempts: int
    latency_s: float


def check_completion(text: str) -> dict[str, Any]:
    """The parsed body of a chat completion; ValueError if it is not one."""
    try:
        body = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"malformed reply: not JSON ({exc.msg} at char {exc.pos})") from None
    if not isinstance(body, dict) or not isinstance(body.get("choices"), list) or not body["choices"]:
        raise ValueError("malformed reply: no choices")
    first = body["choices"][0]
    if not isinstance(first, dict) or not isinstance(first.get("message"), dict):
        raise ValueError("malformed reply: choice without a message")
    return body


def check_moderation(text: str) -> dict[str, Any]:
    """The parsed body of a moderation reply; ValueError if it is not one."""
    try:
        body = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"malformed reply: not JSON ({exc.msg} at char {exc.pos})") from None
    results = body.get("results") if isinstance(body, dict) else None
    if not isinstance(results, list) or not results:
        raise ValueError("malformed reply: no results")
    if not all(isinstance(r, dict) and isinstance(r.get("category_scores"), dict) for r in results):
        raise ValueError("malformed reply: a result without category_scores")
    return body


# What a 200 from each path must look like to count as an answer.
REPLY_CHECKS = {CHAT_PATH: check_completion, MODERATIONS_PATH: check_moderation}


class Endpoint:
    """One configured model: its HTTP client, concurrency, rate limits and circuit breaker."""

    def __init__(self, name: str, config: ModelConfig, *, redact: Redactor, rng: random.Random | None = None) -> None:
        import openai

        self.name = name
        self.config = config
        self.redact = redact
        api_key = config.api_key()
        if config.api_key_env:
            redact.add(api_key)
        limits = config.limits
        self._client = openai.AsyncOpenAI(
            base_url=config.base_url, api_key=api_key, max_retries=0, timeout=limits.timeout_s
        )
        self._semaphore = asyncio.Semaphore(limits.concurrency)
        self._rpm = RateLimiter(limits.rpm) if limits.rpm else None
        self._tpm = RateLimiter(limits.tpm) if limits.tpm else None
        self.breaker = CircuitBreaker(limits.breaker_failures, limits.breaker_cooldown_s, limits.breaker_give_up_s)
        self._rng = rng or random.Random()
        self.sends = 0
        self.retries = 0

    async def aclose(self) -> None:
        await self._client.close()

    async def send(self, body: dict[str, Any], *, path: str = CHAT_PATH) -> SendResult:
        """Send until answered, a permanent error, the attempt budget or the breaker's give-up."""
        import httpx2
        import openai

        check_reply = REPLY_CHECKS[path]
        limits = self.config.limits
        started = time.monotonic()
        attempt = 0
        estimate = estimate_request_tokens(body, image_tokens=self.config.image_tokens)
        while True:
            try:
                await self.breaker.wait_closed()
            except CircuitOpenError as exc:
                return SendResult(False, None, None, self.redact(f"{self.name}: {exc}"), attempt,
                                  time.monotonic() - started)
            if self._rpm is not None:
                await self._rpm.acquire(1)
            if self._tpm is not None:
                await self._tpm.acquire(estimate.total)
            retry_after: float | None = None
            status: int | None = None
            text: str | None = None
            async with self._semaphore:
                attempt += 1
                self.sends += 1
                try:
                    response = await self._client.post(path, cast_to=httpx2.Response, body=body)
                    text = response.text
                    status = response.status_code
                    check_reply(text)
                    self.breaker.record_success()
                    return SendResult(True, status, text, None, attempt, time.monotonic() - started)
                except openai.APIStatusError as exc:
                    status = exc.status_code
                    text = _body_text(exc)
                    error = f"HTTP {status}: {api_error_message(exc)}"
                    retryable = status in RETRYABLE_STATUS
                    retry_after = parse_retry_after(exc.response.headers)
                except openai.APITimeoutError:
                    error, retryable = f"timed out after {limits.timeout_s:g} s", True
                except openai.APIConnectionError as exc:
                    cause = exc.__cause__
                    error = f"connection failed: {type(cause).__name__ if cause else 'error'}: {cause or exc}"
                    retryable = True
                except ValueError as exc:  # a 200 that is not a reply of this path's kind
                    error, retryable = str(exc), True
            if not retryable:
                # The provider answered "no" (400, 401, 404, ...): a verdict on the request, not a fault.
                self.breaker.record_success()
                return SendResult(False, status, self.redact(text), self.redact(error), attempt,
                                  time.monotonic() - started)
            self.breaker.record_failure()
            if attempt >= limits.max_attempts:
                return SendResult(False, status, self.redact(text),
                                  self.redact(f"gave up after {attempt} attempts; last: {error}"), attempt,
                                  time.monotonic() - started)
            self.retries += 1
            await asyncio.sleep(
                backoff_delay(attempt, base_s=limits.backoff_base_s, max_s=limits.backoff_max_s,
                              retry_after_s=retry_after, rng=self._rng)
            )


def _body_text(exc: Any) -> str | None:
    try:
        return exc.response.text
    except Exception:  # noqa: BLE001 - a body that cannot be read is simply absent
        return None


def api_error_message(exc: Any) -> str:
    """The provider's own words from an `openai.APIStatusError` (not yet redacted)."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
    return str(getattr(exc, "message", exc))
