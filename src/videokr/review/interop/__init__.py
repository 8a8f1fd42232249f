"""Doing a review queue in Label Studio or Argilla, with a lossless round trip to the app's verdicts.

`export_queue` writes a queue's items (and their current verdicts, pre-filled) in a tool's
format; `read_answers` reads what the tool exported after annotation, and `verdicts_from` turns
those answers into `ReviewVerdict`s, which the caller checks and saves as the app does
(checks.py: the app's form rules, then `save_verdict`). The per-queue controls (controls.py) are
the one place that says what a reviewer answers, so a verdict exported and answered the same in
either tool imports as the same verdict.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from videokr.review.interop import argilla, labelstudio
from videokr.review.interop.content import Media
from videokr.review.interop.importing import Imported, Problem, ToolAnswer, verdicts_from
from videokr.review.schema import QueueName, ReviewItem, ReviewVerdict

Format = Literal["label-studio", "argilla"]
FORMATS: tuple[Format, ...] = ("label-studio", "argilla")
TOOLS: dict[Format, str] = {"label-studio": labelstudio.TOOL, "argilla": argilla.TOOL}

__all__ = [
    "FORMATS",
    "TOOLS",
    "Format",
    "Media",
    "Imported",
    "Problem",
    "ToolAnswer",
    "detect_format",
    "export_queue",
    "read_answers",
    "verdicts_from",
]


def export_queue(
    format: Format,
    out: Path,
    queue: QueueName,
    items: list[ReviewItem],
    verdicts: Mapping[str, ReviewVerdict],
    *,
    media: Media,
) -> list[Path]:
    """Write `queue` for the tool into `out`; `verdicts` (item id → current verdict) come pre-filled."""
    writer = labelstudio.write_project if format == "label-studio" else argilla.write_dataset
    return writer(out, queue, items, verdicts, media=media)


def detect_format(path: Path) -> Format:
    """Which tool exported `path`: an Argilla dataset directory, or a Label Studio JSON/JSON_MIN file."""
    if argilla.is_dataset(path):
        return "argilla"
    if labelstudio.is_export(path):
        return "label-studio"
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or directory")
    raise ValueError(
        f"{path}: neither a Label Studio export (a .json file) nor an Argilla dataset directory "
        f"({argilla.RECORDS_FILE}, {argilla.CONFIG_DIR}/); pass --format"
    )


def read_answers(path: Path, format: Format | None = None) -> tuple[Format, list[ToolAnswer], int]:
    """(format, answers, skipped) of a tool's export; `skipped`: cancelled or unanswered tasks/records."""
    format = format or detect_format(path)
    if format == "argilla":
        answers, skipped = argilla.read_answers(path)
    else:
        if not path.is_file():
            raise FileNotFoundError(f"{path}: not a file (Label Studio exports one JSON file)")
        answers, skipped = labelstudio.read_answers(path)
    return format, answers, skipped
