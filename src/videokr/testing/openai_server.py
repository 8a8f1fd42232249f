"""A loopback OpenAI-compatible server for tests and rehearsals, with scripted faults.

Why it exists: every guarantee of the model layer (exactly-once, retries, Retry-After, the
circuit breaker, resuming batches) is only worth something if it is shown against real HTTP
from the real `openai` client. This server speaks enough of the protocol for that —
`POST /v1/chat/completions`, the files endpoints and the batches endpoints — on plain
asyncio sockets, so it is fast enough to benchmark the client against, and it can misbehave
on purpose: 429 with Retry-After, 500, slow replies, replies after the client gave up,
malformed JSON, truncated bodies, dropped connections and replies that violate a schema.

`POST /v1/moderations` answers image moderation requests (omni-moderation's reply shape) with
scores from `moderation_scorer(image_bytes)`, after checking the request's shape: a request
that is not what the real endpoint takes is answered 400 and listed in `moderation_errors`.

It counts every request it receives by a fingerprint of the request body, and remembers
which fingerprints it has *answered* (a complete, well-formed 200 reply written to the
socket); `repeats_after_answer` lists requests that arrived again after an answer, which is
what an exactly-once client must never cause.

Use it from Python (`with TestServer() as server: ...`) or as a process:
`python -m videokr.testing.openai_server --port 8765 --p429 0.1 --p500 0.05`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from videokr.hashing import digest_json
from videokr.safety.categories import OPENAI_CATEGORIES, OPENAI_IMAGE_CATEGORIES

__all__ = [
    "FAULT_KINDS",
    "Event",
    "FaultRates",
    "MODERATION_CATEGORIES",
    "ModerationScorer",
    "Responder",
    "Script",
    "ServerStats",
    "TestServer",
    "body_fingerprint",
    "completion_body",
    "default_content",
    "estimate_prompt_tokens",
    "moderation_images",
]

FAULT_KINDS = (
    "ok",
    "400",  # the provider refuses the request: a verdict, not a fault to retry
    "429",
    "500",
    "timeout",  # reply only after `timeout_delay_s`, by when the client should have given up
    "slow",  # reply correctly after `slow_delay_s`
    "malformed",  # 200 whose body is not JSON
    "truncated",  # 200 whose body stops short of its Content-Length, then the connection closes
    "disconnect",  # close the connection without a reply
    "schema_violation",  # a well-formed reply whose content is not what the caller asked for
)
# Kinds after which the server counts the request as answered (a complete, valid reply).
_ANSWERING = {"ok", "slow", "schema_violation"}


def body_fingerprint(body: Any) -> str:
    """The server's identity of a request: its JSON body, canonically serialised."""
    return digest_json(body)


@dataclass
class FaultRates:
    """Probabilities of each fault per received chat request; the rest are answered normally."""

    p429: float = 0.0
    p500: float = 0.0
    ptimeout: float = 0.0
    pslow: float = 0.0
    pmalformed: float = 0.0
    ptruncated: float = 0.0
    pdisconnect: float = 0.0
    pschema: float = 0.0

    def draw(self, rng: random.Random) -> str:
        x = rng.random()
        for kind, p in (
            ("429", self.p429),
            ("500", self.p500),
            ("timeout", self.ptimeout),
            ("slow", self.pslow),
            ("malformed", self.pmalformed),
            ("truncated", self.ptruncated),
            ("disconnect", self.pdisconnect),
            ("schema_violation", self.pschema),
        ):
            if x < p:
                return kind
            x -= p
        return "ok"


def default_content(body: dict[str, Any], fingerprint: str) -> str:
    """A deterministic reply: the same request always gets the same content."""
    return f"reply {fingerprint[:16]}"


