"""`sync`: every record of the chosen entities into the local mirror.

All entities of an account are read at once through one client, so one rate
limiter paces them together and the account's whole limit is used. Records go
from pages to typed Arrow batches of a few thousand rows to the mirror, so
memory is bounded by a batch, not by the account's size.

The account check (`Client.check`) is a sync's first request, sent with only aiohttp and the
client loaded. pyarrow and DuckDB (columns, zones, mirror) load in a thread while it is in
flight; a mirror given as a path (MirrorAt) is opened only once the key is proven, so a
refused key creates no file (tests/test_startup_order.py, benchmarks/startup.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
import zoneinfo
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from . import catalog
from .account import Account
from .catalog import Entity
from .client import Client, RequestStats
from .errors import AcflowError, ConfigError
from .paging import Page, PageProgress, pages
from .summary import EntityResult, SyncSummary

if TYPE_CHECKING:  # pyarrow and DuckDB: loaded once the account check is on its way (_heavy_imports)
    from .mirror import Mirror
    from .zones import AccountZone

DEFAULT_PATH = Path(".acflow") / "mirror.duckdb"  # mirror.DEFAULT_PATH without DuckDB (a test keeps them equal)
DEFAULT_FULL_EVERY = timedelta(days=7)  # how often a full fetch looks for records deleted from the API
BATCH_ROWS = 2_500  # rows typed and written at once: small enough for memory, large enough for Arrow
BATCH_BYTES = 16 << 20  # and at most this much JSON, however wide a server makes its records
ProgressCallback = Callable[[str, PageProgress, RequestStats], None]


def parse_duration(text: str) -> timedelta | None:
    """'7d', '12h', '30m' -> a timedelta; 'never' -> None; anything else raises ValueError."""
    value = str(text).strip().lower()
    if value == "never":
        return None
    units = {"d": "days", "h": "hours", "m": "minutes"}
    if len(value) < 2 or value[-1] not in units or not value[:-1].isdigit():
        raise ValueError(f"{text!r} is not a duration: write a number and d, h or m (7d), or never")
    return timedelta(**{units[value[-1]]: int(value[:-1])})


def resolve_entities(names: Sequence[str] | None) -> list[Entity]:
    """Names or aliases -> catalog entities (the six seed entities when none are given)."""
    if not names:
        return [catalog.CATALOG[n] for n in catalog.SEED_ENTITIES]
    out: list[Entity] = []
    for name in names:
        entity = catalog.find(name)
        if entity is None:
            raise ConfigError(f"unknown entity {name!r}.{catalog.suggest(name)}")
        if entity not in out:
            out.append(entity)
    return out


def account_zone(mirror: Mirror, account: Account, user: dict[str, Any]) -> AccountZone:
    """The account's zone as far as the mirror, the user's word and the API user know it."""
    from .zones import AccountZone, Evidence

    stored_zone, stored = mirror.zone(account.url)
    return AccountZone(override=account.timezone, stored=Evidence.from_json(stored) if stored else None,
                       stored_zone=stored_zone, user_zone=user.get("localZoneid"))


PROBE = ({"limit": 100, "orders[cdate]": "ASC"}, {"limit": 100, "orders[cdate]": "DESC"})


async def probe_zone(client: Client, zone: AccountZone) -> None:
    """An account no sync has seen yet: its oldest and newest contacts' dates (two requests, sent
    together: one round trip, not two, before the entities start) say its zone before any entity is
    read, so entities with naive times only (segments) start right."""
    answers = await asyncio.gather(*(client.get("contacts", params) for params in PROBE), return_exceptions=True)
    for body in answers:
        if isinstance(body, AcflowError):
            continue  # the entities' own reads will say what is wrong
        if isinstance(body, BaseException):
            raise body
        records = body.get("contacts") if isinstance(body, dict) else None
        if isinstance(records, list):
            zone.observe(v for r in records if isinstance(r, dict) for v in r.values())


def plan_fetch(mirror: Mirror, account_url: str, entity: Entity, zone: str, *, full: bool,
               full_every: timedelta | None) -> tuple[str, list[dict[str, str]]]:
    """("full", [{}]) or ("incremental", [{updated filter: day}, {created filter: day}]).

    Incremental only for entities the API can filter by update time, once the mirror
    holds a full fetch younger than `full_every` (a full fetch is also how records
    deleted from the API are found). The API compares days, and clocks differ, so
    we ask from the day before the newest time we hold, and merge by id. New records
    are asked for by creation time too: a never-updated record's update time can be
    null (recorded payloads show it), and whether the update filter then sees it is
    not documented.
    """
    state = mirror.state(account_url, entity.name)
    if full or not entity.since or not entity.cursor or state is None or state.full_synced_at is None:
        return "full", [{}]
    if full_every is not None and datetime.now(UTC) - state.full_synced_at >= full_every:
        return "full", [{}]
    local = zoneinfo.ZoneInfo(zone)
    reads = []
    for column, fallback, flt in ((entity.cursor, entity.cursor_fallback, entity.since),
                                  (entity.cursor_fallback, None, entity.created_since)):
        if not flt or not column:
            continue
        newest = mirror.newest(account_url, entity.name, column, fallback)
        if newest is None:
            return "full", [{}]
        reads.append({flt: (newest.astimezone(local).date() - timedelta(days=1)).isoformat()})
    return "incremental", reads


@dataclass
class _Turns:
    """One batch typed and one written at a time across all the entities of a sync: the two
    cores are full with that, and each entity typing at once only multiplied the memory."""

    typing: asyncio.Lock = field(default_factory=asyncio.Lock)
    writing: asyncio.Lock = field(default_factory=asyncio.Lock)


async def _in_turn(turn: asyncio.Lock, work: Callable[..., Any], *args: Any) -> Any:
    async with turn:
        return await asyncio.to_thread(work, *args)


@dataclass
class SideLoad:
    """An entity read with its parent's incremental read (catalog.Via: contacts' fieldValues through
    include=fieldValues), loaded into its own table and committed just before the parent's."""

    entity: Entity
    result: EntityResult
    builder: Any = None  # columns.BatchBuilder
    load: Any = None  # mirror.Load
    owners: list[Any] = field(default_factory=list)  # every parent read: their rows are replaced
    pages: list[Page] = field(default_factory=list)  # waiting to be typed
    rows: int = 0
    error: str | None = None  # why the side-load could not be used (the entity is then read in full next time)
    committed: bool = False


