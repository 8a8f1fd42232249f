"""The shared JSON Lines reader: every line ends as an object or a problem with its number."""

from __future__ import annotations

from pathlib import Path

from videokr.jsonlines import json_lines, json_objects


def test_lines_objects_and_problems(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text('{"a": 1}\n\n[1, 2]\n{"b": \n"text"\n{"c": 3}\n', encoding="utf-8")
    got = list(json_objects(path))
    assert [n for n, _, _ in got] == [1, 3, 4, 5, 6]
    assert got[0] == (1, {"a": 1}, None) and got[-1] == (6, {"c": 3}, None)
    assert got[1][2] == "expected a JSON object, got list"
    assert got[2][1] is None and got[2][2].startswith("not valid JSON")
    assert got[3][2] == "expected a JSON object, got str"


def test_arrays_by_element(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text('  [{"a": 1}, 7, {"b": 2}]', encoding="utf-8")
    assert list(json_objects(path)) != list(json_objects(path, arrays=True))
    assert list(json_objects(path, arrays=True)) == [(1, {"a": 1}, None), (2, None, "expected a JSON object, got int"),
                                                     (3, {"b": 2}, None)]
    broken = tmp_path / "broken.json"
    broken.write_text('[{"a": 1},\n', encoding="utf-8")
    [(line, obj, problem)] = list(json_objects(broken, arrays=True))
    assert obj is None and problem.startswith("not valid JSON") and line >= 1


# -- bytes that are not UTF-8 text: a bad line, not a crash --------------------------------


def test_utf8_bom_is_dropped_and_line_one_kept(tmp_path: Path) -> None:
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"a": 1}\n{"b": 2}\n')
    assert list(json_objects(path)) == [(1, {"a": 1}, None), (2, {"b": 2}, None)]
    array = tmp_path / "bom.json"
    array.write_bytes(b'\xef\xbb\xbf [{"a": 1}]')
    assert list(json_objects(array, arrays=True)) == [(1, {"a": 1}, None)]


def test_utf16_and_utf32_with_a_bom_are_read(tmp_path: Path) -> None:
    text = '{"q": "caf\u00e9 \u4e2d"}\r\n\r\n{"n": 2}\r\n'
    for encoding in ("utf-16", "utf-16-be", "utf-32", "utf-32-be"):
        path = tmp_path / f"{encoding}.jsonl"
        data = text.encode(encoding)
        if not encoding.endswith("be"):  # the plain codecs write a BOM of their own
            assert data[:2] in (b"\xff\xfe", b"\xfe\xff")
        else:
            data = ("\ufeff" + text).encode(encoding)
        path.write_bytes(data)
        assert list(json_objects(path)) == [(1, {"q": "caf\u00e9 \u4e2d"}, None), (3, {"n": 2}, None)], encoding
    array = tmp_path / "array16.json"
    array.write_bytes('[{"a": 1}, {"b": 2}]'.encode("utf-16"))
    assert list(json_objects(array, arrays=True)) == [(1, {"a": 1}, None), (2, {"b": 2}, None)]


def test_garbage_bytes_are_a_bad_line_and_the_reader_carries_on(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b'{"a": 1}\n\xff\xfe\x80garbage\x9c\n{"b": "\xc3\xa9"}\n{"c": "\xe9t\xe9"}\n{"d": 4}\n')
    got = list(json_objects(path))
    assert [n for n, _, _ in got] == [1, 2, 3, 4, 5]
    assert got[0] == (1, {"a": 1}, None) and got[2] == (3, {"b": "\u00e9"}, None) and got[4] == (5, {"d": 4}, None)
    assert got[1][1] is None and got[1][2] == "not UTF-8 text (byte 1 is 0xff: invalid start byte)"
    assert got[3][1] is None and got[3][2].startswith("not UTF-8 text (byte 8 is 0xe9")  # Latin-1, not UTF-8


def test_nul_bytes_are_a_bad_line_with_a_hint(tmp_path: Path) -> None:
    path = tmp_path / "nul.jsonl"
    path.write_bytes(b'{"a": 1}\n{"b":\x00 2}\n')
    got = list(json_objects(path))
    assert got[0] == (1, {"a": 1}, None)
    assert got[1][0] == 2 and got[1][2].startswith("not UTF-8 text (NUL byte at byte 6")
    no_bom = tmp_path / "utf16-no-bom.jsonl"
    no_bom.write_bytes('{"a": 1}\n{"b": 2}\n'.encode("utf-16-le"))
    assert all(obj is None and "UTF-16 without a byte-order mark" in problem
               for _, obj, problem in json_objects(no_bom))


def test_bad_bytes_in_a_utf16_file_and_in_an_array(tmp_path: Path) -> None:
    path = tmp_path / "bad16.jsonl"
    good = '{"a": 1}\n'.encode("utf-16-le")
    path.write_bytes(b"\xff\xfe" + good + b"\x00\xd8" + '"x"\n'.encode("utf-16-le") + '{"b": 2}\n'.encode("utf-16-le"))
    got = list(json_objects(path))
    assert got[0] == (1, {"a": 1}, None) and got[2] == (3, {"b": 2}, None)
    assert got[1][0] == 2 and got[1][2].startswith("not UTF-16 text")
    array = tmp_path / "bad.json"
    array.write_bytes(b'[{"a": 1},\n {"b": "\xff"}]')
    assert list(json_objects(array, arrays=True)) == [(2, None, "not UTF-8 text (byte 9 is 0xff: invalid start byte)")]


def test_line_endings_as_text_mode_ends_them(tmp_path: Path) -> None:
    path = tmp_path / "endings.jsonl"
    path.write_bytes(b'{"a": 1}\r\n{"b": 2}\r{"c": 3}\n\r\n{"d": 4}')
    assert [(n, obj) for n, obj, _ in json_objects(path)] == [(1, {"a": 1}), (2, {"b": 2}), (3, {"c": 3}),
                                                             (5, {"d": 4})]


def test_text_of_each_line(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_bytes(b'\xef\xbb\xbf  {"a": 1} \r\n\xff\n')
    first, bad = json_lines(path)
    assert first.text == '{"a": 1}' and bad.text == "\\xff" and bad.value is None
