"""Progress display for long stages, written to stderr so stdout stays parseable.

Jobs report progress through a `Stage` callback: `stage(name, steps)` starts a stage and returns
the function that advances it by one step. `no_stage` is the silent default for library use.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from churnhealth.sinks import TerminalConsole

Stage = Callable[[str, int], Callable[[], None]]
"""`stage(name, steps) -> advance`: starts a stage of `steps` steps; `advance()` does one."""

err_console = TerminalConsole(stderr=True)


def no_stage(name: str, steps: int = 1) -> Callable[[], None]:
    """A stage that shows nothing (library calls, tests)."""
    return lambda: None


@contextmanager
def stages() -> Iterator[Stage]:
    """Yield a `Stage` that adds a progress bar per stage on stderr.

    The display starts with the first stage and is removed when the command fails, so a
    failure prints its one-line error and nothing else."""
    bar = Progress(
        TextColumn("{task.description:<24}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=False,
    )

    def start(name: str, steps: int = 1) -> Callable[[], None]:
        if not bar.live.is_started:
            bar.start()
        task = bar.add_task(name, total=steps)
        return lambda: bar.advance(task)

    try:
        yield start
    except BaseException:
        bar.live.transient = True  # a failed run leaves its one-line error, not half a bar
        raise
    finally:
        if bar.live.is_started:
            bar.stop()
