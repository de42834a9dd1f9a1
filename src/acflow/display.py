"""What people see while a sync runs and when it ends: progress bars and a summary table."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from .errors import ConfigError, did_you_mean, quoted

if TYPE_CHECKING:  # the CLI imports this module before it knows whether a sync will run
    from rich.progress import TaskID

    from .client import RequestStats
    from .paging import PageProgress
    from .sync import ProgressCallback, SyncSummary


@contextmanager
def progress_bars(console: Console, enabled: bool = True) -> Iterator[ProgressCallback | None]:
    """A progress callback that draws one bar per entity: rows, pages, requests/s, ETA."""
    if not enabled or not console.is_terminal:
        yield None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

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
    how = {"set": "as set for the account", "learnt": "learnt from the account's dates",
           "guessed": "a guess: no dated records yet"}.get(summary.zone_source, summary.zone_source)
    sure = f", {summary.zone_confidence}" if summary.zone_source == "learnt" else ""
    table = Table(title=f"{summary.account}  ({summary.seconds:.1f} s, {summary.requests} requests)",
                  title_justify="left", box=box.SIMPLE_HEAD, caption_justify="left",
                  caption=f"Naive times read in {summary.zone} ({how}{sure})")
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


CELL_WIDTH = 28  # a column of a table is at most this wide; longer values are cut with …


def pick_columns(names: list[str], wanted: str | None, where: str) -> list[str]:
    """`--columns a,b,c` -> those columns in that order (any case), or a ConfigError naming the unknown one."""
    if not wanted:
        return names
    by_lower = {n.lower(): n for n in names}
    chosen = []
    for name in (w.strip() for w in wanted.split(",") if w.strip()):
        if name.lower() not in by_lower:
            hint = did_you_mean(name, names) or f" Columns: {', '.join(names)}"
            raise ConfigError(f"--columns: no column {quoted(name)} in {where}.{hint}")
        chosen.append(by_lower[name.lower()])
    return chosen


def _text(value: object) -> str:
    return "" if value is None else str(value).replace("\n", " ")


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[:max(width - 1, 0)] + "…"


def preview_view(rows: list[dict[str, Any]], names: list[str], title: str, width: int) -> RenderableType:
    """A table when every column fits `width`; otherwise one record at a time, a field a line.

    Forty columns folded into 80 characters are unreadable; as `psql \\x auto` does, a wide
    result is shown vertically, so every value stays on one line.
    """
    heading = f"{title}: first {len(rows)} rows, {len(names)} columns"
    widths = [min(max([len(n), *(len(_text(r[n])) for r in rows)]), CELL_WIDTH) for n in names]
    if sum(w + 3 for w in widths) + 1 <= width:
        table = Table(title=heading, title_justify="left", box=box.SIMPLE_HEAD)
        for n in names:
            table.add_column(n, no_wrap=True, max_width=CELL_WIDTH, overflow="ellipsis")
        for row in rows:
            table.add_row(*(_cut(_text(row[n]), CELL_WIDTH) for n in names))
        return table
    label = max((len(n) for n in names), default=0)
    room = max(width - label - 3, 10)
    lines = [Text(heading + " (one record at a time: the columns do not fit the terminal)", style="bold")]
    for i, row in enumerate(rows, 1):
        lines.append(Text(f"-- record {i} " + "-" * max(width - 13 - len(str(i)), 0), style="dim"))
        for n in names:
            lines.append(Text(f"{n.ljust(label)} : {_cut(_text(row[n]), room)}"))
    return Group(*lines)
