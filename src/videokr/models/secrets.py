"""Secrets out of every text videokr shows or keeps: messages, error columns, output files.

Why one function: providers echo keys back ("Incorrect API key provided: sk-…"), HTTP
libraries put headers into exception messages, and an error text travels far — to the
terminal, to the model-call cache, to the output lines of `videokr llm run|batch`. Each of
those places calls `redact`, which knows every secret this process knows of:

- the values of the environment variables that hold keys: every configured model's
  `api_key_env` (registered when the configuration is built or a key is read) and the
  well-known ones (`YOUTUBE_API_KEY`);
- every key handed to an HTTP client (`remember`);
- anything shaped like a credential, whoever it belongs to: `Bearer …`, `sk-…` keys, Google
  API keys (`AIza…`) and `key=`/`token=` URL parameters.

The values are read when text is redacted, not when a name is registered, so a key set
after the configuration was read is still removed.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable

MASK = "***"
# Env vars whose values are secrets whatever the configuration says.
WELL_KNOWN_ENV = ("YOUTUBE_API_KEY",)
# Shorter values are not secrets worth hiding (a local server's "test" key) and replacing
# them would mangle ordinary words in messages.
MIN_SECRET_LEN = 8

_lock = threading.Lock()
_env_names: set[str] = set(WELL_KNOWN_ENV)
_values: set[str] = set()

_SHAPES = (
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 " + MASK),
    (re.compile(r"(?<![A-Za-z0-9])sk-[A-Za-z0-9][A-Za-z0-9_-]{11,}"), "sk-" + MASK),
    (re.compile(r"(?<![A-Za-z0-9])AIza[0-9A-Za-z_-]{30,}"), MASK),
    (re.compile(r"(?i)([?&](?:api[_-]?key|key|access_token|token)=)[^&\s\"'#\\]+"), r"\1" + MASK),
)


def watch_env(name: str | None) -> None:
    """Treat the value of environment variable `name` as a secret from now on."""
    if name:
        with _lock:
            _env_names.add(name)


def remember(secret: str | None) -> None:
    """Treat `secret` (a key handed to a client) as a secret from now on."""
    if secret and len(secret) >= MIN_SECRET_LEN:
        with _lock:
            _values.add(secret)


def known_secrets(extra: Iterable[str] = ()) -> list[str]:
    """Every secret value known now, longest first (so a key containing another goes whole)."""
    with _lock:
        names, values = set(_env_names), set(_values)
    found = values | {os.environ.get(name, "") for name in names} | set(extra)
    return sorted((s for s in found if s and len(s) >= MIN_SECRET_LEN), key=len, reverse=True)


def redact(text: str | None, extra: Iterable[str] = ()) -> str | None:
    """`text` with every known secret (and anything shaped like one) replaced by ***."""
    if not text:
        return text
    for secret in known_secrets(extra):
        text = text.replace(secret, MASK)
    for pattern, replacement in _SHAPES:
        text = pattern.sub(replacement, text)
    return text


def one_line(text: str, limit: int = 600) -> str:
    """A redacted message on one line, cut at `limit` characters: what a CLI prints for an error."""
    flat = " ".join((redact(text) or "").split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class Redactor:
    """`redact` plus the secrets one client was given; kept for the code that holds one."""

    def __init__(self, secrets: list[str] | None = None) -> None:
        self.secrets: list[str] = []
        for secret in secrets or []:
            self.add(secret)

    def add(self, secret: str) -> None:
        if secret and len(secret) >= MIN_SECRET_LEN and secret not in self.secrets:
            self.secrets.append(secret)
            remember(secret)

    def __call__(self, text: str | None) -> str | None:
        return redact(text, self.secrets)
