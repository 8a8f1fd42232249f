"""Workspace and data verbs: init, status, import, split, export, stats."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import typer
from rich.table import Table

from videokr.cli.common import fail, workspace
from videokr.progress import console, progress_bar
from videokr.workspace import Workspace, WorkspaceError


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.command("status")(status)
    app.command("import")(import_)


def init(
    directory: Path = typer.Argument(Path("."), help="directory to make into a workspace"),
    video_root: str = typer.Option(None, help="where relative video paths are resolved"),
) -> None:
    """Make DIR a workspace: a videokr.yaml config and an empty store."""
    from videokr.config import Config

    try:
        ws = Workspace.init(directory, Config(video_root=video_root))
    except WorkspaceError as exc:
        fail(str(exc))
    console.print(f"workspace ready: {ws.root} (store {ws.store.path.name})")


def status(ctx: typer.Context) -> None:
    """Per step: in = accepted + rejected + quarantined; and the records held."""
    ws = workspace(ctx)
    summary = ws.store.ledger_summary()
    table = Table(title=f"steps in {ws.root}")
    for column in ("step", "in", "accepted", "rejected", "quarantined"):
        table.add_column(column, justify="left" if column == "step" else "right")
    for step, row in summary.items():
        table.add_row(step, *(str(row[c]) for c in ("in", "accepted", "rejected", "quarantined")))
    console.print(table)
    records = Table(title="records")
    records.add_column("kind")
    records.add_column("count", justify="right")
    for kind, n in ws.store.counts_by_kind().items():
        records.add_row(kind, str(n))
    console.print(records)


def import_(
    ctx: typer.Context,
    files: list[Path] = typer.Argument(..., help="official VideoKR JSONL or JSON-array files"),
    kind: str = typer.Option(..., "--kind", help="sft | rl | eval"),
    video_root: Path = typer.Option(None, help="resolve relative video paths here (default: the workspace's)"),
    require_video: bool = typer.Option(
        False, "--require-video/--no-require-video", help="reject lines whose video file is missing"
    ),
    show: int = typer.Option(20, help="how many rejected lines to print"),
) -> None:
    """Import official VideoKR data; bad lines are reported by file and line, good ones kept."""
    from videokr.formats.importer import import_file

    if kind not in ("sft", "rl", "eval"):
        fail(f"--kind must be sft, rl or eval, not {kind!r}")
    ws = workspace(ctx)
    root = video_root or ws.video_root()
    if require_video and root is None:
        fail("--require-video needs a video root: pass --video-root or set video_root in videokr.yaml")
    for path in files:
        if not path.is_file():
            fail(f"{path}: no such file")
        total = _count_lines(path)
        with progress_bar(f"import {path.name}", total) as advance:
            report = import_file(
                ws.store, path, kind, video_root=root, require_video=require_video,  # type: ignore[arg-type]
                on_progress=advance,
            )
        c = report.step.counts
        console.print(
            f"{path}: {report.step.seen} lines — {c['accepted']} accepted, {c['rejected']} rejected, "
            f"{c['quarantined']} quarantined, {report.step.skipped} already imported"
        )
        for reason in report.rejected[:show]:
            console.print(f"  [yellow]rejected[/] {reason}")
        if len(report.rejected) > show:
            console.print(f"  … and {len(report.rejected) - show} more (see `videokr status`)")


def _count_lines(path: Path) -> int | None:
    with path.open("rb") as handle:
        head = handle.read(1)
        if head == b"[":
            return None
        return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b"")) + 1
