"""Which rows a list request returns: order, date filters, id keyset, offset and limit.

Semantics (documented in the sandbox README section of `acflow sandbox serve --help`):
- `limit` defaults to 20 and is capped at 100; a non-number or < 1 means 20. `offset` from 0.
- `orders[id]` or `orders[cdate]` = ASC|DESC on every entity (first one given wins); ties in
  cdate go by id; `orders[tstamp]` sorts activities by their time the same way. Without one,
  records come by id ascending.
- Entities with a server-side `since` filter in the catalog (contacts, deals) take
  `filters[created_after|created_before|updated_after|updated_before]` with DAY granularity: only
  the value's date (its first 10 characters) counts, compared with the account-local date of
  the record's created time or update time (the update column, or the created time when it is
  null). `*_after` includes that day; `*_before` excludes it (strictly earlier days), so
  after=D1 & before=D2 is the half-open range [D1, D2). An entity whose filter is another
  parameter (activities' `after`) takes that one, as `updated_after`.
- Entities paged by id keyset (contacts) take `id_greater` and `id_less` (exclusive).
- A list under a parent record (`links/{id}/linkData`) holds that parent's records only.
- `meta.total` counts every record matching all of these (filters, keyset), before offset/limit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from acflow.catalog import Paging
from acflow.sandbox.clock import parse_day
from acflow.sandbox.profile import Principal, Profile
from acflow.sandbox.table import Table

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
DATE_FILTERS = ("created_after", "created_before", "updated_after", "updated_before")


class BadParameter(ValueError):
    """A query parameter the API would refuse (400), named in `parameter`."""

    def __init__(self, parameter: str, detail: str) -> None:
        super().__init__(detail)
        self.parameter = parameter


@dataclass(frozen=True)
class ListQuery:
    limit: int = DEFAULT_LIMIT
    offset: int = 0
    order_by: str = "id"  # "id" | "cdate"
    descending: bool = False
    days: tuple[tuple[str, int], ...] = ()  # (filter name, day number)
    id_greater: int | None = None
    id_less: int | None = None
    parent: int | None = None  # a list under one parent record (links/{id}/linkData): its id


def _int(query: Mapping[str, str], name: str) -> int | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        return None


def parse_query(profile: Profile, query: Mapping[str, str], parent: int | None = None) -> ListQuery:
    entity = profile.entity
    limit = _int(query, "limit")
    limit = DEFAULT_LIMIT if limit is None or limit < 1 else min(limit, MAX_LIMIT)
    offset = max(_int(query, "offset") or 0, 0)
    order_by, descending = "id", False
    orders = {"orders[id]": "id", **{f"orders[{name}]": "cdate" for name in profile.created_orders}}
    for key, value in query.items():
        if key in orders:
            order_by, descending = orders[key], value.strip().upper() == "DESC"
            break
    days: list[tuple[str, int]] = []
    for param, name in date_filters(entity.since).items():
        raw = query.get(param)
        if raw is None or raw == "":
            continue
        day = parse_day(raw)
        if day is None:
            raise BadParameter(param, f"Expected a date such as 2024-01-31, got {raw!r}")
        days.append((name, day))
    id_greater = id_less = None
    if entity.paging == Paging.ID_KEYSET:
        id_greater, id_less = _int(query, "id_greater"), _int(query, "id_less")
    return ListQuery(limit, offset, order_by, descending, tuple(days), id_greater, id_less, parent)


def date_filters(since: str | None) -> dict[str, str]:
    """The date parameters an entity takes -> what each means (one of DATE_FILTERS)."""
    if not since:
        return {}
    if since.startswith("filters["):
        return {f"filters[{name}]": name for name in DATE_FILTERS}
    return {since: "updated_after"}


def select(world, profile: Profile, table: Table, q: ListQuery, who: Principal) -> np.ndarray:
    """Row numbers matching `q` in answer order (before offset/limit)."""
    hidden = profile.hidden(world, table, who)
    key = ("select", q.order_by, q.days, None if hidden is None else who.name, q.parent)

    def compute() -> tuple[np.ndarray, np.ndarray]:
        rows = table.alive_rows()
        if hidden is not None:
            rows = rows[~hidden[rows]]
        if q.parent is not None and profile.parent_column:
            rows = rows[table.aux[profile.parent_column][rows] == q.parent]
        for name, day in q.days:
            column = "cday" if name.startswith("created") else "uday"
            days = _local_days(world, table, column)[rows]
            rows = rows[days >= day] if name.endswith("after") else rows[days < day]
        if q.order_by == "cdate":
            rows = rows[np.lexsort((table.ids[rows], table.ctime[rows]))]
        return rows, table.ids[rows]

    rows, ids = table.memo(key, compute)  # type: ignore[misc]
    if q.id_greater is not None or q.id_less is not None:
        if q.order_by == "id":  # ascending ids: two binary searches
            lo = 0 if q.id_greater is None else int(np.searchsorted(ids, q.id_greater, side="right"))
            hi = len(ids) if q.id_less is None else int(np.searchsorted(ids, q.id_less, side="left"))
            rows = rows[lo:max(lo, hi)]
        else:
            keep = np.ones(len(rows), dtype=bool)
            if q.id_greater is not None:
                keep &= ids > q.id_greater
            if q.id_less is not None:
                keep &= ids < q.id_less
            rows = rows[keep]
    return rows[::-1] if q.descending else rows


def _local_days(world, table: Table, column: str) -> np.ndarray:
    source = table.ctime if column == "cday" else table.utime
    return table.memo(column, lambda: world.clock.local_days(source[: table.n]))  # type: ignore[return-value]
