"""Who may talk to the review app: a secret token, the bound host, same-origin writes.

The app edits a workspace, so it defends against other local users and other web pages:

- it binds 127.0.0.1 unless told otherwise;
- the URL it prints carries a random token; the first request with it gets an HttpOnly,
  SameSite=Strict cookie and a redirect to the same URL without the token (so the token
  leaves the address bar and the history); every later request needs the cookie;
- the `Host` header must name the bound address (or, on loopback, `localhost`/`127.0.0.1`/
  `[::1]` with the same port): a page on another name resolving to 127.0.0.1 (DNS rebinding)
  is refused;
- a state-changing request is a POST whose `Origin`, when the browser sends one, is the app's
  own; GET, HEAD never change anything.
"""

from __future__ import annotations

import hmac
import secrets
import urllib.parse
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

TOKEN_PARAM = "token"
TOKEN_BYTES = 24
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
SAFE_METHODS = frozenset({"GET", "HEAD"})


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def cookie_name(port: int) -> str:
    """One cookie per port: cookies are shared by every port of a host, apps on two ports must not mix."""
    return f"videokr_review_{port}"


def allowed_hosts(host: str, port: int) -> frozenset[str]:
    """The `Host` header values the app answers: its bound address, and loopback spellings on loopback."""
    names = {f"[{host}]" if ":" in host and not host.startswith("[") else host}
    if host in ("127.0.0.1", "localhost", "::1", "[::1]"):
        names |= set(LOOPBACK_NAMES)
    values = {f"{name}:{port}" for name in names}
    if port == 80:
        values |= names
    return frozenset(value.lower() for value in values)


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


def _cookies(header: str) -> dict[str, str]:
    out = {}
    for part in header.split(";"):
        name, _, value = part.strip().partition("=")
        if name:
            out[name] = value
    return out


async def _plain(send: Send, status: int, text: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = text.encode("utf-8")
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()), *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


class Guard:
    """ASGI middleware enforcing the rules of the module docstring around the app."""

    def __init__(self, app: ASGIApp, *, token: str, host: str, port: int) -> None:
        self.app = app
        self.token = token
        self.port = port
        self.hosts = allowed_hosts(host, port)
        self.cookie = cookie_name(port)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        host = headers.get("host", "").lower()
        if host not in self.hosts:
            await _plain(send, 400, "unexpected Host header: open the URL `videokr review` printed")
            return
        method = scope["method"]
        if method not in SAFE_METHODS:
            origin = headers.get("origin")
            if origin is not None and origin.lower() != f"http://{host}":
                await _plain(send, 403, "cross-origin request refused")
                return
        if hmac.compare_digest(_cookies(headers.get("cookie", "")).get(self.cookie, ""), self.token):
            await self.app(scope, receive, send)
            return
        query = urllib.parse.parse_qs(scope.get("query_string", b"").decode("latin-1"))
        given = (query.get(TOKEN_PARAM) or [""])[0]
        if method in SAFE_METHODS and given and hmac.compare_digest(given, self.token):
            rest = [(k, v) for k, values in query.items() if k != TOKEN_PARAM for v in values]
            location = scope.get("path", "/") + (f"?{urllib.parse.urlencode(rest)}" if rest else "")
            cookie = f"{self.cookie}={self.token}; HttpOnly; SameSite=Strict; Path=/"
            await _plain(send, 303, "signed in", [(b"location", location.encode("latin-1")),
                                                  (b"set-cookie", cookie.encode("latin-1")),
                                                  (b"cache-control", b"no-store")])
            return
        await _plain(send, 401, "not signed in: open the URL with the token that `videokr review` printed")
