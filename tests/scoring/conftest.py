from __future__ import annotations

from typing import Iterator

import pytest

from .loopback import LoopbackServer


@pytest.fixture
def loopback() -> Iterator:
    """Start loopback OpenAI-compatible servers: ``loopback(reply_fn)``; all are closed after the test."""
    servers: list[LoopbackServer] = []

    def start(reply):  # type: ignore[no-untyped-def]
        server = LoopbackServer(reply)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()
