"""`videokr review export|import`: do a review queue in Label Studio or Argilla, and bring the verdicts back.

`export --queue Q --format label-studio|argilla --out DIR [--media-url BASE]` writes the queue's
items with their current verdicts pre-filled (videokr.review.interop); `import FILE_OR_DIR` reads
the tool's export (Label Studio JSON or JSON_MIN, an Argilla dataset saved with `to_disk`), checks
each verdict by the app's own rules and saves it as the app does (`save_verdict`; an audit label
also reaches the pool's table). A bad task is reported by file and task
and the good ones are imported anyway; the command exits 1 when any was bad or none was imported.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import typer
from rich.markup import escape

from videokr.cli.common import fail, workspace
from videokr.progress import console


def register(review_app: typer.Typer) -> None:
    """Add `export` and `import` to the `videokr review` group (called by cli/review.py)."""
    review_app.command("export")(export)
    review_app.command("import")(import_)


def export(
    ctx: typer.Context,
    queue: str = typer.Option(..., "--queue", help="audit, seeds, quality, reannotation or syllabus"),
    format: str = typer.Option(
        ..., "--format", help="label-studio or argilla"
    ),  # noqa: A002 - the flag's name
    out: Path = typer.Option(..., "--out", help="directory to write (files already there are not replaced)"),
    media_url: str = typer.Option(
        None,
        "--media-url",
        help="URL that serves the media root, for local videos and frames (e.g. http://127.0.0.1:8000, or "
        "Label Studio's /data/local-files/?d=PREFIX)",
    ),
    media_root: Path = typer.Option(
        None,
        "--media-root",
        help="the folder --media-url serves (default: the workspace's video_root, else the " "workspace)",
    ),
) -> None:
    """Write a queue for Label Studio (labeling config + tasks) or Argilla (a dataset directory)."""
    from videokr.review.interop import FORMATS, Media, export_queue
    from videokr.review.interop.content import MediaError
    from videokr.review.interop.controls import AnswerError
    from videokr.review.queues import queue_items
    from videokr.review.schema import QUEUES
    from videokr.review.verdicts import final_verdicts

    if queue not in QUEUES:
        fail(f"--queue {queue!r}: one of {', '.join(QUEUES)}")
    if format not in FORMATS:
        fail(f"--format {format!r}: one of {', '.join(FORMATS)}")
    ws = workspace(ctx)
    items = queue_items(ws.store, queue, ws)
    if not items:
        fail(f"the {queue} queue is empty in this workspace: nothing to export")
    final = final_verdicts(ws.store, queue)
    try:
        media = Media(media_url, (media_root or ws.video_root() or ws.root).resolve(), ws.root)
        paths = export_queue(format, out, queue, items, final, media=media)  # type: ignore[arg-type]
    except (MediaError, AnswerError, FileExistsError) as exc:
        fail(str(exc))
    prefilled = sum(item.item_id in final for item in items)
    console.print(
        escape(
            f"{queue}: {len(items)} items ({prefilled} with their current verdict pre-filled) → "
            + ", ".join(str(p) for p in paths)
        ),
        highlight=False,
        soft_wrap=True,
    )
    if format == "label-studio":
        console.print(
            "In Label Studio: paste the .label_config.xml as the project's labeling interface, import the "
            ".tasks.json, and export JSON or JSON_MIN when done: `videokr review import FILE`."
        )
    else:
        console.print(
            escape(
                f"In Python: `rg.Dataset.from_disk({str(out)!r})`; when done, `dataset.to_disk(DIR)` and "
                "`videokr review import DIR --reviewers users.json`."
            ),
            highlight=False,
        )


def import_(
    ctx: typer.Context,
    path: Path = typer.Argument(
        ..., help="a Label Studio JSON/JSON_MIN export file, or an Argilla dataset directory"
    ),
    format: str = typer.Option(
        None, "--format", help="label-studio or argilla (default: told from PATH)"
    ),  # noqa: A002
    reviewers: Path = typer.Option(
        None,
        "--reviewers",
        help="JSON object: the tool's user (Label Studio email or " "id, Argilla user id) → reviewer name",
    ),
    round_: int = typer.Option(
        None,
        "--round",
        help="give every verdict this round (1 or 2); default: a task's "
        "first reviewer is round 1, its second round 2",
    ),
    show: int = typer.Option(20, help="how many problems to print"),
) -> None:
    """Import the verdicts a tool exported; bad tasks are named by file and task, the good ones saved."""
    from videokr.review.interop import FORMATS, TOOLS, read_answers, verdicts_from
    from videokr.review.interop.checks import app_checked, save
    from videokr.review.queues import queue_items
    from videokr.review.schema import ReviewItem, ReviewVerdict

    if format is not None and format not in FORMATS:
        fail(f"--format {format!r}: one of {', '.join(FORMATS)}")
    if round_ is not None and round_ not in (1, 2):
        fail(f"--round {round_}: 1 or 2")
    names = _reviewers(reviewers) if reviewers is not None else {}
    ws = workspace(ctx)
    try:
        found, answers, skipped = read_answers(path, format)  # type: ignore[arg-type]
    except (FileNotFoundError, ValueError) as exc:
        fail(str(exc))
    items: dict[str, dict[str, ReviewItem]] = {}

    def known(queue: str) -> set[str]:
        if queue not in items:
            listed = queue_items(ws.store, queue, ws)  # type: ignore[arg-type]
            items[queue] = {item.item_id: item for item in listed}
        return set(items[queue])

    def check(verdict: ReviewVerdict) -> ReviewVerdict:
        return app_checked(verdict, items[verdict.queue][verdict.item_id], ws.store)

    result = verdicts_from(
        answers, tool=TOOLS[found], known_items=known, reviewers=names, round=round_, check=check
    )
    for verdict in result.verdicts:
        save(ws.store, verdict)
    per_queue = Counter(v.queue for v in result.verdicts)
    summary = ", ".join(f"{n} {q}" for q, n in sorted(per_queue.items())) or "none"
    superseded = (
        f"; {result.superseded} superseded by the same reviewer's later answer" if result.superseded else ""
    )
    console.print(
        escape(
            f"{path}: imported {len(result.verdicts)} verdicts ({summary}); {skipped} skipped or "
            f"unanswered{superseded}; {len(result.problems)} with problems"
        ),
        highlight=False,
        soft_wrap=True,
    )
    for problem in result.problems[:show]:
        console.print(f"  [red]✗[/] {escape(str(problem))}", highlight=False, soft_wrap=True)
    if len(result.problems) > show:
        console.print(f"  … and {len(result.problems) - show} more (--show N)")
    if result.problems:
        raise typer.Exit(1)
    if not result.verdicts:
        fail(f"{path}: no verdict to import (nothing answered yet?)")


def _reviewers(path: Path) -> dict[str, str]:
    """The --reviewers map: a JSON object of strings (tool user → reviewer name)."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        fail(f"--reviewers {path}: no such file")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        fail(f"--reviewers {path}: not JSON ({exc})")
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in value.items()
    ):
        fail(f'--reviewers {path}: expected a JSON object of names, like {{"alice@lab.org": "alice"}}')
    return {key: name.strip() for key, name in value.items()}
