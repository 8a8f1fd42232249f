"""Reading knowledge-bank files: good YAML and CSV into Lecture records; bad entries named by file, line, entry."""

from pathlib import Path

import pytest

from videokr.demo import sample_dir
from videokr.knowledge.bank import OBJECTIVE_SEPARATOR, lecture_id, read_bank
from videokr.knowledge.export import ExportError, bank_csv, bank_yaml
from videokr.records import Discipline, ExpertKnowledgePoint, Lecture

SAMPLE = sample_dir() / "knowledge-bank.yaml"


def lectures(entries):
    return [e.lecture for e in entries if e.lecture is not None]


def content(records):
    """What a file says about its lectures (not which file said it)."""
    return [r.model_dump(exclude={"source_file"}) for r in records]


def errors(entries):
    return {e.item_id: (e.code, e.error) for e in entries if e.error}


def test_the_sample_bank_reads_whole() -> None:
    entries = read_bank(SAMPLE, label="knowledge-bank.yaml")
    assert not errors(entries)
    got = lectures(entries)
    assert len(got) == 12
    assert {(r.subject, r.discipline) for r in got} == {("Physics", Discipline.NATURAL_SCIENCES),
                                                       ("Chemistry", Discipline.NATURAL_SCIENCES),
                                                       ("Civil & Environmental Engineering", Discipline.ENGINEERING)}
    assert len({(r.subject, r.course) for r in got}) == 6
    with_points = [r for r in got if r.knowledge_points]
    assert 0 < len(with_points) < len(got)  # some lectures bring expert points, some leave them to the model
    first = got[0]
    assert first.id == "kb:physics/classical-mechanics/newton-s-laws-of-motion" == lecture_id(
        "Physics", "Classical Mechanics", "Newton's laws of motion")
    assert first.knowledge_points[0].term == "Inertia" and len(first.objectives) == 3
    assert not first.draft and first.source_file == "knowledge-bank.yaml"
    assert all(len(p.definition.split()) >= 30 for r in with_points for p in r.knowledge_points)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


BAD_YAML = """\
subjects:
- subject: Phyiscs
  courses:
  - course: Mechanics
    lectures: [{lecture: Kinematics}]
- subject: materials science and engineering
  discipline: Healthcare
  courses:
  - course: Crystallography
    lectures:
    - lecture: Crystal structures
      objectivs: [Name the Bravais lattices]
    - lecture: Phase diagrams
      knowledge_points: [{term: Eutectic}]
    - lecture: Crystal  Structures
      objectives: Index planes with Miller indices
- subject: Biology
  courses:
  - course: Cell Biology
    lectures:
    - lecture: Membranes
      objectives: [Describe the lipid bilayer]
      extra: {reading: Alberts ch. 10, updated: 2024-05-01}
  - course: Genetics
"""


def test_bad_yaml_entries_name_file_line_and_entry_and_good_ones_survive(tmp_path: Path) -> None:
    entries = read_bank(write(tmp_path, "bank.yaml", BAD_YAML), label="bank.yaml")
    good = lectures(entries)
    assert [r.lecture for r in good] == ["Membranes"]
    assert good[0].extra == {"reading": "Alberts ch. 10", "updated": "2024-05-01"}
    bad = errors(entries)
    code, message = bad["kb:bank.yaml:subjects[0]"]
    assert code == "unknown_subject"
    assert message.startswith("bank.yaml:2: subjects[0] (Phyiscs): ") and "did you mean 'Physics'" in message
    code, message = bad["kb:materials-science-and-engineering/crystallography/crystal-structures"]
    assert message.startswith("bank.yaml:11: subjects[1].courses[0].lectures[0] (materials science and engineering"
                              " / Crystallography / Crystal structures): ")
    assert "unknown key 'objectivs' in a lecture — did you mean 'objectives'?" in message
    assert "discipline 'Healthcare' disagrees with Table 6, which puts Materials Science & Engineering under " \
           "Engineering" in message
    code, message = bad["kb:materials-science-and-engineering/crystallography/phase-diagrams"]
    assert "bank.yaml:13:" in message and "`knowledge_points[0].definition` is missing" in message
    duplicate = [v for k, v in bad.items() if v[0] == "duplicate_entry"]
    assert len(duplicate) == 1 and "bank.yaml:15:" in duplicate[0][1] and "the same lecture as bank.yaml:11:" in \
        duplicate[0][1]
    code, message = bad["kb:bank.yaml:subjects[2].courses[1]"]
    assert "bank.yaml:24: subjects[2].courses[1] (Biology / Genetics)" in message and "`lectures` must be a " \
        "non-empty list" in message


