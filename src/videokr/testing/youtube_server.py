"""A loopback stand-in of the YouTube Data API v3 (`/search`, `/videos`), with scripted faults.

Why it exists: the search steps' guarantees — a spent quota stops the run and a rerun the
next day resumes where it stopped, a refused key stops it with a message that names the
variable and not the key, a 5xx quarantines and is retried, a malformed entry costs only
its own video — are only worth something against real HTTP. This server answers the two
calls from an in-memory catalogue of videos on a thread of the calling process, keeps its
own count of quota units as the real API does, and records every request it received (the
`key` parameter excepted) so a test can assert that a rerun sent none.

Faults: `quota_limit` (units after which every call answers 403 quotaExceeded),
`api_key` (any other key answers 400 keyInvalid; `forbid_key()` makes it 403 forbidden),
`fail_next(n, status)` (the next n calls answer 5xx), `delay_next(n, seconds)` (the next n
calls answer late), a video's `fault` (an entry without an id, a bad or missing duration),
and `page_size` (results per page, so pagination is exercised).

Point the steps at it with `VIDEOKR_YOUTUBE_API_URL=server.url` and `YOUTUBE_API_KEY=server.api_key`.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

__all__ = ["FakeVideo", "ReceivedRequest", "YouTubeServer"]

SEARCH_COST = 100
VIDEOS_COST = 1
MAX_PAGE = 50

Fault = Literal["search_no_id", "videos_no_id", "bad_duration", "no_duration", "no_status"]


@dataclass
class FakeVideo:
    """One video of the catalogue; `keywords` are the queries (case-insensitive) whose search returns it."""

    id: str
    title: str = "a video"
    description: str = ""
    channel_id: str = "UCfakechannel000000000000"
    channel_title: str = "A Channel"
    duration: str = "PT5M"
    license: str = "creativeCommon"
    live: str = "none"  # snippet.liveBroadcastContent: none | live | upcoming
    keywords: tuple[str, ...] = ()
    published_at: str = "2024-01-01T00:00:00Z"
    search_license: str | None = None  # what the search index believes, if not `license` (a changed licence)
    removed: bool = False  # found by search, gone from videos.list (removed or made private)
    fault: Fault | None = None


@dataclass(frozen=True)
class ReceivedRequest:
    path: str  # "/search" or "/videos" (after the base path)
    params: dict[str, str]  # without `key`
    key_given: bool
    status: int


@dataclass
class _Faults:
    failures: list[int] = field(default_factory=list)  # statuses of the next calls
    delays: list[float] = field(default_factory=list)
    forbid: bool = False


class YouTubeServer:
    """The two endpoints on 127.0.0.1 in a background thread; use as `with YouTubeServer(videos) as server:`."""

    __test__ = False  # not a pytest test class

    def __init__(self, videos: list[FakeVideo] | tuple[FakeVideo, ...] = (), *, api_key: str = "fake-youtube-key-0123",
                 page_size: int | None = None, quota_limit: int | None = None, base_path: str = "/youtube/v3") -> None:
        self.videos: dict[str, FakeVideo] = {v.id: v for v in videos}
        self.api_key = api_key
        self.page_size = page_size
        self.quota_limit = quota_limit
        self.base_path = base_path.rstrip("/")
        self.units_spent = 0
        self.requests: list[ReceivedRequest] = []
        self._faults = _Faults()
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- life cycle -------------------------------------------------------------------

    def start(self) -> "YouTubeServer":
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
                status, body = server.answer(self.path)
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                try:
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.02,), name="youtube-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> "YouTubeServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._httpd is not None, "start the server first"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}{self.base_path}"

    # -- faults -----------------------------------------------------------------------

    def fail_next(self, n: int, status: int = 503) -> None:
        with self._lock:
            self._faults.failures += [status] * n

    def delay_next(self, n: int, seconds: float) -> None:
        with self._lock:
            self._faults.delays += [seconds] * n

    def forbid_key(self, forbid: bool = True) -> None:
        """Answer every call 403 `forbidden` (a key without access), whatever key it carries."""
        self._faults.forbid = forbid

    def reset_quota(self) -> None:
        """Midnight Pacific time: the units spent go back to zero."""
        with self._lock:
            self.units_spent = 0

    def calls(self, path: str | None = None) -> list[ReceivedRequest]:
        with self._lock:
            return [r for r in self.requests if path is None or r.path == path]

    # -- answering --------------------------------------------------------------------

    def answer(self, raw_path: str) -> tuple[int, dict[str, Any]]:
        parts = urlsplit(raw_path)
        params = dict(parse_qsl(parts.query, keep_blank_values=True))
        key = params.pop("key", None)
        path = parts.path[len(self.base_path):] if parts.path.startswith(self.base_path) else parts.path
        with self._lock:
            delay = self._faults.delays.pop(0) if self._faults.delays else 0.0
        if delay:
            time.sleep(delay)
        with self._lock:
            status, body = self._answer(path, params, key)
            self.requests.append(ReceivedRequest(path, params, key is not None, status))
        return status, body

    def _answer(self, path: str, params: dict[str, str], key: str | None) -> tuple[int, dict[str, Any]]:
        if path not in ("/search", "/videos"):
            return 404, _error(404, "notFound", f"no endpoint {path}")
        if self._faults.failures:
            status = self._faults.failures.pop(0)
            return status, _error(status, "backendError", "Backend Error")
        if key != self.api_key:
            return 400, _error(400, "keyInvalid", "API key not valid. Please pass a valid API key.")
        if self._faults.forbid:
            return 403, _error(403, "forbidden", "The request is not properly authorized.")
        if "part" not in params:
            return 400, _error(400, "required", "Required parameter: part")
        cost = SEARCH_COST if path == "/search" else VIDEOS_COST
        if self.quota_limit is not None and self.units_spent + cost > self.quota_limit:
            return 403, _error(403, "quotaExceeded", "The request cannot be completed because you have exceeded "
                                                     "your quota.", domain="youtube.quota")
        self.units_spent += cost
        return 200, (self._search(params) if path == "/search" else self._videos(params))

    def _search(self, params: dict[str, str]) -> dict[str, Any]:
        query = params.get("q", "").strip().lower()
        only_cc = params.get("videoLicense") == "creativeCommon"
        found = [
            v for v in self.videos.values()
            if query in {k.lower() for k in v.keywords}
            and (not only_cc or (v.search_license or v.license) == "creativeCommon")
        ]
        asked = max(1, min(int(params.get("maxResults", "5")), MAX_PAGE))
        size = min(asked, self.page_size or asked)
        start = int(params.get("pageToken", "p0")[1:] or 0)
        page = found[start:start + size]
        body: dict[str, Any] = {
            "kind": "youtube#searchListResponse",
            "pageInfo": {"totalResults": len(found), "resultsPerPage": size},
            "items": [_search_item(v) for v in page],
        }
        if start + size < len(found):
            body["nextPageToken"] = f"p{start + size}"
        return body

    def _videos(self, params: dict[str, str]) -> dict[str, Any]:
        ids = [i for i in params.get("id", "").split(",") if i]
        items = [_video_item(self.videos[i]) for i in ids if i in self.videos and not self.videos[i].removed]
        return {"kind": "youtube#videoListResponse", "pageInfo": {"totalResults": len(items)}, "items": items}


def _error(status: int, reason: str, message: str, domain: str = "global") -> dict[str, Any]:
    return {"error": {"code": status, "message": message,
                      "errors": [{"message": message, "domain": domain, "reason": reason}]}}


def _snippet(video: FakeVideo) -> dict[str, Any]:
    return {"publishedAt": video.published_at, "channelId": video.channel_id, "title": video.title,
            "description": video.description, "channelTitle": video.channel_title,
            "liveBroadcastContent": video.live}


def _search_item(video: FakeVideo) -> dict[str, Any]:
    ident: dict[str, Any] = {"kind": "youtube#video"}
    if video.fault != "search_no_id":
        ident["videoId"] = video.id
    return {"kind": "youtube#searchResult", "id": ident, "snippet": _snippet(video)}


def _video_item(video: FakeVideo) -> dict[str, Any]:
    item: dict[str, Any] = {
        "kind": "youtube#video",
        "id": video.id,
        "snippet": _snippet(video),
        "contentDetails": {"duration": video.duration, "definition": "hd"},
        "status": {"uploadStatus": "processed", "privacyStatus": "public", "license": video.license},
    }
    if video.fault == "videos_no_id":
        del item["id"]
    elif video.fault == "bad_duration":
        item["contentDetails"]["duration"] = "1 hour"
    elif video.fault == "no_duration":
        del item["contentDetails"]["duration"]
    elif video.fault == "no_status":
        del item["status"]
    return item
