"""The local mirror: one DuckDB file holding a typed raw table per account and
entity, the sync state and the run log.

A load writes into a staging table and merges it in inside one transaction:
new and changed rows (by id) replace what the mirror held, a restricted stub
never replaces a full row, and a full fetch marks rows that are gone from the
API (`_acflow_deleted_at`) instead of keeping them silently. A reader sees the
mirror before or after a load, never half of one; a load that fails or is
killed changes nothing, and its staging table is dropped on the next open.

Every row carries `_acflow_seq`, the number of the load that last changed it,
so destinations can take only what changed since they last published.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import logging
import re
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import pyarrow as pa

from .errors import AcflowError, ConfigError, MirrorBusy, disk_cause
from .sqltext import quote

log = logging.getLogger("acflow")

DEFAULT_PATH = Path(".acflow") / "mirror.duckdb"
META = "_acflow"
# DuckDB's memory while a sync writes, and while it merges a load in: a 1M-contact sync stays
# under 300 MB, as fast as with more, and a merge where every row changed fits (benchmarks/memory.py)
SYNC_MEMORY_LIMIT = "32MB"
PUBLISH_MEMORY_LIMIT = "64MB"  # streaming to a server: the query's working set, not the blocks it read
MERGE_MEMORY_LIMIT = "64MB"
# Committing and checkpointing a table pins blocks per column: a load of records wider than the
# catalog says (unknown fields) gets this much more memory per column it adds, or DuckDB runs out
# (a FatalException at a checkpoint invalidates the database). The catalog's widths are measured
# to fit SYNC_MEMORY_LIMIT (benchmarks/memory.py, benchmarks/wide_records.py).
KB_PER_OPEN_COLUMN = 320
FORMAT = 3  # bump when the layout changes; an older mirror is rebuilt (it is a cache)
SEQ = "_acflow_seq"  # the load that last changed the row
DELETED_AT = "_acflow_deleted_at"  # when a full fetch found the row gone from the API
INTERNAL = (SEQ, DELETED_AT)
# format n -> SQL that brings a mirror of layout n to n + 1 in place; without one it is rebuilt
MIGRATIONS: dict[int, str] = {}
T = TypeVar("T")
_HEADERS = 3 * 4096  # a DuckDB file's main header and its two database headers, before the blocks

_SETUP = f"""
CREATE SCHEMA IF NOT EXISTS {META};
CREATE TABLE IF NOT EXISTS {META}.about (format INTEGER, mirror_id VARCHAR);
CREATE SEQUENCE IF NOT EXISTS {META}.loads;
CREATE TABLE IF NOT EXISTS {META}.state (
    account VARCHAR, entity VARCHAR, table_name VARCHAR, synced_at TIMESTAMPTZ,
    full_synced_at TIMESTAMPTZ, rows BIGINT, PRIMARY KEY (account, entity));
CREATE TABLE IF NOT EXISTS {META}.published (
    destination VARCHAR, source VARCHAR, seq BIGINT, published_at TIMESTAMPTZ,
    PRIMARY KEY (destination, source));
CREATE TABLE IF NOT EXISTS {META}.accounts (
    account VARCHAR PRIMARY KEY, zone VARCHAR, evidence JSON, updated_at TIMESTAMPTZ);
CREATE TABLE IF NOT EXISTS {META}.runs (
    run_id VARCHAR, account VARCHAR, entity VARCHAR, started TIMESTAMPTZ, ended TIMESTAMPTZ,
    fetch_kind VARCHAR, requests BIGINT, retries BIGINT, rate_limited BIGINT, rows BIGINT,
    inserted BIGINT, updated BIGINT, removed BIGINT, stubs BIGINT, status VARCHAR, error VARCHAR);
"""


def account_schema(account_url: str) -> str:
    """`https://acme.api-us1.com` -> `acme_api_us1_com`: one schema per account."""
    host = re.sub(r"^https?://", "", account_url)
    return re.sub(r"[^0-9a-zA-Z]+", "_", host).strip("_").lower() or "account"


@dataclass
class Changes:
    """What one load did to the mirror's table."""

    inserted: int = 0
    updated: int = 0
    removed: int = 0  # found gone by a full fetch, and marked
    unchanged: int = 0
    stubs_kept_out: int = 0  # restricted stubs that did not replace a full row
    rows: int = 0  # current rows after the load (not marked removed)
    seq: int = 0


