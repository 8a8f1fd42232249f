"""`videokr prompts list|show STEP`: the prompts the text-model steps send, as a run would send them.

A workspace's `steps.<step>.prompt` replaces the packaged prompt; `show` prints the one in use
(and says which), or the packaged one with `--packaged` or outside a workspace.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from videokr.cli.common import fail
from videokr.progress import console

prompts_app = typer.Typer(help="The prompts of the model-bound steps (§3.1–§3.2).", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    prompts_app.command("list")(list_prompts)
    prompts_app.command("show")(show)
    app.add_typer(prompts_app, name="prompts")


def _override(ctx: typer.Context, step: str) -> tuple[str | None, Path | None]:
    """The workspace's override of `step`'s prompt, if there is a workspace and it has one."""
    from videokr.config import ConfigError
    from videokr.workspace import Workspace, WorkspaceError

    chosen = (ctx.find_root().obj or {}).get("workspace")
    try:
        ws = Workspace.open(chosen) if chosen else Workspace.find()
    except WorkspaceError:
        if chosen:
            raise
        return None, None
    except ConfigError as exc:
        fail(str(exc))
    text = ws.config.step_section(step).get("prompt")
    return (text if isinstance(text, str) else None), ws.root


def list_prompts() -> None:
    """The steps that have a packaged prompt."""
    from videokr.prompts import prompt_names

    for name in prompt_names():
        sys.stdout.write(name + "\n")


def show(
    ctx: typer.Context,
    step: str = typer.Argument(..., help="a step with a prompt (see `videokr prompts list`)"),
    packaged: bool = typer.Option(False, "--packaged",
                                  help="the packaged prompt, even where the workspace overrides it"),
) -> None:
    """Print the prompt STEP sends, with its {placeholders}."""
    from videokr.prompts import PromptError, load_prompt
    from videokr.workspace import WorkspaceError

    try:
        text = load_prompt(step)
    except PromptError as exc:
        fail(str(exc))
    if not packaged:
        try:
            override, root = _override(ctx, step)
        except WorkspaceError as exc:
            fail(str(exc))
        if override is not None:
            console.print(f"[dim]steps.{step}.prompt of {root / 'videokr.yaml'} (--packaged for the packaged one)[/]",
                          highlight=False)
            text = override
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
