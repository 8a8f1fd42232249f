"""Workspace and data verbs: init, status, import, split, export, stats."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import typer
from rich.table import Table

from videokr.cli.common import fail, require, workspace
from videokr.progress import console, progress_bar
from videokr.workspace import Workspace, WorkspaceError


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.command("status")(status)
    app.command("import")(import_)
    app.command("split")(split)
    app.command("export")(export)
    app.command("stats")(stats)
    app.command("demo")(demo)


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
        lines, last = 0, b"\n"
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
        return lines + (last != b"\n")


def split(
    ctx: typer.Context,
    seed: int = typer.Option(None, help="random seed (default: the workspace's split.seed)"),
    ratio: str = typer.Option(None, help="SFT:RL by examples, e.g. 201:114 (default: the workspace's split.ratio)"),
    stratify: bool = typer.Option(None, "--stratify/--no-stratify", help="stratify by discipline, subject, skill"),
) -> None:
    """Partition examples into SFT and RL sets, grouped by video (no video in both)."""
    from videokr.pipeline.split_step import apply_split

    ws = workspace(ctx)
    settings = ws.config.split
    chosen_ratio = settings.ratio
    if ratio is not None:
        try:
            a, b = (int(x) for x in ratio.split(":"))
        except ValueError:
            fail(f"--ratio must look like 201:114, not {ratio!r}")
        chosen_ratio = (a, b)
    result = apply_split(
        ws.store,
        ratio=chosen_ratio,
        seed=settings.seed if seed is None else seed,
        stratify=settings.stratify if stratify is None else stratify,
    )
    counts = result.counts()
    total = sum(counts.values()) or 1
    videos = {s: sum(1 for v in result.video_sets.values() if v == s) for s in ("sft", "rl")}
    console.print(
        f"split {total} examples of {len(result.video_sets)} videos: "
        f"SFT {counts['sft']} ({counts['sft'] / total:.1%}, {videos['sft']} videos), "
        f"RL {counts['rl']} ({counts['rl'] / total:.1%}, {videos['rl']} videos); "
        f"target {chosen_ratio[0]}:{chosen_ratio[1]}, {len(result.strata)} strata"
    )
    if result.rl_only_videos:
        console.print(f"{result.rl_only_videos} videos went to RL only: some of their examples have no chain of thought")


def export(
    ctx: typer.Context,
    set_name: str = typer.Option(..., "--set", help="sft | rl | eval"),
    fmt: str = typer.Option(..., "--format", help="llamafactory | verl | hf | jsonl"),
    out: Path = typer.Option(..., "--out", help="output directory"),
    absolute_paths: bool = typer.Option(False, help="write absolute video paths, resolved against the video root"),
    video_prefix: str = typer.Option("", help="prefix added to relative video paths (e.g. 'videos')"),
    video_preset: str = typer.Option("paper-qwen2.5-vl", help="verl frame/pixel settings: paper-qwen2.5-vl | paper-qwen3-vl | release"),
    val_size: int = typer.Option(500, help="verl: RL examples held out as test.parquet (as the official converter)"),
    val_seed: int = typer.Option(42, help="verl: seed of the held-out draw"),
) -> None:
    """Write a set in a training tool's format."""
    from videokr.formats.exporters import FORMATS, ExportOptions
    from videokr.formats.exporters import export as run_export

    if set_name not in ("sft", "rl", "eval"):
        fail(f"--set must be sft, rl or eval, not {set_name!r}")
    if fmt not in FORMATS:
        fail(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if fmt in ("verl", "hf"):
        require("pyarrow", "export")
    ws = workspace(ctx)
    items = _select(ws, set_name)
    if not items:
        fail(f"the {set_name} set is empty; import data (and run `videokr split`) first")
    options = ExportOptions(
        video_root=ws.video_root(), absolute_paths=absolute_paths, video_prefix=video_prefix,
        video_preset=video_preset, val_size=val_size, val_seed=val_seed,
    )
    try:
        report = run_export(items, set_name, fmt, out, options)  # type: ignore[arg-type]
    except ValueError as exc:
        fail(str(exc))
    console.print(f"{fmt}: wrote {report.written} {set_name} items to " + ", ".join(str(f) for f in report.files))
    for reason in report.skipped[:10]:
        console.print(f"  [yellow]skipped[/] {reason}")
    if len(report.skipped) > 10:
        console.print(f"  … and {len(report.skipped) - 10} more skipped")


def _select(ws: Workspace, set_name: str) -> list:
    store = ws.store
    if set_name == "eval":
        kind, where, params = "eval_item", "", ()
    else:
        kind, where, params = "example", "json_extract(data, '$.split') = ?", (set_name,)
    total = store.execute(f"SELECT count(*) FROM items WHERE kind=? {'AND ' + where if where else ''}",
                          (kind, *params)).fetchone()[0]
    items = []
    with progress_bar(f"read {set_name} set", total) as advance:
        for record in store.iter_records(kind, where=where, params=params):
            items.append(record)
            advance(1)
    return items


def stats(
    ctx: typer.Context,
    out: Path = typer.Option(Path("report.html"), "--out", help="HTML report; the numbers go beside it as .json"),
) -> None:
    """Corpus statistics (the paper's Figure 2) as an HTML page with plots, plus JSON."""
    from videokr.stats.corpus import corpus_stats
    from videokr.stats.report import write_report

    require("matplotlib", "report")
    ws = workspace(ctx)
    numbers = corpus_stats(ws.store)
    html_path, json_path = write_report(numbers, out)
    console.print(f"statistics: {html_path} and {json_path} ({numbers['examples']} examples, {numbers['videos']} videos)")


def demo(
    out: Path = typer.Option(Path("demo-output"), "--out", help="where the demo workspace and outputs go"),
) -> None:
    """Run the main job end to end on the bundled sample, offline."""
    from videokr.demo import run_demo

    run_demo(out)