def side_loaded(body: bytes, parent: Entity, via: catalog.Via) -> tuple[Page, list[Any]]:
    """The records a parent's page side-loads (`include=`), as a Page of their own, and the
    parents they belong to (every parent on the page: a parent without any has none left).
    Each parent's id array (`"fieldValues": ["12", ...]`) must be matched by side-loaded records:
    a side-load left short would otherwise delete the values it left out."""
    from .client import RawPage

    doc = orjson.loads(body)
    values = doc.get(via.include) if isinstance(doc, dict) else None
    if not isinstance(values, list) or not all(isinstance(v, dict) for v in values):
        raise ValueError(f"{parent.name}: include={via.include} was asked for, and the answer has no "
                         f"{via.include!r} list")
    parents = [p for p in doc.get(parent.key) or [] if isinstance(p, dict)]
    sent = {str(v.get("id")) for v in values}
    for p in parents:
        listed = p.get(via.include)
        missing = [str(i) for i in listed if str(i) not in sent] if isinstance(listed, list) else []
        if missing:
            raise ValueError(f"{parent.single} {p.get('id')} lists {via.include} {missing[0]}, which the "
                             "answer did not side-load")
    raw = RawPage(orjson.dumps({via.include: values}), via.include, [v.get("id") for v in values], None)
    return Page(raw), [p.get("id") for p in parents]


