"""Reading the official VideoKR files: every field variant their converters accept.

The official SFT (`VideoKR-COT-201K.jsonl`), RL (`VideoKR-RL-114K.jsonl`) and evaluation
(`VideoKR_eval.jsonl`) files do not agree on field names or spellings; this module maps
every variant onto one `Example` / `EvalItem`, and says, for a line it cannot map, what is
wrong with it. Parsing is pure; `videokr.formats.importer` adds the store.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from pydantic import ValidationError

from videokr.jsonlines import json_lines
from videokr.records import (
    OPTION_LETTERS,
    Discipline,
    EvalItem,
    Example,
    ProblemType,
    Provenance,
    Skill,
    Video,
    content_id,
)

Kind = Literal["sft", "rl", "eval"]

ID_KEYS = ("problem_id", "id", "question_id", "qid")
TYPE_KEYS = ("problem_type", "question_type_raw", "type")
OPTION_KEYS = ("options", "option", "choices", "candidates")
ANSWER_KEYS = ("solution", "answer", "correct_answer", "ground_truth", "gt")
COT_KEYS = ("think", "cot", "reasoning", "rationale")
QUESTION_KEYS = ("question", "prompt", "problem")
VIDEO_KEYS = ("video_path", "path", "file_name", "video", "video_file")

_MC_SPELLINGS = {
    "multiple choice", "multiple choices", "multiple choice question", "multi choice", "mcq", "mc",
    "multiplechoice", "single choice", "choice",
}
_OE_SPELLINGS = {
    "open ended", "open", "openended", "open ended question", "free form", "freeform", "free",
    "numerical", "numeric", "oe", "short answer", "open answer", "regression",
}
_DISCIPLINES = {d.value.lower(): d for d in Discipline} | {
    "natural science": Discipline.NATURAL_SCIENCES,
    "science": Discipline.NATURAL_SCIENCES,
    "humanities and social sciences": Discipline.HUMANITIES,
    "humanities & social science": Discipline.HUMANITIES,
    "humanities": Discipline.HUMANITIES,
    "social sciences": Discipline.HUMANITIES,
    "health": Discipline.HEALTHCARE,
    "medicine": Discipline.HEALTHCARE,
    "engineering": Discipline.ENGINEERING,
}
SKILL_NAMES = {s.value.lower(): s for s in Skill} | {
    "basic video reasoning": Skill.VIDR,
    "knowledge-enhanced video perception": Skill.KNOWVID,
    "knowledge-intensive video reasoning": Skill.KNOWVIDR,
}
_ANSWER_TAG = re.compile(r"<answer>\s*(.*?)\s*</answer>", re.IGNORECASE | re.DOTALL)
_THINK_TAG = re.compile(r"^\s*<think>\s*(.*?)\s*</think>\s*$", re.IGNORECASE | re.DOTALL)
_OPTION_PREFIX = re.compile(r"^\s*\(?([A-Ja-j])\s*[\.\):：]\s*(.*)$", re.DOTALL)
_LETTER_ANSWER = re.compile(r"^\s*\(?([A-J])\)?\s*(?:[\.\):：]\s*(.*))?$", re.DOTALL)
_VIDEO_TAG = re.compile(r"^\s*<video>\s*", re.IGNORECASE)

# Fields consumed into the record; anything else on a line is kept in `extra`.
CONSUMED_KEYS = set(
    ID_KEYS + TYPE_KEYS + OPTION_KEYS + ANSWER_KEYS + COT_KEYS + QUESTION_KEYS + VIDEO_KEYS
) | {
    "videos", "subject", "discipline", "skill", "knowledge_point", "knowledge_point_id", "dataset",
    "question_type", "youtube_id", "split", "provenance", "video_id", "source", "licence", "license",
}


class LineError(ValueError):
    """A line that cannot become a record; the message says what to fix."""


@dataclass(frozen=True)
class SourceLine:
    source: str  # file name, for messages and ledger ids
    line_no: int  # 1-based; for a JSON array, the element index + 1
    text: str
    data: dict[str, Any] | None
    error: str | None = None

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line_no}"


def read_source(path: Path) -> Iterator[SourceLine]:
    """Lines of a JSONL file, or elements of a JSON array file, each parsed or with its error.

    The reading (encodings, byte-order marks, bad bytes) is `videokr.jsonlines`'; a line that is
    not text is a bad line like any other, and the lines after it are still read."""
    name = path.name
    for line in json_lines(path, arrays=True):
        yield SourceLine(name, line.number, line.text, line.value, line.problem)


def first(data: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        value = data.get(key)
        if value is not None and not (isinstance(value, str) and not value.strip()):
            return value
    return None


def normalize_problem_type(raw: Any, has_options: bool) -> ProblemType:
    if raw is None:
        return ProblemType.MULTIPLE_CHOICE if has_options else ProblemType.OPEN_ENDED
    text = re.sub(r"[\s_\-]+", " ", str(raw).strip().lower())
    if text in _MC_SPELLINGS or text.replace(" ", "") in _MC_SPELLINGS:
        return ProblemType.MULTIPLE_CHOICE
    if text in _OE_SPELLINGS or text.replace(" ", "") in _OE_SPELLINGS:
        return ProblemType.OPEN_ENDED
    raise LineError(f"unknown problem_type {raw!r}; expected 'multiple choice' or 'open-ended' (or a variant)")


def normalize_options(raw: Any) -> list[str]:
    """Option texts without letters, from a list ("A. x"), a dict ({"A": "x"}) or lines."""
    if raw is None:
        return []
    if isinstance(raw, dict):
        items = sorted((str(k).strip().upper(), v) for k, v in raw.items())
        letters = [k for k, _ in items]
        if letters != list(OPTION_LETTERS[: len(letters)]):
            raise LineError(f"option keys must be A, B, C, … in order; got {', '.join(letters)}")
        return [_clean_option(str(v)) for _, v in items]
    if isinstance(raw, str):
        raw = [line for line in raw.splitlines() if line.strip()]
    if not isinstance(raw, list):
        raise LineError(f"options must be a list, a dict or lines of text, got {type(raw).__name__}")
    texts = [str(o).strip() for o in raw if str(o).strip()]
    matches = [_OPTION_PREFIX.match(t) for t in texts]
    lettered = [m.group(1).upper() if m else None for m in matches]
    if texts and all(lettered) and lettered == list(OPTION_LETTERS[: len(texts)]):
        return [_clean_option(m.group(2)) for m in matches if m]
    if any(lettered) and lettered == list(OPTION_LETTERS[: len(texts)]):
        return [_clean_option(m.group(2)) for m in matches if m]
    return [_clean_option(t) for t in texts]


def _clean_option(text: str) -> str:
    return text.strip()


def strip_answer_tags(raw: Any) -> str:
    text = str(raw).strip()
    match = _ANSWER_TAG.search(text)
    return match.group(1).strip() if match else text


def strip_think_tags(raw: Any) -> str:
    text = str(raw).strip()
    match = _THINK_TAG.match(text)
    return match.group(1).strip() if match else text


def normalize_mc_answer(answer: str, options: list[str]) -> str:
    """The letter of the answer, whether given as 'B', '(B)', 'B. text' or the option's text."""
    match = _LETTER_ANSWER.match(answer)
    if match:
        letter = match.group(1)
        if letter in OPTION_LETTERS[: len(options)]:
            return letter
    folded = answer.strip().casefold()
    for index, text in enumerate(options):
        if text.casefold() == folded:
            return OPTION_LETTERS[index]
    offered = ", ".join(OPTION_LETTERS[: len(options)])
    raise LineError(f"answer {answer!r} is neither one of the letters {offered} nor the text of an option")


