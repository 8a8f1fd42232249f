"""§3.4's manual quality assessment: the seeded review queue, the verdicts' import, the report.

A real workspace: official SFT and RL files imported, real videos probed and decontaminated,
the real split; the verdicts go through the `quality_review` step on the one runner.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from videokr.cli.main import app
from videokr.corpus import quality
from videokr.corpus.quality import (
    QualityError,
    draw_sample,
    import_verdicts,
    live_verdicts,
    quality_report,
    sample_queue,
)
from videokr.records import RECORD_TYPES, QualityVerdict
from videokr.sets import live_set
from videokr.video.synth import scene_frames, write_video
from videokr.workspace import Workspace

runner = CliRunner()
SKILLS = ("VidR", "KnowVid", "KnowVidR")
DISCIPLINES = ("Natural Sciences", "Engineering")


def _line(i: int, prefix: str) -> str:
    return json.dumps({"problem_id": f"{prefix}{i:02d}", "problem_type": "multiple choice",
                       "question": f"what happens in scene {i}?", "options": ["A. up", "B. down", "C. left"],
                       "solution": "<answer>B</answer>", "think": f"At 00:0{i % 3} the ball falls.",
                       "video_path": f"v{i % 4}.mp4", "skill": SKILLS[i % 3], "discipline": DISCIPLINES[i % 2]})


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """50 examples on four real videos, imported, probed, decontaminated and split into SFT and RL."""
    root = tmp_path_factory.mktemp("quality")
    videos = root / "videos"
    videos.mkdir()
    for i in range(4):
        write_video(videos / f"v{i}.mp4", scene_frames(100 + i, 12, fps=4, width=64, height=48), fps=4, gop=40)
    (root / "sft.jsonl").write_text("".join(_line(i, "s") + "\n" for i in range(40)), encoding="utf-8")
    (root / "rl.jsonl").write_text("".join(_line(i, "r") + "\n" for i in range(10)), encoding="utf-8")
    workspace = Workspace.init(root / "ws")
    config = yaml.safe_load((workspace.root / "videokr.yaml").read_text())
    config["video_root"] = str(videos)
    (workspace.root / "videokr.yaml").write_text(yaml.safe_dump(config))
    for name, kind in (("sft.jsonl", "sft"), ("rl.jsonl", "rl")):
        assert runner.invoke(app, ["-w", str(workspace.root), "import", str(root / name), "--set", kind]).exit_code == 0
    result = runner.invoke(app, ["-w", str(workspace.root), "run", "--until", "split"])
    assert result.exit_code == 0, result.output
    workspace = Workspace.open(workspace.root)
    # the split groups by video and draws the sets itself: both hold some, the SFT set enough to sample 20
    assert len(live_set(workspace.store, "sft")) >= 20 and live_set(workspace.store, "rl")
    return workspace


def _rl_ids(ws: Workspace) -> set[str]:
    return {e.id for e in live_set(ws.store, "rl")}


def _verdict(line: dict, *, nvs: bool = False, err: bool = False, changes: bool = False, who: str = "ann") -> dict:
    return {**line, "non_visual_solvable": nvs, "reasoning_error": err, "answer_changing_error": changes,
            "reviewer": who}


def _write(path: Path, lines: list[dict | str]) -> Path:
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines), encoding="utf-8")
    return path


def test_paper_constants() -> None:
    assert quality.PAPER_SAMPLE_SIZE == 800  # §3.4
    assert (quality.PAPER_NON_VISUAL_SOLVABLE, quality.PAPER_REASONING_ERRORS,
            quality.PAPER_ANSWER_CHANGING_ERRORS) == (52, 32, 17)
    assert quality.PAPER_REVIEWERS == 10 and quality.DEFAULT_SEED == 0
    assert RECORD_TYPES["quality_verdict"] is QualityVerdict


def test_the_sample_is_seeded_from_the_live_sft_set_only(ws: Workspace, tmp_path: Path) -> None:
    out = tmp_path / "queue.jsonl"
    first = sample_queue(ws.store, out, size=12, seed=7, video_root=ws.video_root())
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["id"] for x in lines] == [e.id for e in first] and len(set(x["id"] for x in lines)) == 12
    assert not {x["id"] for x in lines} & _rl_ids(ws)  # never an RL example
    # the same seed draws the same sample; another seed another one
    assert [e.id for e in sample_queue(ws.store, tmp_path / "again.jsonl", size=12, seed=7)] == [e.id for e in first]
    assert [e.id for e in sample_queue(ws.store, tmp_path / "other.jsonl", size=12, seed=8)] != [e.id for e in first]
    # the draw does not depend on the order the examples come in
    examples = live_set(ws.store, "sft")
    assert [e.id for e in draw_sample(list(reversed(examples)), 12, 7)] == [e.id for e in first]
    # everything a reviewer needs, and the verdict fields to fill in
    line = lines[0]
    example = {e.id: e for e in examples}[line["id"]]
    assert line["question"] == example.question and line["options"] == ["A. up", "B. down", "C. left"]
    assert (line["answer"], line["answer_text"], line["cot"]) == ("B", "down", example.cot)
    assert line["skill"] == example.skill.value and line["discipline"] == example.discipline.value
    assert line["video_path"] == example.video_path and Path(line["video_file"]).is_file()
    assert all(line[k] is None for k in ("non_visual_solvable", "reasoning_error", "answer_changing_error",
                                         "reviewer"))
    # more than the set holds: all of it, shuffled
    everything = sample_queue(ws.store, tmp_path / "all.jsonl", size=800)
    assert sorted(e.id for e in everything) == sorted(e.id for e in examples)
    with pytest.raises(QualityError, match="at least 1"):
        draw_sample(examples, 0)


def test_import_report_and_reimport(ws: Workspace, tmp_path: Path) -> None:
    out = tmp_path / "queue.jsonl"
    sample_queue(ws.store, out, size=20, seed=1)
    queue = [json.loads(x) for x in out.read_text().splitlines()]
    rl = sorted(_rl_ids(ws))[0]
    filled = [_verdict(x, nvs=i < 4, err=i < 6, changes=i < 2, who=f"r{i % 3}") for i, x in enumerate(queue)]
    bad = [
        "{not json",
        _verdict(queue[0]) | {"id": rl},  # an RL example
        {k: v for k, v in _verdict(queue[1]).items() if k != "reasoning_error"},  # a repeat, also incomplete
        _verdict({"id": "nowhere"}),
    ]
    path = _write(tmp_path / "verdicts.jsonl", filled + bad)
    result = import_verdicts(ws.store, path, root=tmp_path)
    assert result.accepted == 20 and result.step.counts["rejected"] == 4
    assert result.rejected == [
        "verdicts.jsonl:21: not valid JSON: Expecting property name enclosed in double quotes (column 2)",
        f"verdicts.jsonl:22: {rl!r} is not an example of the live SFT set",
        f"verdicts.jsonl:23: example {queue[1]['id']!r} repeats line 2",
        "verdicts.jsonl:24: 'nowhere' is not an example of the live SFT set",
    ]
    verdicts = {v.id: v for v in live_verdicts(ws.store)}
    assert len(verdicts) == 20
    first = verdicts[queue[0]["id"]]
    assert first.non_visual_solvable and first.reasoning_error and first.answer_changing_error
    assert first.skill is not None and first.skill.value == queue[0]["skill"]
    assert first.discipline is not None and first.discipline.value == queue[0]["discipline"]
    assert (first.source_file, first.source_line, first.reviewer) == ("verdicts.jsonl", 1, "r0")

    report = quality_report(list(verdicts.values()))
    assert report["reviewed"] == 20 and report["reviewers"] == 3
    assert report["non_visual_solvable"] == {"count": 4, "rate": 0.2}
    assert report["reasoning_error"] == {"count": 6, "rate": 0.3}
    assert report["answer_changing_error"] == {"count": 2, "rate": 0.1}
    assert report["reasoning_errors_keeping_the_answer"] == 4
    assert report["paper"]["reasoning_error"] == {"count": 32, "of": 800, "rate": 0.04}
    by_skill = {s: sum(1 for x in queue[:6] if x["skill"] == s) for s in SKILLS}
    assert {s: c["reasoning_error"]["count"] for s, c in report["by_skill"].items()} == \
        {s: n for s, n in by_skill.items() if any(x["skill"] == s for x in queue)}
    assert sum(c["reviewed"] for c in report["by_discipline"].values()) == 20

    # a corrected file: one verdict changes, the rest are unchanged and not redone
    filled[5] = _verdict(queue[5], err=False, who="r9")
    again = import_verdicts(ws.store, _write(path, filled), root=tmp_path)
    assert again.step.counts["accepted"] == 1 and again.step.skipped == 19
    verdicts = {v.id: v for v in live_verdicts(ws.store)}
    assert len(verdicts) == 20 and not verdicts[queue[5]["id"]].reasoning_error
    assert verdicts[queue[5]["id"]].reviewer == "r9"
    # another reviewer's file naming one example replaces its verdict; the others stay
    other = import_verdicts(ws.store, _write(tmp_path / "second.jsonl", [_verdict(queue[0], who="r7")]),
                            root=tmp_path)
    assert other.accepted == 1
    verdicts = {v.id: v for v in live_verdicts(ws.store)}
    assert len(verdicts) == 20 and verdicts[queue[0]["id"]].reviewer == "r7"
    assert not verdicts[queue[0]["id"]].answer_changing_error


def test_bad_verdicts_name_the_line(ws: Workspace, tmp_path: Path) -> None:
    sample_queue(ws.store, tmp_path / "q.jsonl", size=6, seed=2)
    queue = [json.loads(x) for x in (tmp_path / "q.jsonl").read_text().splitlines()]
    lines: list[dict | str] = [
        queue[0],  # not reviewed yet: the fields are null
        _verdict(queue[1], changes=True),  # changes the answer without a reasoning error
        _verdict(queue[2]) | {"reviewer": " "},
        _verdict(queue[3]) | {"reasoning_error": "yes"},
        _verdict(queue[4]) | {"note": 3},
        "[1, 2]",
    ]
    result = import_verdicts(ws.store, _write(tmp_path / "bad.jsonl", lines), root=tmp_path)
    assert result.accepted == 0
    assert [r.split(": ", 1)[0] for r in result.rejected] == [f"bad.jsonl:{n}" for n in range(1, 7)]
    assert "non_visual_solvable is missing" in result.rejected[0]
    assert "reasoning_error is false" in result.rejected[1]
    assert "no reviewer" in result.rejected[2]
    assert "must be true or false, not 'yes'" in result.rejected[3]
    assert "note must be text" in result.rejected[4]
    assert "bad.jsonl:6: " in result.rejected[5]


def test_cli(ws: Workspace, tmp_path: Path) -> None:
    w = ["-w", str(ws.root)]
    queue = tmp_path / "queue.jsonl"
    out = runner.invoke(app, [*w, "corpus", "quality", "sample", "--size", "5", "--seed", "3", "--out", str(queue)])
    assert out.exit_code == 0, out.output
    assert "5 examples to review" in out.output
    lines = [json.loads(x) for x in queue.read_text().splitlines()]
    assert [x["id"] for x in lines] == [e.id for e in draw_sample(live_set(ws.store, "sft"), 5, 3)]
    verdicts = _write(tmp_path / "v.jsonl", [_verdict(x, nvs=True) for x in lines] + ["oops"])
    imported = runner.invoke(app, [*w, "corpus", "quality", "import", str(verdicts)])
    assert imported.exit_code == 0, imported.output
    text = " ".join(imported.output.split())  # rich wraps at the terminal width
    assert "5 accepted, 1 rejected" in text and "v.jsonl:6: not valid JSON" in text
    strict = runner.invoke(app, [*w, "corpus", "quality", "import", "--strict", str(verdicts)])
    assert strict.exit_code == 1 and "Traceback" not in strict.output
    report = json.loads(runner.invoke(app, [*w, "corpus", "quality", "report", "--json"]).output)
    assert report["reviewed"] >= 5 and report["paper"]["non_visual_solvable"]["count"] == 52
    table = runner.invoke(app, [*w, "corpus", "quality", "report"], env={"COLUMNS": "200"})
    assert table.exit_code == 0 and "52 of 800" in table.output and "By discipline" in table.output
    missing = runner.invoke(app, [*w, "corpus", "quality", "import", str(tmp_path / "none.jsonl")])
    assert missing.exit_code == 1 and "no such file" in missing.output and "Traceback" not in missing.output
    nowhere = runner.invoke(app, ["-w", str(tmp_path / "nowhere"), "corpus", "quality", "report"])
    assert nowhere.exit_code == 1 and "Traceback" not in nowhere.output


def test_an_empty_sft_set_is_said_so(tmp_path: Path) -> None:
    empty = Workspace.init(tmp_path / "empty")
    out = runner.invoke(app, ["-w", str(empty.root), "corpus", "quality", "sample", "--out",
                              str(tmp_path / "q.jsonl")])
    assert out.exit_code == 1 and "the SFT set is empty" in out.output and "Traceback" not in out.output
    report = runner.invoke(app, ["-w", str(empty.root), "corpus", "quality", "report"])
    assert report.exit_code == 0 and "no verdicts yet" in report.output
