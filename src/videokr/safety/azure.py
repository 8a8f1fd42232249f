"""Azure AI Content Safety's image analysis: the moderation API the paper used (§3.2).

    POST {endpoint}/contentsafety/image:analyze?api-version=2024-09-01
    Ocp-Apim-Subscription-Key: <key>
    {"image": {"content": "<base64>"}, "outputType": "FourSeverityLevels"}
    → {"categoriesAnalysis": [{"category": "Hate", "severity": 0}, ...]}

The endpoint and key come from the environment (`AZURE_CONTENT_SAFETY_ENDPOINT`,
`AZURE_CONTENT_SAFETY_KEY`), never from `videokr.yaml`, so a workspace can be shared without
its key. A 429, 408 or 5xx (and a dropped connection or timeout) is retried with exponential
backoff that honours Retry-After, then the item is quarantined (`Transient`); a 400 is Azure
refusing this image (too small, too large: a verdict on it); 401/403 say the key or resource
is wrong (transient: nothing about the video). Replies are kept by request (frame hash) in the
store, so a rerun or a new threshold sends nothing.
"""

from __future__ import annotations

import asyncio
import base64
import os
import random
from typing import Any

from videokr.errors import Transient, Verdict
from videokr.models.limits import backoff_delay, parse_retry_after
from videokr.models.secrets import redact, watch_env
from videokr.safety.backend import Backend, SafetyConfigError
from videokr.safety.cache import ReplyCache
from videokr.safety.categories import AZURE_CATEGORIES
from videokr.safety.frames import ModerationFrame
from videokr.store import Store

ENDPOINT_ENV = "AZURE_CONTENT_SAFETY_ENDPOINT"
KEY_ENV = "AZURE_CONTENT_SAFETY_KEY"
API_VERSION = "2024-09-01"
ANALYZE_PATH = "/contentsafety/image:analyze"
OUTPUT_TYPE = "FourSeverityLevels"
KEY_HEADER = "Ocp-Apim-Subscription-Key"
RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})
DEFAULT_MAX_ATTEMPTS = 6
DEFAULT_TIMEOUT_S = 30.0
DEFAULT_BACKOFF_BASE_S = 1.0
DEFAULT_BACKOFF_MAX_S = 60.0

watch_env(KEY_ENV)  # its value is a secret in every message, set or not yet


def parse_analysis(body: Any) -> dict[str, float]:
    """category -> severity from an image:analyze reply; ValueError if it is not one."""
    rows = body.get("categoriesAnalysis") if isinstance(body, dict) else None
    if not isinstance(rows, list):
        raise ValueError("reply without categoriesAnalysis")
    scores: dict[str, float] = {}
    for row in rows:
        if not isinstance(row, dict) or not isinstance(row.get("category"), str) \
                or not isinstance(row.get("severity"), (int, float)):
            raise ValueError(f"malformed categoriesAnalysis entry: {str(row)[:80]}")
        scores[row["category"]] = float(row["severity"])
    return scores


