"""Table 6 as data: 82 subjects in four disciplines, spelled as in the paper; the 4–8 courses target."""

import pytest

from videokr.knowledge import subjects as t6
from videokr.records import Discipline


def test_table6_counts_per_discipline_and_total() -> None:
    counts = {d: len(names) for d, names in t6.TABLE6.items()}
    assert counts == {Discipline.NATURAL_SCIENCES: 20, Discipline.ENGINEERING: 20, Discipline.HEALTHCARE: 18,
                      Discipline.HUMANITIES: 24}
    assert counts == t6.SUBJECTS_PER_DISCIPLINE
    assert len(t6.SUBJECTS) == t6.TOTAL_SUBJECTS == 82
    assert len({s.name for s in t6.SUBJECTS}) == 82 and len({s.slug for s in t6.SUBJECTS}) == 82
    assert [d.value for d in t6.TABLE6] == ["Natural Sciences", "Engineering", "Healthcare",
                                           "Humanities & Social Sciences"]


def test_spellings_and_order_follow_the_paper() -> None:
    assert t6.TABLE6[Discipline.NATURAL_SCIENCES][:3] == ("Chemistry", "Physics", "Biology")
    assert t6.TABLE6[Discipline.NATURAL_SCIENCES][-1] == "Scientific Computing"
    assert "Materials Science & Engineering" in t6.TABLE6[Discipline.ENGINEERING]
    assert t6.TABLE6[Discipline.ENGINEERING][-1] == "Geotechnical Engineering"
    assert "Radiography / Imaging Sciences" in t6.TABLE6[Discipline.HEALTHCARE]
    assert "Health / Biomedical Informatics" in t6.TABLE6[Discipline.HEALTHCARE]
    assert t6.TABLE6[Discipline.HEALTHCARE][-1] == "Health Policy & Management"
    assert t6.TABLE6[Discipline.HUMANITIES][0] == "History"
    assert t6.TABLE6[Discipline.HUMANITIES][-1] == "Gender & Sexuality Studies"


def test_courses_per_subject_target_is_the_papers() -> None:
    assert (t6.MIN_COURSES_PER_SUBJECT, t6.MAX_COURSES_PER_SUBJECT) == (4, 8)


def test_find_subject_tolerates_case_spacing_and_ampersand() -> None:
    assert t6.find_subject("materials science and engineering").name == "Materials Science & Engineering"
    assert t6.find_subject("  PHYSICS ").discipline is Discipline.NATURAL_SCIENCES
    assert t6.find_subject("Radiography/Imaging Sciences").name == "Radiography / Imaging Sciences"
    assert t6.find_discipline("Humanities and Social Sciences") is Discipline.HUMANITIES


def test_unknown_subject_is_refused_with_the_closest_spelling() -> None:
    with pytest.raises(t6.UnknownName) as exc:
        t6.find_subject("Phyiscs")
    assert "'Phyiscs' is not one of the 82 subjects" in str(exc.value) and "did you mean 'Physics'" in str(exc.value)
    with pytest.raises(t6.UnknownName) as exc:
        t6.find_subject("Quantum Basket Weaving")
    assert "did you mean" not in str(exc.value)
    with pytest.raises(t6.UnknownName, match="did you mean 'Healthcare'"):
        t6.find_discipline("Health care")


def test_slug_keeps_letters_of_any_script() -> None:
    assert t6.slug("Newton's laws") == "newton-s-laws"
    assert t6.slug("Civil & Environmental Engineering") == "civil-and-environmental-engineering"
    assert t6.slug("Schrödinger equation") == "schrödinger-equation"
    assert t6.slug("—") == ""
