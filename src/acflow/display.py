"""What people see while a sync runs and when it ends: progress bars and a summary table."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich import box
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from .client import RequestStats
from .paging import PageProgress
from .sync import ProgressCallback, SyncSummary


@contextmanager
def progress_bars(console: Console, enabled: bool = True) -> Iterator[ProgressCallback | None]:
    """A progress callback that draws one bar per entity: rows, pages, requests/s, ETA."""
    if not enabled or not console.is_terminal:
        yield None
        return
    bars = Progress(
        TextColumn("[bold]{task.description:<12}"),
        BarColumn(),
        TextColumn("{task.completed:>9,.0f} rows"),
        TextColumn("[dim]{task.fields[pages]} pages  {task.fields[rate]:.1f} req/s"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )
    tasks: dict[str, TaskID] = {}
    started: dict[str, float] = {}

    def update(entity: str, progress: PageProgress, stats: RequestStats) -> None:
        if entity not in tasks:
            tasks[entity] = bars.add_task(entity, total=None, pages=0, rate=0.0)
            started[entity] = time.monotonic()
        elapsed = max(time.monotonic() - started[entity], 1e-6)
        total = max(progress.total, progress.rows) if progress.total is not None else None
        bars.update(tasks[entity], completed=progress.rows, total=total, pages=progress.pages,
                    rate=stats.requests / elapsed)

    with bars:
        yield update


def summary_table(summary: SyncSummary) -> Table:
    table = Table(title=f"{summary.account}  ({summary.seconds:.1f} s, {summary.requests} requests)",
                  title_justify="left", box=box.SIMPLE_HEAD)
    for name, justify in (("entity", "left"), ("fetch", "left"), ("rows", "right"), ("+new ~upd -gone", "right"),
                          ("req", "right"), ("retry", "right"), ("s", "right"), ("status", "left")):
        table.add_column(name, justify=justify, no_wrap=name in ("entity", "+new ~upd -gone"))  # type: ignore[arg-type]
    for e in summary.entities:
        status = "[green]ok" if e.status == "ok" else f"[red]{e.status}"
        changed = f"+{e.inserted:,} ~{e.updated:,} -{e.removed:,}"
        retries = f"{e.retries}" + (f" ({e.rate_limited}x429)" if e.rate_limited else "")
        table.add_row(e.entity, "incr" if e.fetch == "incremental" else e.fetch, f"{e.rows:,}", changed,
                      str(e.requests), retries, f"{e.seconds:.1f}", status)
    return table