@dataclass
class State:
    synced_at: datetime | None
    full_synced_at: datetime | None
    rows: int


class Mirror:
    """One connection, used by one writer at a time (the lock), from any thread."""

    def __init__(self, path: str | Path = DEFAULT_PATH) -> None:
        self.path = Path(path)
        # DuckDB's spill files (big merges, sorts) in the mirror's folder, never a shared /tmp
        self.spill = self.path.parent / f"{self.path.name}.tmp"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"mirror {self.path} cannot be created: {exc.strerror}") from None
        try:
            self.con = duckdb.connect(str(self.path), config={"temp_directory": str(self.spill)})
        except duckdb.Error as exc:
            raise self._unusable(exc) from None
        self._remove_spill()
        self.lock = threading.RLock()
        self._frugal = 0  # syncs inside frugal() (acflow run syncs accounts at once): merges switch limits
        self._open_columns = 0  # columns of the loads in progress (see KB_PER_OPEN_COLUMN)
        self._open_loads = 0  # loads in progress: each holds a transaction open (see limit())
        try:
            self._check_length()
            self.con.execute("SET TimeZone = 'UTC'")
            self._setup()
            self._drop_leftover_loads()
        except duckdb.Error as exc:
            self.con.close()
            raise self._unusable(exc) from None
        except BaseException:
            self.con.close()
            raise

    def _unusable(self, exc: duckdb.Error) -> AcflowError:
        """One line for a mirror that cannot be opened: held by another process, on a full disk,
        damaged (it is a cache: deleting it costs a full download), or otherwise unreadable."""
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        low = text.lower()
        if "could not set lock" in low or "conflicting lock" in low:
            pid = re.search(r"\(PID (\d+)\)", text)
            who = f" (PID {pid.group(1)})" if pid else ""
            return MirrorBusy(f"mirror {self.path} is in use by another acflow process{who}: "
                              "wait for it to finish, or give this one another --mirror")
        full = self.cannot_write(exc)
        if full is not None:
            return full
        damaged = {"not a valid duckdb database file": "not a DuckDB file",
                   "could not read enough bytes": "the file is cut short", "checksum": "a checksum does not match",
                   "corrupt": "corrupt", "serialization error": "unreadable", "internal error": "unreadable"}
        why = next((v for k, v in damaged.items() if k in low), None)
        if why is None:
            return ConfigError(f"mirror {self.path} cannot be opened: {re.sub(r'^[A-Za-z ]*Error: ', '', text)}")
        return self._damaged(why)

    def _damaged(self, why: str) -> ConfigError:
        wal = self._wal()
        files = f"{self.path} and {wal}" if wal.exists() else str(self.path)
        return ConfigError(f"mirror {self.path} is damaged ({why}); it is only a cache of the API's data: "
                           f"delete {files} and the next sync fetches everything again")

    def _wal(self) -> Path:
        return self.path.with_name(self.path.name + ".wal")

    def _check_length(self) -> None:
        """A mirror file cut short (a full disk, a copy that stopped) opens, and fails only when a
        missing block is read, deep in a sync: its length is checked against its blocks first.
        With a write-ahead log beside it, blocks may still be on their way into the file."""
        if self._wal().exists() and self._wal().stat().st_size:
            return
        size = self.con.execute("SELECT block_size FROM pragma_database_size() "
                                "WHERE database_name = current_database()").fetchone()[0]
        length = self.path.stat().st_size
        last = -1  # the highest block a table's data is in (free blocks at the end are cut off by DuckDB)
        for schema, table in self.con.execute("SELECT schema_name, table_name FROM duckdb_tables() "
                                              "WHERE database_name = current_database()").fetchall():
            found = self.con.execute("SELECT max(block_id) FROM pragma_storage_info(?)",
                                     [f"{quote(schema)}.{quote(table)}"]).fetchone()[0]
            last = max(last, found if found is not None else -1)
        if (length > _HEADERS and (length - _HEADERS) % size) or length < _HEADERS + (last + 1) * size:
            raise self._damaged("the file is cut short")

    def _remove_spill(self) -> None:
        """Spill files a killed run left (DuckDB removes its own only when it closes): this
        process holds the mirror's lock, so no one else is using them."""
        if self.spill.is_dir():
            for entry in self.spill.iterdir():
                with contextlib.suppress(OSError):
                    entry.unlink()

    def _format(self) -> int | None:
        """The layout of the mirror file: None for a new one, 0 for one older than `about`."""
        tables = {t for (t,) in self.con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() AND schema_name = ?",
            [META]).fetchall()}
        if "about" not in tables:
            return 0 if tables else None
        found = self.con.execute(f"SELECT max(format) FROM {META}.about").fetchone()[0]
        return None if found is None and tables == {"about"} else int(found or 0)

    def _setup(self) -> None:
        found = self._format()
        if found is not None and found > FORMAT:
            raise ConfigError(f"mirror {self.path} was written by a newer acflow (layout {found}; this one reads "
                              f"layout {FORMAT}): upgrade acflow, or give this one another --mirror")
        if found is not None and found < FORMAT:
            self._upgrade(found)
        self.con.execute(_SETUP)
        if not self.con.execute(f"SELECT count(*) FROM {META}.about").fetchone()[0]:
            self.con.execute(f"INSERT INTO {META}.about VALUES (?, ?)", [FORMAT, uuid.uuid4().hex])
        self.id = self.con.execute(f"SELECT mirror_id FROM {META}.about").fetchone()[0]

    def _upgrade(self, found: int) -> None:
        """An older layout: migrated in place where MIGRATIONS has every step, else rebuilt (it is a
        cache; tables in `main`, DuckDB destinations written into the mirror file, are kept). One
        transaction: a failure leaves the mirror as it was, and the next open tries again."""
        steps = [MIGRATIONS.get(n) for n in range(found, FORMAT)]
        self.con.execute("BEGIN TRANSACTION")
        try:
            if found and all(steps):
                for sql in steps:
                    self.con.execute(sql)
                self.con.execute(f"UPDATE {META}.about SET format = {FORMAT}")
            else:
                log.warning("mirror %s has an older layout; rebuilding it (the next sync fetches in full)",
                            self.path)
                schemas = self.con.execute(
                    "SELECT schema_name FROM duckdb_schemas() WHERE database_name = current_database() "
                    "AND NOT internal AND schema_name <> 'main'").fetchall()
                for (schema,) in schemas:
                    self.con.execute(f"DROP SCHEMA {quote(schema)} CASCADE")
                self.con.execute(_SETUP)
                self.con.execute(f"INSERT INTO {META}.about VALUES (?, ?)", [FORMAT, uuid.uuid4().hex])
            self.con.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(duckdb.Error):
                self.con.execute("ROLLBACK")
            raise

    def close(self) -> None:
        try:
            self.con.close()
        except duckdb.Error as exc:  # invalidated by a full disk: what was committed is in the log file
            log.warning("mirror %s: %s", self.path, self.cannot_write(exc) or str(exc).splitlines()[0])

    @contextmanager
    def frugal(self) -> Iterator[None]:
        """While syncing: DuckDB keeps what it writes cached, up to 80% of RAM by default, so a
        sync of a million contacts would hold them all; capped, it evicts (and spills big merges
        to disk). One DuckDB thread: batches of a few thousand rows gain nothing from a second,
        which only competed with parsing (a sync of 200,000 contacts: 4.0 s of CPU -> 3.5 s,
        and a merge of 1M changed rows 3.9 s -> 3.4 s). Publishing afterwards gets the defaults
        back (a CSV copy uses every core)."""
        with self.lock:
            if not self._frugal:
                self.con.execute(f"SET memory_limit = '{self.limit(SYNC_MEMORY_LIMIT)}'")
                self.con.execute("SET threads = 1")
            self._frugal += 1
        try:
            yield
        finally:
            with self.lock:
                self._frugal -= 1
                if not self._frugal:  # the last sync of the run is done
                    with contextlib.suppress(duckdb.Error):  # never in place of the sync's own error
                        self.con.execute("RESET memory_limit")
                        self.con.execute("RESET threads")

    @contextlib.contextmanager
    def lean(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor for streaming the mirror out to a database server: capped as a sync is, since
        DuckDB otherwise keeps every block it read cached (1M contacts to PostgreSQL peaked at
        344 MB, 255 MB capped, at the same speed); what a big query cannot hold spills to disk."""
        with self.lock:
            if self._frugal:  # a sync's cap is already on
                yield self.con
                return
            self.con.execute(f"SET memory_limit = '{PUBLISH_MEMORY_LIMIT}'")
            self.con.execute("SET threads = 1")
            try:
                yield self.con
            finally:
                with contextlib.suppress(duckdb.Error):  # never in place of the write's own error
                    self.con.execute("RESET memory_limit")
                    self.con.execute("RESET threads")

    @contextlib.contextmanager
    def publishing(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor for writing a file or workbook: with DuckDB's own limits even while syncs of other
        accounts run (the service), whose cap would leave a CSV copy short of memory. The lock is
        held throughout, so no sync works under the lifted cap; theirs is back afterwards."""
        with self.lock:
            if not self._frugal:
                yield self.con
                return
            self.con.execute("RESET memory_limit")
            self.con.execute("RESET threads")
            try:
                yield self.con
            finally:
                with contextlib.suppress(duckdb.Error):  # never in place of the write's own error
                    self.con.execute(f"SET memory_limit = '{self.limit(SYNC_MEMORY_LIMIT)}'")
                    self.con.execute("SET threads = 1")

    def limit(self, base: str) -> str:
        """A frugal memory limit, once per load in progress and raised for the columns they hold
        open: loads share the connection's limit, and one load's open transaction (2M custom field
        values) left another's commit (100k contacts) short of a block at 32 MB."""
        loads = max(1, self._open_loads)
        return f"{int(base.removesuffix('MB')) * 1024 * loads + KB_PER_OPEN_COLUMN * self._open_columns}KB"

    def hold_load(self, delta: int) -> None:
        with self.lock:
            self._open_loads += delta
            if self._frugal:
                self.con.execute(f"SET memory_limit = '{self.limit(SYNC_MEMORY_LIMIT)}'")

    def hold_columns(self, delta: int) -> None:
        with self.lock:
            self._open_columns += delta
            if self._frugal:
                self.con.execute(f"SET memory_limit = '{self.limit(SYNC_MEMORY_LIMIT)}'")

    def __enter__(self) -> Mirror:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _drop_leftover_loads(self) -> None:
        """Staging tables of a load that was killed: never visible, safe to drop."""
        rows = self.con.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() WHERE table_name LIKE '\\_load\\_%' ESCAPE '\\'"
        ).fetchall()
        for schema, table in rows:
            self.con.execute(f"DROP TABLE {quote(schema)}.{quote(table)}")

    def table(self, account_url: str, entity: str) -> str:
        return f"{quote(account_schema(account_url))}.{quote(entity)}"

    def current(self, account_url: str, entity: str) -> str:
        """SQL for the entity's rows as the API has them now: without internal columns or removed rows."""
        return (f"(SELECT * EXCLUDE ({', '.join(INTERNAL)}) FROM {self.table(account_url, entity)} "
                f"WHERE {DELETED_AT} IS NULL)")

    def has(self, account_url: str, entity: str) -> bool:
        with self.lock:
            return bool(self.con.execute(
                "SELECT count(*) FROM duckdb_tables() WHERE schema_name = ? AND table_name = ?",
                [account_schema(account_url), entity],
            ).fetchone()[0])

    def state(self, account_url: str, entity: str) -> State | None:
        with self.lock:
            row = self.con.execute(
                f"SELECT synced_at, full_synced_at, rows FROM {META}.state WHERE account = ? AND entity = ?",
                [account_url, entity],
            ).fetchone()
        return State(*row) if row and self.has(account_url, entity) else None

    def zone(self, account_url: str) -> tuple[str | None, dict[str, Any] | None]:
        """The zone earlier syncs learnt for the account, and the evidence (zones.Evidence's fields)."""
        with self.lock:
            row = self.con.execute(f"SELECT zone, evidence FROM {META}.accounts WHERE account = ?",
                                   [account_url]).fetchone()
        if row is None:
            return None, None
        return row[0], json.loads(row[1]) if row[1] else None

    def set_zone(self, account_url: str, zone: str, evidence: dict[str, Any]) -> None:
        with self.lock:
            self.con.execute(f"INSERT OR REPLACE INTO {META}.accounts VALUES (?, ?, ?, now())",
                             [account_url, zone, json.dumps(evidence)])

    def forget_full(self, account_url: str, entity: str) -> None:
        """The entity's next sync reads it in full (what it holds may be behind the API)."""
        with self.lock:
            self.con.execute(f"UPDATE {META}.state SET full_synced_at = NULL WHERE account = ? AND entity = ?",
                             [account_url, entity])

    def newest(self, account_url: str, entity: str, column: str, fallback: str | None) -> datetime | None:
        """The cursor of an incremental fetch: derived from committed rows, so it can never run ahead."""
        value = f"coalesce({quote(column)}, {quote(fallback)})" if fallback else quote(column)
        with self.lock:
            return self.con.execute(f"SELECT max({value}) FROM {self.table(account_url, entity)}").fetchone()[0]

    def changed_since(self, account_url: str, entity: str, seq: int) -> tuple[str, str]:
        """SQL for (rows changed since load `seq`, ids removed since then): what a merge or an
        append needs to bring a destination that had everything up to `seq` up to date."""
        table = self.table(account_url, entity)
        rows = (f"(SELECT * EXCLUDE ({', '.join(INTERNAL)}) FROM {table} "
                f"WHERE {DELETED_AT} IS NULL AND {SEQ} > {int(seq)})")
        removed = f"SELECT id FROM {table} WHERE {DELETED_AT} IS NOT NULL AND {SEQ} > {int(seq)}"
        return rows, removed

    def last_seq(self, account_url: str, entity: str) -> int:
        with self.lock:
            return self.con.execute(f"SELECT coalesce(max({SEQ}), 0) FROM {self.table(account_url, entity)}"
                                    ).fetchone()[0]

    def published(self, destination: str, source: str) -> int:
        """The last load a destination received from a source (0: never)."""
        with self.lock:
            row = self.con.execute(f"SELECT seq FROM {META}.published WHERE destination = ? AND source = ?",
                                   [destination, source]).fetchone()
        return row[0] if row else 0

    def mark_published(self, destination: str, source: str, seq: int) -> None:
        with self.lock:
            self.con.execute(f"INSERT OR REPLACE INTO {META}.published VALUES (?, ?, ?, now())",
                             [destination, source, seq])

    def load(self, account_url: str, entity: str, schema: pa.Schema) -> Load:
        return Load(self, account_url, entity, schema)

    def query(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        with self.lock:
            return self.con.execute(sql, params or []).fetchall()

    @contextmanager
    def cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with self.lock:
            yield self.con

    def log_run(self, **row: Any) -> None:
        """Bookkeeping: a log line that cannot be written (a full disk) is not the run's failure."""
        cols = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        with self.lock:
            try:
                self.con.execute(f"INSERT INTO {META}.runs ({cols}) VALUES ({marks})", list(row.values()))
            except duckdb.Error as exc:
                log.warning("mirror %s: the run was not logged: %s", self.path, self.cannot_write(exc) or exc)

    def cannot_write(self, exc: BaseException) -> AcflowError | None:
        """A full disk (or a file size limit) under the mirror, as one line; None for other errors."""
        why = disk_cause(exc)
        if why is None:
            return None
        return AcflowError(f"mirror {self.path} cannot be written: {why}; free some space or give another "
                           "--mirror, then sync again; the mirror is unchanged")

    def runs(self) -> list[dict[str, Any]]:
        with self.lock:
            cur = self.con.execute(f"SELECT * FROM {META}.runs ORDER BY started")
            names = [d[0] for d in cur.description]
            return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


MERGE_ROWS = 100_000  # ids per merge step: each step's joins fit the sync's memory limit


def _id_ranges(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    """SQL conditions splitting all ids (those the table holds and any other) into consecutive
    ranges of about MERGE_ROWS of the table's ids: joins over a million ids at once outgrow
    the sync's memory limit, and DuckDB does not always spill them. Bounds are literals of the
    id column's own type (ids kept as text compare as text), and null ids have a range of
    their own."""
    bounds = [r[0] for r in con.execute(
        f"SELECT id FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM {table} WHERE id IS NOT NULL) "
        f"WHERE n % {MERGE_ROWS} = 0 ORDER BY id").fetchall()]
    edges: list[object] = [None, *bounds, None]
    ranges = []
    for low, high in itertools.pairwise(edges):
        parts = [*([f"id > {_literal(low)}"] if low is not None else []),
                 *([f"id <= {_literal(high)}"] if high is not None else [])]
        ranges.append(f"({' AND '.join(parts) or 'id IS NOT NULL'})")
    return [*ranges, "(id IS NULL)"]


def _literal(value: object) -> str:
    return str(int(value)) if isinstance(value, int) else "'" + str(value).replace("'", "''") + "'"


def _disk_errors(method: Callable[..., T]) -> Callable[..., T]:
    """A load's DuckDB error from a full disk becomes one line naming the mirror and the cause."""
    @functools.wraps(method)
    def wrapper(self: Load, *args: Any, **kwargs: Any) -> T:
        try:
            return method(self, *args, **kwargs)
        except duckdb.Error as exc:
            plain = self.mirror.cannot_write(exc)
            if plain is None:
                raise
            raise plain from None
    return wrapper


class Load:
    """Rows of one entity on their way into the mirror; invisible until commit()."""

    def __init__(self, mirror: Mirror, account_url: str, entity: str, schema: pa.Schema) -> None:
        self.mirror = mirror
        self.schema_name = account_schema(account_url)
        self.entity = entity
        self.account_url = account_url
        self.staging = f"{quote(self.schema_name)}.{quote('_load_' + entity + '_' + uuid.uuid4().hex[:8])}"
        self.rows = 0
        with mirror.lock:
            mirror.con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(self.schema_name)}")
            empty = pa.Table.from_batches([], schema=schema)
            mirror.con.register("_acflow_empty", empty)
            try:
                mirror.con.execute(f"CREATE TABLE {self.staging} AS SELECT * FROM _acflow_empty")
            finally:
                mirror.con.unregister("_acflow_empty")
            # appends go through a connection of their own, in one transaction: DuckDB then
            # writes the rows once, compressed, instead of into its log and again at each
            # checkpoint (half the time, and no slower as the table grows)
            self._writer: duckdb.DuckDBPyConnection | None = mirror.con.cursor()
        self._writer.execute("SET TimeZone = 'UTC'")  # as the mirror's: text made of times is UTC
        self._writer.execute("BEGIN TRANSACTION")
        self._writing = threading.Lock()
        self.columns: dict[str, pa.DataType] = {f.name: f.type for f in schema}
        self._held = 0  # columns added to the schema it started with
        self._counted = True  # in the mirror's loads in progress until released
        mirror.hold_load(1)

    def _release(self) -> None:
        held, self._held = self._held, 0
        if held:
            self.mirror.hold_columns(-held)
        if self._counted:
            self._counted = False
            self.mirror.hold_load(-1)

    @_disk_errors
    def append(self, batch: pa.RecordBatch) -> None:
        with self._writing:
            con = self._writer
            assert con is not None, "append after commit or abort"
            for field in batch.schema:  # new unknown columns, or columns now kept as text
                known = self.columns.get(field.name)
                if known is None:
                    con.execute(f"ALTER TABLE {self.staging} ADD COLUMN {quote(field.name)} VARCHAR")
                    self._held += 1
                    self.mirror.hold_columns(1)
                elif known != field.type and pa.types.is_string(field.type):
                    con.execute(f"ALTER TABLE {self.staging} ALTER {quote(field.name)} TYPE VARCHAR")
                self.columns[field.name] = field.type
            # found by DuckDB's replacement scan: a view registered and dropped inside the
            # transaction would keep every batch alive until it ends
            _acflow_batch = batch
            con.execute(f"INSERT INTO {self.staging} BY NAME SELECT * FROM _acflow_batch")
            self.rows += batch.num_rows

    @_disk_errors
    def commit(self, *, full: bool, stub_flag: str | None = None,
               owners: tuple[str, Sequence[object]] | None = None) -> Changes:
        """Merge the staging rows in, in one transaction (see the module's docstring).

        `owners` = (column, ids): the staging rows are every row of those owners (the custom field
        values side-loaded with changed contacts), so their rows not among them are marked gone."""
        final = f"{quote(self.schema_name)}.{quote(self.entity)}"
        with self._writing:
            if self._writer is not None:  # the staging rows, now visible to the merge
                self._writer.execute("COMMIT")
                self._writer.close()
                self._writer = None
        con = self.mirror.con
        with self.mirror.lock:
            # rows not yet checkpointed take DuckDB memory a merge needs: at 5M contacts, where
            # every one changed, the merge ran out of its 64 MB without this. While another
            # entity's load is still writing DuckDB refuses; the small entities end first.
            with contextlib.suppress(duckdb.TransactionException):
                con.execute("CHECKPOINT")
            if self.mirror._frugal:  # the batches are gone; a merge's joins get their room
                con.execute(f"SET memory_limit = '{self.mirror.limit(MERGE_MEMORY_LIMIT)}'")
            con.execute("BEGIN TRANSACTION")
            try:
                changes = self._merge(con, final, full, stub_flag, owners)
                con.execute(
                    f"INSERT OR REPLACE INTO {META}.state VALUES (?, ?, ?, now(), "
                    f"CASE WHEN ? THEN now() ELSE (SELECT full_synced_at FROM {META}.state "
                    f"WHERE account = ? AND entity = ?) END, ?)",
                    [self.account_url, self.entity, final, full, self.account_url, self.entity, changes.rows],
                )
                con.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(duckdb.Error):  # DuckDB may have ended it already: keep the cause
                    con.execute("ROLLBACK")
                raise
            finally:
                self._release()
                if self.mirror._frugal:
                    with contextlib.suppress(duckdb.Error):  # never in place of the merge's own error
                        con.execute(f"SET memory_limit = '{self.mirror.limit(SYNC_MEMORY_LIMIT)}'")
        return changes

    def _merge(self, con: duckdb.DuckDBPyConnection, final: str, full: bool, stub_flag: str | None,
               owners: tuple[str, Sequence[object]] | None = None) -> Changes:
        """In steps of about MERGE_ROWS ids, with nothing big kept inside the transaction (DuckDB
        holds a table made inside one in memory): a merge fits its memory limit at any size."""
        staging = self.staging
        changes = Changes(seq=con.execute(f"SELECT nextval('{META}.loads')").fetchone()[0])
        exists = con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE schema_name = ? AND table_name = ?",
            [self.schema_name, self.entity],
        ).fetchone()[0]
        if exists:  # first, so both tables' ids have one type when ranges are drawn
            self._evolve(con, final)
        ranges = _id_ranges(con, staging)
        for within in ranges:  # the same id twice (a record that moved between pages): the later read wins
            con.execute(f"DELETE FROM {staging} WHERE {within} AND rowid NOT IN "
                        f"(SELECT max(rowid) FROM {staging} WHERE {within} GROUP BY id)")
        fetched = con.execute(f"SELECT count(*) FROM {staging}").fetchone()[0]
        if not exists:  # the first load becomes the table: no copy
            con.execute(f"ALTER TABLE {staging} ADD COLUMN {SEQ} BIGINT DEFAULT {changes.seq}")
            con.execute(f"ALTER TABLE {staging} ADD COLUMN {DELETED_AT} TIMESTAMPTZ")
            con.execute(f"ALTER TABLE {staging} ALTER {SEQ} DROP DEFAULT")
            con.execute(f"ALTER TABLE {staging} RENAME TO {quote(self.entity)}")
            changes.inserted = fetched
        else:
            cols = [c for c in self.columns if c != "id"]
            row_hash = f"hash({', '.join(quote(c) for c in cols)})" if cols else "0"
            flag = quote(stub_flag) if stub_flag else "NULL"
            # what a restricted key sees never replaces what an admin key saw
            kept_out = "coalesce(s.stub = 1 AND f.id IS NOT NULL AND coalesce(f.stub, 0) = 0 AND NOT f.gone, false)"
            for within in ranges:
                # rows are compared by hash, each side hashed on its own before the join
                con.execute(
                    f"CREATE OR REPLACE TEMP TABLE _acflow_changed AS SELECT s.id, f.id IS NULL AS is_new, "
                    f"{kept_out} AS kept_out FROM "
                    f"(SELECT id, {row_hash} AS h, {flag} AS stub FROM {staging} WHERE {within}) s LEFT JOIN "
                    f"(SELECT id, {row_hash} AS h, {flag} AS stub, {DELETED_AT} IS NOT NULL AS gone FROM {final} "
                    f"WHERE {within}) f ON f.id = s.id WHERE f.id IS NULL OR f.gone OR s.h <> f.h"
                )
                inserted, updated, stubs = con.execute(
                    "SELECT count(*) FILTER (is_new AND NOT kept_out), count(*) FILTER (NOT is_new AND NOT kept_out), "
                    "count(*) FILTER (kept_out) FROM _acflow_changed"
                ).fetchone()
                changes.inserted += inserted
                changes.updated += updated
                changes.stubs_kept_out += stubs
                changed = "(SELECT id FROM _acflow_changed WHERE NOT kept_out)"
                con.execute(f"DELETE FROM {final} WHERE {within} AND id IN {changed}")
                con.execute(
                    f"INSERT INTO {final} BY NAME SELECT s.*, {changes.seq}::BIGINT AS {SEQ}, "
                    f"NULL::TIMESTAMPTZ AS {DELETED_AT} FROM {staging} s WHERE {within} AND s.id IN {changed}"
                )
                if full:  # a full fetch saw every record that exists: the rest are gone
                    changes.removed += con.execute(
                        f"UPDATE {final} SET {DELETED_AT} = now(), {SEQ} = {changes.seq} WHERE {within} "
                        f"AND {DELETED_AT} IS NULL AND id NOT IN (SELECT id FROM {staging} WHERE {within})"
                    ).fetchone()[0]
            if owners is not None and owners[1]:  # the owners' rows not sent again are gone
                _acflow_owners = pa.table({"o": pa.array([str(o) for o in owners[1]], pa.string())})
                changes.removed += con.execute(
                    f"UPDATE {final} SET {DELETED_AT} = now(), {SEQ} = {changes.seq} WHERE {DELETED_AT} IS NULL "
                    f"AND CAST({quote(owners[0])} AS VARCHAR) IN (SELECT o FROM _acflow_owners) "
                    f"AND id NOT IN (SELECT id FROM {staging} WHERE id IS NOT NULL)").fetchone()[0]
            con.execute("DROP TABLE IF EXISTS _acflow_changed")
            con.execute(f"DROP TABLE {staging}")
        changes.unchanged = fetched - changes.inserted - changes.updated - changes.stubs_kept_out
        changes.rows = con.execute(f"SELECT count(*) FROM {final} WHERE {DELETED_AT} IS NULL").fetchone()[0]
        return changes

    def _evolve(self, con: duckdb.DuckDBPyConnection, final: str) -> None:
        """New fields become new columns; a column now kept as text becomes text in the mirror too."""
        held = dict(con.execute(f"SELECT column_name, column_type FROM (DESCRIBE {final})").fetchall())
        for name, ctype in con.execute(f"SELECT column_name, column_type FROM (DESCRIBE {self.staging})").fetchall():
            if name not in held:
                con.execute(f"ALTER TABLE {final} ADD COLUMN {quote(name)} {ctype}")
            elif held[name] != ctype and ctype == "VARCHAR":
                con.execute(f"ALTER TABLE {final} ALTER {quote(name)} TYPE VARCHAR")
            elif held[name] != ctype and held[name] == "VARCHAR":
                con.execute(f"ALTER TABLE {self.staging} ALTER {quote(name)} TYPE VARCHAR")

    def abort(self) -> None:
        with self._writing:  # after an append in flight, if any
            if self._writer is not None:
                self._writer.close()  # its transaction is rolled back
                self._writer = None
        with self.mirror.lock:
            self._release()
            with contextlib.suppress(duckdb.Error):  # a full disk: the next open drops it (_drop_leftover_loads)
                self.mirror.con.execute(f"DROP TABLE IF EXISTS {self.staging}")
