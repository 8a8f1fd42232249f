"""Exports as a step: each (set, format) target is an item whose fingerprint is the set's content.

A target is rewritten only when its set changed (or the options did); it is written into a
temporary folder and swapped in whole, so a run killed mid-export leaves the previous export
intact. An empty set, or a verl export too small to hold out its test set, is a verdict that
names the fix.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from videokr.hashing import digest_parts
from videokr.pipeline.recipe import register
from videokr.pipeline.step import Result, Step, StepConfig
from videokr.sets import live_set
from videokr.store import Store

SetName = Literal["sft", "rl", "eval"]
FormatName = Literal["llamafactory", "verl", "hf", "jsonl"]


def _default_targets() -> dict[str, list[str]]:
    return {"sft": ["llamafactory", "jsonl"], "rl": ["jsonl"], "eval": ["jsonl"]}


class ExportConfig(StepConfig):
    out: str = Field(default="exports", description="output folder, relative to the workspace; one sub-folder per target")
    targets: dict[SetName, list[FormatName]] = Field(default_factory=_default_targets)
    absolute_paths: bool = False
    video_prefix: str = ""
    video_preset: str = "paper-qwen2.5-vl"
    val_size: int = Field(default=500, ge=0, description="verl: RL examples held out as test.parquet (the release's 500)")
    val_seed: int = 42
    flat: bool = Field(default=False, description="write a single target straight into `out` (no sub-folder)")


@dataclass(frozen=True)
class ExportTarget:
    set_name: SetName
    fmt: FormatName
    items: tuple[Any, ...]
    content: str = ""  # digest of the set's records, computed once per set for all its formats

    @property
    def id(self) -> str:
        return f"{self.set_name}/{self.fmt}"


def target_dir(out: Path, target: ExportTarget) -> Path:
    return out / f"{target.set_name}-{target.fmt}"


@register
class ExportStep(Step[ExportTarget]):
    name = "export"
    version = "2"
    Config = ExportConfig
    after = ("split",)
    reads = "split_assignment"

    def out_dir(self) -> Path:
        assert isinstance(self.config, ExportConfig)
        out = Path(self.config.out)
        return out if out.is_absolute() else self.context.root / out

    def inputs(self, store: Store) -> Iterator[ExportTarget]:
        assert isinstance(self.config, ExportConfig)
        for set_name, formats in self.config.targets.items():
            records = tuple(live_set(store, set_name))
            content = digest_parts(*(r.to_json() for r in records))
            for fmt in formats:
                yield ExportTarget(set_name, fmt, records, content)

    def item_fingerprint(self, item: ExportTarget) -> str:
        return digest_parts(item.set_name, item.fmt, str(self.out_dir()), item.content)

    def process(self, item: ExportTarget) -> Result:
        from videokr.formats.exporters import ExportOptions, export

        assert isinstance(self.config, ExportConfig)
        if not item.items:
            hint = "import evaluation data" if item.set_name == "eval" else "import data and run the split"
            return Result.reject(f"the {item.set_name} set is empty; {hint} first", code="empty_set")
        options = ExportOptions(
            video_root=self.context.video_root, absolute_paths=self.config.absolute_paths,
            video_prefix=self.config.video_prefix, video_preset=self.config.video_preset,
            val_size=self.config.val_size, val_seed=self.config.val_seed,
        )
        final = self.out_dir() if self.config.flat else target_dir(self.out_dir(), item)
        tmp = final / ".videokr-export.tmp" if self.config.flat else final.with_name(f".{final.name}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            report = export(list(item.items), item.set_name, item.fmt, tmp, options)
        except ValueError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            return Result.reject(f"{item.id}: {exc}", code="cannot_export")
        if self.config.flat:
            _move_files(tmp, final)
        else:
            _swap_in(tmp, final)
        files = [str(final / f.relative_to(tmp)) for f in report.files]
        return Result.accept(detail={"files": files, "written": report.written, "skipped": report.skipped[:50],
                                     "skipped_count": len(report.skipped)})


def _move_files(tmp: Path, final: Path) -> None:
    """Move each written file over its old version (a folder of the user's is never replaced whole)."""
    for path in sorted(p for p in tmp.rglob("*") if p.is_file()):
        target = final / path.relative_to(tmp)
        target.parent.mkdir(parents=True, exist_ok=True)
        path.replace(target)
    shutil.rmtree(tmp, ignore_errors=True)


def _swap_in(tmp: Path, final: Path) -> None:
    """Replace `final` by `tmp` with renames only; a kill between them leaves one whole export."""
    old = final.with_name(f".{final.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)
