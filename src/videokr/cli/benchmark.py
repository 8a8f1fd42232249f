"""`videokr benchmark`: §4's VideoKR-Eval — build it from source benchmarks, report Tables 2 and 9, re-annotate.

`build` writes the sources into `steps.benchmark_sources` of videokr.yaml and runs the §4 steps
(`benchmark_sources → frame_probe → reannotation → benchmark → benchmark_export`) on the one
runner: a rerun skips what is done and pays for no model call twice; `--dry-run` reads the
sources and prices the probing without sending or storing anything. `report` prints Tables 2
and 9 from the store beside the paper's. `reannotate export FILE` writes the experts' queue
(one filtered example a line); `reannotate import FILE` takes their filled-in lines.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from videokr.cli.common import fail, print_rejected, workspace
from videokr.progress import console

benchmark_app = typer.Typer(help="VideoKR-Eval (§4): single-frame probing of source benchmarks, expert "
                                 "re-annotation, Tables 2 and 9.", no_args_is_help=True)
reannotate_app = typer.Typer(help="The experts' re-annotation of filtered examples' videos (§4.2).",
                             no_args_is_help=True)
benchmark_app.add_typer(reannotate_app, name="reannotate")

SOURCES_STEP = "benchmark_sources"
REANNOTATION_STEP = "reannotation"


def register(app: typer.Typer) -> None:
    app.add_typer(benchmark_app, name="benchmark")


# -- videokr.yaml -------------------------------------------------------------------------------


def _config_path(path: Path, root: Path) -> str:
    """How a path is written into videokr.yaml: relative to the workspace when inside it."""
    resolved = path.expanduser().resolve()
    try:
        return resolved.relative_to(root).as_posix()
    except ValueError:
        return resolved.as_posix()


def _write_section(ws: Any, step: str, **values: Any) -> Any:
    """Set keys of one step's section in videokr.yaml (checked before the file is replaced); the workspace reopened."""
    import yaml
    from pydantic import ValidationError

    from videokr.config import Config, ConfigError, check_steps
    from videokr.workspace import CONFIG_NAME, Workspace

    path = ws.root / CONFIG_NAME
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    steps = dict(data.get("steps") or {})
    steps[step] = {**(steps.get(step) or {}), **values}
    data["steps"] = steps
    try:
        check_steps(Config.model_validate(data), path)
    except ValidationError as exc:
        fail(f"{path}: {exc}")
    except ConfigError as exc:
        fail(str(exc))
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("# videokr workspace configuration; see `videokr --help`.\n"
                   + yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    tmp.replace(path)
    return Workspace.open(ws.root)


def _pairs(values: list[str] | None, option: str) -> dict[str, str]:
    """NAME=VALUE options by benchmark name (as §4 spells it)."""
    from videokr.steps.benchmark_sources import display_name

    found: dict[str, str] = {}
    for value in values or []:
        name, sep, rest = value.partition("=")
        if not sep or not name.strip() or not rest.strip():
            fail(f"{option} {value!r}: give NAME=PATH, e.g. {option} MMVU=bench/mmvu/validation.json")
        try:
            key = display_name(name)
        except ValueError as exc:
            fail(f"{option} {value!r}: {exc}")
        if key in found:
            fail(f"{option}: {key} is given twice")
        found[key] = rest.strip()
    return found


def _sources(ws: Any, source: list[str] | None, video_root: list[str] | None) -> list[dict[str, Any]]:
    """The configured sources with the command line's added or changed (paths as written into videokr.yaml);
    a source's path given again keeps its configured video root unless --video-root names another."""
    given = _pairs(source, "--source")
    roots = _pairs(video_root, "--video-root")
    from videokr.steps.benchmark_sources import display_name

    configured: dict[str, dict[str, Any]] = {}
    for entry in ws.config.step_section(SOURCES_STEP).get("sources") or []:  # checked when the workspace was read
        configured[display_name(entry["name"])] = {**entry, "name": display_name(entry["name"])}
    for name, path in given.items():
        if not Path(path).expanduser().exists():
            fail(f"--source {name}={path}: no such file or directory")
        configured[name] = {**configured.get(name, {}), "name": name, "path": _config_path(Path(path), ws.root)}
    for name, root in roots.items():
        if name not in configured:
            fail(f"--video-root {name}={root}: {name} is no source; give --source {name}=PATH too")
        if not Path(root).expanduser().is_dir():
            fail(f"--video-root {name}={root}: no such directory")
        configured[name]["video_root"] = _config_path(Path(root), ws.root)
    if not configured:
        fail("no source benchmark: give --source NAME=PATH (VideoMMMU, MMVU, SciVideoBench) and --video-root NAME=DIR")
    return list(configured.values())


# -- build --------------------------------------------------------------------------------------


@benchmark_app.command("build")
def build(
    ctx: typer.Context,
    source: list[str] = typer.Option(None, "--source", help="NAME=PATH: a source benchmark's published file or "
                                     "folder (VideoMMMU, MMVU, SciVideoBench); repeat for each"),
    video_root: list[str] = typer.Option(None, "--video-root", help="NAME=DIR: where that benchmark's videos are"),
    dry_run: bool = typer.Option(False, "--dry-run", help="read the sources and price the probing; send, store "
                                 "and write nothing"),
) -> None:
    """Build VideoKR-Eval: probe every source example with one frame (3 models × 3 trials), keep those no model
    solves, add the experts' re-annotated examples, export. Resumable: a rerun pays for nothing twice.

    Sources already in videokr.yaml are kept; exits 1 when an item was quarantined (run again to retry it)."""
    from videokr.benchmark import BUILD_STEPS

    ws = workspace(ctx)
    sources = _sources(ws, source, video_root)
    if dry_run:
        _price(ws, sources)
        return
    ws = _write_section(ws, SOURCES_STEP, sources=sources)
    quarantined = 0
    for name in BUILD_STEPS:
        report = _run(ws, name)
        quarantined += report.counts["quarantined"]
    _summary(ws)
    if quarantined:
        fail(f"{quarantined} item(s) quarantined (a model or file error); run `videokr benchmark build` again to "
             "retry them — what finished is kept")


def _run(ws: Any, name: str) -> Any:
    from videokr.cli.pipeline import run_one_step
    from videokr.prompts.step import NoModelForStep

    try:
        step = ws.step(name)
        report = run_one_step(ws, step)
    except (FileNotFoundError, ValueError, NoModelForStep) as exc:
        fail(str(exc))
    console.print(escape(report.line()), highlight=False)
    for entry in ws.store.ledger_entries(name):
        if entry.outcome.value == "quarantined":
            console.print(f"  [yellow]quarantined[/] {escape(entry.item_id)}: {escape(entry.reason or '')}")
            break
    return report


def _price(ws: Any, sources: list[dict[str, Any]]) -> None:
    """Read the sources in memory and price the probing of what is not probed yet; nothing is stored."""
    from videokr.pipeline.runner import run_step

    try:
        reader = ws.step(SOURCES_STEP, sources=sources)
        examples = list(reader.inputs(ws.store))
    except (FileNotFoundError, ValueError) as exc:
        fail(str(exc))
    candidates = [r for item in examples for r in reader.process(item).records]
    console.print(f"{len(examples):,} examples read, {len(candidates):,} with their video", highlight=False)
    try:
        report = run_step(ws.store, ws.step("frame_probe"), items=candidates, dry_run=True)
    except (FileNotFoundError, ValueError) as exc:
        fail(str(exc))
    cost = report.cost or {}
    line = f"frame_probe: {report.left:,} to probe, {report.skipped:,} probed already"
    if cost:
        line += (f"; {cost.get('requests', 0):,} model requests, {cost.get('tokens_in', 0):,} tokens in, "
                 f"≈${cost.get('usd', 0.0):,.2f} (outputs not counted)")
    console.print(line, highlight=False)


def _summary(ws: Any) -> None:
    from videokr.benchmark.report import table9

    total = table9(ws.store)["total"]
    console.print(f"VideoKR-Eval: {total['final']:,} items — {total['retained']:,} retained of {total['candidates']:,} "
                  f"candidates ({total['filtered']:,} filtered, {total['unprobed']:,} not probed), "
                  f"{total['reannotated']:,} re-annotated", highlight=False)
    if not total["candidates"]:
        fail("no source example could be read (see `videokr status` or the rejections above)")


# -- report -------------------------------------------------------------------------------------


def _cell(value: float | None, n: int | None = None) -> str:
    if value is None:
        return "-"
    return f"{value:.1f}" + (f" ({n:,})" if n is not None else "")


@benchmark_app.command("report")
def report(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of tables"),
) -> None:
    """Table 2 (single-frame answerability, %) and Table 9 (candidates → filtered / retained / re-annotated →
    final) from this workspace's store, beside the paper's numbers."""
    from videokr.benchmark.report import benchmark_report

    data = benchmark_report(workspace(ctx).store)
    if as_json:
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
        return
    two = data["table2"]
    table = Table(title="Table 2: single-frame answerability, % (probed examples) — ours / paper", title_justify="left")
    table.add_column("model")
    for benchmark in two["benchmarks"]:
        table.add_column(f"{benchmark} ({two['paper_sizes'].get(benchmark, '?'):,})", justify="right")
    for row in two["rows"]:
        table.add_row(row["model"], *(f"{_cell(c['percent'], c['probed'])} / {_cell(c['paper'])}"
                                      for c in row["cells"].values()))
    console.print(table)
    nine = data["table9"]
    table = Table(title="Table 9: VideoKR-Eval construction — ours / paper", title_justify="left")
    for column in ("source", "candidates", "filtered", "retained", "re-annotated", "final", "not probed"):
        table.add_column(column, justify="left" if column == "source" else "right")
    keys = ("candidates", "filtered", "retained", "reannotated", "final")

    def paired(row: dict[str, Any], paper: dict[str, int] | None) -> list[str]:
        return [f"{row[k]:,} / {paper[k]:,}" if paper else f"{row[k]:,} / -" for k in keys] + [f"{row['unprobed']:,}"]

    for row in nine["rows"]:
        table.add_row(row["benchmark"], *paired(row, row["paper"]))
    table.add_row("Total", *paired(nine["total"], nine["paper_total"]), style="bold")
    console.print(table)


# -- re-annotation ------------------------------------------------------------------------------


@reannotate_app.command("export")
def reannotate_export(
    ctx: typer.Context,
    out: Path = typer.Argument(..., help="the queue file to write (JSON Lines)"),
) -> None:
    """Write the re-annotation queue: one filtered example a line (its video, the discarded question, who solved
    it from one frame) with `decision`, `example` and `reviewer` to fill in; `reannotate import` reads it back."""
    from videokr.benchmark.reannotation import export_queue

    ws = workspace(ctx)
    try:
        n = export_queue(ws.store, out)
    except OSError as exc:
        fail(f"{out}: cannot write the queue: {exc}")
    note = "" if n else " (nothing filtered yet: build the benchmark first)"
    console.print(escape(f"{out}: {n:,} filtered example(s) to re-annotate{note}"), highlight=False)


@reannotate_app.command("import")
def reannotate_import(
    ctx: typer.Context,
    files: list[Path] = typer.Argument(..., help="experts' files: the filled-in queue (JSON Lines)"),
    strict: bool = typer.Option(False, "--strict", help="exit 1 when any line was rejected (drops aside)"),
    show: int = typer.Option(20, "--show", min=0, help="rejected lines to print per file"),
) -> None:
    """Import experts' lines (the `reannotation` step): a new example per decided entry, checked by the records'
    rules; bad lines are reported as FILE:LINE: reason and the others imported. Then VideoKR-Eval is reassembled
    and exported. Exits 1 when a file decides nothing usable, or (--strict) when a line was rejected."""
    from videokr.steps.importing import source_label
    from videokr.steps.reannotation import DROPPED_CODE

    ws = workspace(ctx)
    for path in files:
        if not path.is_file():
            fail(f"{path}: no such file")
    listed = list(ws.config.step_section(REANNOTATION_STEP).get("files") or [])
    for path in files:
        written = _config_path(path, ws.root)
        if written not in listed:
            listed.append(written)
    ws = _write_section(ws, REANNOTATION_STEP, files=listed)
    report = _run(ws, REANNOTATION_STEP)
    for name in ("benchmark", "benchmark_export"):
        _run(ws, name)
    failed = bool(report.counts["quarantined"])
    for path in files:
        label = source_label(path, ws.root)
        entries = [e for e in ws.store.ledger_entries(REANNOTATION_STEP)
                   if str((e.detail or {}).get("where", "")).startswith(f"{label}:")]
        accepted = sum(e.outcome.value == "accepted" for e in entries)
        dropped = sum(e.code == DROPPED_CODE for e in entries)
        bad = [e for e in entries if e.outcome.value == "rejected" and e.code != DROPPED_CODE]
        console.print(escape(f"{label}: {len(entries)} decided — {accepted} new example(s), {dropped} dropped, "
                             f"{len(bad)} rejected"), highlight=False)
        print_rejected([e.reason or e.item_id for e in bad], show, more="")
        if accepted + dropped == 0:
            console.print(f"[bold red]error:[/] {escape(label)}: no line could be imported")
            failed = True
        if strict and bad:
            failed = True
    if failed:
        raise typer.Exit(1)
