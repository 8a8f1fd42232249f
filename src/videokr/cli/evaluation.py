"""Scoring and evaluation verbs: score, eval run, eval report."""

from __future__ import annotations

import os
from pathlib import Path

import typer
from rich.table import Table

from videokr.cli.common import fail
from videokr.progress import console


def register(app: typer.Typer) -> None:
    app.command("score")(score)


def _judge(judge_url: str | None, judge_model: str | None):  # type: ignore[no-untyped-def]
    if not judge_url:
        return None
    from videokr.scoring.judge import JUDGE_DEFAULT_MODEL, Judge, openai_complete

    key = os.environ.get("VIDEOKR_JUDGE_API_KEY") or os.environ.get("OPENAI_API_KEY")
    return Judge(openai_complete(judge_url, key), judge_model or JUDGE_DEFAULT_MODEL)


def score(
    predictions: Path = typer.Argument(..., help="JSONL: id, question, options, answer, problem_type, output"),
    out: Path = typer.Option(None, "--out", help="write the scored lines here (JSONL)"),
    mode: str = typer.Option("official", help="reward mode: official (verl parity) or strict"),
    judge_url: str = typer.Option(None, help="OpenAI-compatible base URL of a judge for open-ended answers"),
    judge_model: str = typer.Option(None, help="judge model name (default gpt-4o, as the official task)"),
    show: int = typer.Option(20, help="how many bad lines to print"),
) -> None:
    """Score model outputs: answer, correctness, and the GRPO reward of each line."""
    from videokr.scoring.predictions import score_file
    from videokr.scoring.reward import MODES

    if mode not in MODES:
        fail(f"--mode must be one of {', '.join(MODES)}, not {mode!r}")
    if not predictions.is_file():
        fail(f"{predictions}: no such file")
    report = score_file(predictions, out, mode=mode, judge=_judge(judge_url, judge_model))  # type: ignore[arg-type]
    table = Table(title=f"{predictions.name}: {report.lines} lines")
    for column in ("problem type", "scored", "correct", "accuracy", "unscored"):
        table.add_column(column, justify="left" if column == "problem type" else "right")
    rows = [(k, t) for k, t in sorted(report.by_type.items())] + [("overall", report.overall)]
    for name, tally in rows:
        acc = f"{100 * tally.accuracy:.2f}%" if tally.accuracy is not None else "—"
        table.add_row(name, str(tally.scored), str(tally.correct), acc, str(tally.unscored))
    console.print(table)
    good = report.lines - len(report.bad)
    if good:
        console.print(f"mean reward ({mode}): {report.reward_sum / good:.4f}")
    if report.overall.unscored:
        console.print(
            f"{report.overall.unscored} open-ended item(s) unscored: no rule could settle them; "
            "pass --judge-url to judge them"
        )
    for reason in report.bad[:show]:
        console.print(f"[yellow]bad line[/] {reason}")
    if len(report.bad) > show:
        console.print(f"… and {len(report.bad) - show} more bad lines")
    if out:
        console.print(f"scored lines written to {out}")
    if report.bad and not good:
        raise typer.Exit(1)
