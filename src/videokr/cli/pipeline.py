"""Pipeline verbs: `videokr run` (the recipe) and `videokr status` (the funnel).

Every step verb (`import`, `probe`, `decontam`, `split`, `export`) runs one step of the same
recipe through the same runner; `run` runs the recipe in order.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from videokr.cli.common import fail, print_rejected, workspace
from videokr.progress import console, progress_bar


def register(app: typer.Typer) -> None:
    app.command("run")(run)
    app.command("status")(status)


def run(
    ctx: typer.Context,
    only: list[str] = typer.Option(None, "--only", help="run just this step (repeat for several)"),
    until: str = typer.Option(None, "--until", help="run the recipe up to and including this step"),
    limit: int = typer.Option(None, "--limit", min=1, help="process at most N pending items per step"),
    dry_run: bool = typer.Option(False, "--dry-run", help="say what each step would do; change nothing"),
) -> None:
    """Run the workspace's recipe (videokr.yaml `recipe:`); each step takes the live outputs of the ones before.

    Exits 1 when an item was quarantined (a transient failure: run again to retry it)."""
    from videokr.errors import Stop
    from videokr.pipeline.recipe import RecipeError, run_recipe

    ws = workspace(ctx)
    try:
        recipe = ws.recipe()
        recipe.select(only, until)
    except (RecipeError, ValueError) as exc:
        fail(str(exc))
    def announce(step: Any) -> None:
        if dry_run:
            console.print(f"[dim]{step.describe()}[/]")

    try:
        reports = run_recipe(ws.store, recipe, only=only, until=until, limit=limit, dry_run=dry_run,
                             on_step=announce, on_report=lambda r: console.print(_report_line(r)))
    except (FileNotFoundError, ValueError, RecipeError) as exc:
        fail(str(exc))
    except Stop as exc:  # a provider down, a quota spent: what finished is kept, the rest stays pending
        fail(f"stopped: {exc}. What finished is kept; run again to go on.")
    quarantined = sum(r.counts["quarantined"] for r in reports)
    if quarantined:
        fail(f"{quarantined} item(s) quarantined; `videokr status --funnel` lists them — run again to retry")


def _report_line(report: Any) -> str:
    if report.dry_run:
        line = (f"[bold]{report.step}[/]: {report.seen} in, {report.skipped} done, {report.left} would be processed"
                + (f", {report.retired} would be retired" if report.retired else ""))
        cost = dict(report.cost or {})
        if "usd" in cost:
            line += (f"; {cost.pop('requests')} model requests, {cost.pop('tokens_in'):,} tokens in, "
                     f"≈${cost.pop('usd'):.2f} (outputs not counted)")
            cost.pop("tokens_out", None)
        if cost:
            line += "; " + ", ".join(f"{key.replace('_', ' ')} {value:,}" for key, value in cost.items())
        return line
    return f"[bold]{report.step}[/] " + report.line().split(": ", 1)[1]


BY_GROUPS = ("discipline", "skill")


def status(
    ctx: typer.Context,
    show_funnel: bool = typer.Option(False, "--funnel", help="per step of the recipe: in, accepted, rejected by reason, quarantined, pending"),
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of tables"),
    show: int = typer.Option(5, "--show", help="quarantined items listed per step"),
    html: Path = typer.Option(None, "--html", help="also write the funnel by discipline and skill, beside the "
                              "paper's numbers, as one self-contained HTML page (implies --funnel)"),
    by: str = typer.Option(None, "--by", help="discipline | skill: each step's counts per group (implies --funnel)"),
) -> None:
    """Per step: in = accepted + rejected + quarantined; with --funnel, what each step still has pending."""
    if by is not None and by not in BY_GROUPS:
        fail(f"--by must be {' or '.join(BY_GROUPS)}, not {by!r}")
    ws = workspace(ctx)
    if show_funnel or html is not None or by is not None:
        from videokr.pipeline.recipe import RecipeError, funnel

        try:
            recipe = ws.recipe()
            rows = funnel(ws.store, recipe)
        except RecipeError as exc:
            fail(str(exc))
        for row in rows:
            row["quarantined_items"] = [
                {"item": e.item_id, "error": e.reason}
                for e in ws.store.ledger_entries(row["step"]) if e.outcome.value == "quarantined"
            ][:show]
        breakdown = None
        if html is not None or by is not None:
            from videokr.corpus.funnel import corpus_funnel

            breakdown = corpus_funnel(ws.store, recipe.names(), workspace=str(ws.root),
                                      pending={row["step"]: row["pending"] for row in rows})
        if by is not None and breakdown is not None:
            for row, step in zip(rows, breakdown.steps, strict=True):
                row[f"by_{by}"] = {group: counts.as_dict() for group, counts in getattr(step, f"by_{by}").items()}
        if html is not None and breakdown is not None:
            from videokr.corpus.funnel import write_html

            try:
                written = write_html(breakdown, html)
            except OSError as exc:
                fail(f"{html}: cannot write the funnel report: {exc}")
            console.print(f"funnel report: {written}", highlight=False)
        if as_json:
            sys.stdout.write(json.dumps({"workspace": str(ws.root), "steps": rows}, indent=2) + "\n")
            return
        _print_funnel(rows)
        if by is not None and breakdown is not None:
            _print_by(breakdown, by)
        return
    summary = ws.store.ledger_summary()
    if as_json:
        sys.stdout.write(json.dumps({"steps": summary, "records": ws.store.counts_by_kind()}, indent=2) + "\n")
        return
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


def _print_funnel(rows: list[dict[str, Any]]) -> None:
    table = Table(title="funnel (recipe order)")
    for column in ("step", "in", "accepted", "rejected", "quarantined", "pending", "rejected by reason"):
        table.add_column(column, justify="left" if column in ("step", "rejected by reason") else "right")
    for row in rows:
        reasons = ", ".join(f"{code} {n}" for code, n in row["rejected_by_reason"].items())
        pending = "?" if row["pending"] is None else str(row["pending"])
        table.add_row(row["step"], str(row["in"]), str(row["accepted"]), str(row["rejected"]),
                      str(row["quarantined"]), pending, reasons)
    console.print(table)
    for row in rows:
        if row.get("error"):
            console.print(f"[yellow]{row['step']}[/]: cannot list its inputs: {row['error']}")
        for q in row["quarantined_items"]:
            console.print(f"[yellow]{row['step']}[/] quarantined {q['item']}: {q['error']}")


def _print_by(breakdown: Any, by: str) -> None:
    """One row per (step, group) with items: what `--by discipline|skill` adds under the funnel."""
    table = Table(title=f"funnel by {by} (a video counts once per discipline it serves)" if by == "discipline"
                  else f"funnel by {by} (steps whose items are examples)")
    for column in ("step", by, "in", "accepted", "rejected", "quarantined", "rejected by reason"):
        table.add_column(column, justify="left" if column in ("step", by, "rejected by reason") else "right",
                         no_wrap=column in ("step", by))
    for step in breakdown.steps:
        for group, counts in getattr(step, f"by_{by}").items():
            if not counts.in_:
                continue
            reasons = ", ".join(f"{code} {n}" for code, n in counts.as_dict()["rejected_by_reason"].items())
            table.add_row(step.step, group, str(counts.in_), str(counts.accepted), str(counts.rejected),
                          str(counts.quarantined), reasons)
    console.print(table)


def bring_up_to_date(ws: Any, name: str) -> None:
    """Run the recipe's steps before `name` (each skips what is done), so a step verb sees current inputs."""
    from videokr.pipeline.recipe import RecipeError
    from videokr.pipeline.runner import run_step

    try:
        recipe = ws.recipe()
        before = recipe.select(until=name)[:-1]
    except (RecipeError, ValueError) as exc:
        fail(str(exc))
    for step in before:
        report = run_step(ws.store, step)
        if report.processed or report.retired:
            console.print(_report_line(report))


