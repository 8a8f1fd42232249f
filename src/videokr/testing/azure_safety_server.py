"""A loopback stand-in for Azure AI Content Safety's image analysis, strict about what it is sent.

    POST /contentsafety/image:analyze?api-version=2024-09-01
    Ocp-Apim-Subscription-Key: <key>
    {"image": {"content": "<base64 JPEG or PNG>"}, "outputType": "FourSeverityLevels"}

It answers `{"categoriesAnalysis": [{"category": ..., "severity": 0|2|4|6}, ...]}` with the
severities `scorer(image)` gives for the decoded image (an RGB array), 0 for the rest. A
request the real service would not take — another path or API version, a missing or wrong
key, a body with other fields, base64 that is not a JPEG or PNG of the expected size — is
answered as the service would (401, 404, 400) and listed in `violations`, so a test can
assert that a client sends exactly the documented request. Like some providers, the 401 echoes
the key that was sent: a client must not store or print it. `queue_faults(["429", "500"])`
makes the next requests fail in that order.

    with AzureSafetyServer(key="k" * 32, scorer=lambda img: {"Violence": 6}) as server:
        os.environ["AZURE_CONTENT_SAFETY_ENDPOINT"] = server.endpoint
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np

from videokr.safety.azure import ANALYZE_PATH, API_VERSION, KEY_HEADER, OUTPUT_TYPE
from videokr.safety.categories import AZURE_CATEGORIES, AZURE_SEVERITIES

Scorer = Callable[[np.ndarray], dict[str, int]]
BODY_FIELDS = frozenset({"image", "categories", "outputType"})
MAX_IMAGE_BYTES = 4 * 1024 * 1024  # the service's limits on one image
MIN_SIDE, MAX_SIDE = 50, 7200
FAULTS = ("429", "500", "503", "400")


@dataclass
class AnalyzeRequest:
    """One well-formed request, as the server decoded it."""

    size: tuple[int, int]
    format: str
    sha256: str


@dataclass
class AzureStats:
    received: int = 0
    answered: int = 0
    faults: Counter = field(default_factory=Counter)
    auth_failures: int = 0
    requests: list[AnalyzeRequest] = field(default_factory=list)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # a client's whole window of requests may connect at once


class AzureSafetyServer:
    """The stand-in on 127.0.0.1 in a background thread; `endpoint` is what the client is given."""

    __test__ = False  # not a pytest test class

    def __init__(self, *, key: str, scorer: Scorer | None = None,
                 expected_size: tuple[int, int] | None = None, retry_after_s: float | None = 0.01,
                 port: int = 0) -> None:
        self.key = key
        self.scorer = scorer or (lambda image: {})
        self.expected_size = expected_size
        self.retry_after_s = retry_after_s
        self.stats = AzureStats()
        self.violations: list[str] = []
        self._queued: list[str] = []
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", port), self._handler())
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> "AzureSafetyServer":
        self._thread = threading.Thread(target=self._server.serve_forever, name="azure-safety-server",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> "AzureSafetyServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def queue_faults(self, kinds: list[str]) -> None:
        unknown = [k for k in kinds if k not in FAULTS]
        if unknown:
            raise ValueError(f"unknown fault(s) {unknown}; known: {', '.join(FAULTS)}")
        with self._lock:
            self._queued.extend(kinds)

    def clear_faults(self) -> None:
        """Drop the faults still queued."""
        with self._lock:
            self._queued.clear()

    def reset_stats(self) -> None:
        with self._lock:
            self.stats = AzureStats()

    # -- the service --------------------------------------------------------------------

    def answer(self, method: str, target: str, headers: dict[str, str],
               raw: bytes) -> tuple[int, dict[str, Any], dict[str, str]]:
        """(status, JSON body, extra headers) for one request."""
        with self._lock:
            self.stats.received += 1
        url = urlsplit(target)
        if method != "POST" or url.path != ANALYZE_PATH:
            return self._violation(404, "NotFound", f"no route {method} {url.path}")
        version = parse_qs(url.query).get("api-version", [None])[0]
        if version != API_VERSION:
            return self._violation(404, "ApiVersionUnsupported",
                                   f"api-version {version!r} is not {API_VERSION}")
        sent_key = headers.get(KEY_HEADER.lower())
        if sent_key != self.key:
            with self._lock:
                self.stats.auth_failures += 1
            self._note(f"wrong or missing {KEY_HEADER}")
            return 401, {"error": {"code": "401", "message": f"Access denied due to invalid subscription key "
                                   f"{sent_key or ''} or wrong API endpoint."}}, {}
        if not headers.get("content-type", "").startswith("application/json"):
            return self._violation(415, "UnsupportedMediaType", "Content-Type must be application/json")
        try:
            request, image = self._decode(raw)
        except ValueError as exc:
            return self._violation(400, "InvalidRequestBody", str(exc))
        with self._lock:
            fault = self._queued.pop(0) if self._queued else None
            if fault:
                self.stats.faults[fault] += 1
        if fault in ("429", "500", "503"):
            extra = {}
            if fault == "429" and self.retry_after_s is not None:
                extra["Retry-After"] = f"{self.retry_after_s:g}"
            code = "TooManyRequests" if fault == "429" else "InternalServerError"
            return int(fault), {"error": {"code": code, "message": f"scripted {fault}"}}, extra
        if fault == "400":
            return 400, {"error": {"code": "InvalidImageSize", "message": "scripted: the image is refused"}}, {}
        severities = {name: 0 for name in AZURE_CATEGORIES}
        for name, value in self.scorer(image).items():
            if name not in severities or value not in AZURE_SEVERITIES:  # the test's script is wrong: say so
                return self._violation(500, "InternalServerError", f"the scorer gave {name}={value}; "
                                       f"categories {AZURE_CATEGORIES}, severities {AZURE_SEVERITIES}")
            severities[name] = int(value)
        with self._lock:
            self.stats.requests.append(request)
            self.stats.answered += 1
        return 200, {"blocklistsMatch": [], "categoriesAnalysis": [
            {"category": name, "severity": value} for name, value in severities.items()]}, {}

    def _decode(self, raw: bytes) -> tuple[AnalyzeRequest, np.ndarray]:
        import hashlib

        from PIL import Image

        try:
            body = json.loads(raw)
        except json.JSONDecodeError:
            raise ValueError("the body is not JSON") from None
        if not isinstance(body, dict) or set(body) - BODY_FIELDS:
            extra_fields = sorted(set(body) - BODY_FIELDS) if isinstance(body, dict) else body
            raise ValueError(f"unexpected body fields: {extra_fields}")
        if body.get("outputType") != OUTPUT_TYPE:
            raise ValueError(f"outputType must be {OUTPUT_TYPE}, got {body.get('outputType')!r}")
        image_field = body.get("image")
        if not (isinstance(image_field, dict) and set(image_field) == {"content"}
                and isinstance(image_field["content"], str)):
            raise ValueError("image must be {\"content\": <base64>}")
        try:
            data = base64.b64decode(image_field["content"], validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("image.content is not base64") from None
        if len(data) > MAX_IMAGE_BYTES:
            raise ValueError(f"the image has {len(data)} bytes; at most {MAX_IMAGE_BYTES}")
        if data[:3] == b"\xff\xd8\xff":
            kind = "JPEG"
        elif data[:8] == b"\x89PNG\r\n\x1a\n":
            kind = "PNG"
        else:
            raise ValueError("image.content is neither a JPEG nor a PNG")
        try:
            picture = Image.open(io.BytesIO(data))
            picture.load()
        except Exception:  # noqa: BLE001 - any decoder complaint means "not an image"
            raise ValueError(f"image.content does not decode as a {kind}") from None
        width, height = picture.size
        if not (MIN_SIDE <= width <= MAX_SIDE and MIN_SIDE <= height <= MAX_SIDE):
            raise ValueError(f"the image is {width}x{height}; each side must be {MIN_SIDE}–{MAX_SIDE} pixels")
        if self.expected_size is not None and (width, height) != self.expected_size:
            want = f"{self.expected_size[0]}x{self.expected_size[1]}"
            raise ValueError(f"the image is {width}x{height}, expected {want}")
        request = AnalyzeRequest((width, height), kind, hashlib.sha256(data).hexdigest())
        return request, np.asarray(picture.convert("RGB"))

    def _note(self, problem: str) -> None:
        with self._lock:
            self.violations.append(problem)

    def _violation(self, status: int, code: str, message: str) -> tuple[int, dict[str, Any], dict[str, str]]:
        self._note(message)
        return status, {"error": {"code": code, "message": message}}, {}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, body, extra = server.answer(self.command, self.path, headers, raw)
                data = json.dumps(body).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                for name, value in extra.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            do_POST = do_GET = do_PUT = _serve

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
                pass

        return Handler
