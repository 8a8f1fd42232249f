"""The identity of a model request, on which the exactly-once cache is keyed.

The key is the request itself: two requests share a fingerprint iff the endpoint's model
name, the body as sent (messages with their frames byte for byte, sampling parameters, the
response schema) and an explicit `salt` are the same. The step that asks and its version are
*not* part of it: bumping a step's version, or fixing how a reply is parsed, re-asks only the
requests whose text changed; an unchanged request is answered from the cache. (The step and
its version are still recorded with each stored call, for accounting.) The API key and the
base URL's credentials are not part of it; nor is anything else that does not reach the
provider, except `salt` (for a caller that wants several independent samples of the same
request, or that keys replies on something the body does not carry).
"""

from __future__ import annotations

from typing import Any

from videokr.hashing import canonical_json, digest, digest_json

__all__ = ["canonical_json", "legacy_request_fingerprint", "request_fingerprint"]


def request_fingerprint(
    *,
    model: str,
    body: dict[str, Any],
    step: str = "",
    step_version: str = "",
    salt: str = "",
) -> str:
    """A digest of (model, body without its 'model', salt); 32 hex chars.

    `body` holds messages, parameters and response_format (the schema) as they are sent.
    `step` and `step_version` are accepted for the callers' convenience and ignored.
    """
    del step, step_version  # not part of the key: see the module docstring
    rest = {k: v for k, v in body.items() if k != "model"}
    return digest_json({"model": model, "body": rest, "salt": salt})


def legacy_request_fingerprint(*, model: str, body: dict[str, Any], step: str = "", step_version: str = "",
                               salt: str = "") -> str:
    """The key of caches written before the step left it: replies stored then are still found."""
    rest = {k: v for k, v in body.items() if k != "model"}
    return digest(canonical_json({"model": model, "body": rest, "step": step, "version": step_version,
                                  "salt": salt}))
