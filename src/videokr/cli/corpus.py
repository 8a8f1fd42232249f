"""`videokr corpus plan`: what §3.1–§3.2 would send and cost at a scale, before anything is paid for.

Works in a fresh workspace (the paper's funnel, the configured prices) and outside one (the
paper's models and funnel); once a pilot ran, the workspace's measured ratios replace the
defaults step by step, and the table says which were used.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import typer
from rich.table import Table

from videokr.cli.common import fail
from videokr.progress import console

corpus_app = typer.Typer(help="The training corpus of §3.1–§3.2 as a whole: plan a run before paying for it.",
                         no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(corpus_app, name="corpus")


def _workspace(ctx: typer.Context) -> Any:
    """The workspace, or None outside one (then the plan uses the default configuration)."""
    from videokr.config import ConfigError
    from videokr.workspace import Workspace, WorkspaceError

    chosen = (ctx.find_root().obj or {}).get("workspace")
    try:
        return Workspace.open(chosen) if chosen else Workspace.find()
    except WorkspaceError as exc:
        if chosen:
            fail(str(exc))
        return None
    except ConfigError as exc:
        fail(str(exc))


@corpus_app.command("plan")
def plan_command(
    ctx: typer.Context,
    knowledge_points: int = typer.Option(None, "--knowledge-points", min=0,
                                         help="plan for this many knowledge points (default: the paper's 63,745)"),
    videos: int = typer.Option(None, "--videos", min=0, help="plan for this many final videos instead"),
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table"),
) -> None:
    """Per step: items in and out, requests, tokens, USD (list price and Batch API), YouTube quota units and days."""
    from pathlib import Path

    from videokr.config import Config
    from videokr.corpus.estimate import workspace_stages
    from videokr.corpus.plan import PAPER_KNOWLEDGE_POINTS, PlanError, plan

    if knowledge_points is not None and videos is not None:
        fail("give --knowledge-points or --videos, not both")
    if knowledge_points is None and videos is None:
        knowledge_points = PAPER_KNOWLEDGE_POINTS
    ws = _workspace(ctx)
    try:
        if ws is None:
            stages, quota = workspace_stages(Config(), Path.cwd(), None)
        else:
            stages, quota = workspace_stages(ws.config, ws.root, ws.store)
        result = plan(stages, knowledge_points=knowledge_points, videos=videos, daily_quota=quota)
    except (PlanError, ValueError) as exc:
        fail(str(exc))
    if as_json:
        data = result.as_dict()
        data["workspace"] = None if ws is None else str(ws.root)
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
        return
    _print(result, ws)


def _usd(value: float | None) -> str:
    return "unpriced" if value is None else f"${value:,.2f}"


def _n(value: float) -> str:
    return f"{round(value):,}" if value else "-"


def _print(result: Any, ws: Any) -> None:
    from videokr.corpus.estimate import sources_label

    where = "no workspace: the default configuration" if ws is None else str(ws.root)
    table = Table(title=f"Corpus plan: {round(result.knowledge_points):,} knowledge points → "
                        f"{round(result.videos):,} videos ({where})", title_justify="left")
    for name in ("step", "items in", "items out", "requests", "tokens in", "tokens out", "USD", "USD batch",
                 "quota units", "days", "feed/yield from"):
        table.add_column(name, justify="left" if name in ("step", "feed/yield from") else "right",
                         no_wrap=name == "step")
    for row in result.rows:
        table.add_row(row.step, _n(row.items_in), _n(row.items_out),
                      _n(row.requests), _n(row.tokens_in), _n(row.tokens_out), _usd(row.usd), _usd(row.usd_batch),
                      _n(row.quota_units), f"{row.days:,.1f}" if row.quota_units else "-",
                      sources_label(row.sources))
    total_usd = _usd(result.usd) + ("*" if result.unpriced else "")
    total_batch = _usd(result.usd_batch) + ("*" if result.unpriced else "")
    table.add_row("total", "", "", _n(result.requests), _n(result.tokens_in), _n(result.tokens_out), total_usd,
                  total_batch, _n(result.quota_units), f"{result.days:,.1f}", "", style="bold")
    console.print(table)
    console.print(f"days: at {result.daily_quota:,} YouTube quota units a day (steps.youtube_search.daily_quota).",
                  highlight=False)
    if result.unpriced:
        console.print(f"* without {', '.join(result.unpriced)}: unpriced (no price configured).", highlight=False)
    units = "; ".join(f"{row.step}: {row.unit_in} → {row.unit_out}" for row in result.rows)
    console.print(f"items: {units}.", highlight=False)
    for row in result.rows:
        if row.note:
            console.print(f"{row.step}: {row.note}", highlight=False)
