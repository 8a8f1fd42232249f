"""`videokr review`: serve the review app (every human queue in one place); its subcommands come from
`cli/review_interop.py` (Label Studio and Argilla export/import)."""

from __future__ import annotations

import typer

from videokr.cli import review_interop
from videokr.cli.common import fail, workspace

review_app = typer.Typer(help="Human review queues: audits, seeds, quality, re-annotation, syllabus drafts.",
                         invoke_without_command=True)


def register(app: typer.Typer) -> None:
    app.add_typer(review_app, name="review")
    review_interop.register(review_app)


@review_app.callback()
def review(
    ctx: typer.Context,
    port: int = typer.Option(8765, "--port", min=0, max=65535, help="port to listen on (0: any free port)"),
    host: str = typer.Option("127.0.0.1", "--host", help="address to bind (default: loopback only)"),
    reviewer: str = typer.Option(None, "--reviewer", help="your name, pre-filled in every form"),
) -> None:
    """Serve the review app; the first line printed is its URL with a one-time sign-in token."""
    if ctx.invoked_subcommand is not None:
        return
    from videokr.cli.common import require

    require("starlette", "review")
    require("uvicorn", "review")
    from videokr.review.server import serve

    ws = workspace(ctx)
    try:
        serve(ws, host=host, port=port, reviewer=reviewer, announce=lambda line: print(line, flush=True))
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    except KeyboardInterrupt:
        pass