async def _sync_entity(client: Client, mirror: Mirror, entity: Entity, zone: AccountZone, result: EntityResult,
                       run_id: str, on_progress: ProgressCallback | None, full: bool = False,
                       full_every: timedelta | None = DEFAULT_FULL_EVERY, turns: _Turns | None = None,
                       planned: tuple[str, list[dict[str, str]]] | None = None,
                       side: SideLoad | None = None, zone_known: asyncio.Future[None] | None = None) -> None:
    """`zone_known`: the zone probe still on its way; pages are fetched meanwhile, typed after it."""
    from .columns import BatchBuilder

    turns = turns or _Turns()
    started = datetime.now().astimezone()
    result.fetch, reads = planned or await asyncio.to_thread(
        plan_fetch, mirror, client.account.url, entity, zone.zone, full=full, full_every=full_every)
    result.since = next(iter(reads[0].values()), None)
    builder = BatchBuilder(entity, zone)
    via = side.entity.via if side is not None else None
    if side is not None and via is not None:
        reads = [{**r, "include": via.include} for r in reads]
        builder.omit.add(via.include)  # the records' id arrays: a full read has none, so rows stay alike
        side.builder = BatchBuilder(side.entity, zone)
        side.load = await asyncio.to_thread(mirror.load, client.account.url, side.entity.name,
                                            side.builder.schema())
    clock = time.monotonic()
    stats = RequestStats()
    progress = PageProgress()
    # the staging table is made while the first page is on its way: its turn at the mirror's lock,
    # behind every other entity's, kept the first requests from filling the rate limit's window
    loading = asyncio.ensure_future(asyncio.to_thread(mirror.load, client.account.url, entity.name,
                                                      builder.schema()))
    load: Any = None
    buffer: list[Page] = []
    buffered = buffered_bytes = 0
    # A pipeline of two threads: one batch is typed while the one before is written, and the
    # next is fetched meanwhile; in order, and never more than three batches in memory.
    building: asyncio.Future[Any] | None = None
    writing: asyncio.Future[None] | None = None

    async def hand_over(batch: list[Page] | None) -> None:
        nonlocal building, writing
        if zone_known is not None:  # shielded: one entity cancelled must not cancel the others' probe
            await asyncio.shield(zone_known)
        if side is not None and (side.pages or batch is None):  # small: typed and written in turn
            values, side.pages = side.pages, []
            if values:
                typed = await _in_turn(turns.typing, side.builder.build_pages, values)
                await _in_turn(turns.writing, side.load.append, typed)
        if building is not None:
            typed = await building
            building = None
            if writing is not None:
                await writing
            target = await loading
            writing = asyncio.ensure_future(_in_turn(turns.writing, target.append, typed))
        if batch:
            building = asyncio.ensure_future(_in_turn(turns.typing, builder.build_pages, batch))

    try:
        for params in reads:  # a record in two reads is merged once (the mirror keeps the later)
            async for page in pages(client, entity, params=params, stats=stats, progress=progress,
                                    concurrency=client.concurrency):
                buffer.append(page)
                buffered += len(page)
                buffered_bytes += len(page.raw.body)
                if side is not None and via is not None and side.error is None:
                    try:
                        values, owners = side_loaded(page.raw.body, entity, via)
                    except ValueError as exc:  # the parents still go in; the entity is read in full next time
                        side.error, side.pages = str(exc), []
                    else:
                        side.owners += owners
                        side.rows += len(values)
                        if len(values):
                            side.pages.append(values)
                if buffered >= BATCH_ROWS or buffered_bytes >= BATCH_BYTES:
                    batch, buffer, buffered, buffered_bytes = buffer, [], 0, 0
                    await hand_over(batch)
                if on_progress:
                    on_progress(entity.name, progress, stats)
        await hand_over(buffer)
        await hand_over(None)
        if writing is not None:
            await writing
            writing = None
        if side is not None:  # first: values are never behind the parents' cursor (see _commit_side)
            await _commit_side(mirror, client.account.url, side)
        load = await loading
        changes = await asyncio.to_thread(load.commit, full=result.fetch == "full", stub_flag=entity.stub_flag)
        result.fetched = load.rows
        result.rows, result.inserted, result.updated = changes.rows, changes.inserted, changes.updated
        result.removed, result.unchanged = changes.removed, changes.unchanged
        result.table = mirror.table(client.account.url, entity.name)
        current = mirror.current(client.account.url, entity.name)
        for flag, attr in ((entity.stub_flag, "stubs"), (entity.deleted_flag, "soft_deleted")):
            if flag:
                counted = await asyncio.to_thread(mirror.query, f'SELECT count(*) FROM {current} WHERE "{flag}" = 1')
                setattr(result, attr, counted[0][0])
    except Exception as exc:  # recorded; the other entities go on
        try:
            await asyncio.gather(*(f for f in (building, writing) if f is not None), return_exceptions=True)
        finally:  # even if cancelled meanwhile
            made = (await asyncio.gather(loading, return_exceptions=True))[0]
            if not isinstance(made, BaseException):
                await asyncio.to_thread(made.abort)
            if side is not None and side.load is not None and not side.committed:
                await asyncio.to_thread(side.load.abort)
        result.status = "failed"
        result.error = str(exc) if isinstance(exc, AcflowError) else f"{type(exc).__name__}: {exc}"
    except BaseException:  # cancelled or interrupted: nothing of this load stays
        for f in (building, writing):
            if f is not None:
                f.cancel()
        if loading.done() and not loading.cancelled() and loading.exception() is None:
            loading.result().abort()
        else:  # a staging table made after all is dropped when the mirror is next opened
            loading.cancel()
        if side is not None and side.load is not None and not side.committed:
            side.load.abort()
        result.status = "failed"
        raise
    finally:
        result.requests, result.retries, result.rate_limited = stats.requests, stats.retries, stats.rate_limited
        result.pages, result.repairs = progress.pages, progress.repairs
        if progress.incomplete:  # not an error of ours or the network's: the server's pages
            result.status, result.incomplete = "incomplete", progress.incomplete
        result.seconds = round(time.monotonic() - clock, 3)
        # list() and dict() copy at once: a cancelled typing thread may still be adding
        result.new_columns = [n for n in list(builder.types) if n not in entity.columns][:50]
        result.text_columns = dict(builder.degraded)
        result.extra_fields, result.extra_left_out = len(builder.overflow), builder.left_out
        result.exact_fallbacks = builder.fallbacks
        if on_progress:
            on_progress(entity.name, progress, stats)
        if side is not None:
            await _finish_side(mirror, client.account.url, side, result, run_id, started)
        await asyncio.to_thread(
            mirror.log_run, run_id=run_id, account=client.account.url, entity=entity.name,
            started=started, ended=datetime.now().astimezone(), fetch_kind=result.fetch,
            requests=stats.requests, retries=stats.retries, rate_limited=stats.rate_limited,
            rows=result.rows, inserted=result.inserted, updated=result.updated, removed=result.removed,
            stubs=result.stubs, status=result.status, error=result.error,
        )


