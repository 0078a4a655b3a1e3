"""Progress bars on stderr for the steps that lower layers report through callbacks (``collect_live``'s
``progress``): one bar per account, started at the first step, stopped when the context ends."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from diag.collect.live import OnStep, Step


class _CollectBars:
    def __init__(self) -> None:
        self.bars: Any = None  # rich.progress.Progress, started at the first step
        self.tasks: dict[str, Any] = {}

    def __call__(self, step: Step) -> None:
        if self.bars is None:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            from diag.render.console import err

            self.bars = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=err(),
                transient=False,
            )
            self.bars.start()
        task = self.tasks.get(step.account)
        if task is None:
            task = self.tasks[step.account] = self.bars.add_task(f"{step.account} {step.stage}", total=0)
        if step.listed:
            self.bars.update(task, total=(self.bars.tasks[task].total or 0) + step.listed)
        elif step.fetched:
            self.bars.advance(task, step.fetched)
        else:
            self.bars.update(task, description=f"{step.account} {step.stage}")

    def stop(self) -> None:
        if self.bars is not None:
            self.bars.stop()


@contextmanager
def collect_progress(enabled: bool) -> Iterator[OnStep | None]:
    """A ``progress`` callback for ``collect_live`` drawing one bar per account (None when not ``enabled``)."""
    if not enabled:
        yield None
        return
    bars = _CollectBars()
    try:
        yield bars
    finally:
        bars.stop()
