from __future__ import annotations

from typing import Any, Callable, Iterator

import pytest

from videokr.testing import TestServer

Reply = Callable[[dict[str, Any]], "str | tuple[int, str]"]


class Loopback:
    """The project's loopback OpenAI-compatible server, scripted by one function of the request body.

    ``reply(body)`` returns the assistant's text, or ``(400, why)`` to refuse the request;
    every request body received is kept in ``requests``.
    """

    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self.requests: list[dict[str, Any]] = []
        self._answers: dict[str, str] = {}
        self.server = TestServer(responder=self._respond, script=self._script, record_events=False).start()

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def _script(self, body: dict[str, Any], fingerprint: str, attempt: int) -> str:
        self.requests.append(body)
        got = self.reply(body)
        if isinstance(got, tuple):
            return str(got[0])
        self._answers[fingerprint] = got
        return "ok"

    def _respond(self, body: dict[str, Any], fingerprint: str) -> str:
        return self._answers.pop(fingerprint)

    def close(self) -> None:
        self.server.stop()


@pytest.fixture
def loopback() -> Iterator[Callable[[Reply], Loopback]]:
    """Start loopback servers: ``loopback(reply_fn)``; all are stopped after the test."""
    servers: list[Loopback] = []

    def start(reply: Reply) -> Loopback:
        server = Loopback(reply)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()
