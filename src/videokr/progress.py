"""Progress bars with ETA for anything that takes more than a second."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

console = Console(stderr=True)


@contextmanager
def progress_bar(
    description: str, total: int | None, status: Callable[[], str] | None = None
) -> Iterator[Callable[[int], None]]:
    """Yields `advance(n)`; the bar shows done/total, elapsed and ETA, on stderr.

    `status()`, when given, is shown after the ETA and refreshed on every advance (live cost).
    """
    columns = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
    ]
    if status is not None:
        columns.append(TextColumn("{task.fields[status]}"))
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(description, total=total, status=status() if status else "")

        def advance(n: int = 1) -> None:
            if status is None:
                progress.advance(task, n)
            else:
                progress.update(task, advance=n, status=status())

        yield advance
