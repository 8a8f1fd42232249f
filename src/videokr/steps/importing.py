"""§3 entry point: official VideoKR files (SFT, RL, evaluation) into the store, one line one item.

Each line is an item of the `import` step: a good line is accepted with its example (or
benchmark item) as output; a bad line is rejected under `KIND:FILE:LINE` with the reason,
and nothing stops the good lines. Importing the same file again skips every line; a changed
line is re-read and supersedes what it made before.

An id names one example. A second file that brings the same id with other content (an RL
file numbered like the SFT file, two SFT files that disagree) is rejected with code
`conflict`, naming the line that holds the id — never silently overwriting it; import such a
file with `id_prefix` (`--id-prefix rl-`) to keep both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from videokr.formats.official import Kind, LineError, SourceLine, example_id, parse_line, read_source, resolve_video
from videokr.hashing import digest_parts
from videokr.pipeline.recipe import register
from videokr.pipeline.step import Result, Step, StepConfig
from videokr.pipeline.runner import StepReport
from videokr.records import Outcome
from videokr.store import Store


class ImportSource(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(description="JSONL or JSON-array file, relative to the workspace")
    kind: Literal["sft", "rl", "eval"]
    id_prefix: str = Field(default="", description="prepended to every id of this file (keeps clashing ids apart)")


class ImportConfig(StepConfig):
    # Each line's fingerprint carries its file's kind and prefix, so adding a source redoes nothing else.
    RUN_ONLY: ClassVar[frozenset[str]] = StepConfig.RUN_ONLY | {"sources"}

    sources: list[ImportSource] = Field(default_factory=list)
    require_video: bool = Field(default=False, description="reject lines whose video file is missing")


@dataclass(frozen=True)
class ImportItem:
    line: SourceLine
    item_id: str
    kind: Kind
    id_prefix: str = ""
    duplicate_of: int | None = None


def source_label(path: Path, root: Path) -> str:
    """How a file is named in item ids: relative to the workspace when inside it."""
    resolved = path.resolve()
    try:
        return resolved.relative_to(root.resolve()).as_posix()
    except ValueError:
        return resolved.as_posix()


def import_items(path: Path, kind: Kind, *, root: Path, id_prefix: str = "") -> Iterator[ImportItem]:
    """Lines with the id they are tracked under; a repeated id within the file is tracked by its position."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    label = source_label(path, root)
    seen: dict[str, int] = {}
    for line in read_source(path):
        if line.data is None:
            yield ImportItem(line, f"{kind}:{label}:{line.line_no}", kind, id_prefix)
            continue
        id_ = example_id(line.data)
        if id_ in seen:
            yield ImportItem(line, f"{kind}:{label}:{line.line_no}", kind, id_prefix, duplicate_of=seen[id_])
            continue
        seen[id_] = line.line_no
        yield ImportItem(line, f"{kind}:{label}#{id_}", kind, id_prefix)


@register
class ImportStep(Step[ImportItem]):
    name = "import"
    version = "2"
    Config = ImportConfig
    writes = ("example", "eval_item")
    source = True

    def inputs(self, store: Store) -> Iterator[ImportItem]:
        assert isinstance(self.config, ImportConfig)
        for spec in self.config.sources:
            path = Path(spec.path)
            path = path if path.is_absolute() else self.context.root / path
            yield from import_items(path, spec.kind, root=self.context.root, id_prefix=spec.id_prefix)

    def item_id(self, item: ImportItem) -> str:
        return item.item_id

    def item_fingerprint(self, item: ImportItem) -> str:
        root = str(self.context.video_root) if self.config.require_video else ""  # type: ignore[attr-defined]
        return digest_parts(item.kind, item.id_prefix, item.line.text, item.duplicate_of, root)

    def process(self, item: ImportItem) -> Result:
        line = item.line
        if line.error is not None:
            return Result.reject(f"{line.where}: {line.error}", code="bad_line")
        if item.duplicate_of is not None:
            assert line.data is not None
            return Result.reject(f"{line.where}: id {example_id(line.data)!r} repeats line {item.duplicate_of}",
                                 code="duplicate_id")
        assert line.data is not None
        try:
            parsed = parse_line(line.data, item.kind, source=line.source, line_no=line.line_no)
        except LineError as exc:
            return Result.reject(f"{line.where}: {exc}", code="invalid")
        record = parsed.record
        if item.id_prefix:
            record = record.model_copy(update={"id": item.id_prefix + record.id})
        if self.config.require_video:  # type: ignore[attr-defined]
            path = resolve_video(parsed.video.path, self.context.video_root)
            if not path.is_file():
                return Result.reject(
                    f"{line.where}: video {parsed.video.path!r} not found under {self.context.video_root}",
                    code="video_missing",
                )
        return Result.accept(record, detail={"line": line.line_no, "file": line.source})


@dataclass
class FileImport:
    """What importing one file through a step did (`videokr import`, `seeds import`, `kb import`,
    `quality import`): the run's report and what the file now stands for in the store."""

    path: Path
    step: StepReport
    rejected: list[str] = field(default_factory=list)  # reasons, each naming the file's line or entry
    label: str = ""  # how the file is named in ids and messages (relative to the workspace when inside it)
    accepted: int = 0  # live items of this file (imported now or before)
    removed: int = 0  # items an earlier import of this file brought and it no longer holds (retired)
    settled: list[str] = field(default_factory=list)  # `kb`: subjects whose draft this import settled


def import_file(
    store: Store,
    path: Path,
    kind: Kind,
    *,
    video_root: Path | None = None,
    require_video: bool = False,
    id_prefix: str = "",
    root: Path | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> FileImport:
    """Run the import step over one file (what `videokr import` does), for scripts and notebooks."""
    from videokr.pipeline.runner import run_step
    from videokr.pipeline.step import StepContext

    root = root or Path.cwd()
    step = ImportStep(ImportConfig(require_video=require_video), StepContext(root=root, video_root=video_root))
    items = list(import_items(path, kind, root=root, id_prefix=id_prefix))
    report = run_step(store, step, items=items, on_progress=on_progress)
    ids = {item.item_id for item in items}
    rejected = [e.reason or e.item_id for e in store.ledger_entries(step.name, Outcome.REJECTED) if e.item_id in ids]
    return FileImport(path, report, rejected, label=source_label(path, root))
