"""Serving the review app: bind first, print the URL (with its token), then run uvicorn on that socket.

Binding before printing lets `--port 0` print the port the system chose; the URL is the first
line of output so scripts can read it.
"""

from __future__ import annotations

import socket
from collections.abc import Callable

from videokr.review.security import TOKEN_PARAM, new_token
from videokr.workspace import Workspace

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (port 0: any free port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host.strip("[]"), port))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def url_of(host: str, port: int, token: str | None = None) -> str:
    name = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"http://{name}:{port}/" + (f"?{TOKEN_PARAM}={token}" if token else "")


def serve(workspace: Workspace, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, reviewer: str | None = None,
          announce: Callable[[str], None] = print) -> None:
    """Materialise the queues, print the app's URL, serve until interrupted."""
    import uvicorn

    from videokr.review.app import build_asgi

    sock = bind(host, port)
    bound = sock.getsockname()[1]
    token = new_token()
    announce(f"videokr review: {url_of(host, bound, token)}")
    _, app = build_asgi(workspace, token=token, host=host, port=bound, reviewer=reviewer)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    uvicorn.Server(config).run(sockets=[sock])
