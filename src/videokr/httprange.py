"""Byte ranges of files over HTTP (RFC 9110 `Range`), for every server videokr runs.

Why one module: a browser's <video> element seeks by asking for byte ranges, and yt-dlp resumes
by one; the review app and the loopback media server must answer exactly alike (206 with
`Content-Range`, 416 past the end, a malformed or multi-part header ignored), so they share
the parsing and the media types here.
"""

from __future__ import annotations

import mimetypes
import re
from pathlib import Path
from typing import Literal

CONTENT_TYPES = {
    ".mp4": "video/mp4", ".m4v": "video/mp4", ".m4a": "audio/mp4", ".webm": "video/webm",
    ".mkv": "video/x-matroska", ".mov": "video/quicktime", ".html": "text/html; charset=utf-8",
    ".json": "application/json", ".jsonl": "application/json", ".png": "image/png", ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
}
_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)

UNSATISFIABLE: Literal["unsatisfiable"] = "unsatisfiable"


def content_type(path: Path) -> str:
    """The media type a browser and yt-dlp expect for a file (video/mp4 for .mp4, whatever the platform's table says)."""
    suffix = path.suffix.lower()
    return CONTENT_TYPES.get(suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def parse_range(header: str | None, size: int) -> tuple[int, int] | None | str:
    """The inclusive byte range a `Range` header asks of a `size`-byte file.

    Returns (first, last); None when the whole file is to be sent (no header, or one that is
    malformed or asks several ranges: ignoring it is what RFC 9110 prescribes); the string
    "unsatisfiable" when it starts at or past the end of the file (416)."""
    if not header:
        return None
    match = _RANGE.match(header)
    if match is None:  # not bytes=, several ranges, garbage: serve the whole file
        return None
    first_text, last_text = match.groups()
    if not first_text and not last_text:
        return None
    if not first_text:  # a suffix: the last N bytes
        suffix = int(last_text)
        if suffix == 0 or size == 0:
            return UNSATISFIABLE
        return max(0, size - suffix), size - 1
    first = int(first_text)
    last = int(last_text) if last_text else size - 1
    if last_text and last < first:
        return None  # syntactically invalid: ignored
    if first >= size:
        return UNSATISFIABLE
    return first, min(last, size - 1)


def range_headers(wanted: tuple[int, int] | None | str, size: int) -> tuple[int, dict[str, str], int, int]:
    """(status, headers, first byte, length) of the answer to a parsed range of a `size`-byte file.

    The headers carry `Accept-Ranges`, `Content-Length` and, for 206 and 416, `Content-Range`;
    the caller adds `Content-Type` (a 416 has an empty body)."""
    if wanted == UNSATISFIABLE:
        return 416, {"Accept-Ranges": "bytes", "Content-Range": f"bytes */{size}", "Content-Length": "0"}, 0, 0
    first, last = (0, size - 1) if wanted is None else wanted  # type: ignore[misc]
    length = max(0, last - first + 1)
    headers = {"Accept-Ranges": "bytes", "Content-Length": str(length)}
    if wanted is None:
        return 200, headers, first, length
    headers["Content-Range"] = f"bytes {first}-{last}/{size}"
    return 206, headers, first, length