async def _commit_side(mirror: Mirror, account_url: str, side: SideLoad) -> None:
    """Merge the side-loaded records in: each parent read gets exactly the records sent with it.
    Committed before the parents, so a crash in between only has the next sync read those parents
    (and their records) again. A side-load that could not be used or merged has the entity read in
    full next time, and the parents are committed only once that is recorded (forget_full raises
    otherwise): their cursor never moves past records not held."""
    if side.error is None:
        try:
            changes = await asyncio.to_thread(side.load.commit, full=False,
                                              owners=(side.entity.via.owner, side.owners))  # type: ignore[union-attr]
        except Exception as exc:
            side.error = str(exc) if isinstance(exc, AcflowError) else f"{type(exc).__name__}: {exc}"
        else:
            side.committed = True
            r = side.result
            r.fetched, r.rows, r.inserted, r.updated = side.rows, changes.rows, changes.inserted, changes.updated
            r.removed, r.unchanged = changes.removed, changes.unchanged
            r.table = mirror.table(account_url, side.entity.name)
            return
    await asyncio.to_thread(side.load.abort)
    side.committed = True  # nothing left to abort
    await asyncio.to_thread(mirror.forget_full, account_url, side.entity.name)


async def _finish_side(mirror: Mirror, account_url: str, side: SideLoad, parent: EntityResult, run_id: str,
                       started: datetime) -> None:
    """The side-loaded entity's result and its line in the run log."""
    r = side.result
    r.fetch, r.since, r.seconds = "incremental", parent.since, parent.seconds
    if side.error is not None:
        r.status, r.error = "failed", f"{side.error}; it is read in full at the next sync"
    elif r.table == "":  # not merged: the parents' read failed, and what the mirror holds stays
        r.status, r.error = "failed", f"{parent.entity} did not sync: {parent.error or parent.incomplete}"
    await asyncio.to_thread(
        mirror.log_run, run_id=run_id, account=account_url, entity=side.entity.name, started=started,
        ended=datetime.now().astimezone(), fetch_kind=f"with {parent.entity}", requests=0, retries=0,
        rate_limited=0, rows=r.rows, inserted=r.inserted, updated=r.updated, removed=r.removed, stubs=0,
        status=r.status, error=r.error)


