"""The loopback OpenAI-compatible server in a process of its own, for benchmarks.

In its own process it does not share the interpreter with the side being measured, so the
figures are those of the client, not of the server's Python."""

from __future__ import annotations

import multiprocessing
import socket
import time
from collections.abc import Callable
from typing import Any


def _serve(port: int, responder: Callable[[dict[str, Any], str], str]) -> None:
    from videokr.testing import TestServer

    TestServer(responder=responder, port=port, record_events=False).serve_forever()


def start_server(responder: Callable[[dict[str, Any], str], str]) -> tuple[Any, str]:
    """(the server process, its base URL) once it accepts connections; `responder` must be a
    module-level function (it is sent to a spawned process)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = multiprocessing.get_context("spawn").Process(target=_serve, args=(port, responder), daemon=True)
    process.start()
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError("the loopback server did not start") from None
            time.sleep(0.05)
    return process, f"http://127.0.0.1:{port}/v1"
