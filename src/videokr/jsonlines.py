"""Objects of a JSON Lines file (or a JSON array), each with its line and what is wrong with it.

Every reader of user files (official data, predictions, batch requests, benchmark
annotations) reports bad lines as ``FILE:LINE: reason`` and carries on with the good ones;
this is the one place that turns a file into numbered lines and says why a line is not an
object.

Why bytes and not text mode: a file is user input. Decoding it as a whole lets one stray
byte (a line of binary garbage, a Latin-1 name) abort the whole read with a bare
``UnicodeDecodeError`` that names neither file nor line. Here each line is decoded on its
own, so a bad one becomes a problem on that line and the lines after it are still read.
Files that say what they are with a byte-order mark are read as such: a UTF-8 BOM is
dropped (line 1 is kept), a UTF-16 or UTF-32 BOM decodes the file in that encoding.

Lines end where text mode ends them (``\\n``, ``\\r\\n`` or a lone ``\\r``), so line numbers
and the text of every good line are what they were when files were read as UTF-8 text.
"""

from __future__ import annotations

import codecs
import io
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

UTF8_BOM = codecs.BOM_UTF8
# Longest first: the UTF-32 LE mark begins with the UTF-16 LE one.
_WIDE_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32", "UTF-32"),
    (codecs.BOM_UTF32_BE, "utf-32", "UTF-32"),
    (codecs.BOM_UTF16_LE, "utf-16", "UTF-16"),
    (codecs.BOM_UTF16_BE, "utf-16", "UTF-16"),
)
# Bytes a wide codec cannot decode become lone surrogates, which strict decoding never yields.
_MARK_ERRORS = "videokr-jsonlines-mark"
_SURROGATE = re.compile("[\ud800-\udfff]")


def _mark(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeDecodeError):
        raise error
    return "\udcff", error.end


codecs.register_error(_MARK_ERRORS, _mark)


@dataclass(frozen=True)
class JsonLine:
    """One line (or array element): its number, its text, and the object or the problem."""

    number: int  # 1-based line; for a JSON array, the element's position
    text: str  # the line stripped; an array element as JSON; for undecodable bytes, a readable escape
    value: dict[str, Any] | None
    problem: str | None


def json_objects(path: Path, *, arrays: bool = False) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    """(line number, object, None) or (line number, None, problem) for each non-blank line.

    With ``arrays``, a file whose text starts with ``[`` is read as one JSON array and the
    numbers are element positions (1-based)."""
    for line in json_lines(path, arrays=arrays):
        yield line.number, line.value, line.problem


def json_lines(path: Path, *, arrays: bool = False) -> Iterator[JsonLine]:
    """Every non-blank line of ``path`` as a `JsonLine`; see `json_objects`."""
    with Path(path).open("rb") as handle:
        yield from _read(handle, arrays)


def json_lines_in(data: bytes) -> Iterator[JsonLine]:
    """The lines of JSON Lines held in memory (a download), read exactly as a file would be."""
    return _read(io.BytesIO(data), False)


def _read(handle: IO[bytes], arrays: bool) -> Iterator[JsonLine]:
    head = handle.read(4)
    wide = next(((codec, label) for bom, codec, label in _WIDE_BOMS if head.startswith(bom)), None)
    handle.seek(0)
    if wide is not None:
        codec, label = wide
        text = handle.read().decode(codec, _MARK_ERRORS)  # the codec consumes the BOM
        if arrays and text.lstrip().startswith("["):
            yield from _array(text, label)
            return
        yield from _parsed(_wide_lines(text, label))
        return
    if handle.read(len(UTF8_BOM)) != UTF8_BOM:
        handle.seek(0)
    if arrays and _first_byte(handle) == b"[":
        data = handle.read()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line_start = data.rfind(b"\n", 0, exc.start) + 1
            yield JsonLine(data.count(b"\n", 0, exc.start) + 1, "", None,
                           f"not UTF-8 text ({_utf8_reason(exc, line_start)})")
            return
        yield from _array(text, "UTF-8")
        return
    yield from _parsed(_utf8_lines(handle))


