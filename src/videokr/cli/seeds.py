"""`videokr seeds`: §3.3's expert seed examples — import files, see coverage against the paper's 150.

`seeds import FILE` runs the `seeds` step over one file on the one runner (one item per line;
bad lines are reported as `FILE:LINE: reason`); `seeds status` counts the live seeds per
discipline × skill against §3.3's 150 per cell.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.table import Table

from videokr.cli.common import workspace
from videokr.progress import console

seeds_app = typer.Typer(help="Expert seed examples (§3.3): 150 per skill per discipline, shown to the generator.",
                        no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(seeds_app, name="seeds")


@seeds_app.command("import")
def import_(
    ctx: typer.Context,
    files: list[Path] = typer.Argument(..., help="seed files: JSONL or a JSON array of official example fields "
                                       "plus skill and discipline"),
    strict: bool = typer.Option(False, "--strict", help="exit 1 if any line was rejected"),
    show: int = typer.Option(20, help="how many rejected lines to print"),
) -> None:
    """Import expert seed examples (the `seeds` step): one item per line; bad lines are reported by file and line.

    Importing a file again redoes only the lines that changed and retires the seeds it no longer
    holds. Exits 1 when a file yields no seed, or (with --strict) when any line was rejected."""
    from videokr.cli.pipeline import import_files
    from videokr.steps.seeds import import_file

    import_files(workspace(ctx), "seeds", files, import_file, unit="lines", what="seed", strict=strict, show=show)


@seeds_app.command("status")
def status(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table"),
) -> None:
    """Live seeds per discipline × skill against the paper's 150 per cell (1,800 in all)."""
    from videokr.records import Skill
    from videokr.steps.seeds import coverage, coverage_dict, live_seeds

    ws = workspace(ctx)
    cells = coverage(live_seeds(ws.store))
    summary = coverage_dict(cells)
    if as_json:
        sys.stdout.write(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
        return
    target = summary["target_per_skill_per_discipline"]
    table = Table(title=f"Seed examples per discipline × skill (target {target} each)")
    table.add_column("discipline")
    for skill in Skill:
        table.add_column(skill.value, justify="right")
    for start in range(0, len(cells), len(Skill)):
        row = cells[start:start + len(Skill)]
        colour = ["green" if c.met else "yellow" if c.seeds else "dim" for c in row]
        table.add_row(row[0].discipline.value, *(f"[{k}]{c.seeds}/{c.target}[/]" for k, c in zip(colour, row)))
    console.print(table)
    console.print(f"{summary['seeds']}/{summary['target']} seeds; {summary['cells_met']}/{len(cells)} cells at "
                  f"{target}; {summary['missing']} still to write")