def plan_side_loads(mirror: Mirror, account_url: str, entities: Sequence[Entity],
                    plans: dict[str, tuple[str, list[dict[str, str]]]], *, full: bool,
                    full_every: timedelta | None) -> dict[str, Entity]:
    """{parent: entity} for entities read with their parent's incremental read (catalog.Via): the
    parent is read incrementally, and the entity holds a full read younger than `full_every`. An
    entity not asked for is kept up to date too, so a sync of contacts alone never leaves their
    values behind; one asked for and not side-loaded reads itself in full."""
    out: dict[str, Entity] = {}
    for e in catalog.CATALOG.values():
        via = e.via
        if via is None or plans.get(via.parent, ("full",))[0] != "incremental" or full:
            continue
        state = mirror.state(account_url, e.name)
        if state is None or state.full_synced_at is None:
            continue
        if full_every is not None and datetime.now(UTC) - state.full_synced_at >= full_every:
            continue
        out[via.parent] = e
    return out


class MirrorAt:
    """The mirror at a path, opened when a sync has proven the key: a refused key creates no file.

    `with MirrorAt(path) as at:` closes it (if it was opened); `at.db` is the open Mirror.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = path
        self.db: Mirror | None = None

    def open(self) -> Mirror:
        from .mirror import Mirror

        self.db = Mirror(self.path)
        return self.db

    def __enter__(self) -> MirrorAt:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.db is not None:
            self.db.close()


def _heavy_imports() -> None:
    """What a sync needs past the account check: pyarrow (columns, zones) and DuckDB (mirror)."""
    from . import columns, mirror, zones  # noqa: F401


async def checked(client: Client) -> dict[str, Any]:
    """`client.check()`, the first request; pyarrow and DuckDB load in a thread while it is in flight."""
    check = asyncio.ensure_future(client.check())
    await asyncio.sleep(0)  # the check starts before the imports compete with it for the GIL
    try:
        await asyncio.to_thread(_heavy_imports)
    except BaseException:
        check.cancel()
        raise
    return await check


async def sync_async(account: Account, entities: Sequence[Entity], mirror: Mirror | MirrorAt, *,
                     timeout: float = 60.0, concurrency: int = 4, attempts: int = 8,
                     full: bool = False, full_every: timedelta | None = DEFAULT_FULL_EVERY,
                     on_progress: ProgressCallback | None = None, client: Client | None = None) -> SyncSummary:
    """Sync entities into `mirror` (a Mirror, or a MirrorAt opened once the key is proven)."""
    run_id = uuid.uuid4().hex[:12]
    clock = time.monotonic()
    own = Client(account, timeout=timeout, concurrency=concurrency, max_attempts=attempts)
    async with client or own as c:
        user = await checked(c)  # the key and URL are proven before anything is written
        requests_before = c.stats.requests - 1
        if isinstance(mirror, MirrorAt):
            mirror = mirror.open()
        zone = await asyncio.to_thread(account_zone, mirror, account, user)
        # an unknown zone is probed while the entities' first pages are fetched: only typing waits
        probing = None if zone.learnt else asyncio.ensure_future(probe_zone(c, zone))
        summary = SyncSummary(account.url, str(mirror.path), run_id, zone.zone)
        summary.entities = [EntityResult(e.name) for e in entities]

        def plan_all() -> dict[str, tuple[str, list[dict[str, str]]]]:
            return {e.name: plan_fetch(mirror, account.url, e, zone.zone, full=full, full_every=full_every)
                    for e in entities}

        try:
            plans = await asyncio.to_thread(plan_all)
            if probing is not None and any(kind == "incremental" for kind, _ in plans.values()):
                await probing  # an incremental read asks from a day, in the account's zone
                probing = None
                plans = await asyncio.to_thread(plan_all)
            sides = await asyncio.to_thread(plan_side_loads, mirror, account.url, entities, plans, full=full,
                                            full_every=full_every)
            by_name = {r.entity: r for r in summary.entities}
            for child in sides.values():  # side-loaded: reported, but not read on its own
                if child.name not in by_name:
                    by_name[child.name] = EntityResult(child.name)
                    summary.entities.append(by_name[child.name])
            riding = {c.name for c in sides.values()}
            turns = _Turns()
            with mirror.frugal():
                await asyncio.gather(*(
                    _sync_entity(c, mirror, e, zone, by_name[e.name], run_id, on_progress, full=full,
                                 full_every=full_every, turns=turns, planned=plans[e.name],
                                 side=SideLoad(sides[e.name], by_name[sides[e.name].name]) if e.name in sides else None,
                                 zone_known=probing)
                    for e in entities if e.name not in riding
                ))
            if probing is not None:
                await probing
        except BaseException:
            if probing is not None:  # never left running behind a sync that failed
                probing.cancel()
            raise
        if zone.learnt_zone:  # what the dates say is kept, not an override
            await asyncio.to_thread(mirror.set_zone, account.url, zone.learnt_zone, zone.evidence.to_json())
        summary.zone = zone.zone
        summary.zone_source, summary.zone_confidence, summary.zone_note = (
            zone.source, zone.confidence(), zone.note())
        summary.requests = c.stats.requests - requests_before
    summary.seconds = round(time.monotonic() - clock, 3)
    return summary


def run_coroutine(coro: Any) -> Any:
    """asyncio.run, also from inside a running loop (a notebook): then in a thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    import concurrent.futures
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def sync(entities: Sequence[str] | None = None, *, account: Account | None = None,
         api_url: str | None = None, api_key: str | None = None,
         mirror: str | Path | Mirror = DEFAULT_PATH, timeout: float = 60.0, concurrency: int = 4,
         attempts: int = 8, full: bool = False, full_every: timedelta | None = DEFAULT_FULL_EVERY,
         on_progress: ProgressCallback | None = None) -> SyncSummary:
    """Sync entities (default: the six seed entities) into the mirror; the CLI's `acflow sync`.

    Contacts and deals are fetched incrementally once the mirror holds them (`full=True`
    forces a full fetch, as does a last full fetch older than `full_every`).
    """
    chosen = resolve_entities(entities)
    account = account or Account.resolve(api_url, api_key)
    at = MirrorAt(mirror) if isinstance(mirror, (str, os.PathLike)) else None  # else a Mirror the caller closes
    with at or contextlib.nullcontext():
        return run_coroutine(sync_async(account, chosen, at or mirror, timeout=timeout, concurrency=concurrency,
                                        attempts=attempts, full=full, full_every=full_every,
                                        on_progress=on_progress))
