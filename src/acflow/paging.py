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

An entity listed under each record of another (linkData under links) is read
parent by parent, each parent's list offset paged; its records are given the
parent's id where the API leaves it out.

A server that ignores offset or id_greater would have us read its first page
forever: a full page that brings no new ids where new ones must be ends the
read, as does a read that stays short of meta.total when asked again. Both
raise PagingStuck and leave the reason in `PageProgress.incomplete`, since
records may be missing. meta.total itself is only a hint (see client.read_page).
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson

from .catalog import CATALOG, Entity, Paging
from .client import PAGE_SIZE, Client, RawPage, RequestStats
from .errors import PagingStuck

MAX_REPAIRS = 200  # step-backs in one read before we call the listing unstable
PAGES_PER_PARTITION = 8  # id ranges only pay for themselves (each may end in a short page) above this


@dataclass
class PageProgress:
    total: int | None = None  # meta.total: a hint (string or int, sometimes absent)
    pages: int = 0
    rows: int = 0
    repairs: int = 0  # offset step-backs after records moved
    incomplete: str | None = None  # why records may be missing: the read looped or ended short


def _stuck(progress: PageProgress, reason: str) -> PagingStuck:
    """The error that ends a read which may have missed records, with the reason kept (callers
    name the entity: sync's summary and export's error both put it first)."""
    progress.incomplete = reason
    return PagingStuck(reason)


@dataclass(frozen=True)
class Page:
    """The new records of one response: its raw page and which of its records to use."""

    raw: RawPage
    keep: tuple[int, ...] | None = None  # positions of the records to use; None: all

    @property
    def ids(self) -> list[Any]:
        ids = self.raw.ids
        return ids if self.keep is None else [ids[i] for i in self.keep]

    def __len__(self) -> int:
        return len(self.raw.ids) if self.keep is None else len(self.keep)

    def records(self) -> list[dict[str, Any]]:
        """The records as dicts: for small uses; bulk typing reads the bytes (columns.py)."""
        records = orjson.loads(self.raw.body).get(self.raw.key) or []
        return records if self.keep is None else [records[i] for i in self.keep]


async def pages(client: Client, entity: Entity, *, params: dict[str, Any] | None = None,
                stats: RequestStats | None = None, progress: PageProgress | None = None,
                concurrency: int = 4) -> AsyncIterator[Page]:
    """Every record of `entity` (matching `params`), in pages of new records only."""
    progress = progress or PageProgress()
    pager = {Paging.ID_KEYSET: _keyset, Paging.PER_PARENT: _per_parent}.get(entity.paging, _offset)
    async for page in pager(client, entity, dict(params or {}), stats, progress, concurrency):
        progress.rows += len(page)
        yield page


def _note(progress: PageProgress, raw: RawPage, counts_all: bool = True) -> None:
    """Count a page; `counts_all` says its meta.total counts the whole entity (not one id range)."""
    progress.pages += 1
    if counts_all and raw.total is not None:
        progress.total = raw.total


async def _offset(client: Client, entity: Entity, params: dict[str, Any], stats: RequestStats | None,
                  progress: PageProgress, concurrency: int, path: str | None = None) -> AsyncIterator[Page]:
    step = PAGE_SIZE - 1  # each page re-reads the last record of the one before

    async def read(offset: int) -> RawPage:
        query = {**params, **entity.order, "limit": PAGE_SIZE, "offset": offset}
        return await client.get_page(path or entity.path, entity.key, query, stats)

    seen: set[str] = set()
    inflight: deque[tuple[int, asyncio.Task[RawPage]]] = deque()
    next_offset = 0
    width = 1  # one page until we know there is more than one
    checked = False  # one more pass when the read came up short of meta.total

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
            raw = await task
            _note(progress, raw)
            ids = [str(i) for i in raw.ids]
            connected = offset == 0 or (bool(ids) and ids[0] in seen)
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
            keep = []
            for position, record_id in enumerate(ids):
                if record_id not in seen:
                    seen.add(record_id)
                    keep.append(position)
            if not keep and len(ids) >= PAGE_SIZE and offset > len(seen) - len(ids):
                # a full page of records already read, where only new ones can be: the server
                # answers every offset alike, and reading on would never end
                raise _stuck(progress, f"the page at offset {offset} held only records already "
                             f"read; the server is not paging, so records may be missing ({len(seen)} read"
                             + (f" of the {progress.total} meta.total counts)" if progress.total else ")"))
            if keep:
                yield Page(raw, None if len(keep) == len(ids) else tuple(keep))
            if len(ids) < PAGE_SIZE:
                # The end. Fewer ids than the API counts means a record slipped between pages
                # (ties in the sort order may come back in another order on each request):
                # read once more from the start; only records not seen yet are kept.
                if progress.total is None or len(seen) >= progress.total:
                    return
                if checked:
                    raise _stuck(progress, f"read {len(seen)} records of the {progress.total} "
                                 "meta.total counts, twice over; records may be missing")
                checked, next_offset, width = True, 0, 1
                cancel_all()
                progress.repairs += 1
                continue
            if not inflight or inflight[0][0] != offset + step:
                cancel_all()
                next_offset = offset + step
            width = concurrency
    finally:
        cancel_all()