def prepare_step(ws: Any, name: str, **overrides: Any) -> Any:
    """A step verb's step: its section of videokr.yaml plus the command line, with its inputs brought up to date."""
    try:
        step = ws.step(name, **overrides)
    except ValueError as exc:
        fail(str(exc))
    bring_up_to_date(ws, name)
    return step


def run_one_step(ws: Any, step: Any, *, items: Any = None, label: str | None = None, **kwargs: Any) -> Any:
    """Run one step of the workspace with a progress bar; the step verbs share this."""
    from videokr.pipeline.runner import retires_by_default, run_step

    explicit = items is not None
    materialised = list(step.inputs(ws.store) if items is None else items)  # once: the bar's total and the run's items
    kwargs.setdefault("retire", retires_by_default(step, explicit=explicit, limit=kwargs.get("limit")))
    from videokr.errors import Stop

    with progress_bar(label or step.name, len(materialised)) as advance:
        try:
            return run_step(ws.store, step, items=materialised, on_progress=advance, **kwargs)
        except Stop as exc:
            fail(f"{step.name} stopped: {exc}. What finished is kept; run again to go on.")


def import_files(ws: Any, step_name: str, files: list[Any], import_file: Any, *, unit: str, what: str, strict: bool,
                 show: int, after_file: Any = None) -> None:
    """Run a source step's `import_file` over each file and report it: counts, rejected entries
    (`show` of them), and exit 1 when a file yields no `what` or (with `strict`) anything was rejected.
    `after_file(result)` may print more about a file (e.g. drafts it settled)."""
    from rich.markup import escape

    try:
        step = ws.step(step_name)
    except ValueError as exc:
        fail(str(exc))
    failed = False
    for path in files:
        if not path.is_file():
            fail(f"{path}: no such file")
        result = import_file(ws.store, path, root=ws.root, step=step)
        c = result.step.counts
        line = (f"{result.label}: {result.step.seen} {unit} — {c['accepted']} accepted, {c['rejected']} rejected, "
                f"{result.step.skipped} unchanged")
        if result.removed:
            line += f", {result.removed} no longer in the file (retired)"
        console.print(escape(line))
        print_rejected(result.rejected, show)
        if after_file is not None:
            after_file(result)
        if result.accepted == 0:
            console.print(f"[bold red]error:[/] {escape(result.label)}: no {what} could be imported")
            failed = True
        if c["quarantined"] or (strict and result.rejected):
            failed = True
    if failed:
        raise typer.Exit(1)
