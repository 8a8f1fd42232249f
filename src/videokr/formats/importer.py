"""`videokr import`: official files into the store, as a resumable, idempotent step.

Each line is one ledger item: a good line is accepted under its example id, a bad one is
rejected under `file:line` with the reason, and nothing stops the good lines. Importing the
same file twice skips every line (same fingerprint); a changed line is re-read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from videokr.formats.official import Kind, LineError, SourceLine, example_id, parse_line, read_source, resolve_video
from videokr.records import Outcome
from videokr.pipeline.step import Result, Step, StepReport, run_step
from videokr.store import Store, digest_of


@dataclass(frozen=True)
class ImportItem:
    line: SourceLine
    item_id: str
    duplicate_of: int | None = None


class ImportStep(Step[ImportItem]):
    version = "1"

    def __init__(self, kind: Kind, video_root: Path | None, require_video: bool) -> None:
        self.kind = kind
        self.video_root = video_root
        self.require_video = require_video
        self.name = f"import.{kind}"  # type: ignore[misc]  # one ledger per kind

    def item_id(self, item: ImportItem) -> str:
        return item.item_id

    def item_fingerprint(self, item: ImportItem) -> str:
        root = str(self.video_root) if self.require_video else ""
        return digest_of(f"{item.line.text}\x1f{item.duplicate_of}\x1f{root}")

    def process(self, item: ImportItem) -> Result:
        line = item.line
        if line.error is not None:
            return Result.reject(f"{line.where}: {line.error}")
        if item.duplicate_of is not None:
            return Result.reject(
                f"{line.where}: id {item.item_id.split('#')[0]!r} repeats line {item.duplicate_of}"
            )
        assert line.data is not None
        try:
            parsed = parse_line(line.data, self.kind, source=line.source, line_no=line.line_no)
        except LineError as exc:
            return Result.reject(f"{line.where}: {exc}")
        if self.require_video:
            path = resolve_video(parsed.video.path, self.video_root)
            if not path.is_file():
                return Result.reject(f"{line.where}: video {parsed.video.path!r} not found under {self.video_root}")
        return Result.accept(parsed.video, parsed.record, detail={"line": line.line_no})


def import_items(path: Path) -> Iterator[ImportItem]:
    """Lines with the id they are tracked under; repeats of an id are tracked by position."""
    seen: dict[str, int] = {}
    for line in read_source(path):
        if line.data is None:
            yield ImportItem(line, line.where)
            continue
        id_ = example_id(line.data)
        if id_ in seen:
            yield ImportItem(line, f"{id_}#{line.where}", duplicate_of=seen[id_])
            continue
        seen[id_] = line.line_no
        yield ImportItem(line, id_)


@dataclass
class ImportReport:
    path: Path
    step: StepReport
    rejected: list[str] = field(default_factory=list)


def import_file(
    store: Store,
    path: Path,
    kind: Kind,
    *,
    video_root: Path | None = None,
    require_video: bool = False,
    on_progress: Callable[[int], None] | None = None,
) -> ImportReport:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    step = ImportStep(kind, video_root, require_video)
    report = run_step(store, step, import_items(path), on_progress=on_progress, batch_size=2000)
    rejected = [
        entry.reason or entry.item_id
        for entry in store.ledger_entries(step.name, Outcome.REJECTED)
        if (entry.reason or "").startswith(f"{path.name}:")
    ]
    return ImportReport(path, report, rejected)