def estimate_prompt_tokens(body: dict[str, Any]) -> int:
    chars = 0
    for message in body.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            chars += len(content)
        elif isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and part.get("type") == "text":
                    chars += len(part.get("text", ""))
                elif isinstance(part, dict):
                    chars += 340 * 4  # an image counts as ~340 tokens here
    return max(1, chars // 4)


@dataclass
class Event:
    at: float
    path: str
    fingerprint: str | None
    fault: str


@dataclass
class ServerStats:
    received: Counter = field(default_factory=Counter)  # fingerprint -> requests received
    answered: Counter = field(default_factory=Counter)  # fingerprint -> complete 200 replies written
    faults: Counter = field(default_factory=Counter)  # fault kind -> count
    repeats_after_answer: list[str] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    auth_failures: int = 0

    @property
    def total_received(self) -> int:
        return sum(self.received.values())


Responder = Callable[[dict[str, Any], str], str]
Script = Callable[[dict[str, Any], str, int], str | None]
ModerationScorer = Callable[[bytes], dict[str, float]]
# omni-moderation's categories; an image is scored on the image ones (the rest apply to text only).
MODERATION_CATEGORIES = OPENAI_CATEGORIES


class TestServer:
    """An OpenAI-compatible server on 127.0.0.1, run in a background thread.

    `responder(body, fingerprint) -> content` makes the assistant's reply. `script(body,
    fingerprint, attempt) -> fault kind or None` overrides the random faults per request
    (attempt counts from 0 per fingerprint). `queue_faults(kinds)` makes the next requests
    fail in the given order, whatever they are.
    """

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        *,
        rates: FaultRates | None = None,
        seed: int = 0,
        responder: Responder | None = None,
        script: Script | None = None,
        retry_after_s: float | None = 0.05,
        slow_delay_s: float = 0.2,
        timeout_delay_s: float = 2.0,
        latency_s: float = 0.0,
        api_key: str | None = None,
        batch_polls_until_done: int = 1,
        port: int = 0,
        record_events: bool = True,
        ascii_output: bool = True,
        moderation_scorer: ModerationScorer | None = None,
    ) -> None:
        self.rates = rates or FaultRates()
        self.moderation_scorer = moderation_scorer or (lambda image: {})
        self.moderation_errors: list[str] = []  # requests to /v1/moderations whose shape was wrong
        self._rng = random.Random(seed)
        self.responder = responder or default_content
        self.script = script
        self.retry_after_s = retry_after_s
        self.slow_delay_s = slow_delay_s
        self.timeout_delay_s = timeout_delay_s
        self.latency_s = latency_s
        self.api_key = api_key
        self.batch_polls_until_done = batch_polls_until_done
        self.record_events = record_events
        # False: batch output files carry non-ASCII text (U+2028 included) unescaped, as some providers write it
        self.ascii_output = ascii_output
        self.stats = ServerStats()
        self._queued: list[str] = []
        self._lock = threading.Lock()
        self._port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.AbstractServer | None = None
        self._ready = threading.Event()
        self.files: dict[str, dict[str, Any]] = {}
        self.file_contents: dict[str, bytes] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self._batch_polls: Counter = Counter()
        self._ids = 0
        self.batch_lines_answered: Counter = Counter()

    # -- lifecycle --------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}/v1"

    def start(self) -> "TestServer":
        self._thread = threading.Thread(target=self._run, name="videokr-testserver", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("test server did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._loop.is_running():
            asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop)
        if self._thread is not None:
            self._thread.join(5)

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        current = asyncio.current_task()
        tasks = [t for t in asyncio.all_tasks() if t is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        asyncio.get_running_loop().stop()

    def __enter__(self) -> "TestServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        self._server = loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", self._port, backlog=1024)
        )
        self._port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            self._server.close()
            loop.close()

    def serve_forever(self) -> None:
        """Run in the calling thread (the `python -m` entry point)."""
        self._run()

    # -- scripting --------------------------------------------------------------------

    def queue_faults(self, kinds: list[str]) -> None:
        for kind in kinds:
            if kind not in FAULT_KINDS:
                raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(FAULT_KINDS)}")
        with self._lock:
            self._queued.extend(kinds)

    def reset_stats(self) -> None:
        with self._lock:
            self.stats = ServerStats()

    def _choose_fault(self, body: dict[str, Any], fingerprint: str) -> str:
        with self._lock:
            attempt = self.stats.received[fingerprint] - 1
            if self._queued:
                return self._queued.pop(0)
            if self.script is not None:
                chosen = self.script(body, fingerprint, attempt)
                if chosen is not None:
                    return chosen
            return self.rates.draw(self._rng)

    def _new_id(self, prefix: str) -> str:
        with self._lock:
            self._ids += 1
            return f"{prefix}-{self._ids:06d}"

    # -- HTTP -------------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    break
                method, path, headers, body = request
                keep_open = await self._dispatch(method, path, headers, body, writer)
                if not keep_open or headers.get("connection", "").lower() == "close":
                    break
        except (ConnectionError, asyncio.IncompleteReadError, ValueError, asyncio.CancelledError):
            pass
        finally:
            try:
                writer.close()
            except Exception:  # noqa: BLE001 - the peer may be gone already
                pass

    async def _dispatch(
        self, method: str, path: str, headers: dict[str, str], body: bytes, writer: asyncio.StreamWriter
    ) -> bool:
        path = path.split("?", 1)[0]
        if path.startswith("/_stats"):
            return await _send_json(writer, 200, self.stats_json())
        if self.api_key is not None and headers.get("authorization") != f"Bearer {self.api_key}":
            with self._lock:
                self.stats.auth_failures += 1
            # Like some providers, echo the key that was sent: a client must not store or print it.
            sent = headers.get("authorization", "").removeprefix("Bearer ")
            return await _send_json(
                writer, 401,
                {"error": {"message": f"Incorrect API key provided: {sent}", "type": "invalid_request_error"}},
            )
        if not path.startswith("/v1/"):
            path = "/v1" + path
        if method == "POST" and path == "/v1/chat/completions":
            return await self._chat(headers, body, writer)
        if method == "POST" and path == "/v1/moderations":
            return await self._moderations(body, writer)
        if method == "POST" and path == "/v1/files":
            return await self._upload(headers, body, writer)
        if method == "GET" and path.startswith("/v1/files/"):
            rest = path[len("/v1/files/") :]
            if rest.endswith("/content"):
                file_id = rest[: -len("/content")]
                if file_id not in self.file_contents:
                    return await _send_json(writer, 404, {"error": {"message": f"no file {file_id}"}})
                return await _send_raw(writer, 200, self.file_contents[file_id], "application/octet-stream")
            if rest not in self.files:
                return await _send_json(writer, 404, {"error": {"message": f"no file {rest}"}})
            return await _send_json(writer, 200, self.files[rest])
        if method == "POST" and path == "/v1/batches":
            return await self._create_batch(body, writer)
        if method == "GET" and path.startswith("/v1/batches/"):
            return await self._get_batch(path[len("/v1/batches/") :], writer)
        if method == "POST" and path.startswith("/v1/batches/") and path.endswith("/cancel"):
            batch_id = path[len("/v1/batches/") : -len("/cancel")]
            batch = self.batches.get(batch_id)
            if batch is None:
                return await _send_json(writer, 404, {"error": {"message": f"no batch {batch_id}"}})
            batch["status"] = "cancelled"
            return await _send_json(writer, 200, batch)
        return await _send_json(writer, 404, {"error": {"message": f"no route {method} {path}"}})

    def _account(self, body: dict[str, Any], path: str) -> tuple[str, str]:
        """Count a request (and a repeat of one already answered), choose its fault: (fingerprint, fault)."""
        fingerprint = body_fingerprint(body)
        with self._lock:
            if self.stats.answered[fingerprint]:
                self.stats.repeats_after_answer.append(fingerprint)
            self.stats.received[fingerprint] += 1
        fault = self._choose_fault(body, fingerprint)
        with self._lock:
            self.stats.faults[fault] += 1
            if self.record_events:
                self.stats.events.append(Event(time.monotonic(), path, fingerprint, fault))
        return fingerprint, fault

    async def _chat(self, headers: dict[str, str], raw: bytes, writer: asyncio.StreamWriter) -> bool:
        try:
            body = json.loads(raw)
        except json.JSONDecodeError:
            return await _send_json(writer, 400, {"error": {"message": "request body is not JSON"}})
        fingerprint, fault = self._account(body, "/v1/chat/completions")
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        if fault == "429":
            extra = {} if self.retry_after_s is None else {"Retry-After": f"{self.retry_after_s:g}"}
            return await _send_json(
                writer, 429, {"error": {"message": "Rate limit reached", "type": "rate_limit_error"}}, extra
            )
        if fault == "400":
            return await _send_json(
                writer, 400, {"error": {"message": "Invalid request: content policy", "type": "invalid_request_error"}}
            )
        if fault == "500":
            return await _send_json(writer, 500, {"error": {"message": "internal error", "type": "server_error"}})
        if fault == "disconnect":
            return False
        if fault == "malformed":
            return await _send_raw(writer, 200, b'{"id": "chatcmpl-x", "choices": [{"mess', "application/json")
        if fault == "timeout":
            await asyncio.sleep(self.timeout_delay_s)
        elif fault == "slow":
            await asyncio.sleep(self.slow_delay_s)
        if fault == "schema_violation":
            content = "Sure! Here is my answer, not in the format you asked for."
        else:
            content = self.responder(body, fingerprint)
        reply = completion_body(body, fingerprint, content)
        data = json.dumps(reply).encode("utf-8")
        if fault == "truncated":
            head = _head(200, "application/json", len(data))
            writer.write(head + data[: len(data) // 2])
            await writer.drain()
            return False
        keep = await _send_raw(writer, 200, data, "application/json")
        if fault in _ANSWERING:
            with self._lock:
                self.stats.answered[fingerprint] += 1
        return keep

    async def _moderations(self, raw: bytes, writer: asyncio.StreamWriter) -> bool:
        """Image moderation: one result per request, scored by `moderation_scorer` on the decoded image bytes."""
        try:
            body = json.loads(raw)
            images = moderation_images(body)
        except ValueError as exc:
            with self._lock:
                self.moderation_errors.append(str(exc))
            return await _send_json(writer, 400, {"error": {"message": str(exc), "type": "invalid_request_error"}})
        fingerprint, fault = self._account(body, "/v1/moderations")
        if fault in ("429", "500"):
            status = int(fault)
            extra = {"Retry-After": f"{self.retry_after_s:g}"} if status == 429 and self.retry_after_s is not None else {}
            return await _send_json(writer, status, {"error": {"message": f"scripted {fault}"}}, extra)
        scores = {name: 0.0 for name in MODERATION_CATEGORIES}
        for image in images:
            for name, value in self.moderation_scorer(image).items():
                scores[name] = max(scores.get(name, 0.0), float(value))
        reply = {
            "id": f"modr-{fingerprint[:24]}",
            "model": body["model"],
            "results": [{
                "flagged": any(v >= 0.5 for v in scores.values()),
                "categories": {name: v >= 0.5 for name, v in scores.items()},
                "category_scores": scores,
                "category_applied_input_types": {
                    name: (["image"] if name in OPENAI_IMAGE_CATEGORIES else []) for name in scores},
            }],
        }
        keep = await _send_json(writer, 200, reply)
        with self._lock:
            self.stats.answered[fingerprint] += 1
        return keep

    async def _upload(self, headers: dict[str, str], raw: bytes, writer: asyncio.StreamWriter) -> bool:
        fields = _parse_multipart(headers.get("content-type", ""), raw)
        if "file" not in fields:
            return await _send_json(writer, 400, {"error": {"message": "multipart field 'file' missing"}})
        filename, content = fields["file"]
        purpose = fields.get("purpose", (None, b"batch"))[1].decode()
        file_id = self._new_id("file")
        self.file_contents[file_id] = content
        self.files[file_id] = {
            "id": file_id,
            "object": "file",
            "bytes": len(content),
            "created_at": int(time.time()),
            "filename": filename or "upload.jsonl",
            "purpose": purpose,
            "status": "processed",
        }
        return await _send_json(writer, 200, self.files[file_id])

    async def _create_batch(self, raw: bytes, writer: asyncio.StreamWriter) -> bool:
        body = json.loads(raw)
        file_id = body.get("input_file_id")
        if file_id not in self.file_contents:
            return await _send_json(writer, 400, {"error": {"message": f"input file {file_id} not found"}})
        batch_id = self._new_id("batch")
        self.batches[batch_id] = {
            "id": batch_id,
            "object": "batch",
            "endpoint": body.get("endpoint", "/v1/chat/completions"),
            "errors": None,
            "input_file_id": file_id,
            "completion_window": body.get("completion_window", "24h"),
            "status": "validating",
            "output_file_id": None,
            "error_file_id": None,
            "created_at": int(time.time()),
            "request_counts": {"total": 0, "completed": 0, "failed": 0},
            "metadata": body.get("metadata"),
        }
        return await _send_json(writer, 200, self.batches[batch_id])

    async def _get_batch(self, batch_id: str, writer: asyncio.StreamWriter) -> bool:
        batch = self.batches.get(batch_id)
        if batch is None:
            return await _send_json(writer, 404, {"error": {"message": f"no batch {batch_id}"}})
        self._batch_polls[batch_id] += 1
        if batch["status"] in ("validating", "in_progress"):
            if self._batch_polls[batch_id] >= self.batch_polls_until_done:
                self._complete_batch(batch)
            else:
                batch["status"] = "in_progress"
        return await _send_json(writer, 200, batch)

    def _complete_batch(self, batch: dict[str, Any]) -> None:
        outputs, errors = [], []
        for line in self.file_contents[batch["input_file_id"]].decode("utf-8").splitlines():
            if not line.strip():
                continue
            request = json.loads(line)
            custom_id = request.get("custom_id")
            body = request.get("body") or {}
            fingerprint = body_fingerprint(body)
            if request.get("url") != "/v1/chat/completions":
                errors.append(
                    {
                        "id": f"batch_req_{fingerprint[:24]}",
                        "custom_id": custom_id,
                        "response": None,
                        "error": {"code": "invalid_url", "message": f"unsupported url {request.get('url')}"},
                    }
                )
                continue
            content = self.responder(body, fingerprint)
            with self._lock:
                self.batch_lines_answered[fingerprint] += 1
            outputs.append(
                {
                    "id": f"batch_req_{fingerprint[:24]}",
                    "custom_id": custom_id,
                    "response": {
                        "status_code": 200,
                        "request_id": f"req_{fingerprint[:24]}",
                        "body": completion_body(body, fingerprint, content),
                    },
                    "error": None,
                }
            )
        out_id = self._new_id("file")
        self.file_contents[out_id] = "".join(json.dumps(o, ensure_ascii=self.ascii_output) + "\n"
                                             for o in outputs).encode("utf-8")
        self.files[out_id] = {"id": out_id, "object": "file", "bytes": len(self.file_contents[out_id]),
                              "created_at": int(time.time()), "filename": "output.jsonl",
                              "purpose": "batch_output", "status": "processed"}
        batch["output_file_id"] = out_id
        if errors:
            err_id = self._new_id("file")
            self.file_contents[err_id] = "".join(json.dumps(e) + "\n" for e in errors).encode()
            self.files[err_id] = {"id": err_id, "object": "file", "bytes": len(self.file_contents[err_id]),
                                  "created_at": int(time.time()), "filename": "errors.jsonl",
                                  "purpose": "batch_output", "status": "processed"}
            batch["error_file_id"] = err_id
        batch["status"] = "completed"
        batch["request_counts"] = {"total": len(outputs) + len(errors), "completed": len(outputs),
                                   "failed": len(errors)}

    def stats_json(self) -> dict[str, Any]:
        with self._lock:
            return {
                "total_received": self.stats.total_received,
                "distinct": len(self.stats.received),
                "answered": dict(self.stats.answered),
                "received": dict(self.stats.received),
                "faults": dict(self.stats.faults),
                "repeats_after_answer": list(self.stats.repeats_after_answer),
                "auth_failures": self.stats.auth_failures,
            }


def moderation_images(body: Any) -> list[bytes]:
    """The image bytes of a moderation request, or ValueError saying how its shape is wrong."""
    import base64
    import binascii
    import io

    if not isinstance(body, dict) or not isinstance(body.get("model"), str) or not body["model"]:
        raise ValueError("moderation request without a model")
    if set(body) - {"model", "input"}:
        raise ValueError(f"unexpected moderation request fields: {sorted(set(body) - {'model', 'input'})}")
    parts = body.get("input")
    if not isinstance(parts, list) or not parts:
        raise ValueError("moderation input must be a non-empty list of parts")
    images = []
    for part in parts:
        if not isinstance(part, dict) or part.get("type") not in ("image_url", "text"):
            raise ValueError(f"moderation input part of unknown type: {str(part)[:80]}")
        if part["type"] == "text":
            continue
        url = (part.get("image_url") or {}).get("url") if isinstance(part.get("image_url"), dict) else None
        head, sep, data = (url or "").partition(";base64,")
        if not sep or head not in ("data:image/jpeg", "data:image/png"):
            raise ValueError("image_url.url must be a data:image/jpeg or data:image/png base64 URL")
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("image_url.url: the base64 data does not decode") from None
        from PIL import Image

        try:
            Image.open(io.BytesIO(raw)).verify()
        except Exception:  # noqa: BLE001 - any decoder complaint means "not an image"
            raise ValueError("image_url.url: the data is not a decodable image") from None
        images.append(raw)
    return images


def completion_body(request: dict[str, Any], fingerprint: str, content: str) -> dict[str, Any]:
    """A chat.completion object, deterministic in the request."""
    prompt_tokens = estimate_prompt_tokens(request)
    completion_tokens = max(1, len(content) // 4)
    return {
        "id": f"chatcmpl-{fingerprint[:24]}",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": request.get("model", "test-model"),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


# -- minimal HTTP/1.1 -------------------------------------------------------------------

_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 429: "Too Many Requests",
            500: "Internal Server Error"}


def _head(status: int, content_type: str, length: int, extra: dict[str, str] | None = None) -> bytes:
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}", f"Content-Type: {content_type}",
             f"Content-Length: {length}", "Connection: keep-alive"]
    lines += [f"{k}: {v}" for k, v in (extra or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def _send_raw(writer: asyncio.StreamWriter, status: int, data: bytes, content_type: str,
                    extra: dict[str, str] | None = None) -> bool:
    writer.write(_head(status, content_type, len(data), extra) + data)
    await writer.drain()
    return True


async def _send_json(writer: asyncio.StreamWriter, status: int, obj: Any, extra: dict[str, str] | None = None) -> bool:
    return await _send_raw(writer, status, json.dumps(obj).encode("utf-8"), "application/json", extra)


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str, dict[str, str], bytes] | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            key, value = line.split(":", 1)
            headers[key.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        chunks = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip().split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                break
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)
        body = b"".join(chunks)
    else:
        body = await reader.readexactly(int(headers.get("content-length", "0")))
    return method, path, headers, body


def _parse_multipart(content_type: str, raw: bytes) -> dict[str, tuple[str | None, bytes]]:
    """name -> (filename, bytes) for a multipart/form-data body."""
    marker = "boundary="
    if marker not in content_type:
        return {}
    boundary = content_type.split(marker, 1)[1].split(";")[0].strip().strip('"').encode()
    fields: dict[str, tuple[str | None, bytes]] = {}
    for part in raw.split(b"--" + boundary):
        if not part.strip() or part.strip() == b"--":
            continue
        part = part[2:] if part.startswith(b"\r\n") else part
        head, _, data = part.partition(b"\r\n\r\n")
        data = data[:-2] if data.endswith(b"\r\n") else data
        disposition = next(
            (line for line in head.decode("latin-1").split("\r\n") if line.lower().startswith("content-disposition")),
            "",
        )
        params = dict(
            (p.split("=", 1)[0].strip(), p.split("=", 1)[1].strip().strip('"'))
            for p in disposition.split(";")[1:]
            if "=" in p
        )
        if "name" in params:
            fields[params["name"]] = (params.get("filename"), data)
    return fields


def _main() -> None:
    parser = argparse.ArgumentParser(description="loopback OpenAI-compatible test server")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--seed", type=int, default=0)
    for kind in ("429", "500", "timeout", "slow", "malformed", "truncated", "disconnect", "schema"):
        parser.add_argument(f"--p{kind}", type=float, default=0.0)
    parser.add_argument("--retry-after", type=float, default=0.05)
    parser.add_argument("--timeout-delay", type=float, default=2.0)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--no-events", action="store_true", help="do not keep a per-request event list")
    args = parser.parse_args()
    rates = FaultRates(args.p429, args.p500, args.ptimeout, args.pslow, args.pmalformed, args.ptruncated,
                       args.pdisconnect, args.pschema)
    server = TestServer(rates=rates, seed=args.seed, port=args.port, retry_after_s=args.retry_after,
                        timeout_delay_s=args.timeout_delay, latency_s=args.latency,
                        record_events=not args.no_events)
    print(f"listening on http://127.0.0.1:{args.port}/v1", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    _main()
