"""Rich progress display for long stages, written to stderr so stdout stays parseable."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

err_console = Console(stderr=True)


@contextmanager
def stages() -> Iterator[Callable[[str, int], Callable[[], None]]]:
    """Yield `start(name, steps) -> advance`; each call adds a bar for one stage."""
    with Progress(
        TextColumn("{task.description:<24}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=False,
    ) as bar:

        def start(name: str, steps: int = 1) -> Callable[[], None]:
            task = bar.add_task(name, total=steps)
            return lambda: bar.advance(task)

        yield start
