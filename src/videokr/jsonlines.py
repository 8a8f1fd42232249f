"""Objects of a JSON Lines file (or a JSON array), each with its line and what is wrong with it.

Every reader of user files (predictions, batch requests, benchmark annotations) reports bad
lines as ``FILE:LINE: reason`` and carries on with the good ones; this is the one place that
turns a file into (line, object) pairs and says why a line is not an object.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator


def json_objects(path: Path, *, arrays: bool = False) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    """(line number, object, None) or (line number, None, problem) for each non-blank line.

    With ``arrays``, a file whose text starts with ``[`` is read as one JSON array and the
    numbers are element positions (1-based)."""
    with Path(path).open(encoding="utf-8") as handle:
        if arrays:
            head = handle.read(4096)
            handle.seek(0)
            if head.lstrip().startswith("["):
                try:
                    elements = json.load(handle)
                except json.JSONDecodeError as exc:
                    yield exc.lineno, None, f"not valid JSON: {exc.msg} (column {exc.colno})"
                    return
                for index, element in enumerate(elements, start=1):
                    yield (index, element, None) if isinstance(element, dict) else (index, None, _not_object(element))
                return
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                yield number, None, f"not valid JSON: {exc.msg} (column {exc.colno})"
                continue
            yield (number, obj, None) if isinstance(obj, dict) else (number, None, _not_object(obj))


def _not_object(value: Any) -> str:
    return f"expected a JSON object, got {type(value).__name__}"
