"""Coverage against §3.1's targets: per discipline, subject and course; approved, drafted and knowledge points apart."""

from videokr.demo import sample_dir
from videokr.knowledge.bank import lecture_id, read_bank
from videokr.knowledge.coverage import coverage, coverage_dict
from videokr.records import Discipline, KnowledgePoint, Lecture

SAMPLE = sample_dir() / "knowledge-bank.yaml"


def lecture(subject: str, course: str, name: str, discipline: Discipline, draft: bool = False) -> Lecture:
    return Lecture(id=lecture_id(subject, course, name, draft=draft), discipline=discipline, subject=subject,
                   course=course, lecture=name, draft=draft)


def test_counts_targets_and_drafts() -> None:
    approved = [e.lecture for e in read_bank(SAMPLE) if e.lecture]
    eng = Discipline.ENGINEERING
    approved += [lecture("Computer Science", f"Course {n}", "Intro", eng) for n in range(5)]  # 5 courses: met
    approved += [lecture("AI Engineering", f"Course {n}", "Intro", eng) for n in range(9)]  # 9 courses: above
    drafts = [lecture("Physics", "Quantum Mechanics", f"Lecture {n}", Discipline.NATURAL_SCIENCES, True)
              for n in range(3)]
    drafts += [lecture("Physics", "electromagnetism", "Maxwell's equations", Discipline.NATURAL_SCIENCES, True)]
    points = [KnowledgePoint(id=f"kp{n}", discipline=Discipline.NATURAL_SCIENCES, subject="Physics",
                             course="Classical Mechanics", lecture="Newton's laws of motion", term=f"t{n}",
                             definition="d") for n in range(4)]
    result = coverage(approved, drafts, points)
    summary = coverage_dict(result)
    assert (summary["subjects"], summary["covered"], summary["on_target"]) == (82, 5, 1)
    assert (summary["lectures"], summary["knowledge_points"], summary["draft_lectures"]) == (26, 4, 4)
    by_name = {s.subject: s for d in result for s in d.subjects}
    assert {name: by_name[name].target for name in ("Physics", "Computer Science", "AI Engineering", "Biology")} == \
        {"Physics": "below", "Computer Science": "met", "AI Engineering": "above", "Biology": "uncovered"}
    physics = by_name["Physics"]
    assert [c.course for c in physics.courses] == ["Classical Mechanics", "Electromagnetism", "Quantum Mechanics"]
    mechanics, electro, quantum = physics.courses
    assert (mechanics.lectures, mechanics.expert_points, mechanics.knowledge_points) == (2, 2, 4)
    assert (electro.lectures, electro.draft_lectures, electro.draft_only) == (2, 1, False)  # a draft lecture for an approved course
    assert (quantum.lectures, quantum.draft_lectures, quantum.draft_only) == (0, 3, True)
    assert (physics.approved_courses, physics.draft_courses) == (2, 1)
    assert [d["covered"] for d in summary["disciplines"]] == [2, 3, 0, 0]
