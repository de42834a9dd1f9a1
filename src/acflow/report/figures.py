"""The report's figures: each one SQL over the mirror, a table, and a sentence on how it was made.

A figure never mixes currencies (amounts are summed per currency, in major units by the
catalog's `amount`), counts engagement by unique opens and clicks, keeps hard and soft bounces
apart, and leaves restricted deal stubs out of every total while counting them. A figure with
no rows says why (an entity not synced, nothing in the period), so an empty section is never
mistaken for "zero".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pyarrow as pa

from ..sqltext import quote

if TYPE_CHECKING:
    from ..mirror import Mirror
    from .window import Window

SECTIONS = {"email": "E-mail", "audience": "Lists and contacts", "pipeline": "Pipeline", "forms": "Forms"}


@dataclass(frozen=True)
class Column:
    name: str
    label: str
    kind: str = "int"  # int | rate | money | number | text | date | factor | percent


@dataclass
class Figure:
    name: str
    section: str  # a key of SECTIONS
    title: str
    how: str  # how it was computed, in words a user can check
    columns: list[Column]
    table: pa.Table
    empty: str | None = None  # why there are no rows
    note: str | None = None  # advice beside the figure (restricted deals, inflated rates)

    def rows(self) -> list[dict[str, object]]:
        return self.table.to_pylist()


@dataclass
class Source:
    """The mirror's current rows of one account, and the window figures over time look at."""

    db: Mirror
    account: str
    window: Window
    stage_probabilities: Mapping[int, float] = field(default_factory=dict)

    def has(self, entity: str) -> bool:
        return self.db.has(self.account, entity)

    def rel(self, entity: str) -> str:
        return self.db.current(self.account, entity)

    def table(self, sql: str) -> pa.Table:
        with self.db.cursor() as con, con.cursor() as cur:  # its own cursor: no result of the mirror's pending
            cur.execute("SET TimeZone = 'UTC'")
            return cur.sql(sql).to_arrow_table()

    def rows(self, sql: str) -> list[tuple[object, ...]]:
        with self.db.cursor() as con, con.cursor() as cur:
            cur.execute("SET TimeZone = 'UTC'")
            return cur.sql(sql).fetchall()

    def value(self, sql: str) -> object:
        rows = self.rows(sql)
        return rows[0][0] if rows else None

    def missing(self, *entities: str) -> str | None:
        """Why a figure cannot be made: the entities it reads that the mirror does not hold."""
        absent = [e for e in entities if not self.has(e)]
        if not absent:
            return None
        names = " ".join(absent)
        return (f"The mirror holds no {', '.join(absent)} for {self.account}: run `acflow report --sync`, "
                f"or `acflow sync {names}` first.")


def rate(numerator: str, denominator: str) -> str:
    """SQL: an exact ratio, null where the denominator is 0 (rounding is for display only)."""
    return f"CAST({numerator} AS DOUBLE) / nullif({denominator}, 0)"


def empty_table(columns: list[Column]) -> pa.Table:
    return pa.table({c.name: pa.array([], pa.string()) for c in columns})


def figure(src: Source, name: str, section: str, title: str, how: str, columns: list[Column], sql: str | None,
           *, needs: tuple[str, ...] = (), empty: Callable[[], str] | str = "", note: str | None = None) -> Figure:
    """Run a figure's SQL, or say why it cannot be run or came back empty."""
    why = src.missing(*needs)
    if why is not None or sql is None:
        return Figure(name, section, title, how, columns, empty_table(columns), why or str(empty))
    table = src.table(sql).select([c.name for c in columns])
    reason = None
    if table.num_rows == 0:
        reason = empty() if callable(empty) else empty
    return Figure(name, section, title, how, columns, table, reason or None, note)


def lookup(src: Source, entity: str, key: str, value: str, fallback: str) -> str:
    """SQL for a name column from another entity (a pipeline's title), or `fallback` (SQL) if not synced."""
    if not src.has(entity):
        return fallback
    return f"coalesce((SELECT {value} FROM {src.rel(entity)} AS x WHERE x.id = {key} LIMIT 1), {fallback})"


def compute(src: Source) -> dict[str, Figure]:
    """Every figure, in the order the report shows them."""
    from . import audience, email, pipeline

    out: dict[str, Figure] = {}
    for part in (email, audience, pipeline):
        for fig in part.figures(src):
            out[fig.name] = fig
    return out


__all__ = ["SECTIONS", "Column", "Figure", "Source", "compute", "figure", "lookup", "quote", "rate"]
