"""A loopback media server: files from a folder over real HTTP, with exact byte ranges and scripted faults.

Why it exists: downloads (yt-dlp's resume after a cut connection), the review app's video
player and the benchmarks all depend on what a real web server does with `Range` requests,
so they are tested against real HTTP on 127.0.0.1 rather than against a stand-in object.

What it serves, for every file under `root` (paths outside it are refused):

- `GET` and `HEAD`, `Accept-Ranges: bytes`, the file's `Content-Type` (`video/mp4` for .mp4)
  and `Content-Length`;
- one byte range per request (`bytes=100-199`, `bytes=500-`, `bytes=-500`): 206 with
  `Content-Range: bytes FIRST-LAST/SIZE`; a range that starts at or past the end (or a
  zero-length suffix) is 416 with `Content-Range: bytes */SIZE`; a malformed or multi-part
  `Range` is ignored (200 and the whole file), as RFC 9110 allows.

Faults are set per URL path (`server.fault("/a.mp4", Fault.http(429))`) and can be limited
to the first N requests of that path (`times=`):

- an HTTP error status (403, 404, 410, 429 with `Retry-After`);
- an error page — a bot check, a private or removed video — served with its title as the
  HTTP reason phrase, so a client that reports only the status line (as yt-dlp does) still
  says what the page said;
- a connection cut after a number of body bytes;
- a per-connection rate cap (bytes per second) for slow links and kill-mid-download tests.

Every request is logged (method, path, `Range`, status, body bytes sent), so tests can assert
what a client asked for — for instance that a rerun sent no second GET for a finished file.

Use it from Python (`with MediaServer(folder) as server: server.url("a.mp4")`) or as a
process: `python -m videokr.testing.media_server FOLDER --port 8766 --rate 1000000`.
"""

from __future__ import annotations

import argparse
import socket
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from videokr.httprange import content_type, parse_range, range_headers

__all__ = ["BOT_CHECK_TITLE", "Fault", "MediaServer", "RequestLog", "content_type", "parse_range"]

CHUNK_BYTES = 64 * 1024
BOT_CHECK_TITLE = "Sign in to confirm you're not a bot"
PRIVATE_TITLE = "Private video"
REMOVED_TITLE = "This video has been removed by the uploader"
UNAVAILABLE_TITLE = "Video unavailable"


@dataclass
class Fault:
    """What goes wrong on requests for one path; `times` limits it to that many requests (None: all)."""

    status: int | None = None  # answer with this error status instead of the file
    reason: str | None = None  # its reason phrase (default: the standard one)
    page: str | None = None  # the HTML body of the error
    retry_after: int | None = None
    cut_after: int | None = None  # close the connection after this many body bytes
    rate: float | None = None  # body bytes per second on this connection
    times: int | None = None

    @classmethod
    def http(cls, status: int, *, times: int | None = None) -> "Fault":
        return cls(status=status, retry_after=1 if status == 429 else None, times=times)

    @classmethod
    def bot_check(cls, *, times: int | None = None) -> "Fault":
        """The page a site shows a client it takes for a bot (403, titled as YouTube titles it)."""
        return cls.page_fault(403, BOT_CHECK_TITLE, times=times)

    @classmethod
    def private(cls, *, times: int | None = None) -> "Fault":
        return cls.page_fault(404, f"{PRIVATE_TITLE}. Sign in if you've been granted access to this video", times=times)

    @classmethod
    def removed(cls, *, times: int | None = None) -> "Fault":
        return cls.page_fault(404, REMOVED_TITLE, times=times)

    @classmethod
    def unavailable(cls, *, times: int | None = None) -> "Fault":
        return cls.page_fault(404, UNAVAILABLE_TITLE, times=times)

    @classmethod
    def page_fault(cls, status: int, title: str, *, times: int | None = None) -> "Fault":
        page = f"<!DOCTYPE html><html><head><title>{title}</title></head><body><h1>{title}</h1></body></html>"
        return cls(status=status, reason=title, page=page, times=times)

    @classmethod
    def cut(cls, after_bytes: int, *, times: int | None = 1) -> "Fault":
        return cls(cut_after=after_bytes, times=times)

    @classmethod
    def throttle(cls, bytes_per_s: float, *, times: int | None = None) -> "Fault":
        return cls(rate=bytes_per_s, times=times)


