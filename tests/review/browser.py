"""Running the review app for a real browser: uvicorn on a free loopback port in a thread, and Debian's chromium.

Shared by the browser tests and the screenshot script (benchmarks/review_screenshots.py)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn

from videokr.review.app import ReviewApp, build_asgi
from videokr.review.security import new_token
from videokr.review.server import bind, url_of
from videokr.workspace import Workspace

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@contextmanager
def running_app(ws: Path, reviewer: str | None = None) -> Iterator[tuple[ReviewApp, str]]:
    """The app of workspace `ws` served on 127.0.0.1:<free port>; yields (app, the sign-in URL with its token)."""
    sock = bind("127.0.0.1", 0)
    port = sock.getsockname()[1]
    token = new_token()
    app, asgi = build_asgi(Workspace.open(ws), token=token, host="127.0.0.1", port=port, reviewer=reviewer)
    server = uvicorn.Server(uvicorn.Config(asgi, log_level="warning", access_log=False, lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "the review app did not start"
    try:
        yield app, url_of("127.0.0.1", port, token)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@contextmanager
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
