"""The identity of a model request, on which the exactly-once cache is keyed.

Two requests share a fingerprint iff everything that could change the reply is the same:
the endpoint's model name, the messages (frames included, byte for byte), the sampling
parameters, the response schema, and the step with its version — so bumping a step's version
or editing its prompt re-asks that step only. The API key and the base URL's credentials are
not part of it; nor is anything that does not reach the provider, except an explicit `salt`
(for a step that wants several independent samples of the same request).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def request_fingerprint(
    *,
    model: str,
    body: dict[str, Any],
    step: str = "",
    step_version: str = "",
    salt: str = "",
) -> str:
    """sha256 over (model, body without its 'model', step, version, salt); 32 hex chars.

    `body` holds messages, parameters and response_format (the schema) as they are sent.
    """
    rest = {k: v for k, v in body.items() if k != "model"}
    text = canonical_json({"model": model, "body": rest, "step": step, "version": step_version, "salt": salt})
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]