@pytest.mark.parametrize("text, expected", [
    ("subjects: [\n", "bank.yaml: not valid YAML at line 2, column 1"),
    ("- subject: Physics\n", "expected a mapping with a `subjects:` list"),
    ("subjects: []\nversion: 2\n", "unknown key 'version' in the top level"),
    ("subjects: {subject: Physics}\n", "`subjects` must be a list"),
])
def test_a_file_that_is_not_a_bank_is_one_rejected_entry(tmp_path: Path, text: str, expected: str) -> None:
    (entry,) = read_bank(write(tmp_path, "bank.yaml", text), label="bank.yaml")
    assert entry.code == "bad_file" and entry.item_id == "kb:bank.yaml" and expected in (entry.error or "")


def test_unreadable_and_wrong_suffix(tmp_path: Path) -> None:
    (missing,) = read_bank(tmp_path / "nope.yaml", label="nope.yaml")
    assert missing.code == "bad_file" and "nope.yaml: cannot read" in (missing.error or "")
    (text,) = read_bank(write(tmp_path, "bank.txt", "subjects: []"), label="bank.txt")
    assert "a knowledge bank is a .yaml, .yml or .csv file" in (text.error or "")
    (binary,) = read_bank(write(tmp_path, "bank.csv", ""), label="bank.csv")
    assert "empty file" in (binary.error or "")


GOOD_CSV = """\
subject,course,lecture,objectives,term,definition
Biology,Genetics,Mendelian inheritance,Explain segregation | Explain independent assortment,,
Biology,Genetics,Linkage,Estimate recombination frequency,,
Biology,Genetics,Mendelian inheritance,,Allele,"A variant form of a gene at a given locus, one inherited from each parent."
Biology,Genetics,Mendelian inheritance,Draw a Punnett square|,,
"""


def test_csv_rows_group_by_lecture_wherever_they_are(tmp_path: Path) -> None:
    entries = read_bank(write(tmp_path, "bank.csv", GOOD_CSV), label="bank.csv")
    assert not errors(entries)
    mendel, linkage = lectures(entries)
    assert mendel.objectives == ["Explain segregation", "Explain independent assortment", "Draw a Punnett square"]
    assert mendel.knowledge_points == [ExpertKnowledgePoint(
        term="Allele", definition="A variant form of a gene at a given locus, one inherited from each parent.")]
    assert linkage.objectives == ["Estimate recombination frequency"] and linkage.discipline is Discipline.NATURAL_SCIENCES
    assert OBJECTIVE_SEPARATOR == "|"


def test_bad_csv_rows_name_file_and_line(tmp_path: Path) -> None:
    text = ("subject,course,lecture,objectives,term,definition\n"
            "Biology,Genetics,Mendel,Explain segregation,,\n"
            "Biology,Genetics,Mendel,,Locus,\n"
            "Biologie,Genetics,DNA,,,\n"
            ",Genetics,RNA,,,\n")
    bad = errors(read_bank(write(tmp_path, "bank.csv", text), label="bank.csv"))
    assert bad["kb:biology/genetics/mendel"][1] == ("bank.csv:2: Biology / Genetics / Mendel: line 3: a knowledge "
                                                   "point needs both `term` and `definition`")
    assert bad["kb:bank.csv:4"] == ("unknown_subject", "bank.csv:4: Biologie / Genetics / DNA: 'Biologie' is not one "
                                    "of the 82 subjects of Table 6 — did you mean 'Biology'?")
    assert bad["kb:bank.csv:5"] == ("invalid", "bank.csv:5: `subject` is empty")
    (header,) = read_bank(write(tmp_path, "h.csv", "subject,course,colour\n"), label="h.csv")
    assert "unknown column 'colour' in the header" in (header.error or "") and "missing column(s) lecture" in \
        (header.error or "")


def test_yaml_and_csv_round_trip_the_same_content(tmp_path: Path) -> None:
    original = lectures(read_bank(SAMPLE))
    original[1] = original[1].model_copy(update={"extra": {"reading": "Halliday ch. 7", "weeks": [3, 4]}})
    via_yaml = lectures(read_bank(write(tmp_path, "a.yaml", bank_yaml(original, "a header\n\nline three"))))
    via_csv = lectures(read_bank(write(tmp_path, "a.csv", bank_csv(original))))
    assert content(via_yaml) == content(original) == content(via_csv)
    assert bank_yaml(via_yaml) == bank_yaml(original) and bank_csv(via_csv) == bank_csv(original)
    assert (tmp_path / "a.yaml").read_text().startswith("# a header\n#\n# line three\nsubjects:\n")


def test_csv_export_refuses_an_objective_holding_the_separator() -> None:
    lecture = Lecture(id="kb:x", discipline=Discipline.NATURAL_SCIENCES, subject="Physics", course="Optics",
                      lecture="Lenses", objectives=["Compare real | virtual images"])
    with pytest.raises(ExportError, match="export this lecture to YAML"):
        bank_csv([lecture])
    assert "real | virtual" in bank_yaml([lecture])
