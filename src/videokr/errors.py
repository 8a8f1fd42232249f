"""The two kinds of failure every step distinguishes.

A *verdict* is permanent: the item is bad or the answer is no (an unreadable file, a model that
keeps returning invalid output, a 400 from the provider). The runner records the item as
rejected with the message as its reason, and a rerun does not ask again unless the item or the
step's configuration changes.

A *stop* ends the whole step: the provider is down, a daily quota is spent. Items already
finished are committed, the item that raised it and the rest stay pending for the next run,
and the command says why.

A *transient* failure says nothing about the item (a timeout, a 429 or 5xx after the retries, a
worker that died). The runner quarantines the item with the message, and the next run retries
it. Any other exception a step raises is treated as transient: a bug must not turn into a
verdict.
"""

from __future__ import annotations


class Verdict(Exception):
    """Raise from a step to reject the item; the message is the reason users read.

    `code` groups rejections in `videokr status --funnel` (e.g. `unreadable`, `invalid_output`)."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class Transient(Exception):
    """Raise from a step (or the model door) for a failure the next run should retry."""


class Stop(Exception):
    """Raise from a step when no further item can succeed now; the run stops cleanly and resumes later."""
