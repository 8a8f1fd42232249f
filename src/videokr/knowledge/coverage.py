"""How far the knowledge bank has come: per discipline, subject and course (`videokr kb status`).

Counted against §3.1's targets: every Table 6 subject should have 4–8 core courses, each
course a syllabus of lectures, each lecture its knowledge points. Approved lectures, drafts
waiting for review and the knowledge points made so far are counted apart, so the table says
what an expert or a model still has to do and where.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from videokr.knowledge.subjects import MAX_COURSES_PER_SUBJECT, MIN_COURSES_PER_SUBJECT, SUBJECTS, slug
from videokr.records import Discipline, KnowledgePoint, Lecture


@dataclass
class CourseCoverage:
    course: str
    lectures: int = 0  # approved
    expert_points: int = 0  # knowledge points the experts wrote into those lectures
    knowledge_points: int = 0  # knowledge point records made so far (expert or model)
    draft_lectures: int = 0  # drafted, waiting for review

    @property
    def draft_only(self) -> bool:
        return self.lectures == 0 and self.draft_lectures > 0


@dataclass
class SubjectCoverage:
    subject: str
    discipline: Discipline
    courses: list[CourseCoverage] = field(default_factory=list)

    @property
    def approved_courses(self) -> int:
        return sum(1 for c in self.courses if c.lectures)

    @property
    def draft_courses(self) -> int:
        return sum(1 for c in self.courses if c.draft_only)

    @property
    def target(self) -> str:
        """`uncovered`, `below` (fewer than 4 courses), `met` (4–8) or `above` (more than 8)."""
        n = self.approved_courses
        if n == 0:
            return "uncovered"
        if n < MIN_COURSES_PER_SUBJECT:
            return "below"
        return "met" if n <= MAX_COURSES_PER_SUBJECT else "above"

    def total(self, what: str) -> int:
        return sum(getattr(c, what) for c in self.courses)

    def as_dict(self) -> dict[str, Any]:
        return {"subject": self.subject, "courses": self.approved_courses, "draft_courses": self.draft_courses,
                "target": self.target, "lectures": self.total("lectures"),
                "expert_points": self.total("expert_points"), "knowledge_points": self.total("knowledge_points"),
                "draft_lectures": self.total("draft_lectures"),
                "by_course": [{**asdict(c), "draft_only": c.draft_only} for c in self.courses]}


@dataclass
class DisciplineCoverage:
    discipline: Discipline
    subjects: list[SubjectCoverage]

    @property
    def covered(self) -> int:
        return sum(1 for s in self.subjects if s.approved_courses)

    @property
    def on_target(self) -> int:
        return sum(1 for s in self.subjects if s.target == "met")

    def total(self, what: str) -> int:
        if what == "courses":
            return sum(s.approved_courses for s in self.subjects)
        return sum(s.total(what) for s in self.subjects)

    def as_dict(self) -> dict[str, Any]:
        return {"discipline": self.discipline.value, "subjects": len(self.subjects), "covered": self.covered,
                "on_target": self.on_target, "courses": self.total("courses"), "lectures": self.total("lectures"),
                "knowledge_points": self.total("knowledge_points"), "draft_lectures": self.total("draft_lectures"),
                "by_subject": [s.as_dict() for s in self.subjects]}


def coverage(approved: Iterable[Lecture], drafts: Iterable[Lecture],
             points: Iterable[KnowledgePoint]) -> list[DisciplineCoverage]:
    """Coverage of all 82 subjects, in Table 6's order; courses in the order they were first seen."""
    table: dict[str, dict[str, CourseCoverage]] = {s.name: {} for s in SUBJECTS}

    def course(subject: str, name: str) -> CourseCoverage | None:
        courses = table.get(subject)
        if courses is None:  # not a Table 6 subject: the bank never holds one
            return None
        return courses.setdefault(slug(name), CourseCoverage(name))

    for lecture in approved:
        row = course(lecture.subject, lecture.course)
        if row is not None:
            if row.lectures == 0:
                row.course = lecture.course  # the approved spelling wins over a draft's
            row.lectures += 1
            row.expert_points += len(lecture.knowledge_points)
    for lecture in drafts:
        row = course(lecture.subject, lecture.course)
        if row is not None:
            row.draft_lectures += 1
    for point in points:
        row = course(point.subject, point.course)
        if row is not None:
            row.knowledge_points += 1
    by_discipline: dict[Discipline, list[SubjectCoverage]] = {d: [] for d in Discipline}
    for subject in SUBJECTS:
        by_discipline[subject.discipline].append(
            SubjectCoverage(subject.name, subject.discipline, list(table[subject.name].values())))
    return [DisciplineCoverage(d, subjects) for d, subjects in by_discipline.items()]


def coverage_dict(disciplines: list[DisciplineCoverage]) -> dict[str, Any]:
    """What `videokr kb status --json` prints."""
    return {
        "target_courses_per_subject": [MIN_COURSES_PER_SUBJECT, MAX_COURSES_PER_SUBJECT],
        "subjects": sum(len(d.subjects) for d in disciplines),
        "covered": sum(d.covered for d in disciplines),
        "on_target": sum(d.on_target for d in disciplines),
        "courses": sum(d.total("courses") for d in disciplines),
        "lectures": sum(d.total("lectures") for d in disciplines),
        "knowledge_points": sum(d.total("knowledge_points") for d in disciplines),
        "draft_lectures": sum(d.total("draft_lectures") for d in disciplines),
        "disciplines": [d.as_dict() for d in disciplines],
    }
