"""A progress bar for long steps, shown on stderr (never mixed into printed results)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


@contextmanager
def progress_steps(total: int, description: str) -> Iterator[Callable[[str], None]]:
    """Yield a callback that advances the bar by one step and shows the step's label."""
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[step]}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=False,
    )
    with bar:
        task = bar.add_task(description, total=total, step="")

        def advance(label: str) -> None:
            bar.update(task, advance=1, step=label)

        yield advance
