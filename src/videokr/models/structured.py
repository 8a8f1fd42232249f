"""Structured output: a step declares a pydantic schema, and gets a validated value or a failure of a kind.

The schema travels as `response_format` (json_schema where the endpoint supports it, else
json_object plus the schema in the prompt). The reply is parsed (a ```json fence is
tolerated) and validated. An invalid reply is shown back to the model with the validation
error, at most `max_repairs` times; every repair is an ordinary cached request, so a rerun
after a crash replays the same conversation from the cache and pays nothing twice.

When the repairs are spent, the replies of the conversation are handed back to the cache as
invalid (`Gateway.mark_invalid`: kept for audits, never replayed), so the next run asks the
model again rather than reading the same invalid reply forever, and `InvalidStructuredOutput`
(a `Transient`: the item is quarantined, with the raw reply and the error) is raised. Once the
first request of the conversation has had `max_invalid` invalid replies — one per run that
got that far — `StructuredOutputVerdict` (a `Verdict`: the item is rejected) is raised
instead. A request that failed is `Transient` (network, timeout, 429, 5xx after the retries,
a misconfigured endpoint) or a `Verdict` (the provider refused it: a 4xx about the request).
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from videokr.errors import Transient, Verdict
from videokr.models.gateway import Gateway, Reply

DEFAULT_MAX_REPAIRS = 2
# Invalid replies to one request (one per run, after its repairs) before the item is rejected as a verdict.
DEFAULT_MAX_INVALID = 3
INVALID_OUTPUT_CODE = "invalid_output"  # the ledger's code of an item rejected for it

T = TypeVar("T", bound=BaseModel)

_FENCE = re.compile(r"^\s*```(?:json|JSON)?\s*\n(.*?)\n?```\s*$", re.DOTALL)


def response_format_for(schema: type[BaseModel], *, json_schema: bool = True) -> dict[str, Any]:
    if not json_schema:
        return {"type": "json_object"}
    return {
        "type": "json_schema",
        "json_schema": {"name": schema.__name__, "schema": json.loads(_json_schema_text(schema)), "strict": False},
    }


@functools.cache
def _json_schema_text(schema: type[BaseModel]) -> str:
    """A reply schema's JSON Schema, generated once per class (pydantic takes ~0.2 ms a time; a
    model step asks thousands of times); each caller gets its own copy of it."""
    return json.dumps(schema.model_json_schema())


def parse_reply(content: str | None, schema: type[T]) -> T:
    """The validated value, or ValueError/ValidationError saying what is wrong."""
    if content is None or not content.strip():
        raise ValueError("the reply is empty")
    text = content.strip()
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1)
    return schema.model_validate_json(text)


def describe_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}" for err in exc.errors()
        )
    return str(exc)


@dataclass
class Structured(Generic[T]):
    value: T | None
    reply: Reply | None
    requests: int
    error: str | None = None
    raw: str | None = None

    @property
    def ok(self) -> bool:
        return self.value is not None

    def quarantine_detail(self) -> dict[str, Any]:
        """What the ledger keeps for a quarantined item: the raw reply and why it failed."""
        return {"raw_reply": self.raw, "validation_error": self.error, "requests": self.requests,
                "fingerprint": self.reply.fingerprint if self.reply else None}


class InvalidStructuredOutput(Transient):
    """The replies did not validate, repairs included; the next run asks again. Quarantines the item."""

    def __init__(self, message: str, detail: dict[str, Any]) -> None:
        super().__init__(message)
        self.detail = detail


class StructuredOutputVerdict(Verdict):
    """The model returned invalid structured output `max_invalid` times. Rejects the item."""

    def __init__(self, message: str, detail: dict[str, Any]) -> None:
        super().__init__(message)
        self.code = INVALID_OUTPUT_CODE
        self.detail = detail


def repair_message(error: str, schema: type[BaseModel]) -> dict[str, Any]:
    return {
        "role": "user",
        "content": (
            "Your previous reply could not be used: " + error + "\nReply again with only a JSON object that "
            "matches this JSON schema, and nothing else:\n" + json.dumps(schema.model_json_schema())
        ),
    }


async def ask_structured(
    gateway: Gateway,
    model: str,
    messages: list[dict[str, Any]],
    schema: type[T],
    *,
    step: str,
    step_version: str,
    params: dict[str, Any] | None = None,
    max_repairs: int = DEFAULT_MAX_REPAIRS,
    max_invalid: int = DEFAULT_MAX_INVALID,
    salt: str = "",
) -> Structured[T]:
    """The validated value (or, in a dry run, a `Structured` that is not ok); raises on failure.

    Raises `InvalidStructuredOutput` (transient) when the repairs are spent, `StructuredOutputVerdict`
    when that has happened `max_invalid` times to the same request, and the reply's own
    `Verdict`/`Transient` when a request failed (see `Reply.failure`).
    """
    if max_invalid < 1:
        raise ValueError("max_invalid must be at least 1")
    config = gateway.config(model)
    conversation = list(messages)
    if not config.json_schema:
        conversation = [
            {"role": "system", "content": "Reply with a JSON object matching this JSON schema:\n"
             + json.dumps(schema.model_json_schema())},
            *conversation,
        ]
    fmt = response_format_for(schema, json_schema=config.json_schema)
    requests = 0
    reply: Reply | None = None
    error: str | None = None
    raw: str | None = None
    invalid: list[Reply] = []
    for _ in range(max_repairs + 1):
        reply = await gateway.chat(model, conversation, params={**(params or {}), "response_format": fmt},
                                   step=step, step_version=step_version, salt=salt)
        requests += 1
        if reply.dry_run:
            return Structured(None, reply, requests, "dry run: not sent")
        failure = reply.failure()
        if failure is not None:
            raise failure
        raw = reply.content
        try:
            return Structured(parse_reply(raw, schema), reply, requests)
        except (ValueError, ValidationError) as exc:
            error = describe_error(exc)
        invalid.append(reply)
        conversation = [*conversation, {"role": "assistant", "content": raw or ""}, repair_message(error, schema)]
    reason = f"invalid after {max_repairs} repairs: {error}"
    # Hand every reply of the conversation back: none is replayed by the next run. The first request's
    # count says how many runs have ended here.
    counts = [gateway.mark_invalid(r, reason) for r in invalid]
    times = max(1, counts[0]) if counts else 1
    result: Structured[T] = Structured(None, reply, requests, reason, raw)
    detail = {**result.quarantine_detail(), "invalid_replies": times, "max_invalid": max_invalid}
    if times >= max_invalid:
        raise StructuredOutputVerdict(
            f"{model} returned invalid structured output {times} times: {error}", detail)
    raise InvalidStructuredOutput(
        f"{model} returned invalid structured output ({times} of {max_invalid} before the item is rejected): "
        f"{reason}", detail)
