"""Every field variant the official converters accept, and bad lines reported by file and line."""

import json

import pytest

from videokr.steps.importing import import_file
from videokr.formats.official import LineError, normalize_options, normalize_problem_type, parse_line
from videokr.records import ProblemType

BASE = {"problem_id": "p1", "question": "Which?", "video_path": "Videos/a.mp4"}


def parse(kind="rl", **fields):
    return parse_line({**BASE, **fields}, kind).record


@pytest.mark.parametrize("spelling", ["multiple choice", "multiple-choice", "Multiple Choice", "MCQ", "mcq",
                                      "multiple_choice", "mc"])
def test_mc_spellings(spelling):
    assert normalize_problem_type(spelling, True) is ProblemType.MULTIPLE_CHOICE


@pytest.mark.parametrize("spelling", ["open-ended", "open_ended", "Open Ended", "free-form", "free form",
                                      "numerical", "OE"])
def test_open_spellings(spelling):
    assert normalize_problem_type(spelling, False) is ProblemType.OPEN_ENDED


def test_missing_type_inferred_from_options():
    assert normalize_problem_type(None, True) is ProblemType.MULTIPLE_CHOICE
    assert normalize_problem_type(None, False) is ProblemType.OPEN_ENDED
    with pytest.raises(LineError, match="unknown problem_type 'essay'"):
        normalize_problem_type("essay", False)


@pytest.mark.parametrize("options", [
    ["A. red", "B. green", "C. blue"],
    ["A: red", "B: green", "C: blue"],
    ["(A) red", "(B) green", "(C) blue"],
    ["A) red", "B) green", "C) blue"],
    ["red", "green", "blue"],
    {"A": "red", "B": "green", "C": "blue"},
    {"C": "blue", "A": "red", "B": "green"},
    "A. red\nB. green\nC. blue",
])
def test_option_shapes(options):
    assert normalize_options(options) == ["red", "green", "blue"]


def test_option_dict_with_gap_is_an_error():
    with pytest.raises(LineError, match="A, B, C, … in order"):
        normalize_options({"A": "x", "C": "y"})


@pytest.mark.parametrize("solution", ["<answer>B</answer>", "B", "(B)", "B.", "<answer> B </answer>",
                                      "B. green", "green", "<ANSWER>B</ANSWER>"])
def test_mc_answer_forms(solution):
    record = parse(problem_type="multiple choice", options=["A. red", "B. green"], solution=solution)
    assert record.answer == "B"


def test_answer_key_variants():
    for key in ("solution", "answer", "correct_answer", "ground_truth"):
        assert parse(problem_type="open-ended", **{key: "<answer>42 N</answer>"}).answer == "42 N"


def test_think_with_and_without_tags():
    assert parse("sft", problem_type="open-ended", solution="x", think="<think>step 1</think>").cot == "step 1"
    assert parse("sft", problem_type="open-ended", solution="x", think="step 1").cot == "step 1"
    with pytest.raises(LineError, match="needs a chain of thought"):
        parse("sft", problem_type="open-ended", solution="x")


@pytest.mark.parametrize("video", [
    {"video_path": "./Videos/a.mp4"}, {"path": "Videos/a.mp4"}, {"file_name": "Videos//a.mp4"},
    {"videos": ["Videos/a.mp4"]}, {"videos": [{"video": "Videos/a.mp4"}]}, {"video": "Videos/a.mp4"},
])
def test_video_keys(video):
    data = {"problem_id": "p", "question": "q", "solution": "x", **video}
    assert parse_line(data, "rl").record.video_path == "Videos/a.mp4"


def test_two_videos_rejected():
    with pytest.raises(LineError, match="names 2"):
        parse_line({"problem_id": "p", "question": "q", "solution": "x", "videos": ["a.mp4", "b.mp4"]}, "rl")


def test_video_tag_stripped_from_question_and_eval_fields():
    item = parse_line({"id": 7, "question": "<video>\nWhat?", "option": ["A. x", "B. y"],
                       "problem_type": "multiple-choice", "answer": "A", "video_path": "v.mp4",
                       "dataset": "MMVU", "subject": "Chemistry", "question_type": "Reasoning"}, "eval").record
    assert (item.id, item.question, item.dataset, item.question_type) == ("7", "What?", "MMVU", "Reasoning")


def test_unknown_fields_are_kept():
    assert parse(problem_type="open-ended", solution="x", source_dataset="yt-cc").extra == {"source_dataset": "yt-cc"}


def test_bad_lines_named_good_lines_kept(store, tmp_path):
    path = tmp_path / "data.jsonl"
    good = {"problem_id": "g1", "problem_type": "open-ended", "question": "q", "solution": "x", "path": "a.mp4"}
    path.write_text("\n".join([
        json.dumps(good),
        "{broken",
        json.dumps([1, 2]),
        json.dumps({**good, "problem_id": "g2", "problem_type": "multiple choice", "options": ["A. a", "B. b"],
                    "solution": "C"}),
        "",
        json.dumps({**good, "problem_id": "g3"}),
        json.dumps({**good, "question": "a different question, same id"}),
    ]) + "\n")
    report = import_file(store, path, "rl")
    assert report.step.counts == {"accepted": 2, "rejected": 4, "quarantined": 0}
    reasons = sorted(report.rejected)
    assert reasons[0].startswith("data.jsonl:2: not valid JSON")
    assert reasons[1] == "data.jsonl:3: expected a JSON object, got list"
    assert reasons[2].startswith("data.jsonl:4: answer 'C' is neither")
    assert reasons[3] == "data.jsonl:7: id 'g1' repeats line 1"
    assert store.count("example") == 2
    # importing the same file again adds nothing
    again = import_file(store, path, "rl")
    assert again.step.skipped == 6 and again.step.processed == 0
    assert store.count("example") == 2
    assert store.ledger_summary()["import"]["in"] == 6


