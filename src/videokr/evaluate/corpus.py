"""A random sample of a training corpus as an evaluation set (the Table 5 difficulty analysis)."""

from __future__ import annotations

import random
from pathlib import Path

from videokr.evaluate.report import CORPUS_PREFIX
from videokr.formats.official import LineError, parse_line, read_source, resolve_video
from videokr.records import EvalItem

DIFFICULTY_SAMPLE = 3000  # Table 5: 3,000 randomly sampled examples per corpus
DIFFICULTY_FRAMES = 128  # Table 5: the 128-frame setting


def read_corpus_sample(
    path: Path, n: int = DIFFICULTY_SAMPLE, seed: int = 0, video_root: Path | None = None
) -> tuple[str, list[EvalItem], list[str]]:
    """(benchmark name, up to ``n`` items drawn at random, rejected lines) from an official training file."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    lines = list(read_source(path))
    rng = random.Random(seed)
    order = list(range(len(lines)))
    rng.shuffle(order)
    items: list[EvalItem] = []
    rejected: list[str] = []
    root = video_root or path.parent
    for index in order:
        if len(items) >= n:
            break
        line = lines[index]
        if line.data is None:
            rejected.append(f"{line.where}: {line.error}")
            continue
        try:
            parsed = parse_line(line.data, "rl", source=line.source, line_no=line.line_no)
        except LineError as exc:
            rejected.append(f"{line.where}: {exc}")
            continue
        r = parsed.record
        items.append(EvalItem(
            id=r.id, problem_type=r.problem_type, question=r.question, options=r.options, answer=r.answer,
            video_id=r.video_id, video_path=str(resolve_video(r.video_path, root)), subject=r.subject,
            dataset=path.name,
        ))
    return CORPUS_PREFIX + path.name, items, rejected
