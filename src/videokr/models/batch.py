"""Running requests through a provider's Batch API, into the same cache as direct calls.

Why: the providers bill batch requests at half price, and a corpus build can wait a day.
The flow is upload → create → poll → download. Each line uploaded carries the request's
fingerprint as its custom_id, so every result lands in the exactly-once cache under the same
key a direct call would use (a later direct call, or a rerun, finds it there).

Resuming: the job (its file and batch ids) is recorded in the store as soon as each id is
known. A rerun after a crash finds the job and polls it instead of paying again; requests
already answered (directly or by an earlier batch) are never uploaded. A batch that expired
or failed part-way has its results kept; the requests still unanswered go into a new batch
on the next run. The one window that can leave an orphan batch is between the provider
accepting `create` and the store recording its id (milliseconds); the batch carries the job
key in its metadata so it can be found by hand.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from videokr.hashing import digest
from videokr.jsonlines import json_lines_in
from videokr.models.cache import CallCache
from videokr.models.client import Redactor, api_error_message, check_completion
from videokr.models.config import ModelConfig
from videokr.models.fingerprint import request_fingerprint
from videokr.models.gateway import Reply, _usage
from videokr.models.runner import RUNNER_STEP_VERSION, BatchLine, line_problem, output_line
from videokr.records import utcnow
from videokr.store import Store

BATCH_SCHEMA = """
CREATE TABLE IF NOT EXISTS model_batches (
    job TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    step TEXT NOT NULL,
    requests INTEGER NOT NULL,
    input_file_id TEXT,
    batch_id TEXT,
    status TEXT NOT NULL,
    output_file_id TEXT,
    error_file_id TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
) WITHOUT ROWID;
"""
TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})
COMPLETION_WINDOW = "24h"


@dataclass
class BatchResult:
    lines: int
    answered: int
    errors: int
    status: str
    batch_id: str | None
    out: Path | None
    error_examples: list[str] = field(default_factory=list)

    def describe(self) -> str:
        if self.out is None:
            return (f"batch {self.batch_id} is {self.status}; {self.answered}/{self.lines} answered so far; "
                    "rerun the same command to resume")
        return (f"{self.lines} lines: {self.answered} answered, {self.errors} errors (batch {self.batch_id or '-'}, "
                f"{self.status}); wrote {self.out}")


class BatchError(RuntimeError):
    """The Batch API refused or could not be reached (key, account, URL); the message is redacted.

    Raised instead of the HTTP client's own exception, whose message and traceback may carry
    the key the provider echoed back."""


class BatchRunner:
    def __init__(self, name: str, config: ModelConfig, store: Store, *, step: str = "llm-run",
                 step_version: str = RUNNER_STEP_VERSION) -> None:
        self.name = name
        self.config = config
        self.store = store
        self.step = step
        self.step_version = step_version
        self.cache = CallCache(store)
        store.ensure_schema("model_batches", BATCH_SCHEMA)
        self.redact = Redactor()

    def _client(self) -> Any:
        import openai

        key = self.config.api_key()
        if self.config.api_key_env:
            self.redact.add(key)
        return openai.AsyncOpenAI(base_url=self.config.base_url, api_key=key, max_retries=5,
                                  timeout=self.config.limits.timeout_s)

    def fingerprint(self, body: dict[str, Any]) -> str:
        return request_fingerprint(model=self.config.model, body={**body, "model": self.config.model},
                                   step=self.step, step_version=self.step_version)

    async def run(self, lines: list[BatchLine], out: Path, *, poll_s: float = 30.0, max_wait_s: float | None = None,
                  on_status: Callable[[str], None] | None = None) -> BatchResult:
        problems = {line.custom_id: line_problem(line) for line in lines}
        bodies: dict[str, dict[str, Any]] = {}
        for line in lines:
            if problems[line.custom_id] is None:
                bodies.setdefault(self.fingerprint(line.body), {**line.body, "model": self.config.model})
        done = self.cache.done_fingerprints(list(bodies))
        pending = {fp: body for fp, body in bodies.items() if fp not in done}
        errors: dict[str, str] = {}
        status, batch_id = "nothing to send", None
        if pending:
            import openai

            client = self._client()
            try:
                status, batch_id, errors = await self._run_job(client, pending, poll_s, max_wait_s, on_status)
            except openai.APIStatusError as exc:
                raise BatchError(self.redact(
                    f"{self.name}: the Batch API at {self.config.base_url} answered HTTP {exc.status_code}: "
                    f"{api_error_message(exc)}")) from None
            except openai.APIConnectionError as exc:
                raise BatchError(self.redact(
                    f"{self.name}: cannot reach the Batch API at {self.config.base_url}: {exc}")) from None
            finally:
                await client.close()
            if status not in TERMINAL:
                answered = len(self.cache.done_fingerprints(list(bodies)))
                return BatchResult(len(lines), answered, 0, status, batch_id, None)
        return self._write(lines, problems, errors, out, status, batch_id)

    async def _run_job(self, client: Any, pending: dict[str, dict[str, Any]], poll_s: float,
                       max_wait_s: float | None, on_status: Callable[[str], None] | None
                       ) -> tuple[str, str, dict[str, str]]:
        job = digest("\n".join(sorted(pending)) + self.name + self.step, 24)
        row = self.store.execute(
            "SELECT input_file_id, batch_id, status FROM model_batches WHERE job=?", (job,)
        ).fetchone()
        input_file_id, batch_id = (row[0], row[1]) if row else (None, None)
        if row is None:
            self._record(job, len(pending), status="preparing")
        if input_file_id is None:
            data = "".join(
                json.dumps({"custom_id": fp, "method": "POST", "url": "/v1/chat/completions", "body": body},
                           ensure_ascii=False) + "\n"
                for fp, body in pending.items()
            ).encode("utf-8")
            uploaded = await client.files.create(file=(f"videokr-{job}.jsonl", data), purpose="batch")
            input_file_id = uploaded.id
            self._update(job, input_file_id=input_file_id, status="uploaded")
        if batch_id is None:
            batch = await client.batches.create(input_file_id=input_file_id, endpoint="/v1/chat/completions",
                                                completion_window=COMPLETION_WINDOW,
                                                metadata={"videokr_job": job, "videokr_step": self.step})
            batch_id = batch.id
            self._update(job, batch_id=batch_id, status=batch.status)
        started = time.monotonic()
        while True:
            batch = await client.batches.retrieve(batch_id)
            self._update(job, status=batch.status, output_file_id=batch.output_file_id,
                         error_file_id=batch.error_file_id)
            if on_status is not None:
                counts = batch.request_counts
                on_status(f"{batch_id}: {batch.status}"
                          + (f" ({counts.completed}/{counts.total} done)" if counts else ""))
            if batch.status in TERMINAL:
                break
            if max_wait_s is not None and time.monotonic() - started >= max_wait_s:
                return batch.status, batch_id, {}
            await asyncio.sleep(poll_s)
        errors: dict[str, str] = {}
        if batch.output_file_id:
            content = await client.files.content(batch.output_file_id)
            errors.update(self._ingest(content.read(), pending))
        if batch.error_file_id:
            content = await client.files.content(batch.error_file_id)
            errors.update(self._ingest(content.read(), pending))
        # The job is over; unanswered requests go into a new job on the next run.
        self.store.execute("DELETE FROM model_batches WHERE job=?", (job,))
        return batch.status, batch_id, errors

    def _ingest(self, data: bytes, pending: dict[str, dict[str, Any]]) -> dict[str, str]:
        """Store every answered line in the cache; return custom_id -> error for the rest.

        The download is read as any JSON Lines file is (`videokr.jsonlines`): lines end at
        newlines only, so a reply holding U+2028 is not cut in two, and a line that is not
        UTF-8 is skipped (its request stays unanswered) instead of failing the whole batch."""
        errors: dict[str, str] = {}
        for line in json_lines_in(data):
            row = line.value
            if row is None:
                continue
            fp = row.get("custom_id")
            if fp not in pending:
                continue
            response = row.get("response") or {}
            body = response.get("body")
            if row.get("error") or response.get("status_code") != 200 or not isinstance(body, dict):
                error = row.get("error") or (body or {}).get("error") or {"message": "no reply"}
                message = error.get("message") if isinstance(error, dict) else str(error)
                errors[fp] = self.redact(f"batch: HTTP {response.get('status_code')}: {message}") or ""
                continue
            text_body = json.dumps(body, ensure_ascii=False)
            try:
                check_completion(text_body)
            except ValueError as exc:
                errors[fp] = f"batch: {exc}"
                continue
            tokens_in, tokens_out = _usage(body, pending[fp], self.config)
            self.cache.insert_done(fp, model=self.name, step=self.step, step_version=self.step_version,
                                   body=pending[fp], response_text=text_body, tokens_in=tokens_in,
                                   tokens_out=tokens_out,
                                   cost_usd=self.config.price.cost(tokens_in, tokens_out, batch=True), via="batch")
        return errors

    def _write(self, lines: list[BatchLine], problems: dict[str, str | None], errors: dict[str, str], out: Path,
               status: str, batch_id: str | None) -> BatchResult:
        result = BatchResult(len(lines), 0, 0, status, batch_id, out)
        temporary = out.with_name(out.name + ".partial")
        with temporary.open("w", encoding="utf-8") as handle:
            for line in lines:
                problem = problems[line.custom_id]
                if problem is not None:
                    record = output_line(line.custom_id, None, problem)
                else:
                    fp = self.fingerprint(line.body)
                    cached = self.cache.get(fp)
                    if cached is not None and cached.state == "done":
                        reply = Reply(fp, self.name, True, cached.status_code, cached.response)
                    else:
                        reply = Reply(fp, self.name, False, None, None,
                                      errors.get(fp, f"not answered by the batch (status {status})"))
                    record = output_line(line.custom_id, reply)
                if record["error"] is None:
                    result.answered += 1
                else:
                    result.errors += 1
                    if len(result.error_examples) < 5:
                        result.error_examples.append(f"{line.custom_id}: {record['error']['message']}")
                handle.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")
        os.replace(temporary, out)
        return result

    def _record(self, job: str, n: int, *, status: str) -> None:
        stamp = utcnow()
        with self.store.transaction() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO model_batches (job, model, step, requests, status, created_at, updated_at) "
                "VALUES (?,?,?,?,?,?,?)", (job, self.name, self.step, n, status, stamp, stamp))

    def _update(self, job: str, **fields: Any) -> None:
        fields = {k: v for k, v in fields.items() if v is not None}
        sets = ", ".join(f"{k}=?" for k in fields)
        with self.store.transaction() as conn:
            conn.execute(f"UPDATE model_batches SET {sets}, updated_at=? WHERE job=?",
                         (*fields.values(), utcnow(), job))