async def _per_parent(client: Client, entity: Entity, params: dict[str, Any], stats: RequestStats | None,
                      progress: PageProgress, concurrency: int) -> AsyncIterator[Page]:
    """The parents' ids first (a read of their own list), then each parent's list, `concurrency`
    parents at a time: one request per parent at least, so the cost follows the parents."""
    assert entity.parent, f"{entity.name}: per-parent paging without a parent"
    parent = CATALOG[entity.parent]
    todo = iter([pid async for page in pages(client, parent, stats=stats, concurrency=concurrency)
                 for pid in page.ids])
    queue: asyncio.Queue[Page | Exception | None] = asyncio.Queue()
    room = asyncio.Semaphore(2 * concurrency)  # pages waiting in memory, as _keyset

    async def reader() -> None:
        try:
            for pid in todo:  # shared by the readers: each parent is read once
                under = PageProgress()
                try:
                    async for page in _offset(client, entity, params, stats, under, 1,
                                              path=entity.path.replace("{id}", str(pid))):
                        await room.acquire()
                        queue.put_nowait(_with_parent(page, entity, pid))
                finally:
                    progress.pages += under.pages
                    progress.repairs += under.repairs
                if under.incomplete:
                    raise _stuck(progress, f"{parent.single} {pid}: {under.incomplete}")
            queue.put_nowait(None)
        except Exception as exc:  # handed to the consumer, which raises it
            queue.put_nowait(exc)

    tasks = [asyncio.create_task(reader()) for _ in range(max(1, concurrency))]
    seen: set[str] = set()
    try:
        running = len(tasks)
        while running:
            item = await queue.get()
            if item is None:
                running -= 1
                continue
            if isinstance(item, Exception):
                raise item
            room.release()
            positions = item.keep if item.keep is not None else range(len(item.raw.ids))
            keep = [i for i, rid in zip(positions, item.ids, strict=True) if str(rid) not in seen]
            seen.update(str(rid) for rid in item.ids)
            if keep:
                yield Page(item.raw, None if len(keep) == len(item.raw.ids) else tuple(keep))
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _with_parent(page: Page, entity: Entity, parent_id: Any) -> Page:
    """The page with each record naming its parent, where the API's records do not."""
    key = entity.parent_key
    if not key:
        return page
    body = orjson.loads(page.raw.body)
    records = body.get(entity.key) or []
    if all(key in r for r in records):  # read_page made sure they are objects
        return page
    for record in records:
        record.setdefault(key, str(parent_id))
    raw = RawPage(orjson.dumps(body), page.raw.key, page.raw.ids, page.raw.total)
    return Page(raw, page.keep)


def _partitions(low: int, high: int, count: int) -> list[tuple[int, int | None]]:
    """(low, high] in `count` id ranges as (id_greater, id_less); the last is open-ended.

    Ranges are whole pages of ids, so where ids are dense no range ends in a short page.
    """
    size = max(1, math.ceil((high - low) / count / PAGE_SIZE)) * PAGE_SIZE
    bounds = list(range(low, high, size))
    return [(start, start + size + 1 if i < len(bounds) - 1 else None)
            for i, start in enumerate(bounds)] or [(low, None)]


