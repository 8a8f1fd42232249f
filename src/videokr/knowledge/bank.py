"""Knowledge-bank files (YAML or CSV) into validated `Lecture` records, one entry per lecture.

Experts write the middle layers of §3.1's hierarchy: per Table 6 subject its core courses,
per course a syllabus of lectures with learning objectives, and — where they want — the
knowledge points of a lecture themselves (term + definition; those skip the model step).

YAML (see `docs/corpus.md`)::

    subjects:
    - subject: Physics                 # a Table 6 subject
      discipline: Natural Sciences     # optional; checked against Table 6
      courses:
      - course: Classical Mechanics
        lectures:
        - lecture: Newton's laws
          objectives: [State Newton's three laws, ...]
          knowledge_points: [{term: Inertia, definition: ...}]   # optional
          extra: {reading: ...}                                   # optional, kept as is

CSV: one row per lecture and/or per knowledge point, columns `subject, course, lecture`
(required) and `discipline, objectives, term, definition, extra` (optional). Objectives are
separated by `|` (OBJECTIVE_SEPARATOR); rows of one lecture need not be adjacent; `extra` is
a JSON object.

Reading never stops at the first problem: every lecture becomes a `BankEntry` that is either
a validated `Lecture` or an error naming the file, line and entry path (`bank.yaml:12:
subjects[0].courses[1].lectures[2] (Physics / Classical Mechanics / Newton's laws): ...`), and
a problem above the lecture level (a subject outside Table 6, a file that is not YAML) is one
entry of its own. The `kb` step turns entries into accepted or rejected items.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from videokr.knowledge.subjects import UnknownName, find_discipline, find_subject, normalise, slug
from videokr.records import ExpertKnowledgePoint, Lecture

OBJECTIVE_SEPARATOR = "|"
CSV_COLUMNS = ("discipline", "subject", "course", "lecture", "objectives", "term", "definition", "extra")
REQUIRED_CSV_COLUMNS = ("subject", "course", "lecture")
BANK_FORMATS = {".yaml": "yaml", ".yml": "yaml", ".csv": "csv"}
LECTURE_ID_PREFIX = "kb:"
DRAFT_ID_PREFIX = "kb-draft:"

TOP_KEYS = ("subjects",)
SUBJECT_KEYS = ("subject", "discipline", "courses")
COURSE_KEYS = ("course", "lectures")
LECTURE_KEYS = ("lecture", "objectives", "knowledge_points", "extra")
POINT_KEYS = ("term", "definition")

# Reason codes of rejected entries (the funnel groups by them).
BAD_FILE = "bad_file"
UNKNOWN_SUBJECT = "unknown_subject"
INVALID = "invalid"
DUPLICATE = "duplicate_entry"


class BankEntry(BaseModel):
    """One item of the `kb` step: a lecture read from a file, or what is wrong with an entry."""

    item_id: str
    file: str
    where: str
    position: tuple[int, ...] = ()  # (subject, course, lecture) index in the file, or (line,) in a CSV
    lecture: Lecture | None = None
    error: str | None = None
    code: str | None = None


def lecture_id(subject: str, course: str, lecture: str, *, draft: bool = False) -> str:
    """`kb:physics/classical-mechanics/newton-s-laws`: stable across files, spelling-tolerant; drafts apart."""
    prefix = DRAFT_ID_PREFIX if draft else LECTURE_ID_PREFIX
    return f"{prefix}{slug(subject)}/{slug(course)}/{slug(lecture)}"


def bank_format(path: Path) -> str:
    found = BANK_FORMATS.get(path.suffix.lower())
    if found is None:
        raise ValueError(f"{path}: a knowledge bank is a .yaml, .yml or .csv file, not {path.suffix or 'no suffix'!r}")
    return found


def read_bank(path: Path, *, label: str | None = None) -> list[BankEntry]:
    """Every lecture entry of a bank file (YAML or CSV by suffix), validated; problems are entries too.

    `label` is how the file is named in ids, messages and `Lecture.source_file` (default: the path)."""
    label = label or path.as_posix()
    try:
        kind = bank_format(path)
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        return [_file_problem(label, f"cannot read: {exc}")]
    reader = _YamlReader(label) if kind == "yaml" else _CsvReader(label)
    return dedupe(reader.read(text))


# -- what both readers produce --------------------------------------------------------


class _EntryError(ValueError):
    pass


@dataclass
class _Raw:
    """A lecture as read, before validation: the fields plus what was already found wrong."""

    where: str
    position: tuple[int, ...]
    subject: str
    discipline: str | None
    course: str
    lecture: str
    objectives: list[str] = field(default_factory=list)
    points: list[ExpertKnowledgePoint] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    problem_id: str = ""  # the item id to use when the names themselves are unusable


def _file_problem(label: str, message: str) -> BankEntry:
    return BankEntry(item_id=f"{LECTURE_ID_PREFIX}{label}", file=label, where=label, error=f"{label}: {message}",
                     code=BAD_FILE)


def _finish(label: str, raw: _Raw) -> BankEntry:
    """Validate one lecture against Table 6 and the record type; an entry either way."""
    errors = list(raw.errors)
    code = INVALID
    subject = None
    try:
        subject = find_subject(raw.subject)
    except UnknownName as exc:
        errors.insert(0, str(exc))
        code = UNKNOWN_SUBJECT
    if subject is not None and raw.discipline:
        try:
            given = find_discipline(raw.discipline)
            if given is not subject.discipline:
                errors.append(f"discipline {raw.discipline!r} disagrees with Table 6, which puts "
                              f"{subject.name} under {subject.discipline.value}")
        except UnknownName as exc:
            errors.append(str(exc))
    for what, name in (("course", raw.course), ("lecture", raw.lecture)):
        if name and not slug(name):
            errors.append(f"the {what} name {name!r} has no letters or digits")
    usable_names = subject is not None and slug(raw.course) and slug(raw.lecture)
    item_id = lecture_id(subject.name, raw.course, raw.lecture) if usable_names else raw.problem_id
    if errors:
        return BankEntry(item_id=item_id, file=label, where=raw.where, position=raw.position,
                         error=f"{raw.where}: {'; '.join(errors)}", code=code)
    assert subject is not None
    try:
        record = Lecture(id=item_id, discipline=subject.discipline, subject=subject.name, course=raw.course,
                         lecture=raw.lecture, objectives=raw.objectives, knowledge_points=raw.points,
                         source_file=label, extra=raw.extra)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        return BankEntry(item_id=item_id, file=label, where=raw.where, position=raw.position,
                         error=f"{raw.where}: {problems}", code=INVALID)
    return BankEntry(item_id=item_id, file=label, where=raw.where, position=raw.position, lecture=record)


def dedupe(entries: Iterable[BankEntry]) -> list[BankEntry]:
    """A lecture named twice (in one file, or in two files read together): the first counts, a later one
    is rejected naming the first."""
    first: dict[str, BankEntry] = {}
    out = []
    for entry in entries:
        earlier = first.get(entry.item_id)
        if earlier is None:
            first[entry.item_id] = entry
            out.append(entry)
            continue
        at = "/".join(str(n) for n in entry.position)
        out.append(BankEntry(item_id=f"{LECTURE_ID_PREFIX}{entry.file}#{at}", file=entry.file, where=entry.where,
                             position=entry.position, code=DUPLICATE,
                             error=f"{entry.where}: the same lecture as {earlier.where} (one entry per lecture; "
                                   "merge them)"))
    return out


def _text(value: Any, what: str) -> str:
    if value is None:
        raise _EntryError(f"`{what}` is missing")
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _EntryError(f"`{what}` must be text, got {type(value).__name__}")
    if not isinstance(value, str):
        raise _EntryError(f"`{what}` must be text, got the number {value!r} (quote it)")
    text = value.strip()
    if not text:
        raise _EntryError(f"`{what}` is empty")
    return text


def _unknown_keys(data: dict[str, Any], known: tuple[str, ...], where: str, *, noun: str = "key") -> list[str]:
    import difflib

    problems = []
    for key in data:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f" — did you mean {close[0]!r}?" if close else f" (known: {', '.join(known)})"
            problems.append(f"unknown {noun} {key!r} in {where}{hint}")
    return problems


def _plain(extra: Any) -> dict[str, Any]:
    """`extra` as JSON data (YAML dates become ISO text), so that the record and its file round-trip."""
    if not isinstance(extra, dict):
        raise _EntryError(f"`extra` must be a mapping, got {type(extra).__name__}")
    return json.loads(json.dumps(extra, default=str))


# -- YAML -----------------------------------------------------------------------------


class _Located(dict):  # type: ignore[type-arg]
    """A mapping that remembers the line it started on."""

    line: int = 0


class _LineLoader(yaml.SafeLoader):
    pass


def _construct_located(loader: _LineLoader, node: yaml.MappingNode) -> Any:
    data = _Located()
    data.line = node.start_mark.line + 1
    yield data
    data.update(loader.construct_mapping(node))


_LineLoader.add_constructor("tag:yaml.org,2002:map", _construct_located)


class _YamlReader:
    def __init__(self, label: str) -> None:
        self.label = label

    def read(self, text: str) -> list[BankEntry]:
        try:
            data = yaml.load(text, Loader=_LineLoader)  # noqa: S506 (a SafeLoader that records lines)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
            problem = getattr(exc, "problem", None) or str(exc)
            return [_file_problem(self.label, f"not valid YAML{at}: {problem}")]
        if not isinstance(data, dict) or "subjects" not in data:
            return [_file_problem(self.label, "expected a mapping with a `subjects:` list at the top")]
        problems = _unknown_keys(data, TOP_KEYS, "the top level")
        if problems:
            return [_file_problem(self.label, "; ".join(problems))]
        subjects = data["subjects"]
        if not isinstance(subjects, list):
            return [_file_problem(self.label, "`subjects` must be a list")]
        entries: list[BankEntry] = []
        for i, subject in enumerate(subjects):
            entries.extend(self._subject(i, subject))
        return entries

    def _where(self, node: Any, path: str, names: list[str]) -> str:
        line = getattr(node, "line", 0)
        at = f"{self.label}:{line}" if line else self.label
        return f"{at}: {path}" + (f" ({' / '.join(names)})" if names else "")

    def _problem(self, node: Any, path: str, names: list[str], message: str, code: str = INVALID) -> BankEntry:
        where = self._where(node, path, names)
        return BankEntry(item_id=f"{LECTURE_ID_PREFIX}{self.label}:{path}", file=self.label, where=where,
                         error=f"{where}: {message}", code=code)

    def _subject(self, i: int, node: Any) -> list[BankEntry]:
        path = f"subjects[{i}]"
        if not isinstance(node, dict):
            return [self._problem(node, path, [], "each subject is a mapping with `subject:` and `courses:`")]
        try:
            name = _text(node.get("subject"), "subject")
        except _EntryError as exc:
            return [self._problem(node, path, [], str(exc))]
        problems = _unknown_keys(node, SUBJECT_KEYS, "a subject")
        try:
            find_subject(name)
        except UnknownName as exc:
            return [self._problem(node, path, [name], str(exc), UNKNOWN_SUBJECT)]
        discipline = node.get("discipline")
        if discipline is not None and not isinstance(discipline, str):
            problems.append("`discipline` must be text")
        courses = node.get("courses")
        if not isinstance(courses, list) or not courses:
            problems.append("`courses` must be a non-empty list of courses")
        if problems:
            return [self._problem(node, path, [name], "; ".join(problems))]
        entries = []
        for j, course in enumerate(courses):
            entries.extend(self._course((i, j), f"{path}.courses[{j}]", name, discipline, course))
        return entries

    def _course(self, at: tuple[int, int], path: str, subject: str, discipline: str | None,
                node: Any) -> list[BankEntry]:
        if not isinstance(node, dict):
            return [self._problem(node, path, [subject], "each course is a mapping with `course:` and `lectures:`")]
        try:
            name = _text(node.get("course"), "course")
        except _EntryError as exc:
            return [self._problem(node, path, [subject], str(exc))]
        problems = _unknown_keys(node, COURSE_KEYS, "a course")
        lectures = node.get("lectures")
        if not isinstance(lectures, list) or not lectures:
            problems.append("`lectures` must be a non-empty list (the course's syllabus)")
        if problems:
            return [self._problem(node, path, [subject, name], "; ".join(problems))]
        return [self._lecture((*at, k), f"{path}.lectures[{k}]", subject, discipline, name, lecture)
                for k, lecture in enumerate(lectures)]

    def _lecture(self, at: tuple[int, ...], path: str, subject: str, discipline: str | None, course: str,
                 node: Any) -> BankEntry:
        if not isinstance(node, dict):
            return self._problem(node, path, [subject, course], "each lecture is a mapping with `lecture:`")
        try:
            name = _text(node.get("lecture"), "lecture")
        except _EntryError as exc:
            return self._problem(node, path, [subject, course], str(exc))
        raw = _Raw(self._where(node, path, [subject, course, name]), at, subject, discipline, course, name,
                       problem_id=f"{LECTURE_ID_PREFIX}{self.label}:{path}")
        raw.errors.extend(_unknown_keys(node, LECTURE_KEYS, "a lecture"))
        objectives = node.get("objectives") or []
        if isinstance(objectives, str):
            objectives = [objectives]
        if not isinstance(objectives, list):
            raw.errors.append("`objectives` must be a list of learning objectives")
            objectives = []
        for n, objective in enumerate(objectives):
            try:
                raw.objectives.append(_text(objective, f"objectives[{n}]"))
            except _EntryError as exc:
                raw.errors.append(str(exc))
        points = node.get("knowledge_points") or []
        if not isinstance(points, list):
            raw.errors.append("`knowledge_points` must be a list of {term, definition}")
            points = []
        for n, point in enumerate(points):
            raw.errors.extend(self._point(n, point, raw.points))
        try:
            raw.extra = _plain(node.get("extra") or {})
        except _EntryError as exc:
            raw.errors.append(str(exc))
        return _finish(self.label, raw)

    @staticmethod
    def _point(n: int, node: Any, into: list[ExpertKnowledgePoint]) -> list[str]:
        where = f"knowledge_points[{n}]"
        if not isinstance(node, dict):
            return [f"{where} must be a mapping with `term:` and `definition:`"]
        problems = _unknown_keys(node, POINT_KEYS, where)
        try:
            into.append(ExpertKnowledgePoint(term=_text(node.get("term"), f"{where}.term"),
                                             definition=_text(node.get("definition"), f"{where}.definition")))
        except _EntryError as exc:
            problems.append(str(exc))
        return problems


# -- CSV ------------------------------------------------------------------------------


class _CsvReader:
    def __init__(self, label: str) -> None:
        self.label = label

    def read(self, text: str) -> list[BankEntry]:
        import io

        reader = csv.reader(io.StringIO(text))
        try:
            header = next(reader)
        except StopIteration:
            return [_file_problem(self.label, "empty file (expected a header row: "
                                              f"{', '.join(CSV_COLUMNS)})")]
        except csv.Error as exc:
            return [_file_problem(self.label, f"not valid CSV: {exc}")]
        columns = [c.strip().lower() for c in header]
        problems = _unknown_keys(dict.fromkeys(c for c in columns if c), CSV_COLUMNS, "the header", noun="column")
        missing = [c for c in REQUIRED_CSV_COLUMNS if c not in columns]
        if missing:
            problems.append(f"missing column(s) {', '.join(missing)}")
        if problems:
            return [_file_problem(self.label, "; ".join(problems))]
        groups: dict[tuple[str, str, str], _Raw] = {}
        entries: list[BankEntry] = []
        try:
            for row in reader:
                line = reader.line_num
                if not any(cell.strip() for cell in row):
                    continue
                values = {c: (row[n] if n < len(row) else "") for n, c in enumerate(columns) if c}
                problem = self._row(line, values, groups)
                if problem is not None:
                    entries.append(problem)
        except csv.Error as exc:
            entries.append(_file_problem(self.label, f"line {reader.line_num}: not valid CSV: {exc}"))
        return entries + [_finish(self.label, raw) for raw in groups.values()]

    def _row(self, line: int, row: dict[str, str], groups: dict[tuple[str, str, str], _Raw]) -> BankEntry | None:
        where = f"{self.label}:{line}"
        try:
            subject, course, lecture = (_text(row.get(c, ""), c) for c in REQUIRED_CSV_COLUMNS)
        except _EntryError as exc:
            return BankEntry(item_id=f"{LECTURE_ID_PREFIX}{where}", file=self.label, where=where,
                             error=f"{where}: {exc}", code=INVALID)
        key = (normalise(subject), slug(course), slug(lecture))
        raw = groups.get(key)
        if raw is None:
            raw = _Raw(f"{where}: {subject} / {course} / {lecture}", (line,), subject, None, course, lecture,
                           problem_id=f"{LECTURE_ID_PREFIX}{where}")
            groups[key] = raw
        here = f"line {line}: " if raw.position != (line,) else ""
        discipline = row.get("discipline", "").strip()
        if discipline:
            if raw.discipline and normalise(raw.discipline) != normalise(discipline):
                raw.errors.append(f"{here}discipline {discipline!r} differs from {raw.discipline!r} given before")
            raw.discipline = raw.discipline or discipline
        raw.objectives.extend(o.strip() for o in row.get("objectives", "").split(OBJECTIVE_SEPARATOR) if o.strip())
        term, definition = row.get("term", "").strip(), row.get("definition", "").strip()
        if term and definition:
            raw.points.append(ExpertKnowledgePoint(term=term, definition=definition))
        elif term or definition:
            raw.errors.append(f"{here}a knowledge point needs both `term` and `definition`")
        extra = row.get("extra", "").strip()
        if extra:
            try:
                parsed = _plain(json.loads(extra))
            except (ValueError, _EntryError) as exc:
                raw.errors.append(f"{here}`extra` must be a JSON object ({exc})")
            else:
                if raw.extra and raw.extra != parsed:
                    raw.errors.append(f"{here}`extra` differs from the one given before")
                raw.extra = parsed
        return None