def test_json_array_files_and_require_video(store, tmp_path, sample):
    report = import_file(store, sample / "videokr-rl-sample.json", "rl", video_root=sample, require_video=True)
    assert report.step.counts["accepted"] == 24
    path = tmp_path / "missing.jsonl"
    path.write_text(json.dumps({"problem_id": "m", "question": "q", "solution": "x", "path": "nope.mp4"}) + "\n")
    report = import_file(store, path, "rl", video_root=sample, require_video=True)
    assert "video 'nope.mp4' not found" in report.rejected[0]


def test_changed_line_is_reimported(store, tmp_path):
    path = tmp_path / "d.jsonl"
    row = {"problem_id": "p", "problem_type": "open-ended", "question": "q", "solution": "x", "path": "a.mp4"}
    path.write_text(json.dumps(row) + "\n")
    import_file(store, path, "rl")
    path.write_text(json.dumps({**row, "solution": "y"}) + "\n")
    report = import_file(store, path, "rl")
    assert report.step.counts["accepted"] == 1
    assert store.get("example", "p").answer == "y"


# -- bytes that are not UTF-8 text ---------------------------------------------------------

ROW = {"problem_id": "e1", "problem_type": "open-ended", "question": "Which force?", "solution": "gravity",
       "path": "a.mp4"}


def _rows(*ids):
    return [json.dumps({**ROW, "problem_id": i}, ensure_ascii=False) for i in ids]


def test_a_utf8_bom_keeps_line_one(store, tmp_path):
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + "\n".join(_rows("b1", "b2")).encode() + b"\n")
    report = import_file(store, path, "rl")
    assert report.step.counts == {"accepted": 2, "rejected": 0, "quarantined": 0}
    assert store.get("example", "b1").answer == "gravity"
    array = tmp_path / "bom.json"
    array.write_bytes(b"\xef\xbb\xbf[" + ",".join(_rows("b3")).encode() + b"]")
    assert import_file(store, array, "rl").step.counts["accepted"] == 1


def test_utf16_with_a_bom_is_read(store, tmp_path):
    path = tmp_path / "utf16.jsonl"
    rows = [json.dumps({**ROW, "problem_id": "u1", "question": "Quelle force ? café 中"}, ensure_ascii=False),
            *_rows("u2")]
    path.write_bytes(b"\xff\xfe" + "\r\n".join(rows).encode("utf-16-le") + "\r\n".encode("utf-16-le"))
    report = import_file(store, path, "rl")
    assert report.step.counts == {"accepted": 2, "rejected": 0, "quarantined": 0}
    assert store.get("example", "u1").question == "Quelle force ? café 中"


def test_garbage_bytes_reject_their_line_only(store, tmp_path):
    path = tmp_path / "mixed.jsonl"
    good = [row.encode() for row in _rows("g1", "g2", "g3")]
    path.write_bytes(good[0] + b"\n" + good[1] + b"\n\x89PNG\r\x1a\n\x00\x00\xff\xd8\xff\xe0junk\n" + good[2] + b"\n")
    report = import_file(store, path, "rl")
    assert report.step.counts["accepted"] == 3
    assert {store.get("example", i).id for i in ("g1", "g2", "g3")} == {"g1", "g2", "g3"}
    # the PNG signature's \r ends a line as text mode would: lines 3, 4 and 5 are the garbage
    assert sorted(report.rejected) == [
        "mixed.jsonl:3: not UTF-8 text (byte 1 is 0x89: invalid start byte)",
        "mixed.jsonl:4: not valid JSON: Expecting value (column 1)",
        "mixed.jsonl:5: not UTF-8 text (NUL byte at byte 1; UTF-16 without a byte-order mark?)",
    ]
    latin1 = tmp_path / "latin1.jsonl"
    others = [row.encode() for row in _rows("l0", "l2")]
    latin1.write_bytes(others[0] + b"\n" + json.dumps({**ROW, "problem_id": "l1", "question": "caf\u00e9"},
                                                     ensure_ascii=False).encode("latin-1") + b"\n" + others[1] + b"\n")
    report = import_file(store, latin1, "rl")
    assert report.rejected == ["latin1.jsonl:2: not UTF-8 text (byte 68 is 0xe9: invalid continuation byte)"]


def test_the_import_command_reports_bad_bytes_and_carries_on(tmp_path):
    from typer.testing import CliRunner

    from videokr.cli.main import app

    runner = CliRunner()
    assert runner.invoke(app, ["init", str(tmp_path / "ws")]).exit_code == 0
    path = tmp_path / "mixed.jsonl"
    rows = [row.encode() for row in _rows("c1", "c2")]
    path.write_bytes(rows[0] + b"\n\xff\xfe\x00garbage\xc3\n" + rows[1] + b"\n")
    result = runner.invoke(app, ["-w", str(tmp_path / "ws"), "import", str(path), "--set", "rl"])
    text = " ".join(result.output.split())
    assert result.exit_code == 0, text
    assert result.exception is None
    assert "2 accepted, 1 rejected" in text and "mixed.jsonl:2: not UTF-8 text" in text