def video_paths(data: dict[str, Any]) -> list[str]:
    raw = data.get("videos")
    paths: list[str] = []
    if isinstance(raw, list):
        for entry in raw:
            value = entry.get("video") or entry.get("path") if isinstance(entry, dict) else entry
            if value:
                paths.append(str(value))
    elif isinstance(raw, str) and raw.strip():
        paths.append(raw)
    if not paths:
        value = first(data, VIDEO_KEYS)
        if value is not None:
            paths.append(str(value))
    return paths


def normalize_video_path(path: str) -> str:
    """The path as a stable relative POSIX string: './a/b.mp4' and 'a//b.mp4' are one video."""
    text = path.strip().replace("\\", "/")
    if "://" in text:
        return text
    absolute = text.startswith("/")
    parts = [p for p in text.split("/") if p and p != "."]
    return ("/" if absolute else "") + "/".join(parts)


def resolve_video(path: str, video_root: Path | None) -> Path:
    """Where a stored video path lies on disk: as the official RL converter looks, also under Videos/."""
    candidate = Path(path)
    if candidate.is_absolute() or video_root is None:
        return candidate
    options = [video_root / path]
    if path.startswith("Videos/"):
        options.append(video_root / path[len("Videos/") :])
    else:
        options.append(video_root / "Videos" / path)
    return next((p for p in options if p.exists()), options[0])


