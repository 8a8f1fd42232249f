"""`videokr corpus`: plan a run before paying (§3.1–§3.3), and the manual quality assessment (§3.4).

`plan`: what the corpus chain would send and cost at a scale, before anything is paid for.

Works in a fresh workspace (the paper's funnel, the configured prices) and outside one (the
paper's models and funnel); once a pilot ran, the workspace's measured ratios replace the
defaults step by step, and the table says which were used.

`quality sample | import | report`: the review queue of §3.4's manual assessment, the
reviewers' verdicts, and the rates against the paper's (see `videokr.corpus.quality`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from videokr.cli.common import fail
from videokr.corpus.quality import DEFAULT_SEED, PAPER_SAMPLE_SIZE
from videokr.progress import console

corpus_app = typer.Typer(help="The training corpus of §3.1–§3.4 as a whole: plan a run before paying for it; "
                              "assess its quality by hand.", no_args_is_help=True)
quality_app = typer.Typer(help="§3.4's manual quality assessment: a seeded sample to review, the verdicts, the rates.",
                          no_args_is_help=True)
corpus_app.add_typer(quality_app, name="quality")


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
    examples: int = typer.Option(None, "--examples", min=0, help="plan for this many final examples instead"),
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table"),
) -> None:
    """Per step: items in and out, requests, tokens, USD (list price and Batch API), YouTube quota units and days."""
    from videokr.config import Config
    from videokr.corpus.estimate import workspace_stages
    from videokr.corpus.plan import PAPER_KNOWLEDGE_POINTS, PlanError, plan

    if sum(x is not None for x in (knowledge_points, videos, examples)) > 1:
        fail("give one of --knowledge-points, --videos or --examples, not both")
    if knowledge_points is None and videos is None and examples is None:
        knowledge_points = PAPER_KNOWLEDGE_POINTS
    ws = _workspace(ctx)
    try:
        if ws is None:
            stages, quota = workspace_stages(Config(), Path.cwd(), None)
        else:
            stages, quota = workspace_stages(ws.config, ws.root, ws.store)
        result = plan(stages, knowledge_points=knowledge_points, videos=videos, examples=examples,
                      daily_quota=quota)
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
    examples = "" if result.examples is None else f" → {round(result.examples):,} examples"
    table = Table(title=f"Corpus plan: {round(result.knowledge_points):,} knowledge points → "
                        f"{round(result.videos):,} videos{examples} ({where})", title_justify="left")
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


# -- §3.4: the manual quality assessment -------------------------------------------------------


@quality_app.command("sample")
def quality_sample(
    ctx: typer.Context,
    out: Path = typer.Option(..., "--out", help="the review queue to write (JSON Lines)"),
    size: int = typer.Option(PAPER_SAMPLE_SIZE, "--size", min=1, help="examples to sample (the paper's 800)"),
    seed: int = typer.Option(DEFAULT_SEED, "--seed", help="the same seed draws the same sample"),
) -> None:
    """Write a seeded random sample of the live SFT set as a review queue, one example a line.

    Each line has what a reviewer needs (id, video, question, options, answer, reasoning, skill,
    discipline) and the verdict fields to fill in; the filled-in file is what `quality import` reads."""
    from rich.markup import escape

    from videokr.cli.common import workspace
    from videokr.corpus.quality import QualityError, sample_queue

    ws = workspace(ctx)
    try:
        sample = sample_queue(ws.store, out, size=size, seed=seed, video_root=ws.video_root())
    except (QualityError, OSError) as exc:
        fail(str(exc))
    short = f" (the SFT set has only {len(sample)})" if len(sample) < size else ""
    console.print(escape(f"{out}: {len(sample)} examples to review{short}, seed {seed}"), highlight=False)


@quality_app.command("import")
def quality_import(
    ctx: typer.Context,
    files: list[Path] = typer.Argument(..., help="verdict files (JSON Lines): the filled-in review queue"),
    strict: bool = typer.Option(False, "--strict", help="exit 1 when any line was rejected"),
    show: int = typer.Option(20, "--show", min=0, help="rejected lines to print per file"),
) -> None:
    """Import reviewers' verdicts (the `quality_review` step): one per example; importing an example again replaces it.

    A line: id, non_visual_solvable, reasoning_error, answer_changing_error (true/false), reviewer,
    note. Bad lines are reported as FILE:LINE: reason; the good ones are imported anyway."""
    from videokr.cli.common import workspace
    from videokr.cli.pipeline import import_files
    from videokr.corpus.quality import import_verdicts

    import_files(workspace(ctx), "quality_review", files, import_verdicts, unit="lines", what="verdict",
                 strict=strict, show=show)


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


@quality_app.command("report")
def quality_report_command(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of tables"),
) -> None:
    """Non-visual-solvable, reasoning-error and answer-changing-error counts and rates against the paper's
    52, 32 and 17 of 800; by skill and by discipline too."""
    from videokr.cli.common import workspace
    from videokr.corpus.quality import live_verdicts, quality_report

    report = quality_report(live_verdicts(workspace(ctx).store))
    if as_json:
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
        return
    if not report["reviewed"]:
        console.print("no verdicts yet: `videokr corpus quality sample`, review, then `videokr corpus quality "
                      "import`", highlight=False)
        return
    names = ("non_visual_solvable", "reasoning_error", "answer_changing_error")
    table = Table(title=f"Manual quality assessment: {report['reviewed']:,} examples reviewed by "
                        f"{report['reviewers']} reviewer(s)", title_justify="left")
    for column in ("category", "count", "rate", "paper", "paper rate"):
        table.add_column(column, justify="left" if column == "category" else "right")
    for name in names:
        mine, paper = report[name], report["paper"][name]
        table.add_row(name, f"{mine['count']:,}", _rate(mine["rate"]), f"{paper['count']} of {paper['of']}",
                      _rate(paper["rate"]))
    console.print(table)
    for group, title in (("by_skill", "skill"), ("by_discipline", "discipline")):
        sub = Table(title=f"By {title}", title_justify="left")
        sub.add_column(title)
        sub.add_column("reviewed", justify="right")
        for name in names:
            sub.add_column(name, justify="right")
        for key, counts in report[group].items():
            sub.add_row(key, f"{counts['reviewed']:,}",
                        *(f"{counts[n]['count']} ({_rate(counts[n]['rate'])})" for n in names))
        console.print(sub)
