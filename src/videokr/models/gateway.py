"""The one door to every model: cache first, then the endpoint, reply stored before it is used.

`Gateway.call(model, body, step=..., step_version=...)` is what every step uses (directly
or through `ask_structured`). It fingerprints the request, returns a stored reply if there
is one, otherwise claims the request in the store (so that no other worker sends it), sends
it through the model's `Endpoint` (limits, retries, breaker), commits the reply, and only
then returns it. In dry-run mode it renders and prices the request and sends nothing.

A reply that did not come back says which kind of failure it is (`Reply.failure()`): the
provider refusing the request (a 4xx about the request: bad request, content policy, too
large) is a `videokr.errors.Verdict`; a network error, timeout, 408/409/429 or 5xx after the
retries, and an endpoint that is misconfigured (401/402/403/404/405: key, account, model
name) are `videokr.errors.Transient` — they say nothing about the item. A reply that came
back but that the caller cannot use is handed back with `Gateway.mark_invalid`, so that the
next run asks again instead of replaying it.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from videokr.errors import Transient, Verdict
from videokr.models.cache import DEFAULT_LEASE_S, CallCache
from videokr.models.client import CHAT_PATH, MODERATIONS_PATH, RETRYABLE_STATUS, Endpoint, Redactor
from videokr.models.config import ModelConfig
from videokr.models.fingerprint import legacy_request_fingerprint, request_fingerprint
from videokr.models.tokens import estimate_request_tokens
from videokr.store import Store

BUSY_POLL_S = 0.05
BUSY_POLL_MAX_S = 1.0
# 4xx answers about the endpoint, the account or the key, not about the request: never a verdict on an item
ENDPOINT_STATUS = frozenset({401, 402, 403, 404, 405})
REFUSED_CODE = "refused"  # the ledger's code of an item whose request the provider refused


def is_refusal(status_code: int | None) -> bool:
    """Whether an HTTP status is the provider refusing this request (a verdict), not a passing fault."""
    return (status_code is not None and 400 <= status_code < 500 and status_code not in RETRYABLE_STATUS
            and status_code not in ENDPOINT_STATUS)


@dataclass
class Reply:
    fingerprint: str
    model: str
    ok: bool
    status_code: int | None
    body: dict[str, Any] | None  # the chat completion, or the provider's error body
    error: str | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    cached: bool = False
    dry_run: bool = False

    @property
    def content(self) -> str | None:
        if not self.ok or not self.body:
            return None
        try:
            return self.body["choices"][0]["message"].get("content")
        except (KeyError, IndexError, TypeError, AttributeError):
            return None

    def failure(self) -> Verdict | Transient | None:
        """What a failed reply means for the item: a verdict (the provider refused it) or transient."""
        if self.ok or self.dry_run:
            return None
        error = self.error or (f"HTTP {self.status_code}" if self.status_code else "request failed")
        if is_refusal(self.status_code):
            verdict = Verdict(f"{self.model} refused the request: {error}")
            verdict.code = REFUSED_CODE
            return verdict
        return Transient(f"{self.model}: {error}")

    def raise_for_failure(self) -> None:
        """Raise `failure()` if the request failed; nothing for a reply or a dry run."""
        failure = self.failure()
        if failure is not None:
            raise failure


@dataclass
class Meter:
    """What this process spent and saved, for the progress bar and the end-of-run summary."""

    sent: int = 0
    cached: int = 0
    failed: int = 0
    invalid: int = 0  # replies handed back as unusable (asked again by the next run)
    dry_run: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    by_model: dict[str, list[float]] = field(default_factory=lambda: defaultdict(lambda: [0, 0, 0, 0.0]))
    by_step: dict[str, list[float]] = field(default_factory=lambda: defaultdict(lambda: [0, 0, 0, 0.0]))

    def add(self, model: str, step: str, tokens_in: int, tokens_out: int, cost: float) -> None:
        self.tokens_in += tokens_in
        self.tokens_out += tokens_out
        self.cost_usd += cost
        for row in (self.by_model[model], self.by_step[step]):
            row[0] += 1
            row[1] += tokens_in
            row[2] += tokens_out
            row[3] += cost


class UnknownModelError(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


class Gateway:
    """Cache + endpoints + accounting. Use as `async with Gateway(...) as gw:`."""

    def __init__(
        self,
        models: dict[str, ModelConfig],
        store: Store | None,
        *,
        dry_run: bool = False,
        lease_s: float = DEFAULT_LEASE_S,
        retry_failed: bool = True,
        seed: int | None = None,
    ) -> None:
        self.models = dict(models)
        self.cache = CallCache(store, lease_s=lease_s) if store is not None else None
        self.dry_run = dry_run
        self.retry_failed = retry_failed
        self.meter = Meter()
        self.redact = Redactor()
        self._endpoints: dict[str, Endpoint] = {}
        self._inflight: dict[str, asyncio.Future[Reply]] = {}
        self._invalid: Counter[str] = Counter()  # without a store: invalid replies seen by this gateway
        self._heartbeat: asyncio.Task[None] | None = None
        self._rng = random.Random(seed)

    # -- lifecycle --------------------------------------------------------------------

    async def __aenter__(self) -> "Gateway":
        if self.cache is not None and not self.dry_run:
            self._heartbeat = asyncio.create_task(self._renew_forever())
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            try:
                await self._heartbeat
            except asyncio.CancelledError:
                pass
            self._heartbeat = None
        if self.cache is not None:
            self.cache.release_all()
        for endpoint in self._endpoints.values():
            await endpoint.aclose()
        self._endpoints.clear()

    async def _renew_forever(self) -> None:
        assert self.cache is not None
        while True:
            await asyncio.sleep(self.cache.lease_s / 3)
            self.cache.renew_leases()

    def endpoint(self, model: str) -> Endpoint:
        if model not in self._endpoints:
            self._endpoints[model] = Endpoint(model, self.config(model), redact=self.redact, rng=self._rng)
        return self._endpoints[model]

    def config(self, model: str) -> ModelConfig:
        try:
            return self.models[model]
        except KeyError:
            raise UnknownModelError(
                f"unknown model {model!r}; configured: {', '.join(sorted(self.models)) or '(none)'} "
                "(add it under `models:` in videokr.yaml)"
            ) from None

    # -- the call ---------------------------------------------------------------------

    def build_body(self, model: str, messages: list[dict[str, Any]], params: dict[str, Any] | None = None) -> dict[str, Any]:
        config = self.config(model)
        return {"model": config.model, "messages": messages, **config.params, **(params or {})}

    def fingerprint(self, model: str, body: dict[str, Any], *, step: str, step_version: str, salt: str = "") -> str:
        return request_fingerprint(model=self.config(model).model, body=body, step=step, step_version=step_version,
                                   salt=salt)

    async def call(
        self,
        model: str,
        body: dict[str, Any],
        *,
        step: str = "",
        step_version: str = "",
        salt: str = "",
        path: str = CHAT_PATH,
    ) -> Reply:
        """The reply to `body` from `model`: stored, or sent once and stored before returning.

        `path` is the endpoint's route (chat completions unless said otherwise); a request to
        another route is keyed apart from any chat request."""
        config = self.config(model)
        body = {**body, "model": config.model}
        if path != CHAT_PATH:
            salt = f"{path}\x1f{salt}"
        fingerprint = self.fingerprint(model, body, step=step, step_version=step_version, salt=salt)
        if self.dry_run:
            return self._dry_run(model, config, body, fingerprint, step, step_version, salt)
        running = self._inflight.get(fingerprint)
        if running is not None:
            return await asyncio.shield(running)
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._inflight[fingerprint] = future
        try:
            reply = await self._call_once(model, config, body, fingerprint, step, step_version, salt, path)
            future.set_result(reply)
            return reply
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters get it, nobody else should warn
            raise
        finally:
            del self._inflight[fingerprint]

    async def chat(
        self,
        model: str,
        messages: list[dict[str, Any]],
        *,
        params: dict[str, Any] | None = None,
        step: str = "",
        step_version: str = "",
        salt: str = "",
    ) -> Reply:
        return await self.call(model, self.build_body(model, messages, params), step=step,
                               step_version=step_version, salt=salt)

    async def moderate(self, model: str, inputs: list[dict[str, Any]], *, step: str = "",
                       step_version: str = "") -> Reply:
        """The moderation of `inputs` (text and image_url parts) by `model`, through the same cache and limits.

        The body is the moderation request alone: a model's chat `params` are not sent."""
        return await self.call(model, {"input": inputs}, step=step, step_version=step_version, path=MODERATIONS_PATH)

    async def _call_once(self, model: str, config: ModelConfig, body: dict[str, Any], fingerprint: str, step: str,
                         step_version: str, salt: str = "", path: str = CHAT_PATH) -> Reply:
        if self.cache is None:
            return await self._send(model, config, body, fingerprint, step, path)
        legacy = None
        if self.cache.get(fingerprint) is None:  # perhaps stored under the key of an older version
            legacy = legacy_request_fingerprint(model=config.model, body=body, step=step, step_version=step_version,
                                                salt=salt)
        poll = BUSY_POLL_S
        while True:
            claim = self.cache.claim(fingerprint, model=model, step=step, step_version=step_version, body=body,
                                     take_failed=self.retry_failed, legacy=legacy)
            if claim.state == "done":
                assert claim.call is not None
                self.meter.cached += 1
                return Reply(fingerprint, model, True, claim.call.status_code, claim.call.response, None,
                             claim.call.tokens_in, claim.call.tokens_out, claim.call.cost_usd, cached=True)
            if claim.state == "failed":
                assert claim.call is not None
                self.meter.failed += 1
                return Reply(fingerprint, model, False, claim.call.status_code, claim.call.response,
                             claim.call.error, cached=True)
            if claim.state == "claimed":
                break
            await asyncio.sleep(poll)  # another worker holds it: wait for its reply
            poll = min(BUSY_POLL_MAX_S, poll * 2)
        return await self._send(model, config, body, fingerprint, step, path)

    async def _send(self, model: str, config: ModelConfig, body: dict[str, Any], fingerprint: str, step: str,
                    path: str = CHAT_PATH) -> Reply:
        result = await self.endpoint(model).send(body, path=path)
        if result.ok:
            assert result.text is not None
            parsed = json.loads(result.text)
            tokens_in, tokens_out = _usage(parsed, body, config)
            cost = config.price.cost(tokens_in, tokens_out)
            if self.cache is not None:
                stored = self.cache.store_reply(
                    fingerprint, response_text=result.text, status_code=result.status_code or 200,
                    tokens_in=tokens_in, tokens_out=tokens_out, cost_usd=cost, attempts=result.attempts,
                    via="direct", latency_s=result.latency_s,
                )
                if not stored:  # another worker's reply landed first: use the stored one
                    existing = self.cache.get(fingerprint)
                    if existing is not None and existing.response is not None:
                        parsed = existing.response
            self.meter.sent += 1
            self.meter.add(model, step, tokens_in, tokens_out, cost)
            return Reply(fingerprint, model, True, result.status_code, parsed, None, tokens_in, tokens_out, cost)
        error_body = None
        if result.text:
            try:
                error_body = json.loads(result.text)
            except json.JSONDecodeError:
                error_body = None
        if self.cache is not None:
            self.cache.store_failure(fingerprint, error=result.error or "failed", status_code=result.status_code,
                                     response_text=result.text, attempts=result.attempts)
        self.meter.failed += 1
        return Reply(fingerprint, model, False, result.status_code, error_body, result.error)

    def mark_invalid(self, reply: Reply, error: str) -> int:
        """The caller could not use this reply: the next run asks again; returns the request's invalid count.

        The reply stays in the store for audits (state 'failed', its text and the error kept).
        """
        if reply.dry_run or not reply.ok:
            return 0
        self.meter.invalid += 1
        if self.cache is None:
            self._invalid[reply.fingerprint] += 1
            return self._invalid[reply.fingerprint]
        return self.cache.mark_invalid(reply.fingerprint, self.redact(error) or error)

    def _dry_run(self, model: str, config: ModelConfig, body: dict[str, Any], fingerprint: str, step: str,
                 step_version: str = "", salt: str = "") -> Reply:
        if self.cache is not None:
            cached = self.cache.get(fingerprint)
            if cached is None:  # perhaps stored under the key of an older version
                cached = self.cache.get(legacy_request_fingerprint(model=config.model, body=body, step=step,
                                                                   step_version=step_version, salt=salt))
            if cached is not None and cached.state == "done":
                self.meter.cached += 1
                return Reply(fingerprint, model, True, cached.status_code, cached.response, None, cached.tokens_in,
                             cached.tokens_out, cached.cost_usd, cached=True)
        estimate = estimate_request_tokens(body, image_tokens=config.image_tokens)
        cost = config.price.cost(estimate.input_tokens, estimate.output_tokens)
        self.meter.dry_run += 1
        self.meter.add(model, step, estimate.input_tokens, estimate.output_tokens, cost)
        return Reply(fingerprint, model, False, None, None, "dry run: not sent", estimate.input_tokens,
                     estimate.output_tokens, cost, dry_run=True)


def _usage(parsed: dict[str, Any], body: dict[str, Any], config: ModelConfig) -> tuple[int, int]:
    usage = parsed.get("usage") if isinstance(parsed, dict) else None
    if isinstance(usage, dict) and usage.get("prompt_tokens") is not None:
        return int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
    estimate = estimate_request_tokens(body, image_tokens=config.image_tokens)
    content = ""
    try:
        content = parsed["choices"][0]["message"].get("content") or ""
    except (KeyError, IndexError, TypeError, AttributeError):
        pass
    return estimate.input_tokens, (len(content) + 3) // 4

