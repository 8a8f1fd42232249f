from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from videokr.cli.main import app

LINES = [
    {"id": "1", "question": "Which part?", "options": ["A. piston", "B. valve"], "answer": "B",
     "problem_type": "multiple-choice", "output": "<think>x</think><answer>B</answer>"},
    {"id": "2", "question": "Which part?", "options": ["A. piston", "B. valve"], "answer": "A",
     "problem_type": "multiple choice", "output": "a piston... the answer is: B"},
    "not json",
    {"id": "3", "question": "What?", "options": [], "answer": "mitochondria", "problem_type": "open-ended",
     "output": "<think>t</think><answer>The mitochondria</answer>"},
    {"id": "4", "question": "What?", "answer": "adenosine triphosphate", "problem_type": "open-ended",
     "output": "<answer>ATP</answer>"},
    {"id": "5", "question": "What?", "problem_type": "open-ended", "output": "x"},
]


def write(path: Path) -> Path:
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in LINES) + "\n")
    return path


def test_score_writes_fields_and_reports_bad_lines(tmp_path: Path) -> None:
    src, out = write(tmp_path / "pred.jsonl"), tmp_path / "scored.jsonl"
    result = CliRunner().invoke(app, ["score", str(src), "--out", str(out)])
    assert result.exit_code == 0, result.output
    flat = " ".join(result.output.split())
    assert "pred.jsonl:3: not valid JSON" in flat
    assert "pred.jsonl:6: missing field(s) answer" in flat
    assert "66.67%" in flat  # 2 of 3 scored: item 4 is unscored, not wrong
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["1", "2", "3", "4"]
    first = rows[0]
    assert (first["pred"], first["correct"], first["reward"], first["format_reward"], first["accuracy_reward"]) == (
        "B", True, 1.0, 1.0, 1.0)
    assert rows[1]["pred"] == "B" and rows[1]["correct"] is False  # the article "a" is not option A
    assert rows[2]["correct"] is True  # by normalisation; ROUGE is stricter:
    assert abs(rows[2]["accuracy_reward"] - 4 / 9) < 1e-9  # (2/3 + 0 + 2/3) / 3: no gold bigram
    assert rows[3]["correct"] is None and rows[3]["scored_by"] == "unscored"


def test_score_with_judge_over_loopback(tmp_path: Path, loopback) -> None:
    server = loopback(lambda body: "1")
    src, out = write(tmp_path / "pred.jsonl"), tmp_path / "scored.jsonl"
    result = CliRunner().invoke(app, ["score", str(src), "--out", str(out), "--judge-url", server.base_url])
    assert result.exit_code == 0, result.output
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert rows[3]["correct"] is True and rows[3]["scored_by"] == "judge"
    assert len(server.requests) == 1  # only the item no rule could settle


def test_score_missing_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["score", str(tmp_path / "nope.jsonl")])
    assert result.exit_code == 1 and "no such file" in " ".join(result.output.split())