async def _keyset(client: Client, entity: Entity, params: dict[str, Any], stats: RequestStats | None,
                  progress: PageProgress, concurrency: int) -> AsyncIterator[Page]:
    async def read(greater: int, less: int | None, limit: int = PAGE_SIZE, order: str = "ASC") -> RawPage:
        query = {**params, "orders[id]": order, "limit": limit}
        if order == "ASC":
            query["id_greater"] = greater
        if less is not None:
            query["id_less"] = less
        raw = await client.get_page(entity.path, entity.key, query, stats, urgent=True)  # one page at a time
        _note(progress, raw, counts_all=greater == 0 and less is None and order == "ASC")
        return raw

    def above(raw: RawPage, greater: int) -> Page:
        """Only ids above the cursor (a misbehaving server must not make us repeat)."""
        keep = tuple(i for i, record_id in enumerate(raw.ids) if int(record_id) > greater)
        return Page(raw, None if len(keep) == len(raw.ids) else keep)

    def last_id(page: Page, after: int) -> int:
        top = int(page.ids[-1])
        if top <= after:
            raise _stuck(progress, f"id_greater={after} returned id {top} again")
        return top

    def new_ones(raw: RawPage, greater: int) -> Page:
        page = above(raw, greater)
        if raw.ids and not len(page):  # the server ignores id_greater: reading on would repeat
            raise _stuck(progress, f"id_greater={greater} returned only ids already read; the "
                         "server is not paging by id, so records may be missing")
        return page

    # an unfiltered read is checked against meta.total at its end; a filtered (incremental) one
    # is not: records updated meanwhile join the set behind the cursor, and the next read has them
    whole = not params
    first = above(await read(0, None), 0)
    got, top = len(first), int(first.ids[-1]) if len(first) else 0
    if len(first):
        yield first
    if len(first) < PAGE_SIZE:
        return
    low = last_id(first, 0)
    remaining_pages = ((progress.total or 0) - len(first)) / PAGE_SIZE
    count = max(1, min(concurrency, int(remaining_pages // PAGES_PER_PARTITION)))
    high = low
    if count > 1:  # the highest id splits the rest into ranges; not worth a request otherwise
        newest = await read(0, None, limit=1, order="DESC")
        high = max(int(newest.ids[0]), low) if newest.ids else low
    # Pages wait in an unbounded queue, so an error or an end is never stuck behind a full one;
    # `room` holds readers back instead, so at most 2 x concurrency pages wait in memory.
    queue: asyncio.Queue[Page | Exception | None] = asyncio.Queue()
    room = asyncio.Semaphore(2 * concurrency)

    async def partition(greater: int, less: int | None) -> None:
        try:
            while True:
                await room.acquire()
                page = new_ones(await read(greater, less), greater)
                if len(page):
                    queue.put_nowait(page)
                else:
                    room.release()
                if len(page) < PAGE_SIZE:
                    break
                greater = last_id(page, greater)
                if less is not None and greater >= less - 1:  # the range is full: no need to ask
                    break
            queue.put_nowait(None)
        except Exception as exc:  # handed to the reader, which raises it; cancellation just ends
            queue.put_nowait(exc)

    tasks = [asyncio.create_task(partition(g, lt)) for g, lt in _partitions(low, high, count)]
    try:
        running = len(tasks)
        while running:
            item = await queue.get()
            if item is None:
                running -= 1
            elif isinstance(item, Exception):
                raise item
            else:
                room.release()
                got, top = got + len(item), max(top, int(item.ids[-1]))
                yield item
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    if whole and progress.total is not None and got < progress.total:
        # Short of the count: ask it again (deletions lower it), then read past the highest id
        # (creations since); ids only grow, so whatever the count still holds beyond that is missed.
        await read(0, None, limit=1)
        while True:
            page = new_ones(await read(top, None), top)
            if len(page):
                got, top = got + len(page), int(page.ids[-1])
                yield page
            if len(page) < PAGE_SIZE:
                break
        if progress.total is not None and got < progress.total:
            raise _stuck(progress, f"read {got} records of the {progress.total} meta.total "
                         "counts, twice over; records may be missing")
