"""Table 6 of the paper as data: the 82 subjects of the knowledge bank, by discipline (§3.1, A.1).

The subjects are the top layer of the Subject → Course → Lecture → Knowledge point hierarchy.
Anything an expert imports must name one of them; a near miss ("Phyiscs", "Materials
Science and Engineering") is matched to the spelling of the paper when the difference is only
case, spacing or `&`/`and`, and otherwise refused with the closest spelling as a suggestion.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from videokr.records import Discipline

# §3.1: experts give 4 to 8 core undergraduate courses per subject.
MIN_COURSES_PER_SUBJECT = 4
MAX_COURSES_PER_SUBJECT = 8

# Table 6, column by column, in the paper's order and spelling.
TABLE6: dict[Discipline, tuple[str, ...]] = {
    Discipline.NATURAL_SCIENCES: (
        "Chemistry", "Physics", "Biology", "Astrophysics & Astronomy", "Earth Science", "Mathematics",
        "Statistics & Data Science", "Environmental Science", "Ecology & Evolutionary Biology",
        "Microbiology & Immunology", "Biochemistry & Molecular Biology", "Biophysics", "Neuroscience",
        "Genetics & Genomics", "Cell & Developmental Biology", "Marine Science", "Atmospheric Science",
        "Geology & Geophysics", "Paleontology", "Scientific Computing",
    ),
    Discipline.ENGINEERING: (
        "Electrical Engineering", "Computer Science", "Materials Science & Engineering", "Mechanical Engineering",
        "Civil & Environmental Engineering", "Chemical Engineering", "Biomedical Engineering",
        "Aerospace Engineering", "Industrial & Operations Research", "Systems Engineering", "Nuclear Engineering",
        "Energy Engineering", "Mechatronics & Robotics", "Software Engineering", "AI Engineering",
        "Computer Engineering", "Communications Engineering", "Control & Automation", "Structural Engineering",
        "Geotechnical Engineering",
    ),
    Discipline.HEALTHCARE: (
        "Medicine", "Public Health", "Pharmacy", "Dentistry", "Nursing", "Biomedical Sciences",
        "Medical Laboratory Science", "Nutrition & Dietetics", "Physiotherapy", "Occupational Therapy",
        "Speech & Language Therapy", "Radiography / Imaging Sciences", "Health / Biomedical Informatics",
        "Epidemiology & Biostatistics", "Global Health", "Veterinary Medicine", "Optometry / Vision Science",
        "Health Policy & Management",
    ),
    Discipline.HUMANITIES: (
        "History", "Psychology", "Arts", "Education", "Sociology", "Philosophy", "Linguistics", "Anthropology",
        "Archaeology", "Political Science", "International Relations", "Economics", "Law", "Geography",
        "Communication & Media Studies", "Literature & Comparative Literature", "Modern Languages & Cultures",
        "Theology & Religious Studies", "Business Administration", "Finance", "Accounting",
        "Architecture & Urban Planning", "Public Policy & Administration", "Gender & Sexuality Studies",
    ),
}
# The header of Table 6: subjects per discipline, 82 in all.
SUBJECTS_PER_DISCIPLINE: dict[Discipline, int] = {
    Discipline.NATURAL_SCIENCES: 20, Discipline.ENGINEERING: 20, Discipline.HEALTHCARE: 18, Discipline.HUMANITIES: 24,
}
TOTAL_SUBJECTS = 82


@dataclass(frozen=True)
class Subject:
    name: str
    discipline: Discipline

    @property
    def slug(self) -> str:
        return slug(self.name)


SUBJECTS: tuple[Subject, ...] = tuple(Subject(name, d) for d, names in TABLE6.items() for name in names)


class UnknownName(ValueError):
    """A subject or discipline outside Table 6; the message names it and the closest spelling."""


def normalise(text: str) -> str:
    """What two spellings of one name share: case, spacing, punctuation and `&`/`and` do not count."""
    text = text.lower().replace("&", " and ")
    return " ".join(re.findall(r"[^\W_]+", text))  # letters and digits of any script


def slug(text: str) -> str:
    """The id form of a name: `Materials Science & Engineering` → `materials-science-and-engineering`."""
    return normalise(text).replace(" ", "-")


_BY_KEY = {normalise(s.name): s for s in SUBJECTS}
_DISCIPLINES = {normalise(d.value): d for d in Discipline}


def _closest(name: str, choices: list[str]) -> str:
    keys = {normalise(c): c for c in choices}
    close = difflib.get_close_matches(normalise(name), list(keys), n=1, cutoff=0.5)
    return f" — did you mean {keys[close[0]]!r}?" if close else ""


def find_subject(name: str) -> Subject:
    """The Table 6 subject `name` spells (case, spacing and `&`/`and` aside), or UnknownName."""
    found = _BY_KEY.get(normalise(name))
    if found is None:
        raise UnknownName(f"{name!r} is not one of the 82 subjects of Table 6"
                          f"{_closest(name, [s.name for s in SUBJECTS])}")
    return found


def find_discipline(name: str) -> Discipline:
    found = _DISCIPLINES.get(normalise(name))
    if found is None:
        raise UnknownName(f"{name!r} is not a discipline of Table 6 ({', '.join(d.value for d in Discipline)})"
                          f"{_closest(name, [d.value for d in Discipline])}")
    return found


def subjects_of(discipline: Discipline) -> tuple[Subject, ...]:
    return tuple(s for s in SUBJECTS if s.discipline is discipline)
