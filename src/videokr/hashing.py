"""The one way videokr hashes things: text, parts and JSON-able objects to short hex digests.

Fingerprints (ledger, model cache, step configuration), content ids and seeds all go through
here, so that two modules never disagree on separators, encodings or key order.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

SEP = "\x1f"  # unit separator: cannot appear in ids or paths people type


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no spaces: equal objects give equal text."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def digest(text: str, length: int = 32) -> str:
    """sha256 of UTF-8 text, the first `length` hex characters."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


def digest_parts(*parts: object, length: int = 32) -> str:
    """A digest of several values, joined by a separator that cannot be confused with their text."""
    return digest(SEP.join(str(p) for p in parts), length)


def digest_json(obj: Any, length: int = 32) -> str:
    """A digest of a JSON-able object, independent of key order."""
    return digest(canonical_json(obj), length)


def seed_of(*parts: object) -> int:
    """A 64-bit seed derived from values (per item, per round): stable across processes and runs."""
    return int.from_bytes(hashlib.sha256(SEP.join(str(p) for p in parts).encode("utf-8")).digest()[:8], "big")
