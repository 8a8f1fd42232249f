"""Root of the `videokr` command. Each area registers its verbs from its own module."""

from __future__ import annotations

from pathlib import Path

import typer

from videokr.cli import data, evaluation, llm, pipeline, train, video
from videokr.cli import prompts
from videokr.cli import kb
from videokr.cli import corpus
from videokr.cli import seeds
from videokr.cli import review
from videokr.cli import benchmark

app = typer.Typer(
    name="videokr",
    help="Build, train on and evaluate knowledge- and reasoning-intensive video QA (VideoKR).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def root(
    ctx: typer.Context,
    workspace: Path = typer.Option(
        None, "--workspace", "-w", help="workspace directory (default: found from the current directory upward)"
    ),
) -> None:
    ctx.obj = {"workspace": workspace}


data.register(app)
pipeline.register(app)
evaluation.register(app)
llm.register(app)
video.register(app)
train.register(app)
prompts.register(app)
kb.register(app)
corpus.register(app)
seeds.register(app)
review.register(app)
benchmark.register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
