"""Paginators that neither skip nor repeat a record, and refuse to loop.

Offset pages drift when records are deleted while we read (everything after
moves back, and a naive reader skips what slid over the page boundary). So
each offset page starts one record early: its first record must be one we
already saw (the anchor). If it is not, something moved; we step back until
the pages connect again. Pages after the first are requested speculatively,
several at a time, and accepted strictly in order.

Contacts are read by id keyset instead (orders[id]=ASC + id_greater), which
cannot drift; the id range is split into disjoint partitions read in parallel,
the last one open-ended so contacts created meanwhile are still read.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from .catalog import Entity, Paging
from .client import PAGE_SIZE, Client, RequestStats
from .errors import PagingStuck

MAX_REPAIRS = 200  # step-backs in one read before we call the listing unstable
PAGES_PER_PARTITION = 4  # below this, splitting contacts costs more than it saves


@dataclass
class PageProgress:
    total: int | None = None  # meta.total: a hint (string or int, sometimes absent)
    pages: int = 0
    rows: int = 0
    repairs: int = 0  # offset step-backs after records moved


def total_of(body: dict[str, Any]) -> int | None:
    meta = body.get("meta")
    if not isinstance(meta, dict):
        return None
    try:
        return int(meta.get("total"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def records_of(body: dict[str, Any], entity: Entity) -> list[dict[str, Any]]:
    records = body.get(entity.key)
    if records is None or records == {}:
        return []
    if not isinstance(records, list):
        raise PagingStuck(f"{entity.name}: the response's {entity.key!r} is not a list")
    return [r for r in records if isinstance(r, dict)]


async def pages(client: Client, entity: Entity, *, params: dict[str, Any] | None = None,
                stats: RequestStats | None = None, progress: PageProgress | None = None,
                concurrency: int = 4) -> AsyncIterator[list[dict[str, Any]]]:
    """Every record of `entity` (matching `params`), in pages of new records only."""
    progress = progress or PageProgress()
    pager = _keyset if entity.paging is Paging.ID_KEYSET else _offset
    async for page in pager(client, entity, dict(params or {}), stats, progress, concurrency):
        progress.rows += len(page)
        yield page


def _note(progress: PageProgress, body: dict[str, Any], counts_all: bool = True) -> None:
    """Count a page; `counts_all` says its meta.total counts the whole entity (not one id range)."""
    progress.pages += 1
    total = total_of(body) if counts_all else None
    if total is not None:
        progress.total = total


async def _offset(client: Client, entity: Entity, params: dict[str, Any], stats: RequestStats | None,
                  progress: PageProgress, concurrency: int) -> AsyncIterator[list[dict[str, Any]]]:
    step = PAGE_SIZE - 1  # each page re-reads the last record of the one before

    async def read(offset: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        query = {**params, **entity.order, "limit": PAGE_SIZE, "offset": offset}
        body = await client.get(entity.path, query, stats)
        return body, records_of(body, entity)

    seen: set[Any] = set()
    inflight: deque[tuple[int, asyncio.Task[Any]]] = deque()
    next_offset = 0
    width = 1  # one page until we know there is more than one

    def cancel_all() -> None:
        while inflight:
            inflight.popleft()[1].cancel()

    try:
        while True:
            while len(inflight) < width and (
                not inflight or progress.total is None or next_offset < progress.total
            ):
                inflight.append((next_offset, asyncio.create_task(read(next_offset))))
                next_offset += step
            offset, task = inflight.popleft()
            body, page = await task
            _note(progress, body)
            connected = offset == 0 or (bool(page) and page[0].get("id") in seen)
            if not connected:  # records moved back under us: re-read from earlier
                progress.repairs += 1
                if progress.repairs > MAX_REPAIRS:
                    raise PagingStuck(
                        f"{entity.name}: offset pages kept moving ({MAX_REPAIRS} step-backs at "
                        f"offset {offset}); the account is changing faster than it can be read"
                    )
                cancel_all()
                next_offset = max(0, offset - step)
                width = 1
                continue
            new = [r for r in page if r.get("id") not in seen]
            seen.update(r.get("id") for r in new)
            if new:
                yield new
            if len(page) < PAGE_SIZE:
                return
            if not inflight or inflight[0][0] != offset + step:
                cancel_all()
                next_offset = offset + step
            width = concurrency
    finally:
        cancel_all()


def _partitions(low: int, high: int, count: int) -> list[tuple[int, int | None]]:
    """(low, high] in `count` id ranges as (id_greater, id_less); the last is open-ended.

    Ranges are whole pages of ids, so where ids are dense no range ends in a short page.
    """
    size = max(1, math.ceil((high - low) / count / PAGE_SIZE)) * PAGE_SIZE
    bounds = list(range(low, high, size))
    return [(start, start + size + 1 if i < len(bounds) - 1 else None)
            for i, start in enumerate(bounds)] or [(low, None)]


async def _keyset(client: Client, entity: Entity, params: dict[str, Any], stats: RequestStats | None,
                  progress: PageProgress, concurrency: int) -> AsyncIterator[list[dict[str, Any]]]:
    async def read(greater: int, less: int | None, limit: int = PAGE_SIZE,
                   order: str = "ASC") -> list[dict[str, Any]]:
        query = {**params, "orders[id]": order, "limit": limit}
        if order == "ASC":
            query["id_greater"] = greater
        if less is not None:
            query["id_less"] = less
        body = await client.get(entity.path, query, stats)
        _note(progress, body, counts_all=greater == 0 and less is None and order == "ASC")
        return records_of(body, entity)

    def last_id(page: list[dict[str, Any]], after: int) -> int:
        top = int(page[-1]["id"])
        if top <= after:
            raise PagingStuck(f"{entity.name}: id_greater={after} returned id {top} again")
        return top

    # the first page and the highest id at once: one round trip before the ranges start
    first, newest = await asyncio.gather(read(0, None), read(0, None, limit=1, order="DESC"))
    if first:
        yield first
    if len(first) < PAGE_SIZE:
        return
    low = last_id(first, 0)
    high = max(int(newest[0]["id"]), low) if newest else low
    remaining_pages = ((progress.total or 0) - len(first)) / PAGE_SIZE
    count = max(1, min(concurrency, int(remaining_pages // PAGES_PER_PARTITION)))
    queue: asyncio.Queue[list[dict[str, Any]] | BaseException | None] = asyncio.Queue(maxsize=concurrency)

    async def partition(greater: int, less: int | None) -> None:
        try:
            while True:
                page = [r for r in await read(greater, less) if int(r["id"]) > greater]
                if page:
                    await queue.put(page)
                if len(page) < PAGE_SIZE:
                    break
                greater = last_id(page, greater)
                if less is not None and greater >= less - 1:  # the range is full: no need to ask
                    break
            await queue.put(None)
        except BaseException as exc:  # handed to the reader, which raises it
            await queue.put(exc)

    tasks = [asyncio.create_task(partition(g, lt)) for g, lt in _partitions(low, high, count)]
    try:
        running = len(tasks)
        while running:
            item = await queue.get()
            if item is None:
                running -= 1
            elif isinstance(item, BaseException):
                raise item
            else:
                yield item
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