def read_enum(raw: Any, table: dict[str, Any], what: str) -> Any:
    if raw is None:
        return None
    key = str(raw).strip().lower()
    if key not in table:
        raise LineError(f"unknown {what} {raw!r}; expected one of {', '.join(sorted({v.value for v in table.values()}))}")
    return table[key]


def example_id(data: dict[str, Any]) -> str:
    """The id a line will be stored under: its own, or one derived from its content."""
    raw = first(data, ID_KEYS)
    if raw is not None:
        return str(raw).strip()
    paths = video_paths(data)
    return content_id(
        str(first(data, QUESTION_KEYS) or ""),
        paths[0] if paths else "",
        str(first(data, ANSWER_KEYS) or ""),
        prefix="vkr-",
    )


@dataclass(frozen=True)
class Parsed:
    record: Example | EvalItem
    video: Video


def question_fields(data: dict[str, Any], raw_type: Any, *, noun: str = "line"
                    ) -> tuple[str, list[str], ProblemType, str]:
    """(question, options, problem type, answer) of an official-format line, as `import` reads them.

    ``raw_type`` is the line's problem-type field (which keys count differs by file kind); ``noun``
    names the thing in messages ("a multiple-choice line has no options"). Raises LineError."""
    question = first(data, QUESTION_KEYS)
    if question is None:
        raise LineError("no question (looked for 'question', 'prompt', 'problem')")
    question = _VIDEO_TAG.sub("", str(question)).strip()

    options = normalize_options(first(data, OPTION_KEYS))
    problem_type = normalize_problem_type(raw_type, bool(options))

    raw_answer = first(data, ANSWER_KEYS)
    if raw_answer is None:
        raise LineError("no answer (looked for 'solution', 'answer', 'correct_answer', 'ground_truth')")
    answer = strip_answer_tags(raw_answer)
    if not answer:
        raise LineError("the answer is empty")
    if problem_type is ProblemType.MULTIPLE_CHOICE:
        if not options:
            raise LineError(f"a multiple-choice {noun} has no options")
        answer = normalize_mc_answer(answer, options)
    return question, options, problem_type, answer


def parse_line(data: dict[str, Any], kind: Kind, *, source: str | None = None, line_no: int | None = None) -> Parsed:
    """One official line → one record and its video. Raises LineError with what to fix."""
    raw_type = first(data, ("problem_type", "type")) or (
        data.get("question_type") if kind != "eval" else None
    )
    question, options, problem_type, answer = question_fields(data, raw_type)

    paths = video_paths(data)
    if not paths:
        raise LineError("no video (looked for 'video_path', 'path', 'file_name', 'videos', 'video')")
    if len(paths) > 1:
        raise LineError(f"an example carries one video; this line names {len(paths)}")
    path = normalize_video_path(paths[0])
    video_id = str(data.get("video_id") or path)

    cot = first(data, COT_KEYS)
    cot = strip_think_tags(cot) if cot is not None else None
    if kind == "sft" and not cot:
        raise LineError("an SFT line needs a chain of thought ('think'); without one it cannot be trained on")

    provenance = data.get("provenance")
    provenance = Provenance.model_validate(provenance) if provenance else Provenance()
    if provenance.source_file is None:
        provenance = provenance.model_copy(update={"source_file": source, "source_line": line_no})
    extra = {k: v for k, v in data.items() if k not in CONSUMED_KEYS}
    youtube_id = data.get("youtube_id")
    common = dict(
        id=example_id(data),
        problem_type=problem_type,
        question=question,
        options=options if problem_type is ProblemType.MULTIPLE_CHOICE else [],
        answer=answer,
        video_id=video_id,
        video_path=path,
        subject=data.get("subject"),
        discipline=read_enum(data.get("discipline"), _DISCIPLINES, "discipline"),
        provenance=provenance,
        extra=extra,
    )
    try:
        if kind == "eval":
            record: Example | EvalItem = EvalItem(
                **common,
                dataset=data.get("dataset"),
                question_type=data.get("question_type"),
                youtube_id=youtube_id,
            )
        else:
            split = data.get("split") or kind
            record = Example(
                **common,
                skill=read_enum(data.get("skill"), SKILL_NAMES, "skill"),
                cot=cot or None,
                knowledge_point=data.get("knowledge_point"),
                knowledge_point_id=data.get("knowledge_point_id"),
                split=split,
                youtube_id=youtube_id,
            )
        video = Video(
            id=video_id,
            path=path,
            source="youtube" if youtube_id else "local",
            youtube_id=youtube_id,
            licence=data.get("licence") or data.get("license"),
        )
    except ValidationError as exc:
        raise LineError(describe_validation_error(exc)) from None
    return Parsed(record, video)


def describe_validation_error(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)
