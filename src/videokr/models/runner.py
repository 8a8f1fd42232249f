"""The generic runner: OpenAI Batch input lines in, Batch output lines out, through the gateway.

Input lines are `{"custom_id", "method": "POST", "url": "/v1/chat/completions", "body"}`.
Every custom_id gets exactly one output line, in input order, in the Batch output format:

    {"id": "batch_req_…", "custom_id": …, "response": {"status_code", "request_id", "body"}, "error": null}

A request that failed carries `"error": {"code", "message"}` (and the provider's response
when there was one); a line that cannot be run (wrong method or url, no body) gets an error
line too — nothing is silently dropped. Output is written to a temporary file and renamed
at the end, so a killed run leaves either the previous output or none, never half a file;
the cache makes the rerun fast and free for everything answered before the kill.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from videokr.jsonlines import json_objects
from videokr.models.gateway import Gateway, Reply
from videokr.models.secrets import redact

RUNNER_STEP = "llm-run"
RUNNER_STEP_VERSION = "1"
CHAT_URLS = ("/v1/chat/completions", "/chat/completions")


class RequestFileError(ValueError):
    pass


@dataclass(frozen=True)
class BatchLine:
    line: int
    custom_id: str
    method: str
    url: str
    body: Any


def read_requests(path: Path) -> list[BatchLine]:
    """Parse and check a Batch input file; errors name the file and line."""
    lines: list[BatchLine] = []
    seen: dict[str, int] = {}
    for number, obj, problem in json_objects(path):
        if obj is None:
            raise RequestFileError(f"{path}:{number}: {problem}")
        custom_id = obj.get("custom_id")
        if not isinstance(custom_id, str) or not custom_id:
            raise RequestFileError(f"{path}:{number}: missing or empty 'custom_id'")
        if custom_id in seen:
            raise RequestFileError(f"{path}:{number}: custom_id {custom_id!r} already used on line {seen[custom_id]}")
        seen[custom_id] = number
        lines.append(BatchLine(number, custom_id, str(obj.get("method", "POST")), str(obj.get("url", "")),
                               obj.get("body")))
    return lines


def line_problem(line: BatchLine) -> str | None:
    if line.method.upper() != "POST":
        return f"method {line.method!r} is not supported; only POST"
    if line.url not in CHAT_URLS:
        return f"url {line.url!r} is not supported; only /v1/chat/completions"
    if not isinstance(line.body, dict):
        return "'body' must be a JSON object"
    if not isinstance(line.body.get("messages"), list):
        return "'body.messages' must be a list"
    return None


def output_line(custom_id: str, reply: Reply | None, problem: str | None = None) -> dict[str, Any]:
    """One Batch-format output line; a failure's message and body are redacted (they are the
    provider's words, and providers echo keys)."""
    if reply is None:
        return {"id": None, "custom_id": custom_id, "response": None,
                "error": {"code": "invalid_request", "message": redact(problem)}}
    ident = reply.fingerprint[:24]
    body = reply.body if reply.ok else _redacted_json(reply.body)
    response = None
    if reply.status_code is not None and (body is not None or reply.ok):
        response = {"status_code": reply.status_code, "request_id": f"req_{ident}", "body": body}
    error = None
    if not reply.ok:
        code = "dry_run" if reply.dry_run else (
            f"http_{reply.status_code}" if reply.status_code and reply.status_code >= 400 else "request_failed"
        )
        error = {"code": code, "message": redact(reply.error)}
    return {"id": f"batch_req_{ident}", "custom_id": custom_id, "response": response, "error": error}


def _redacted_json(value: Any) -> Any:
    if value is None:
        return None
    text = json.dumps(value, ensure_ascii=False)
    cleaned = redact(text) or text
    if cleaned == text:
        return value
    try:
        return json.loads(cleaned)
    except json.JSONDecodeError:
        return cleaned


@dataclass
class RunSummary:
    lines: int = 0
    ok: int = 0
    errors: int = 0
    invalid: int = 0
    cached: int = 0
    sent: int = 0
    dry_run: int = 0
    error_examples: list[str] = field(default_factory=list)


async def run_batch_lines(
    lines: list[BatchLine],
    gateway: Gateway,
    model: str,
    out: Path,
    *,
    step: str = RUNNER_STEP,
    step_version: str = RUNNER_STEP_VERSION,
    window: int | None = None,
    on_done: Callable[[int], None] | None = None,
) -> RunSummary:
    """Run every line; write one output line per custom_id, in input order."""
    summary = RunSummary(lines=len(lines))
    concurrency = gateway.config(model).limits.concurrency
    window = window or max(256, 8 * concurrency)
    temporary = out.with_name(out.name + ".partial")
    out.parent.mkdir(parents=True, exist_ok=True)

    async def one(line: BatchLine) -> tuple[BatchLine, Reply | None, str | None]:
        problem = line_problem(line)
        if problem is not None:
            return line, None, problem
        reply = await gateway.call(model, line.body, step=step, step_version=step_version)
        return line, reply, None

    def write(handle: Any, result: tuple[BatchLine, Reply | None, str | None]) -> None:
        line, reply, problem = result
        record = output_line(line.custom_id, reply, problem)
        handle.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")
        if reply is None:
            summary.invalid += 1
            summary.errors += 1
        elif reply.dry_run:
            summary.dry_run += 1
        elif reply.ok:
            summary.ok += 1
            summary.cached += reply.cached
            summary.sent += not reply.cached
        else:
            summary.errors += 1
        if record["error"] is not None and record["error"]["code"] != "dry_run" and len(summary.error_examples) < 5:
            summary.error_examples.append(f"{line.custom_id}: {record['error']['message']}")
        if on_done is not None:
            on_done(1)

    with temporary.open("w", encoding="utf-8") as handle:
        pending: deque[asyncio.Task[tuple[BatchLine, Reply | None, str | None]]] = deque()
        try:
            for line in lines:
                pending.append(asyncio.create_task(one(line)))
                while pending and (len(pending) >= window or pending[0].done()):
                    write(handle, await pending.popleft())
            while pending:
                write(handle, await pending.popleft())
        finally:
            for task in pending:
                task.cancel()
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, out)
    return summary
