"""Drafting courses and syllabi for a subject the experts have not covered yet (optional, §3.1).

In the paper experts choose each subject's 4–8 core courses and write their syllabi. Where
no expert has yet, a text model may propose them: the proposal becomes `Lecture` records with
`draft=True` and ids under `kb-draft:`, which no later step reads. An expert exports the
draft (`videokr kb export FILE --drafts`), corrects it and imports the file; the import
approves what the file holds and settles the subject's draft (what the expert deleted is
dropped). This module holds the request, the values of the prompt's placeholders, the
reply's schema and the records a reply becomes; the prompt itself is data,
`prompts/kb_draft.md` (`videokr prompts show kb_draft`), and the `kb_draft` step asks the
model.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from videokr.knowledge.bank import lecture_id
from videokr.knowledge.subjects import MAX_COURSES_PER_SUBJECT, MIN_COURSES_PER_SUBJECT, slug
from videokr.records import Discipline, Lecture

# Drafting asks the same kind of model as Table 8's "Lecture → Knowledge Point" row (text).
DRAFT_POOL_STEP = "knowledge_points"
DRAFT_ITEM_PREFIX = "draft:"

# The placeholders `prompts/kb_draft.md` (or a workspace's `steps.kb_draft.prompt`) may use.
DRAFT_PLACEHOLDERS = frozenset({"discipline", "subject", "existing", "course_range"})


class DraftRequest(BaseModel):
    """One subject to draft, with the courses the bank already holds for it (not to be proposed again)."""

    model_config = ConfigDict(frozen=True)

    subject: str
    discipline: Discipline
    existing_courses: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return draft_item_id(self.subject)

    def course_range(self) -> tuple[int, int]:
        """How many more courses bring the subject into §3.1's 4–8 (none when it is full)."""
        have = len(self.existing_courses)
        return max(1, MIN_COURSES_PER_SUBJECT - have), MAX_COURSES_PER_SUBJECT - have


class DraftLecture(BaseModel):
    lecture: str = Field(min_length=1)
    objectives: list[str] = Field(min_length=1)


class DraftCourse(BaseModel):
    course: str = Field(min_length=1)
    lectures: list[DraftLecture] = Field(min_length=1)


class DraftSyllabus(BaseModel):
    """The reply: courses, each with its lectures and their learning objectives."""

    courses: list[DraftCourse] = Field(min_length=1)


def draft_item_id(subject: str) -> str:
    return f"{DRAFT_ITEM_PREFIX}{slug(subject)}"


def draft_values(request: DraftRequest) -> dict[str, str]:
    """What the prompt's placeholders are filled with."""
    low, high = request.course_range()
    existing = ""
    if request.existing_courses:
        existing = ("The bank already holds these courses of the subject; propose other courses only: "
                    + "; ".join(request.existing_courses) + "\n")
    return {"subject": request.subject, "discipline": request.discipline.value, "existing": existing,
            "course_range": f"{low} to {high}" if low < high else str(high)}


def draft_lectures(request: DraftRequest, reply: DraftSyllabus, model: str) -> list[Lecture]:
    """The draft records of a reply: at most as many new courses as fit, duplicates and blanks dropped."""
    _, room = request.course_range()
    taken = {slug(c) for c in request.existing_courses}
    lectures: list[Lecture] = []
    courses = 0
    for course in reply.courses:
        name = course.course.strip()
        if not slug(name) or slug(name) in taken or courses >= room:
            continue
        taken.add(slug(name))
        seen: set[str] = set()
        for item in course.lectures:
            title = item.lecture.strip()
            objectives = [o.strip() for o in item.objectives if o.strip()]
            if not slug(title) or slug(title) in seen:
                continue
            seen.add(slug(title))
            lectures.append(Lecture(id=lecture_id(request.subject, name, title, draft=True),
                                    discipline=request.discipline, subject=request.subject, course=name,
                                    lecture=title, objectives=objectives, draft=True,
                                    extra={"drafted_by": model}))
        courses += 1 if seen else 0
    return lectures
