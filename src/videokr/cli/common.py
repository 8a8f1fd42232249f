"""What every verb shares: finding the workspace and turning library errors into messages."""

from __future__ import annotations

from pathlib import Path

import typer

from videokr.config import ConfigError
from videokr.progress import console
from videokr.workspace import Workspace, WorkspaceError

WorkspaceOption = typer.Option(
    None, "--workspace", "-w", help="workspace directory (default: found from the current directory upward)"
)


def workspace(ctx: typer.Context) -> Workspace:
    """The workspace named by --workspace on the root command, or found upward from cwd."""
    root = ctx.find_root()
    chosen: Path | None = (root.obj or {}).get("workspace")
    try:
        return Workspace.open(chosen) if chosen else Workspace.find()
    except (WorkspaceError, ConfigError) as exc:
        fail(str(exc))


def fail(message: str, code: int = 1) -> "typer.Exit":
    from rich.markup import escape

    console.print(f"[bold red]error:[/] {escape(message)}")  # paths and extras like 'videokr[train]' are text
    raise typer.Exit(code)


FUNNEL_HINT = " (see `videokr status --funnel`)"


def print_rejected(reasons: list[str], show: int, more: str = FUNNEL_HINT) -> None:
    """The first ``show`` rejection reasons of a file, then how many more there are (``more`` says where)."""
    from rich.markup import escape

    for reason in reasons[:show]:
        console.print(f"  [yellow]rejected[/] {escape(reason)}")
    if len(reasons) > show:
        console.print(f"  … and {len(reasons) - show} more{more}")


def require(module: str, extra: str) -> None:
    """Stop with an install hint when an optional dependency of this verb is missing."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        fail(f"this needs the '{module}' package: pip install 'videokr[{extra}]'")
