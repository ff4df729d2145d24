"""Progress bars on stderr (rich), for loops over frames, MD steps or downloaded bytes.

Bars are transient (they vanish when done) and cost nothing when disabled, so library code can
always call them and let the caller's ``progress``/``verbose`` flag decide.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterable, Iterator


@contextmanager
def progress_bar(total: int, description: str, *, enabled: bool = True, initial: int = 0, unit: str = "step"):
    """A bar for ``total`` units (``unit="bytes"`` shows sizes and speed); yields ``advance(n)``."""
    if not enabled:
        yield lambda n=1: None
        return
    from rich.console import Console
    from rich.progress import (BarColumn, DownloadColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeRemainingColumn, TransferSpeedColumn)

    counts = (DownloadColumn(), TransferSpeedColumn()) if unit == "bytes" else (MofNCompleteColumn(),)
    with Progress(TextColumn("{task.description}"), BarColumn(), *counts, TimeRemainingColumn(), transient=True,
                  console=Console(stderr=True)) as bar:
        task = bar.add_task(description, total=total, completed=initial)
        yield lambda n=1: bar.advance(task, n)


def track(items: Iterable, total: int, description: str, enabled: bool = True) -> Iterator:
    """``items`` with a bar of ``total`` steps."""
    with progress_bar(total, description, enabled=enabled) as advance:
        for item in items:
            yield item
            advance()