@dataclass(frozen=True)
class RequestLog:
    method: str
    path: str
    range: str | None
    status: int
    sent: int  # body bytes written (a cut or a client that hung up sends fewer than asked)
    at: float = field(default_factory=time.monotonic)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "_Server"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's name
        pass  # the request log is the record; stderr stays quiet in tests

    def do_HEAD(self) -> None:  # noqa: N802 - the stdlib's name
        self._serve(head=True)

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        self._serve(head=False)

    def _serve(self, head: bool) -> None:
        owner = self.server.owner
        url_path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        range_header = self.headers.get("Range")
        fault = owner.take_fault(url_path)
        status, sent = 500, 0
        owner.begin()
        try:
            if fault is not None and fault.status is not None:
                status = fault.status
                sent = self._error(fault.status, fault.reason, fault.page, fault.retry_after, head)
                return
            path = owner.resolve(url_path)
            if path is None:
                status = 404
                sent = self._error(404, None, None, None, head)
                return
            size = path.stat().st_size
            wanted = parse_range(range_header, size)
            status, headers, first, length = range_headers(wanted, size)
            self.send_response(status)
            if status != 416:
                self.send_header("Content-Type", content_type(path))
            for name, value in headers.items():
                self.send_header(name, value)
            if status == 416:
                self.end_headers()
                return
            self.end_headers()
            if head:
                return
            rate = (fault.rate if fault is not None and fault.rate else None) or owner.rate
            cut_after = fault.cut_after if fault is not None else None
            sent = self._body(path, first, length, rate, cut_after)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.close_connection = True  # the client hung up (yt-dlp's probe GET does, after the headers)
        finally:
            owner.log(RequestLog(self.command, url_path, range_header, status, sent))
            owner.end()

    def _error(self, status: int, reason: str | None, page: str | None, retry_after: int | None, head: bool) -> int:
        body = (page or f"<!DOCTYPE html><html><body><h1>{status}</h1></body></html>").encode("utf-8")
        self.send_response(status, reason)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        if retry_after is not None:
            self.send_header("Retry-After", str(retry_after))
        self.end_headers()
        if head:
            return 0
        self.wfile.write(body)
        return len(body)

    def _body(self, path: Path, first: int, length: int, rate: float | None, cut_after: int | None) -> int:
        sent = 0
        started = time.monotonic()
        limit = length if cut_after is None else min(length, cut_after)
        chunk_size = CHUNK_BYTES if rate is None else max(1024, min(CHUNK_BYTES, int(rate / 20)))
        with path.open("rb") as handle:
            handle.seek(first)
            while sent < limit and not self.server.owner.stopping.is_set():
                chunk = handle.read(min(chunk_size, limit - sent))
                if not chunk:
                    break
                self.wfile.write(chunk)
                sent += len(chunk)
                if rate is not None:
                    ahead = sent / rate - (time.monotonic() - started)
                    if ahead > 0:
                        time.sleep(ahead)
        if sent < length:  # a cut (or a stop): the client sees a short body and a closed connection
            self.wfile.flush()
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        return sent


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: "MediaServer"

    def handle_error(self, request: object, client_address: object) -> None:
        import sys

        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return  # a client that went away between requests of a kept-alive connection
        super().handle_error(request, client_address)


class MediaServer:
    """Files under `root` over HTTP on a loopback port, in a background thread. See the module docstring."""

    def __init__(self, root: str | Path, *, host: str = "127.0.0.1", port: int = 0, rate: float | None = None) -> None:
        self.root = Path(root).resolve()
        self.host = host
        self.rate = rate  # bytes per second per connection for every file (None: as fast as it goes)
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._faults: dict[str, Fault] = {}
        self._log: list[RequestLog] = []
        self._in_flight = 0
        self._idle = threading.Condition(self._lock)
        self._server = _Server((host, port), _Handler)
        self._server.owner = self
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, relative: str) -> str:
        """The URL of a file given by its path relative to `root`."""
        return f"{self.base_url}/{urllib.parse.quote(relative.lstrip('/'))}"

    def start(self) -> "MediaServer":
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="media-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> "MediaServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- faults and the request log ---------------------------------------------------------

    def fault(self, path: str, fault: Fault | None) -> None:
        """Set (or with None clear) the fault of a URL path ('/a.mp4' or 'a.mp4')."""
        key = "/" + path.lstrip("/")
        with self._lock:
            if fault is None:
                self._faults.pop(key, None)
            else:
                self._faults[key] = fault

    def take_fault(self, url_path: str) -> Fault | None:
        """The fault this request meets; a fault limited to `times` requests counts this one."""
        with self._lock:
            fault = self._faults.get(url_path)
            if fault is None:
                return None
            if fault.times is not None:
                fault.times -= 1
                if fault.times <= 0:
                    del self._faults[url_path]
            return fault

    def begin(self) -> None:
        with self._lock:
            self._in_flight += 1

    def end(self) -> None:
        with self._lock:
            self._in_flight -= 1
            self._idle.notify_all()

    @property
    def in_flight(self) -> int:
        """Requests being answered now."""
        with self._lock:
            return self._in_flight

    def settle(self, timeout: float = 5.0) -> bool:
        """Wait until no request is being answered (a client may read its reply before the log entry is written)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._in_flight == 0, timeout)

    def log(self, entry: RequestLog) -> None:
        with self._lock:
            self._log.append(entry)

    @property
    def requests(self) -> list[RequestLog]:
        """Requests answered so far (see `settle`)."""
        with self._lock:
            return list(self._log)

    def count(self, path: str, method: str = "GET") -> int:
        """Requests received for a URL path with a method, once the server has settled."""
        self.settle()
        key = "/" + path.lstrip("/")
        return sum(1 for r in self.requests if r.path == key and r.method == method)

    def resolve(self, url_path: str) -> Path | None:
        """The file a URL path names, or None (missing, a folder, or outside `root`)."""
        candidate = (self.root / url_path.lstrip("/")).resolve()
        if not candidate.is_relative_to(self.root) or not candidate.is_file():
            return None
        return candidate


def iter_files(root: Path) -> Iterator[Path]:
    return (p for p in sorted(root.rglob("*")) if p.is_file())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve a folder's media files on loopback with byte ranges.")
    parser.add_argument("folder", type=Path)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--rate", type=float, default=None, help="bytes per second per connection")
    args = parser.parse_args(argv)
    with MediaServer(args.folder, host=args.host, port=args.port, rate=args.rate) as server:
        for path in iter_files(server.root):
            print(server.url(str(path.relative_to(server.root))))
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
