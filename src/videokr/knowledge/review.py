"""Drafted syllabi approved in the review app, as knowledge-bank entries (§3.1's expert approval).

How an approval reaches the bank: the same way a reviewed file does. Today an expert exports
the drafts, corrects them and imports the file, and the `kb` source step turns each lecture
into an approved `Lecture` (`kb:<subject>/<course>/<lecture>`). A reviewer who approves a
subject's draft in the app's `syllabus` queue (as drafted, or with their edited syllabus)
leaves a verdict; the `kb` step reads the final verdicts beside its files and turns each
approved lecture into the same entry a file would give, named `review:syllabus`. So the next
`videokr run` (or `videokr run --only kb`) brings approved syllabi into the bank with lineage,
a changed verdict redoes exactly its lectures, and a rejected draft never reaches the bank.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from videokr.knowledge.bank import BankEntry, lecture_id
from videokr.knowledge.draft import DraftSyllabus, draft_item_id
from videokr.knowledge.subjects import UnknownName, find_subject
from videokr.records import Lecture

SYLLABUS_QUEUE = "syllabus"
REVIEW_FILE = "review:syllabus"  # how approved lectures name their source (like a file label)
INVALID_CODE = "invalid"


def draft_syllabus(lectures: list[Lecture]) -> dict[str, Any]:
    """A subject's draft lectures as a syllabus (courses in order, each with its lectures): what a reviewer edits."""
    courses: dict[str, list[dict[str, Any]]] = {}
    for lecture in lectures:
        courses.setdefault(lecture.course, []).append({"lecture": lecture.lecture,
                                                       "objectives": list(lecture.objectives)})
    return {"courses": [{"course": name, "lectures": items} for name, items in courses.items()]}


def syllabus_entries(final: dict[str, Any], drafts: list[Lecture]) -> list[BankEntry]:
    """Bank entries of every approved draft: `final` maps a draft item (`draft:<subject>`) to its final verdict.

    An approval without an edit approves the live draft as it is; an edit (a syllabus of courses,
    lectures and objectives) is what the reviewer approved instead. A verdict whose subject has
    no draft and no edit brings nothing; an edit that is not a syllabus is a rejected entry
    naming the item."""
    by_item: dict[str, list[Lecture]] = {}
    for lecture in drafts:
        by_item.setdefault(draft_item_id(lecture.subject), []).append(lecture)
    entries: list[BankEntry] = []
    for item_id, verdict in sorted(final.items()):
        payload = verdict.payload
        if payload.get("decision") != "approve":
            continue
        where = f"{REVIEW_FILE} {item_id}"
        lectures = by_item.get(item_id, [])
        subject = lectures[0].subject if lectures else (payload.get("edited") or {}).get("subject")
        try:
            found = find_subject(str(subject or ""))
            syllabus = DraftSyllabus.model_validate(
                {"courses": (payload.get("edited") or {}).get("courses")} if payload.get("edited")
                else draft_syllabus(lectures))
        except (UnknownName, ValidationError) as exc:
            entries.append(BankEntry(item_id=f"{REVIEW_FILE}#{item_id}", file=REVIEW_FILE, where=where,
                                     code=INVALID_CODE, error=f"{where}: {' '.join(str(exc).split())}"))
            continue
        for c, course in enumerate(syllabus.courses):
            for n, item in enumerate(course.lectures):
                lecture = Lecture(id=lecture_id(found.name, course.course, item.lecture), discipline=found.discipline,
                                  subject=found.name, course=course.course.strip(), lecture=item.lecture.strip(),
                                  objectives=[o.strip() for o in item.objectives if o.strip()],
                                  source_file=REVIEW_FILE, extra={"approved_by": verdict.reviewer})
                entries.append(BankEntry(item_id=lecture.id, file=REVIEW_FILE,
                                         where=f"{where} {course.course} / {item.lecture}", position=(c, n),
                                         lecture=lecture))
    return entries
