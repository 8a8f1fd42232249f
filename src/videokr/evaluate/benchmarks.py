"""Readers for the seven benchmarks of §5.2, from their published file layouts.

Each reader turns one published record into an :class:`~videokr.records.EvalItem` (options
as texts, the answer as a letter for multiple choice, the video path resolved under the
benchmark's video root). A record that cannot be read is reported with its file and line,
and the others are kept.

=================  ==========================================  ====================================
benchmark          published fields read                       video file
=================  ==========================================  ====================================
Video-MME          videoID, question_id, question, options      ``{root}/{videoID}.mp4`` (or data/)
                   ("A. …"), answer (letter), duration,
                   domain, sub_category, task_type
MVBench            per-task JSON: video, question, candidates,  ``{root}/{task folder}/{video}``
                   answer (the candidate's text); the task is
                   the file name
LongVideoBench     id, video_id, video_path, question,          ``{root}/{video_path}``
                   candidates, correct_choice (index),
                   question_category, duration_group
VideoMMMU          id, question, options, answer, question_type ``{root}/{id}.mp4`` (or
                   (multiple-choice | open), image; the track    ``{root}/{track}/{id}.mp4``)
                   (Perception/Comprehension/Adaptation) is the
                   file name or a ``track`` field
MMVU               id, question, choices ({letter: text}),      ``{root}/{basename of video}``
                   answer, question_type, video, metadata
                   (subject, textbook)
SciVideoBench      video_id, question, options (dict or list),  ``{root}/jove_{video_id}.mp4``
                   answer (letter), question_type, category,
                   discipline, video_duration
VideoKR-Eval       id, question, option/options, problem_type,  ``{root}/{video_path}``
                   solution/answer, video_path, dataset,
                   subject
=================  ==========================================  ====================================
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from pydantic import ValidationError

from videokr.evaluate.prompts import (
    GENERAL_BENCHMARKS,
    LONGVIDEOBENCH,
    MMVU,
    MVBENCH,
    SCIVIDEOBENCH,
    VIDEO_MME,
    VIDEOKR_EVAL,
    VIDEOMMMU,
)
from videokr.jsonlines import json_objects
from videokr.records import OPTION_LETTERS, EvalItem, ProblemType
from videokr.scoring.extract import option_texts

DISPLAY_NAMES = {
    VIDEO_MME: "Video-MME",
    MVBENCH: "MVBench",
    LONGVIDEOBENCH: "LongVideoBench",
    VIDEOMMMU: "VideoMMMU",
    MMVU: "MMVU",
    SCIVIDEOBENCH: "SciVideoBench",
    VIDEOKR_EVAL: "VideoKR-Eval",
}

# MVBench's task → video folder, as published.
MVBENCH_FOLDERS = {
    "object_interaction": "star/Charades_segment",
    "action_sequence": "star/Charades_segment",
    "action_prediction": "star/Charades_segment",
    "action_localization": "sta/sta_video_segment",
    "moving_count": "clevrer/video_validation",
    "fine_grained_pose": "nturgbd_convert",
    "character_order": "perception/videos",
    "object_shuffle": "perception/videos",
    "egocentric_navigation": "vlnqa",
    "moving_direction": "clevrer/video_validation",
    "episodic_reasoning": "tvqa/video_fps3_hq_segment",
    "fine_grained_action": "Moments_in_Time_Raw/videos",
    "scene_transition": "scene_qa/video",
    "state_change": "perception/videos",
    "moving_attribute": "clevrer/video_validation",
    "action_antonym": "ssv2_video_mp4",
    "unexpected_action": "FunQA_test/test",
    "counterfactual_inference": "clevrer/video_validation",
    "object_existence": "clevrer/video_validation",
    "action_count": "perception/videos",
}


class RecordError(ValueError):
    pass


@dataclass
class BenchmarkRead:
    benchmark: str
    items: list[EvalItem] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)


def category(benchmark: str) -> str:
    return "general" if benchmark in GENERAL_BENCHMARKS else "knowledge"


# --- file reading ----------------------------------------------------------------------------


def _records(path: Path) -> Iterator[tuple[str, dict[str, Any] | RecordError]]:
    """(where, record) for JSON arrays, JSONL and parquet files; a directory is read file by file."""
    if path.is_dir():
        for child in sorted(path.iterdir()):
            if child.suffix.lower() in (".json", ".jsonl", ".parquet"):
                yield from _records(child)
        return
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        for i, row in enumerate(pq.read_table(path).to_pylist(), start=1):
            yield f"{path.name}:{i}", row
        return
    for i, row, problem in json_objects(path, arrays=True):
        yield f"{path.name}:{i}", row if row is not None else RecordError(str(problem))


def _need(row: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        value = row.get(key)
        if value is not None and not (isinstance(value, str) and not value.strip()):
            return value
    raise RecordError(f"missing {' / '.join(repr(k) for k in keys)}")


def _video(root: Path | None, *candidates: str) -> str:
    """The first candidate that exists under root; else the first, resolved (checked when run)."""
    paths = [(root / c) if root is not None and not Path(c).is_absolute() else Path(c) for c in candidates]
    for p in paths:
        if p.exists():
            return str(p)
    return str(paths[0])


def _letter_answer(answer: Any, options: list[str]) -> str:
    text = str(answer).strip()
    n = len(options)
    if len(text) == 1 and text.upper() in OPTION_LETTERS[:n]:
        return text.upper()
    if len(text) >= 2 and text[0].upper() in OPTION_LETTERS[:n] and text[1] in ".):":
        return text[0].upper()
    for i, option in enumerate(options):
        if option.strip().lower() == text.lower():
            return OPTION_LETTERS[i]
    raise RecordError(f"answer {text!r} is neither an offered letter nor an option's text")


def _make(**fields: Any) -> EvalItem:
    try:
        return EvalItem(**fields)
    except ValidationError as exc:
        raise RecordError("; ".join(e["msg"] for e in exc.errors())) from None


# --- one function per layout ---------------------------------------------------------------


def _videomme(row: dict[str, Any], where: str, root: Path | None) -> EvalItem:
    video = str(_need(row, "videoID", "video_id"))
    options = option_texts(_need(row, "options"))
    return _make(
        id=str(_need(row, "question_id", "id")), problem_type=ProblemType.MULTIPLE_CHOICE,
        question=str(_need(row, "question")), options=options, answer=_letter_answer(_need(row, "answer"), options),
        video_id=video, video_path=_video(root, f"{video}.mp4", f"data/{video}.mp4", f"{video}.MP4", f"{video}.mkv"),
        dataset=DISPLAY_NAMES[VIDEO_MME], subject=row.get("domain"), question_type=row.get("task_type"),
        extra={k: row[k] for k in ("duration", "sub_category") if k in row},
    )


def _mvbench(row: dict[str, Any], where: str, root: Path | None) -> EvalItem:
    task = str(row.get("task") or where.split(":")[0].rsplit(".", 1)[0])
    video = str(_need(row, "video"))
    options = [str(c) for c in _need(row, "candidates")]
    folder = MVBENCH_FOLDERS.get(task, task)
    return _make(
        id=f"{task}/{row.get('id', where.split(':')[-1])}", problem_type=ProblemType.MULTIPLE_CHOICE,
        question=str(_need(row, "question")), options=options, answer=_letter_answer(_need(row, "answer"), options),
        video_id=video, video_path=_video(root, f"{folder}/{video}", video),
        dataset=DISPLAY_NAMES[MVBENCH], question_type=task,
    )


def _longvideobench(row: dict[str, Any], where: str, root: Path | None) -> EvalItem:
    options = [str(c) for c in _need(row, "candidates")]
    choice = row.get("correct_choice")
    if not isinstance(choice, int) or not 0 <= choice < len(options):
        raise RecordError(f"correct_choice {choice!r} is not an index into {len(options)} candidates")
    video = str(_need(row, "video_path", "video_id"))
    return _make(
        id=str(_need(row, "id")), problem_type=ProblemType.MULTIPLE_CHOICE, question=str(_need(row, "question")),
        options=options, answer=OPTION_LETTERS[choice], video_id=str(row.get("video_id") or video),
        video_path=_video(root, video, f"videos/{video}"), dataset=DISPLAY_NAMES[LONGVIDEOBENCH],
        question_type=row.get("question_category"), extra={k: row[k] for k in ("duration_group",) if k in row},
    )


def _videommmu(row: dict[str, Any], where: str, root: Path | None) -> EvalItem:
    track = str(row.get("track") or row.get("subset") or where.split(":")[0].rsplit(".", 1)[0]).capitalize()
    item_id = str(_need(row, "id"))
    raw_type = str(row.get("question_type", "multiple-choice")).lower()
    options = option_texts(row.get("options") or [])
    open_ended = raw_type.startswith("open") or not options
    answer = str(_need(row, "answer"))
    return _make(
        id=item_id, problem_type=ProblemType.OPEN_ENDED if open_ended else ProblemType.MULTIPLE_CHOICE,
        question=str(_need(row, "question")), options=[] if open_ended else options,
        answer=answer if open_ended else _letter_answer(answer, options), video_id=item_id,
        video_path=_video(root, f"{item_id}.mp4", f"{track}/{item_id}.mp4"), dataset=DISPLAY_NAMES[VIDEOMMMU],
        question_type=track, subject=row.get("subject"),
    )


def _mmvu(row: dict[str, Any], where: str, root: Path | None) -> EvalItem:
    choices = row.get("choices") or {}
    options = option_texts(choices) if isinstance(choices, dict) else [str(c) for c in choices]
    raw_type = str(row.get("question_type", "multiple-choice" if options else "open-ended")).lower()
    open_ended = raw_type.startswith("open") or not options
    video = str(_need(row, "video", "video_path"))
    meta = row.get("metadata") or {}
    answer = str(_need(row, "answer"))
    return _make(
        id=str(_need(row, "id")), problem_type=ProblemType.OPEN_ENDED if open_ended else ProblemType.MULTIPLE_CHOICE,
        question=str(_need(row, "question")), options=[] if open_ended else options,
        answer=answer if open_ended else _letter_answer(answer, options), video_id=video.rsplit("/", 1)[-1],
        video_path=_video(root, video.rsplit("/", 1)[-1], f"videos/{video.rsplit('/', 1)[-1]}", video),
        dataset=DISPLAY_NAMES[MMVU], subject=meta.get("subject") or row.get("subject"), question_type=raw_type,
    )


def _scivideobench(row: dict[str, Any], where: str, root: Path | None) -> EvalItem:
    video = str(_need(row, "video_id"))
    options = option_texts(_need(row, "options"))
    return _make(
        id=str(row.get("question_id") or row.get("id") or f"{video}-{where.split(':')[-1]}"),
        problem_type=ProblemType.MULTIPLE_CHOICE, question=str(_need(row, "question")), options=options,
        answer=_letter_answer(_need(row, "answer", "ground_truth"), options), video_id=video,
        video_path=_video(root, f"jove_{video}.mp4", f"jove_{video}.MP4", f"jove_{video}.mkv", f"{video}.mp4"),
        dataset=DISPLAY_NAMES[SCIVIDEOBENCH], subject=row.get("discipline") or row.get("category"),
        question_type=row.get("question_type"), extra={k: row[k] for k in ("video_duration",) if k in row},
    )


def _videokr_eval(row: dict[str, Any], where: str, root: Path | None) -> EvalItem:
    from videokr.formats.official import LineError, parse_line

    try:
        record = parse_line(row, "eval", source=where.split(":")[0], line_no=int(where.split(":")[-1]))
    except LineError as exc:
        raise RecordError(str(exc)) from None
    item = record.record
    assert isinstance(item, EvalItem)
    item.video_path = _video(root, item.video_path)
    return item


READERS: dict[str, Callable[[dict[str, Any], str, Path | None], EvalItem]] = {
    VIDEO_MME: _videomme,
    MVBENCH: _mvbench,
    LONGVIDEOBENCH: _longvideobench,
    VIDEOMMMU: _videommmu,
    MMVU: _mmvu,
    SCIVIDEOBENCH: _scivideobench,
    VIDEOKR_EVAL: _videokr_eval,
}


ALIASES = {
    "videomme": VIDEO_MME, "video-mme": VIDEO_MME, "mvbench": MVBENCH, "longvideobench": LONGVIDEOBENCH,
    "lvb": LONGVIDEOBENCH, "videommmu": VIDEOMMMU, "video-mmmu": VIDEOMMMU, "mmvu": MMVU,
    "scivideobench": SCIVIDEOBENCH, "videokr_eval": VIDEOKR_EVAL, "videokr-eval": VIDEOKR_EVAL, "videokreval": VIDEOKR_EVAL,
}


def canonical_name(name: str) -> str:
    key = name.strip().lower()
    if key not in ALIASES:
        raise ValueError(f"unknown benchmark {name!r}; choose one of {', '.join(READERS)}")
    return ALIASES[key]


def read_benchmark(benchmark: str, path: Path, video_root: Path | None = None, limit: int | None = None) -> BenchmarkRead:
    """All items of one benchmark; video paths resolve under ``video_root`` (default: the file's folder)."""
    benchmark = canonical_name(benchmark)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or directory")
    root = video_root if video_root is not None else (path if path.is_dir() else path.parent)
    out = BenchmarkRead(benchmark)
    seen: set[str] = set()
    for where, row in _records(path):
        if limit is not None and len(out.items) >= limit:
            break
        if isinstance(row, RecordError):
            out.rejected.append(f"{where}: {row}")
            continue
        try:
            item = READERS[benchmark](row, where, root)
        except RecordError as exc:
            out.rejected.append(f"{where}: {exc}")
            continue
        if item.id in seen:
            out.rejected.append(f"{where}: duplicate id {item.id!r}")
            continue
        seen.add(item.id)
        out.items.append(item)
    return out