class AzureBackend(Backend):
    name = "azure"

    def __init__(self, *, endpoint_env: str = ENDPOINT_ENV, key_env: str = KEY_ENV,
                 max_attempts: int | None = None, timeout_s: float | None = None, backoff_base_s: float | None = None,
                 backoff_max_s: float | None = None, step: str = "safety", step_version: str = "1") -> None:
        self.endpoint_env, self.key_env = endpoint_env, key_env
        watch_env(key_env)
        # None: the module's defaults as they are when the backend is made
        self.max_attempts = max_attempts or DEFAULT_MAX_ATTEMPTS
        self.timeout_s = timeout_s or DEFAULT_TIMEOUT_S
        self.backoff_base_s = backoff_base_s or DEFAULT_BACKOFF_BASE_S
        self.backoff_max_s = backoff_max_s or DEFAULT_BACKOFF_MAX_S
        self.step, self.step_version = step, step_version
        self._client: Any = None
        self._url = ""
        self._key = ""
        self.cache: ReplyCache | None = None
        self._rng = random.Random()

    @property
    def model(self) -> str:
        return f"content-safety-{API_VERSION}"

    async def open(self, store: Store | None) -> None:
        import httpx2

        endpoint = os.environ.get(self.endpoint_env, "").strip()
        key = os.environ.get(self.key_env, "").strip()
        if not endpoint:
            raise SafetyConfigError(
                f"safety backend azure: environment variable {self.endpoint_env} is not set; it must hold "
                "the Content Safety resource's endpoint, e.g. https://NAME.cognitiveservices.azure.com")
        if not endpoint.startswith(("https://", "http://")):
            raise SafetyConfigError(f"safety backend azure: {self.endpoint_env} must be an http(s) URL")
        if not key:
            raise SafetyConfigError(
                f"safety backend azure: environment variable {self.key_env} is not set; it must hold the "
                "Content Safety resource's key")
        self._url = endpoint.rstrip("/") + ANALYZE_PATH
        self._key = key
        self._client = httpx2.AsyncClient(timeout=self.timeout_s)
        self.cache = ReplyCache(store, step=self.step, step_version=self.step_version)

    async def close(self) -> None:
        if self.cache is not None:
            self.cache.release()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def score(self, frame: ModerationFrame) -> dict[str, float]:
        assert self.cache is not None, "open() first"
        request = {"backend": self.name, "api_version": API_VERSION, "output_type": OUTPUT_TYPE,
                   "image_sha256": frame.sha256, "bytes": len(frame.jpeg)}
        reply = await self.cache.get_or_send(self.label, request, lambda: self._analyze(frame.jpeg))
        return parse_analysis(reply)

    async def _analyze(self, image: bytes) -> dict[str, Any]:
        """One image:analyze call, retried on 429/5xx/timeouts; the reply body."""
        import httpx2

        body = {"image": {"content": base64.b64encode(image).decode("ascii")}, "outputType": OUTPUT_TYPE}
        headers = {KEY_HEADER: self._key, "Content-Type": "application/json"}
        attempt = 0
        while True:
            attempt += 1
            retry_after: float | None = None
            try:
                response = await self._client.post(self._url, params={"api-version": API_VERSION}, json=body,
                                                   headers=headers)
            except httpx2.TimeoutException:
                error, retryable = f"timed out after {self.timeout_s:g} s", True
            except httpx2.TransportError as exc:
                error, retryable = f"connection failed: {type(exc).__name__}", True
            else:
                status = response.status_code
                if status == 200:
                    try:
                        reply = response.json()
                        parse_analysis(reply)
                        return reply
                    except ValueError as exc:
                        error, retryable = f"malformed reply: {exc}", True
                else:
                    error = f"HTTP {status}: {_error_message(response)}"
                    retryable = status in RETRY_STATUS
                    retry_after = parse_retry_after(response.headers)
                    if status == 400:
                        raise Verdict(f"Azure Content Safety refused the frame: {self._clean(error)}",
                                      code="refused")
                    if status in (401, 403):
                        raise Transient(f"Azure Content Safety did not accept the key in {self.key_env} for "
                                        f"the endpoint in {self.endpoint_env}: {self._clean(error)}")
            if not retryable or attempt >= self.max_attempts:
                raise Transient(f"Azure Content Safety: gave up after {attempt} attempt(s); "
                                f"last: {self._clean(error)}")
            await asyncio.sleep(backoff_delay(attempt, base_s=self.backoff_base_s, max_s=self.backoff_max_s,
                                              retry_after_s=retry_after, rng=self._rng))

    def _clean(self, text: str) -> str:
        return redact(text, [self._key]) or ""


def _error_message(response: Any) -> str:
    """Azure's own words: {"error": {"code": ..., "message": ...}}, else the start of the body."""
    try:
        body = response.json()
        inner = body.get("error", body) if isinstance(body, dict) else body
        if isinstance(inner, dict) and (inner.get("message") or inner.get("code")):
            return f"{inner.get('code', '')}: {inner.get('message', '')}".strip(": ")
    except ValueError:
        pass
    return (response.text or "")[:200]


__all__ = ["API_VERSION", "AZURE_CATEGORIES", "AzureBackend", "ENDPOINT_ENV", "KEY_ENV", "parse_analysis"]
