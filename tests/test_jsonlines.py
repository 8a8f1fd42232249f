"""The shared JSON Lines reader: every line ends as an object or a problem with its number."""

from __future__ import annotations

from pathlib import Path

from videokr.jsonlines import json_objects


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
