"""What videokr's users and its own tests use to rehearse against real HTTP without a provider.

:class:`TestServer` is a loopback OpenAI-compatible server (chat completions, files and the
Batch API) that can misbehave on purpose: 429 with Retry-After, 5xx, slow or late replies,
malformed or truncated bodies, dropped connections, replies that violate a schema. Run it in
a test (``with TestServer() as server: ...``) or as a process
(``python -m videokr.testing.openai_server --port 8765 --p429 0.1``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from videokr.testing.openai_server import (
        FAULT_KINDS,
        Event,
        FaultRates,
        Responder,
        Script,
        ServerStats,
        TestServer,
        body_fingerprint,
        completion_body,
        default_content,
        estimate_prompt_tokens,
    )

__all__ = [
    "FAULT_KINDS",
    "Event",
    "FaultRates",
    "Responder",
    "Script",
    "ServerStats",
    "TestServer",
    "body_fingerprint",
    "completion_body",
    "default_content",
    "estimate_prompt_tokens",
]


def __getattr__(name: str) -> Any:
    # Loaded on first use, so that `python -m videokr.testing.openai_server` runs the module once.
    if name in __all__:
        from videokr.testing import openai_server

        return getattr(openai_server, name)
    raise AttributeError(f"module 'videokr.testing' has no attribute {name!r}")