def _first_byte(handle: IO[bytes]) -> bytes:
    """The first byte that is not whitespace, without moving the handle."""
    start = handle.tell()
    try:
        while chunk := handle.read(4096):
            stripped = chunk.lstrip()
            if stripped:
                return stripped[:1]
        return b""
    finally:
        handle.seek(start)


def _utf8_lines(handle: IO[bytes]) -> Iterator[tuple[int, str, str | None]]:
    """(number, text, problem) per line of a UTF-8 file; a line that does not decode has a problem."""
    number = 0
    for chunk in handle:
        for raw in _split_line(chunk):
            number += 1
            yield number, *_decode_utf8(raw)


def _split_line(chunk: bytes) -> list[bytes]:
    """A chunk up to ``\\n`` as text mode splits it: ``\\r\\n`` ends one line, a lone ``\\r`` ends one too."""
    body = chunk[:-1] if chunk.endswith(b"\n") else chunk
    body = body[:-1] if body.endswith(b"\r") else body
    return body.split(b"\r") if b"\r" in body else [body]


def _decode_utf8(raw: bytes) -> tuple[str, str | None]:
    """(text, None) for a line of UTF-8, else (a readable escape of the bytes, the problem)."""
    if b"\x00" in raw:
        shown = raw.decode("utf-8", "backslashreplace").replace("\x00", "\\x00").strip()
        return shown, (f"not UTF-8 text (NUL byte at byte {raw.index(0) + 1}; "
                       "UTF-16 without a byte-order mark?)")
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        return raw.decode("utf-8", "backslashreplace").strip(), f"not UTF-8 text ({_utf8_reason(exc)})"


def _utf8_reason(exc: UnicodeDecodeError, line_start: int = 0) -> str:
    """Which byte of its line is wrong, and how: enough to find it in a hex viewer."""
    return f"byte {exc.start - line_start + 1} is 0x{exc.object[exc.start]:02x}: {exc.reason}"


def _wide_lines(text: str, label: str) -> Iterator[tuple[int, str, str | None]]:
    """(number, text, problem) per line of a file decoded from UTF-16/32."""
    for number, line in enumerate(io.StringIO(text, newline=None), start=1):
        bad = _SURROGATE.search(line)
        if bad is None:
            yield number, line, None
        else:
            shown = _SURROGATE.sub("\ufffd", line).strip()
            yield number, shown, f"not {label} text (undecodable bytes at character {bad.start() + 1})"


def _parsed(lines: Iterable[tuple[int, str, str | None]]) -> Iterator[JsonLine]:
    for number, line, problem in lines:
        if problem is not None:
            yield JsonLine(number, line, None, problem)
            continue
        text = line.strip()
        if text.startswith("\ufeff"):  # a BOM inside the file: files joined with `cat`
            text = text[1:].strip()
        if not text:
            continue
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            yield JsonLine(number, text, None, f"not valid JSON: {exc.msg} (column {exc.colno})")
            continue
        yield _checked(number, text, value)


def _array(text: str, label: str) -> Iterator[JsonLine]:
    """The elements of a whole-file JSON array, numbered from 1."""
    bad = _SURROGATE.search(text)
    if bad is not None:
        line = text.count("\n", 0, bad.start()) + 1
        yield JsonLine(line, "", None, f"not {label} text (undecodable bytes)")
        return
    try:
        elements = json.loads(text.replace("\r\n", "\n").replace("\r", "\n"))
    except json.JSONDecodeError as exc:
        yield JsonLine(exc.lineno, "", None, f"not valid JSON: {exc.msg} (column {exc.colno})")
        return
    for index, element in enumerate(elements, start=1):
        yield _checked(index, json.dumps(element, ensure_ascii=False, sort_keys=True), element)


def _checked(number: int, text: str, value: Any) -> JsonLine:
    if isinstance(value, dict):
        return JsonLine(number, text, value, None)
    return JsonLine(number, text, None, f"expected a JSON object, got {type(value).__name__}")
