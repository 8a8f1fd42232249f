"""A thin YouTube Data API v3 client: `search.list` and `videos.list`, nothing else.

Why its own client: the steps need exactly two calls and must tell apart what the API's
answers mean for the run — a spent quota or a refused key stops the step (no later item can
succeed either), a 5xx or a timeout is retried with backoff and then quarantines the item,
any other refusal rejects it. Every call is charged to the workspace's quota ledger before it
is sent (`youtube.quota`).

The key comes from `YOUTUBE_API_KEY` and never leaves this module: it is sent as the `key`
parameter, and every message this module makes goes through `models.secrets.redact`.
The base URL comes from `VIDEOKR_YOUTUBE_API_URL` (a loopback stand-in in tests and
rehearsals), else the public API.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from videokr.errors import Stop, Transient, Verdict
from videokr.models.limits import backoff_delay, parse_retry_after
from videokr.models.secrets import redact, remember
from videokr.youtube.cache import ResponseCache
from videokr.youtube.quota import SEARCH_UNITS, VIDEOS_PER_CALL, VIDEOS_UNITS, QuotaExhausted, QuotaLedger

API_KEY_ENV = "YOUTUBE_API_KEY"
API_URL_ENV = "VIDEOKR_YOUTUBE_API_URL"
DEFAULT_API_URL = "https://www.googleapis.com/youtube/v3"
DEFAULT_TIMEOUT_S = 30.0
DEFAULT_MAX_ATTEMPTS = 4
DEFAULT_BACKOFF_BASE_S = 1.0
DEFAULT_BACKOFF_MAX_S = 60.0
# search.list takes at most 50 results per page; the steps ask for far fewer
MAX_PAGE_RESULTS = 50

# errors[0].reason values, as the API documents them
QUOTA_REASONS = frozenset({"quotaExceeded", "dailyLimitExceeded"})
RATE_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})
KEY_REASONS = frozenset({"keyInvalid", "keyExpired", "forbidden", "accessNotConfigured", "ipRefererBlocked",
                         "API_KEY_INVALID", "API_KEY_SERVICE_BLOCKED"})


class BadKey(Stop):
    """The API refused the key: nothing can succeed until `YOUTUBE_API_KEY` is fixed."""


class RequestRefused(Verdict):
    """The API refused this request for a reason of its own (a 4xx other than key, quota or rate)."""


def api_key_from_env() -> str:
    """The key in `YOUTUBE_API_KEY`, or a Stop that says how to provide one."""
    key = os.environ.get(API_KEY_ENV, "").strip()
    if not key:
        raise BadKey(f"set {API_KEY_ENV} to a YouTube Data API v3 key to search YouTube "
                     "(the key is read from the environment only and never stored)")
    remember(key)
    return key


def api_url_from_env() -> str:
    return os.environ.get(API_URL_ENV, "").strip() or DEFAULT_API_URL


@dataclass(frozen=True)
class SearchResult:
    """One entry of a search's result list; `youtube_id` is None when the entry carries no video id."""

    rank: int
    youtube_id: str | None


@dataclass(frozen=True)
class ApiError:
    status: int
    reason: str
    message: str


def parse_error(status: int, text: str) -> ApiError:
    """The API's error body (`error.errors[0].reason`, `error.message`), tolerating bodies that are not JSON."""
    reason, message = "", ""
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        message = str(error.get("message") or "")
        errors = error.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            reason = str(errors[0].get("reason") or "")
        details = error.get("details")
        if not reason and isinstance(details, list):
            reason = next((str(d.get("reason")) for d in details if isinstance(d, dict) and d.get("reason")), "")
        reason = reason or str(error.get("status") or "")
    return ApiError(status, reason, redact(message or text[:200]) or "")


