"""The loopback media server: exact byte ranges, HEAD, content types and every fault mode, over real HTTP."""

from __future__ import annotations

import http.client
import os
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from videokr.testing.media_server import BOT_CHECK_TITLE, CHUNK_BYTES, Fault, MediaServer, content_type, parse_range

SIZE = 10_000


@pytest.fixture
def server(tmp_path: Path):
    data = os.urandom(SIZE)
    (tmp_path / "a.mp4").write_bytes(data)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b c.webm").write_bytes(data[:100])
    with MediaServer(tmp_path) as running:
        running.data = data  # type: ignore[attr-defined]
        yield running


def request(server: MediaServer, path: str, method: str = "GET", headers: dict[str, str] | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request(method, path, headers=headers or {})
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response, body


def test_parse_range_cases() -> None:
    assert parse_range(None, 1000) is None
    assert parse_range("bytes=0-", 1000) == (0, 999)
    assert parse_range("bytes=-500", 1000) == (500, 999)
    assert parse_range("bytes=-5000", 1000) == (0, 999)  # a suffix longer than the file: all of it
    assert parse_range("bytes=100-199", 1000) == (100, 199)
    assert parse_range("bytes=900-5000", 1000) == (900, 999)  # the end is clipped
    assert parse_range("bytes=999-999", 1000) == (999, 999)
    assert parse_range("bytes=1000-", 1000) == "unsatisfiable"
    assert parse_range("bytes=1000-1100", 1000) == "unsatisfiable"
    assert parse_range("bytes=-0", 1000) == "unsatisfiable"
    assert parse_range("bytes=0-", 0) == "unsatisfiable"
    assert parse_range("bytes=200-100", 1000) is None  # invalid: ignored
    assert parse_range("bytes=0-1,5-9", 1000) is None  # several ranges: the whole file
    assert parse_range("items=0-5", 1000) is None
    assert parse_range("bytes=-", 1000) is None


def test_content_types() -> None:
    assert content_type(Path("x.mp4")) == "video/mp4"
    assert content_type(Path("x.MP4")) == "video/mp4"
    assert content_type(Path("x.webm")) == "video/webm"
    assert content_type(Path("x.bin")) == "application/octet-stream"


def test_whole_file_and_head(server: MediaServer) -> None:
    response, body = request(server, "/a.mp4")
    assert response.status == 200 and body == server.data  # type: ignore[attr-defined]
    assert response.getheader("Content-Type") == "video/mp4"
    assert response.getheader("Accept-Ranges") == "bytes"
    assert response.getheader("Content-Length") == str(SIZE)
    head, head_body = request(server, "/a.mp4", "HEAD")
    assert head.status == 200 and head_body == b""
    assert head.getheader("Content-Length") == str(SIZE) and head.getheader("Content-Type") == "video/mp4"


@pytest.mark.parametrize("header, first, last", [
    ("bytes=0-", 0, SIZE - 1),
    ("bytes=-500", SIZE - 500, SIZE - 1),
    ("bytes=100-199", 100, 199),
    ("bytes=9990-20000", 9990, SIZE - 1),
    ("bytes=0-0", 0, 0),
])
def test_ranges(server: MediaServer, header: str, first: int, last: int) -> None:
    response, body = request(server, "/a.mp4", headers={"Range": header})
    assert response.status == 206
    assert body == server.data[first : last + 1]  # type: ignore[attr-defined]
    assert response.getheader("Content-Range") == f"bytes {first}-{last}/{SIZE}"
    assert response.getheader("Content-Length") == str(last - first + 1)
    assert response.getheader("Accept-Ranges") == "bytes"


@pytest.mark.parametrize("header", ["bytes=10000-", "bytes=20000-30000", "bytes=-0"])
def test_unsatisfiable_range_is_416(server: MediaServer, header: str) -> None:
    response, body = request(server, "/a.mp4", headers={"Range": header})
    assert response.status == 416 and body == b""
    assert response.getheader("Content-Range") == f"bytes */{SIZE}"


def test_malformed_range_serves_whole_file(server: MediaServer) -> None:
    response, body = request(server, "/a.mp4", headers={"Range": "bytes=0-1,5-9"})
    assert response.status == 200 and len(body) == SIZE


def test_head_with_range(server: MediaServer) -> None:
    response, body = request(server, "/a.mp4", "HEAD", {"Range": "bytes=100-199"})
    assert response.status == 206 and body == b""
    assert response.getheader("Content-Range") == f"bytes 100-199/{SIZE}"


def test_quoted_paths_missing_files_and_escapes(server: MediaServer) -> None:
    response, body = request(server, "/sub/b%20c.webm")
    assert response.status == 200 and len(body) == 100 and response.getheader("Content-Type") == "video/webm"
    assert server.url("sub/b c.webm").endswith("/sub/b%20c.webm")
    assert request(server, "/nothing.mp4")[0].status == 404
    assert request(server, "/sub")[0].status == 404  # a folder is not served
    assert request(server, "/../" + Path(server.root).name + "/a.mp4")[0].status in (200, 404)
    assert request(server, "/%2e%2e/%2e%2e/etc/passwd")[0].status == 404


def test_keep_alive_serves_several_requests_on_one_connection(server: MediaServer) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    for header in ("bytes=0-9", "bytes=10-19", "bytes=-10"):
        conn.request("GET", "/a.mp4", headers={"Range": header})
        response = conn.getresponse()
        assert response.status == 206 and len(response.read()) == 10
    conn.close()


@pytest.mark.parametrize("fault, status", [
    (Fault.http(403), 403), (Fault.http(404), 404), (Fault.http(410), 410), (Fault.http(429), 429),
])
def test_status_faults(server: MediaServer, fault: Fault, status: int) -> None:
    server.fault("/a.mp4", fault)
    response, _ = request(server, "/a.mp4")
    assert response.status == status
    if status == 429:
        assert response.getheader("Retry-After") == "1"
    assert server.settle()
    assert server.requests[-1].status == status


def test_page_faults_carry_their_title(server: MediaServer) -> None:
    server.fault("a.mp4", Fault.bot_check())
    response, body = request(server, "/a.mp4")
    assert response.status == 403 and response.reason == BOT_CHECK_TITLE
    assert BOT_CHECK_TITLE.encode() in body and response.getheader("Content-Type").startswith("text/html")
    server.fault("a.mp4", Fault.private())
    response, _ = request(server, "/a.mp4")
    assert response.status == 404 and response.reason.startswith("Private video")
    server.fault("a.mp4", Fault.removed())
    assert request(server, "/a.mp4")[0].reason == "This video has been removed by the uploader"


def test_fault_limited_to_n_requests(server: MediaServer) -> None:
    server.fault("/a.mp4", Fault.http(429, times=2))
    assert [request(server, "/a.mp4")[0].status for _ in range(3)] == [429, 429, 200]
    server.fault("/a.mp4", Fault.http(403))
    server.fault("/a.mp4", None)
    assert request(server, "/a.mp4")[0].status == 200


def test_cut_mid_body_then_resume_with_range(server: MediaServer) -> None:
    server.fault("/a.mp4", Fault.cut(3000))
    with pytest.raises((http.client.IncompleteRead, urllib.error.URLError)) as caught:
        with urllib.request.urlopen(server.url("a.mp4"), timeout=10) as response:
            response.read()
    partial = caught.value.partial if isinstance(caught.value, http.client.IncompleteRead) else b""
    assert len(partial) == 3000
    assert server.settle()
    assert server.requests[-1].sent == 3000
    response, rest = request(server, "/a.mp4", headers={"Range": f"bytes={len(partial)}-"})
    assert response.status == 206 and partial + rest == server.data  # type: ignore[attr-defined]


def test_rate_cap_per_connection(server: MediaServer) -> None:
    server.fault("/a.mp4", Fault.throttle(20_000))  # 10 kB at 20 kB/s: about half a second
    started = time.monotonic()
    _, body = request(server, "/a.mp4")
    took = time.monotonic() - started
    assert len(body) == SIZE and took >= 0.4
    server.fault("/a.mp4", None)
    started = time.monotonic()
    request(server, "/a.mp4")
    assert time.monotonic() - started < 0.4


def test_server_rate_applies_to_every_file(tmp_path: Path) -> None:
    (tmp_path / "x.mp4").write_bytes(b"x" * 8000)
    with MediaServer(tmp_path, rate=20_000) as slow:
        started = time.monotonic()
        assert len(request(slow, "/x.mp4")[1]) == 8000
        assert time.monotonic() - started >= 0.3


def test_client_that_hangs_up_is_logged_not_fatal(tmp_path: Path) -> None:
    (tmp_path / "big.mp4").write_bytes(os.urandom(CHUNK_BYTES * 64))
    with MediaServer(tmp_path) as running:
        sock = socket.create_connection(("127.0.0.1", running.port))
        sock.sendall(b"GET /big.mp4 HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 200")
        sock.close()  # the way yt-dlp's probe GET leaves after the headers
        deadline = time.monotonic() + 5
        while running.count("big.mp4") == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert running.requests[0].sent < CHUNK_BYTES * 64
        assert request(running, "/big.mp4", headers={"Range": "bytes=-10"})[0].status == 206  # still serving
