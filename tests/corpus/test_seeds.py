"""§3.3's seed examples: the `seeds` step, `videokr seeds import|status`, and seeds kept out of every set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.cli_support import invoke
from videokr.demo import sample_dir
from videokr.formats.official import LineError
from videokr.records import Discipline, ProblemType, Seed, Skill
from videokr.sets import live_examples, live_set
from videokr.steps.seeds import (PAPER_SEEDS_PER_SKILL_PER_DISCIPLINE, SEEDS_STEP, coverage, coverage_dict,
                                 live_seeds, parse_seed)
from videokr.store import Store

SAMPLE = sample_dir() / "seeds.jsonl"




def workspace(tmp_path: Path, *options: object) -> Path:
    assert invoke("init", tmp_path / "ws", *options).exit_code == 0
    return tmp_path / "ws"


def status(ws: Path) -> dict:
    result = invoke("-w", ws, "seeds", "status", "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def cell(summary: dict, discipline: str, skill: str) -> int:
    return next(c["seeds"] for c in summary["cells"] if (c["discipline"], c["skill"]) == (discipline, skill))


def write_lines(path: Path, lines: list[dict | str]) -> Path:
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return path


def seed_line(id_: str, **fields: object) -> dict:
    line = {"problem_id": id_, "discipline": "Natural Sciences", "skill": "VidR", "problem_type": "multiple choice",
            "question": f"Which way does the cart move in clip {id_}?", "options": ["A. left", "B. right"],
            "solution": "<answer>B</answer>", "think": "<think>At 00:03 the cart moves to the right.</think>"}
    line.update(fields)
    return {k: v for k, v in line.items() if v is not None}


def test_the_papers_number_of_seeds() -> None:
    assert PAPER_SEEDS_PER_SKILL_PER_DISCIPLINE == 150  # §3.3: 150 per skill per discipline, 1,800 in all
    summary = coverage_dict(coverage([]))
    assert (summary["target"], summary["seeds"], summary["missing"], summary["cells_met"]) == (1800, 0, 1800, 0)
    assert len(summary["cells"]) == 12


def test_official_field_variants_become_a_seed() -> None:
    seed = parse_seed({
        "id": "s-1", "discipline": "engineering", "skill": "knowledge-intensive video reasoning",
        "subject": "civil and environmental engineering", "type": "MCQ", "question": "<video> Which truss is shown?",
        "choices": {"A": "Warren", "B": "Pratt", "C": "Howe"}, "answer": "Pratt", "cot": "<think>Verticals, and "
        "diagonals sloping down to the centre.</think>", "knowledge_point": "Truss types", "reviewer": "second",
    }, source="seeds.jsonl", line_no=4)
    assert isinstance(seed, Seed) and seed.kind == "seed"
    assert (seed.id, seed.skill, seed.discipline, seed.subject) == (
        "s-1", Skill.KNOWVIDR, Discipline.ENGINEERING, "Civil & Environmental Engineering")
    assert (seed.problem_type, seed.options, seed.answer) == (ProblemType.MULTIPLE_CHOICE, ["Warren", "Pratt", "Howe"],
                                                               "B")
    assert seed.question == "Which truss is shown?" and seed.cot.startswith("Verticals")
    assert (seed.video_id, seed.video_path) == ("", "")  # a text-only seed
    assert (seed.source_file, seed.source_line, seed.extra) == ("seeds.jsonl", 4, {"reviewer": "second"})

    open_ended = parse_seed(seed_line("s-2", problem_type="open-ended", options=None, solution="2.0 m/s",
                                      path="./Videos//phys/cart.mp4", skill="KnowVid"),
                            source="f", line_no=1)
    assert (open_ended.problem_type, open_ended.options, open_ended.answer) == (ProblemType.OPEN_ENDED, [], "2.0 m/s")
    assert (open_ended.video_id, open_ended.video_path) == ("Videos/phys/cart.mp4", "Videos/phys/cart.mp4")


@pytest.mark.parametrize("change, message", [
    ({"skill": None}, "no skill; expected one of VidR, KnowVid, KnowVidR"),
    ({"skill": "VideoR"}, "unknown skill 'VideoR'"),
    ({"discipline": None}, "no discipline; expected one of Natural Sciences, Engineering"),
    ({"discipline": "Natural Sceinces"}, "did you mean 'Natural Sciences'"),
    ({"subject": "Accounting"}, "subject 'Accounting' is in Humanities & Social Sciences, not Natural Sciences"),
    ({"subject": "Phyiscs"}, "did you mean 'Physics'"),
    ({"think": None}, "a seed needs its reasoning"),
    ({"solution": "<answer>E</answer>"}, "neither one of the letters A, B"),
    ({"options": None}, "a multiple-choice seed has no options"),
    ({"question": " "}, "no question"),
    ({"videos": ["a.mp4", "b.mp4"]}, "names at most one video; this line names 2"),
])
def test_a_bad_seed_says_what_to_fix(change: dict, message: str) -> None:
    line = {k: v for k, v in {**seed_line("s"), **change}.items() if v is not None}  # None: the field is left out
    with pytest.raises(LineError) as caught:
        parse_seed(line, source="f", line_no=1)
    assert message in str(caught.value)


def test_import_and_status_of_the_bundled_sample(tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    first = invoke("-w", ws, "seeds", "import", SAMPLE)
    assert first.exit_code == 0 and "19 lines — 19 accepted, 0 rejected, 0 unchanged" in first.text
    again = invoke("-w", ws, "seeds", "import", SAMPLE)
    assert again.exit_code == 0 and "0 accepted, 0 rejected, 19 unchanged" in again.text

    summary = status(ws)
    assert (summary["seeds"], summary["target"], summary["target_per_skill_per_discipline"]) == (19, 1800, 150)
    assert summary["missing"] == 1800 - 19 and summary["cells_met"] == 0
    # at least three per skill for both disciplines of the bundled knowledge bank
    for discipline in ("Natural Sciences", "Engineering"):
        assert all(cell(summary, discipline, skill.value) >= 3 for skill in Skill)
    assert cell(summary, "Natural Sciences", "VidR") == 4
    assert cell(summary, "Healthcare", "KnowVid") == 0
    seeds = live_seeds(Store(ws / "videokr.sqlite"))
    assert len(seeds) == 19 and all(s.cot and s.subject for s in seeds)
    assert {s.subject for s in seeds} == {"Physics", "Chemistry", "Civil & Environmental Engineering"}

    table = invoke("-w", ws, "seeds", "status")
    assert table.exit_code == 0 and "19/1800 seeds; 0/12 cells at 150; 1781 still to write" in table.text
    assert "4/150" in table.text and "Humanities & Social Sciences" in table.text


def test_bad_lines_are_named_and_the_good_ones_imported(tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    path = write_lines(ws / "seeds.jsonl", [
        seed_line("good-1"),
        "{not json",
        seed_line("no-skill", skill=None),
        seed_line("good-1", question="the same id again"),
        seed_line("good-2", discipline="Healthcare", skill="KnowVid", subject="Nursing"),
    ])
    result = invoke("-w", ws, "seeds", "import", path)
    assert result.exit_code == 0, result.output
    assert "5 lines — 2 accepted, 3 rejected" in result.text
    assert "seeds.jsonl:2: not valid JSON" in result.text
    assert "seeds.jsonl:3: no skill; expected one of VidR, KnowVid, KnowVidR" in result.text
    assert "seeds.jsonl:4: id 'good-1' repeats line 1" in result.text
    assert "Traceback" not in result.output
    store = Store(ws / "videokr.sqlite")
    assert store.rejection_reasons(SEEDS_STEP) == {"bad_line": 1, "invalid": 1, "duplicate_id": 1}
    assert cell(status(ws), "Healthcare", "KnowVid") == 1

    strict = invoke("-w", ws, "seeds", "import", path, "--strict")
    assert strict.exit_code == 1 and "0 accepted, 0 rejected, 5 unchanged" in strict.text
    nothing = invoke("-w", ws, "seeds", "import", write_lines(ws / "bad.jsonl", [seed_line("x", think=None)]))
    assert nothing.exit_code == 1 and "bad.jsonl: no seed could be imported" in nothing.text
    other = invoke("-w", ws, "seeds", "import", write_lines(ws / "other.jsonl", [seed_line("good-1", solution="A")]))
    assert other.exit_code == 1 and "seed 'good-1' already exists with other content" in other.text
    assert "item 'seeds:seeds.jsonl#good-1'" in other.text and store.rejection_reasons(SEEDS_STEP)["conflict"] == 1
    missing = invoke("-w", ws, "seeds", "import", ws / "nowhere.jsonl")
    assert missing.exit_code == 1 and "nowhere.jsonl: no such file" in missing.text


def test_reimport_updates_changed_lines_and_retires_removed_ones(tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    lines = [seed_line(f"s-{n}") for n in range(4)] + [seed_line("broken", discipline="Nature")]
    path = write_lines(ws / "seeds.jsonl", lines)
    assert "5 lines — 4 accepted, 1 rejected" in invoke("-w", ws, "seeds", "import", path).text
    store = Store(ws / "videokr.sqlite")

    lines[1] = seed_line("s-1", solution="A", skill="KnowVidR")  # changed
    lines[4] = seed_line("broken", discipline="Engineering")  # fixed
    del lines[2]  # removed
    result = invoke("-w", ws, "seeds", "import", write_lines(path, lines))
    # s-1 and broken changed; s-3 moved up a line (a seed keeps its line); s-0 is as it was
    assert "4 lines — 3 accepted, 0 rejected, 1 unchanged, 1 no longer in the file (retired)" in result.text
    seeds = {s.id: s for s in live_seeds(store)}
    assert sorted(seeds) == ["broken", "s-0", "s-1", "s-3"]
    assert (seeds["s-1"].answer, seeds["s-1"].skill) == ("A", Skill.KNOWVIDR)
    assert store.get("seed", "s-2") is None
    assert store.rejection_reasons(SEEDS_STEP) == {}
    summary = status(ws)
    assert (cell(summary, "Natural Sciences", "VidR"), cell(summary, "Natural Sciences", "KnowVidR"),
            cell(summary, "Engineering", "VidR"), summary["seeds"]) == (2, 1, 1, 4)


def test_coverage_counts_against_150() -> None:
    def seeds(discipline: Discipline, skill: Skill, n: int) -> list[Seed]:
        return [Seed(id=f"{discipline}-{skill}-{i}", problem_type=ProblemType.OPEN_ENDED, question="q", answer="a",
                     cot="because", skill=skill, discipline=discipline) for i in range(n)]

    cells = coverage(seeds(Discipline.HEALTHCARE, Skill.VIDR, 150) + seeds(Discipline.HEALTHCARE, Skill.KNOWVID, 149)
                     + seeds(Discipline.HUMANITIES, Skill.KNOWVIDR, 151))
    by = {(c.discipline, c.skill): c for c in cells}
    assert [(c.discipline, c.skill) for c in cells][:3] == [(Discipline.NATURAL_SCIENCES, s) for s in Skill]
    full, short = by[Discipline.HEALTHCARE, Skill.VIDR], by[Discipline.HEALTHCARE, Skill.KNOWVID]
    assert (full.seeds, full.met, full.missing, short.seeds, short.met, short.missing) == (150, True, 0, 149, False, 1)
    assert by[Discipline.HUMANITIES, Skill.KNOWVIDR].missing == 0
    summary = coverage_dict(cells)
    assert (summary["seeds"], summary["cells_met"], summary["missing"]) == (450, 2, 1800 - 150 - 149 - 150)


def test_seeds_never_reach_the_corpus_the_benchmark_or_an_export(tmp_path: Path, sample: Path) -> None:
    """A seed sharing its id with a training example and a benchmark item changes neither, nor any export."""
    ws = workspace(tmp_path, "--video-root", sample)
    write_lines(ws / "seeds.jsonl", [
        seed_line("sft-01-0", question="SEED question sharing an example's id"),
        seed_line("eval-0", question="SEED question sharing a benchmark item's id"),
    ])
    config = yaml.safe_load((ws / "videokr.yaml").read_text())
    config["recipe"] = ["seeds", "import", "videos", "probe", "decontam", "split", "export"]
    config["steps"] = {
        "seeds": {"sources": ["seeds.jsonl"]},
        "import": {"sources": [{"path": str(sample / "videokr-sft-sample.jsonl"), "kind": "sft"},
                               {"path": str(sample / "videokr-eval-sample.jsonl"), "kind": "eval"}]},
        "export": {"targets": {"sft": ["jsonl"], "eval": ["jsonl"]}, "out": "exports"},
    }
    (ws / "videokr.yaml").write_text(yaml.safe_dump(config))
    result = invoke("-w", ws, "run")
    assert result.exit_code == 0, result.output
    assert "seeds 2 in — 2 accepted" in result.text

    store = Store(ws / "videokr.sqlite")
    assert {s.id for s in live_seeds(store)} == {"sft-01-0", "eval-0"}
    examples = {e.id: e for e in live_examples(store)}
    assert "sft-01-0" in examples and not examples["sft-01-0"].question.startswith("SEED")
    assert all(not e.question.startswith("SEED") for e in examples.values())
    benchmark = {i.id: i for i in live_set(store, "eval")}
    assert "eval-0" in benchmark and not benchmark["eval-0"].question.startswith("SEED")
    exported = [p for p in (ws / "exports").rglob("*.jsonl")]
    assert len(exported) == 2
    text = "".join(p.read_text() for p in exported)
    assert "sft-01-0" in text and "eval-0" in text and "SEED question" not in text
