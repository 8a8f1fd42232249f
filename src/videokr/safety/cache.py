"""Moderation replies kept by request, so a new threshold re-decides every video without a call.

The model door's exactly-once cache (`videokr.models.cache.CallCache`, the `model_calls`
table) keeps the replies of the backends that do not go through the gateway (Azure Content
Safety, the offline detector) too: one row per request, keyed on (backend and model, the
frame's content hash). A reply is committed before it is used; a request another worker holds
is waited for, not sent twice; a failure is kept and asked again by the next run. The
gateway's own backend (`openai`) has the same guarantees from the gateway.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from videokr.models.cache import CallCache
from videokr.models.fingerprint import request_fingerprint
from videokr.store import Store

BUSY_POLL_S = 0.05
BUSY_POLL_MAX_S = 1.0


class ReplyCache:
    """`get_or_send`: the stored reply of a request, or the reply of `send()` stored before it is returned."""

    def __init__(self, store: Store | None, *, step: str, step_version: str) -> None:
        self.calls = CallCache(store) if store is not None else None
        self.step, self.step_version = step, step_version
        self.sent = 0
        self.cached = 0

    async def get_or_send(self, model: str, request: dict[str, Any],
                          send: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
        """`request` describes the call (no secrets, no image bytes: their hash); `send` makes it."""
        if self.calls is None:
            self.sent += 1
            return await send()
        fingerprint = request_fingerprint(model=model, body=request)
        poll = BUSY_POLL_S
        while True:
            claim = self.calls.claim(fingerprint, model=model, step=self.step, step_version=self.step_version,
                                     body=request)
            if claim.state == "done" and claim.call is not None and claim.call.response is not None:
                self.cached += 1
                return claim.call.response
            if claim.state == "claimed":
                break
            await asyncio.sleep(poll)  # another worker is asking: its reply will be stored
            poll = min(BUSY_POLL_MAX_S, poll * 2)
        started = time.monotonic()
        try:
            reply = await send()
        except BaseException as exc:
            self.calls.store_failure(fingerprint, error=f"{type(exc).__name__}: {exc}", status_code=None,
                                     response_text=None, attempts=1)
            raise
        text = json.dumps(reply, sort_keys=True, separators=(",", ":"))
        stored_now = self.calls.store_reply(fingerprint, response_text=text, status_code=200, tokens_in=0,
                                            tokens_out=0, cost_usd=0.0, attempts=1, via="direct",
                                            latency_s=time.monotonic() - started)
        if not stored_now:
            stored = self.calls.get(fingerprint)  # another worker's reply landed first: use it
            if stored is not None and stored.response is not None:
                return stored.response
        self.sent += 1
        return reply

    def release(self) -> None:
        """Give up this worker's claims (a run that stops) so that the next run takes them at once."""
        if self.calls is not None:
            self.calls.release_all()