class YouTubeClient:
    """`search` and `videos` against one base URL; use as a context manager (one HTTP connection pool)."""

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str = DEFAULT_API_URL,
        quota: QuotaLedger | None = None,
        cache: ResponseCache | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        backoff_base_s: float = DEFAULT_BACKOFF_BASE_S,
        backoff_max_s: float = DEFAULT_BACKOFF_MAX_S,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        import httpx2

        remember(api_key)
        self._key = api_key
        self.base_url = base_url.rstrip("/")
        self.quota = quota
        self.cache = cache
        self.max_attempts = max(1, max_attempts)
        self.backoff_base_s, self.backoff_max_s = backoff_base_s, backoff_max_s
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._http = httpx2.Client(timeout=timeout_s)
        self.calls = 0  # requests sent by this client
        self.units = 0  # quota units they were charged

    def __enter__(self) -> "YouTubeClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- the two calls ----------------------------------------------------------------

    def search(self, query: str, top_k: int) -> list[SearchResult]:
        """The first `top_k` CC-licensed videos of a search, following `nextPageToken` only while short of them.

        A page already answered (in `cache`) is not asked again."""
        results: list[SearchResult] = []
        token: str | None = None
        for _ in range(top_k):  # each page holds at least one entry, so top_k pages are the most needed
            params = {"part": "snippet", "type": "video", "videoLicense": "creativeCommon", "q": query,
                      "maxResults": str(min(top_k, MAX_PAGE_RESULTS))}
            if token:
                params["pageToken"] = token
            body = self.cache.get("search", params) if self.cache is not None else None
            if body is None:
                body = self._get("search", params, SEARCH_UNITS)
                if not isinstance(body.get("items"), list):
                    raise Transient("YouTube API search: the reply has no item list")
                if self.cache is not None:
                    self.cache.put("search", params, body)
            items = body["items"]
            for entry in items:
                if len(results) >= top_k:
                    break
                results.append(SearchResult(len(results) + 1, _video_id(entry)))
            token = body.get("nextPageToken") if isinstance(body.get("nextPageToken"), str) else None
            if len(results) >= top_k or not token or not items:
                break
        return results

    def videos(self, ids: Sequence[str]) -> list[Any]:
        """`videos.list` items (snippet, contentDetails, status) for at most VIDEOS_PER_CALL ids; absent ids are gone."""
        if len(ids) > VIDEOS_PER_CALL:
            raise ValueError(f"videos.list takes at most {VIDEOS_PER_CALL} ids, got {len(ids)}")
        if not ids:
            return []
        body = self._get("videos", {"part": "snippet,contentDetails,status", "id": ",".join(ids),
                                    "maxResults": str(VIDEOS_PER_CALL)}, VIDEOS_UNITS)
        items = body.get("items")
        if not isinstance(items, list):
            raise Transient("YouTube API videos: the reply has no item list")
        return items

    # -- one request, retried ----------------------------------------------------------

    def _get(self, endpoint: str, params: dict[str, str], units: int) -> dict[str, Any]:
        import httpx2

        url = f"{self.base_url}/{endpoint}"
        last = ""
        for attempt in range(1, self.max_attempts + 1):
            if self.quota is not None:
                self.quota.charge(units)  # counted before it is sent: a kill after sending never under-counts
            self.calls += 1
            self.units += units
            retry_after: float | None = None
            try:
                response = self._http.get(url, params={**params, "key": self._key})
            except httpx2.TimeoutException:
                last = "timed out"
            except httpx2.TransportError as exc:
                last = f"connection failed: {type(exc).__name__}"
            except Exception as exc:  # an HTTP library's message may hold the URL, and so the key
                raise Transient(redact(f"YouTube API {endpoint}: {type(exc).__name__}: {exc}")) from None
            else:
                if response.status_code == 200:
                    try:
                        body = response.json()
                    except ValueError:
                        body = None
                    if isinstance(body, dict):
                        return body
                    last = "HTTP 200 whose body is not a JSON object"
                else:
                    error = parse_error(response.status_code, response.text)
                    self._raise_for(endpoint, error)
                    last = f"HTTP {error.status} {error.reason}".rstrip()
                    retry_after = parse_retry_after(response.headers)
            if attempt < self.max_attempts:
                self._sleep(backoff_delay(attempt, base_s=self.backoff_base_s, max_s=self.backoff_max_s,
                                          retry_after_s=retry_after, rng=self._rng))
        raise Transient(redact(f"YouTube API {endpoint}: gave up after {self.max_attempts} attempts; last: {last}"))

    def _raise_for(self, endpoint: str, error: ApiError) -> None:
        """Raise what an error answer means for the run; return if it is worth retrying."""
        if error.reason in QUOTA_REASONS:
            message = (self.quota.mark_exhausted() if self.quota is not None else
                       "the YouTube API answered quotaExceeded; it resets at midnight Pacific time")
            raise QuotaExhausted(message)
        if error.reason in RATE_REASONS or error.status == 429 or error.status >= 500:
            return
        if error.reason in KEY_REASONS or error.status in (401, 403) or "api key" in error.message.lower():
            raise BadKey(redact(
                f"the YouTube API refused the key in {API_KEY_ENV} (HTTP {error.status} {error.reason}: "
                f"{error.message}); check that {API_KEY_ENV} holds a valid key with the YouTube Data API v3 "
                "enabled"))
        raise RequestRefused(redact(f"YouTube API {endpoint} refused the request: HTTP {error.status} "
                                    f"{error.reason}: {error.message}"), code="api_refused")


def _video_id(entry: Any) -> str | None:
    if not isinstance(entry, dict):
        return None
    ident = entry.get("id")
    video_id = ident.get("videoId") if isinstance(ident, dict) else None
    return video_id if isinstance(video_id, str) and video_id else None
