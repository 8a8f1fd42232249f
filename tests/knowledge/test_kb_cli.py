"""`videokr kb import|status|export` in a temporary workspace, and the `kb` step on the one runner."""

import json
from pathlib import Path

import yaml

from tests.cli_support import invoke
from videokr.demo import sample_dir
from videokr.records import Outcome
from videokr.steps.kb import approved_lectures
from videokr.store import Store

SAMPLE = sample_dir() / "knowledge-bank.yaml"




def workspace(tmp_path: Path, name: str = "ws") -> Path:
    assert invoke("init", tmp_path / name).exit_code == 0
    return tmp_path / name


def store(ws: Path) -> Store:
    return Store(ws / "videokr.sqlite")


def status(ws: Path) -> dict:
    result = invoke("-w", ws, "kb", "status", "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_import_status_export_round_trip(tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    first = invoke("-w", ws, "kb", "import", SAMPLE)
    assert first.exit_code == 0 and "12 entries — 12 accepted, 0 rejected, 0 unchanged" in first.text
    again = invoke("-w", ws, "kb", "import", SAMPLE)
    assert again.exit_code == 0 and "0 accepted, 0 rejected, 12 unchanged" in again.text

    summary = status(ws)
    assert (summary["subjects"], summary["covered"], summary["on_target"]) == (82, 3, 0)
    assert (summary["courses"], summary["lectures"], summary["draft_lectures"]) == (6, 12, 0)
    assert summary["target_courses_per_subject"] == [4, 8]
    by_discipline = {d["discipline"]: d for d in summary["disciplines"]}
    assert [d["subjects"] for d in summary["disciplines"]] == [20, 20, 18, 24]
    assert by_discipline["Natural Sciences"]["covered"] == 2 and by_discipline["Engineering"]["covered"] == 1
    physics = next(s for s in by_discipline["Natural Sciences"]["by_subject"] if s["subject"] == "Physics")
    assert (physics["courses"], physics["target"], physics["lectures"], physics["expert_points"]) == (2, "below", 4, 3)
    assert [c["course"] for c in physics["by_course"]] == ["Classical Mechanics", "Electromagnetism"]
    biology = next(s for s in by_discipline["Natural Sciences"]["by_subject"] if s["subject"] == "Biology")
    assert biology["target"] == "uncovered" and biology["by_course"] == []
    table = invoke("-w", ws, "kb", "status")
    assert table.exit_code == 0 and "3/82 subjects have approved courses" in table.text
    assert "Accounting" in table.text and "Electromagnetism" in table.text and "Physiotherapy" in table.text

    for suffix in ("yaml", "csv"):
        out = tmp_path / f"bank.{suffix}"
        exported = invoke("-w", ws, "kb", "export", out)
        assert exported.exit_code == 0 and "12 approved lectures in 6 courses of 3 subjects" in exported.text
        other = workspace(tmp_path, f"other-{suffix}")
        assert "12 accepted" in invoke("-w", other, "kb", "import", out).text
        again = tmp_path / f"again.{suffix}"
        assert invoke("-w", other, "kb", "export", again).exit_code == 0
        assert again.read_text() == out.read_text()
        same = [lec.model_dump(exclude={"source_file"}) for lec in approved_lectures(store(other))]
        assert same == [lec.model_dump(exclude={"source_file"}) for lec in approved_lectures(store(ws))]
    assert yaml.safe_load((tmp_path / "bank.yaml").read_text())["subjects"][0]["subject"] == "Physics"
    only = invoke("-w", ws, "kb", "export", tmp_path / "chem.yaml", "--subject", "chemistry")
    assert only.exit_code == 0 and "4 approved lectures in 2 courses of 1 subjects" in only.text


def test_reimport_updates_exactly_the_changed_lectures(tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    bank = ws / "bank.yaml"
    data = yaml.safe_load(SAMPLE.read_text())
    bank.write_text(yaml.safe_dump(data, sort_keys=False))
    assert invoke("-w", ws, "kb", "import", bank).exit_code == 0
    s = store(ws)
    before = {lec.id: lec for lec in approved_lectures(s)}

    mechanics = data["subjects"][0]["courses"][0]["lectures"]
    mechanics[1]["objectives"].append("Define power and compute it for machines")  # changed
    mechanics.insert(0, {"lecture": "Vectors and kinematics",
                         "objectives": ["Relate position, velocity and acceleration"]})  # added (shifts positions)
    data["subjects"][1]["courses"][1]["lectures"].pop()  # removed
    bank.write_text(yaml.safe_dump(data, sort_keys=False))
    result = invoke("-w", ws, "kb", "import", bank)
    assert result.exit_code == 0, result.output
    assert "bank.yaml: 12 entries — 2 accepted, 0 rejected, 10 unchanged, 1 no longer in the file (retired)" in result.text
    after = {lec.id: lec for lec in approved_lectures(s)}
    changed = {i for i in after if i not in before or after[i] != before[i]}
    assert changed == {"kb:physics/classical-mechanics/conservation-of-energy-and-work",
                       "kb:physics/classical-mechanics/vectors-and-kinematics"}
    removed = "kb:chemistry/organic-chemistry/aromatic-compounds-and-electrophilic-aromatic-substitution"
    assert removed not in after and s.get("lecture", removed) is None
    assert [lec.lecture for lec in approved_lectures(s)][:3] == [
        "Vectors and kinematics", "Newton's laws of motion", "Conservation of energy and work"]
    assert not [e for e in s.ledger_entries("kb") if e.outcome is Outcome.REJECTED]


def test_bad_files_fail_clearly_without_traceback(tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    bad = ws / "bad.yaml"
    bad.write_text("subjects:\n- subject: Phyiscs\n  courses: [{course: Mechanics, lectures: [{lecture: Kinematics}]}]\n")
    result = invoke("-w", ws, "kb", "import", bad)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "rejected bad.yaml:2: subjects[0] (Phyiscs): 'Phyiscs' is not one of the 82 subjects of Table 6 — did " \
           "you mean 'Physics'?" in result.text
    assert "error: bad.yaml: no lecture could be imported" in result.text
    mixed = ws / "mixed.csv"
    mixed.write_text("subject,course,lecture,objectives\nPhysics,Optics,Lenses,Trace rays\nPhysic,Optics,Mirrors,\n")
    partial = invoke("-w", ws, "kb", "import", mixed)
    assert partial.exit_code == 0 and "1 accepted, 1 rejected" in partial.text and "did you mean 'Physics'" in partial.text
    assert invoke("-w", ws, "kb", "import", mixed, "--strict").exit_code == 1
    assert "no such file" in invoke("-w", ws, "kb", "import", ws / "missing.yaml").text
    assert "not one of the 82 subjects" in invoke("-w", ws, "kb", "status", "--subject", "Alchemy").text
    assert "no draft lectures to export" in invoke("-w", ws, "kb", "export", ws / "d.yaml", "--drafts").text
    assert "a knowledge bank is a .yaml" in invoke("-w", ws, "kb", "export", ws / "d.json").text
    # fixing the file retires its earlier rejected entry
    bad.write_text("subjects:\n- subject: Physics\n  courses: [{course: Mechanics, lectures: [{lecture: Kinematics}]}]\n")
    assert invoke("-w", ws, "kb", "import", bad).exit_code == 0
    assert {e.item_id for e in store(ws).ledger_entries("kb", Outcome.REJECTED)} == {"kb:mixed.csv:3"}


def test_the_kb_step_runs_from_the_recipe(tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    config = yaml.safe_load((ws / "videokr.yaml").read_text())
    config["recipe"] = ["kb"]
    (ws / "more.csv").write_text("subject,course,lecture,objectives\n"
                                 "Physics,Electromagnetism,Electromagnetic induction,Explain eddy currents\n"
                                 "Physics,Optics,Thin lenses,Trace rays through a thin lens\n")
    config["steps"] = {"kb": {"sources": [str(SAMPLE), "more.csv"]}}
    (ws / "videokr.yaml").write_text(yaml.safe_dump(config))
    result = invoke("-w", ws, "run")
    assert result.exit_code == 0 and "kb 14 in — 13 accepted, 1 rejected" in result.text
    (duplicate,) = store(ws).ledger_entries("kb", Outcome.REJECTED)
    assert duplicate.code == "duplicate_entry" and duplicate.reason.startswith(
        "more.csv:2: Physics / Electromagnetism / Electromagnetic induction: the same lecture as ")
    funnel = json.loads(invoke("-w", ws, "status", "--funnel", "--json").stdout)
    assert funnel["steps"][0] == {**funnel["steps"][0], "step": "kb", "accepted": 13, "pending": 0}
    assert "kb 14 in — 0 accepted, 0 rejected, 0 quarantined, 14 already done" in invoke("-w", ws, "run").text
