"""PostgreSQL: `postgresql://user[:password]@host[:port]/database?table=T&schema=S` (schema `public`
unless told). The password comes from the URI, else libpq finds it in PGPASSWORD or ~/.pgpass; it
is never shown. A write is one transaction: whatever fails, or if acflow is killed, the server
rolls it back and the table is as it was; nothing is left behind to clean up.

Bulk path: binary COPY from the mirror's Arrow batches through ADBC's PostgreSQL driver
(adbc_ingest: C++ from Arrow to the wire, one batch in memory at a time). Measured on 200,000
contacts, 57 columns, 8 of them jsonb (benchmarks/_pg_floor.py, this machine, 2 cores, best of 3):
ADBC binary COPY 87,000 rows/s; psycopg 3 COPY of CSV that DuckDB writes into a pipe 87,000 (the
server parsing jsonb bounds both; with JSON as plain text ADBC did 115,000 and the pipe 100,000);
psycopg 3 COPY of CSV from pyarrow.csv 43,000; psycopg 3 binary COPY row by row (write_row)
23,000. At equal speed ADBC wins on correctness and simplicity: every type goes in binary as it
is (bytea, NaN, timestamps to the microsecond, numeric), with no CSV quoting rules, no thread
and no named pipe (which Windows lacks). It needs adbc-driver-postgresql 1.12 or later, the
first to write Arrow's JSON extension type as jsonb.

Types: ids and counters bigint; the mirror's 0/1 flags smallint (`deleted = 0` works, as in the
mirror); DECIMAL (deals' `amount`) numeric; TIMESTAMPTZ timestamp with time zone; DATE date;
BOOLEAN boolean (only where a flow made a real boolean); DOUBLE double precision; text text. JSON
columns (the entity's JSON fields, DuckDB's JSON type) are jsonb; a value that PostgreSQL would
refuse as JSON (not JSON at all, or NaN, a trailing comma, a \\u0000 escape, which DuckDB lets
through) is stored as a JSON string holding the text, so one odd record never fails a load and
nothing is lost. Lists, structs and maps are jsonb too (arrays cannot hold lists of objects, and
one rule is easier to query). NUL characters, which PostgreSQL text cannot hold, become U+FFFD.

replace: the rows go into a new table, created in the transaction, which then takes the old
one's place (DROP + RENAME): readers in other connections see the old table until the commit,
then the new one, never an empty or partial one (they wait only for the instant of the swap).
The old table's grants and comments are given to the new one. A table with something that a
new table would not carry (views or rules on it, triggers, row security policies, foreign keys
pointing at it, indexes besides the primary key, publications, another owner) is instead
refilled in place: the rows go into a temporary table, then TRUNCATE and INSERT in the same
transaction, so the views and all else survive (readers wait while the INSERT runs). As ever
with TRUNCATE or a swap, a reader in REPEATABLE READ whose snapshot predates the commit sees
the table empty: PostgreSQL's rule, not ours (its docs, "MVCC caveats").

append: the rows (with `_extracted_at`) are copied straight into the table. merge: they go into a
temporary table, then INSERT ... ON CONFLICT (id) DO UPDATE (or DELETE + INSERT when the table
has no unique index on id) and records gone from ActiveCampaign are deleted, one transaction.
A table acflow creates in replace or merge gets a primary key on id when the ids are unique
(an append into such a table that repeats an id is refused, saying to merge or to append to a
table of its own; append tables get no key, as they hold an id once per change).
New columns are added (ALTER TABLE ADD COLUMN); a column whose type differs is an error that
names it and says what to do, never a silent cast. One acflow writer per table at a time
(a transaction-scoped advisory lock).
"""

from __future__ import annotations

import functools
import os
import re
import secrets
from collections.abc import Sequence
from dataclasses import replace as replaced
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote as url_quote

from ..errors import ConfigError, DestinationError, did_you_mean
from ..sqltext import quote
from .base import Destination, Rows, WriteOptions, need, parse_server
from .postgres_connect import DEFAULT_SCHEMA, session
from .postgres_types import Column, arrow_stream, column_defs, columns

if TYPE_CHECKING:
    import pyarrow as pa

MODES = ("replace", "append", "merge")
ORDERED = False  # a table: rows have no order, so publish does not sort them
EXTRA = "postgres"
EXAMPLE = "postgresql://user@host:5432/database?table=contacts&schema=public"
NAME_BYTES = 63  # PostgreSQL cuts longer names (NAMEDATALEN - 1): two columns could become one
# libpq's connection keywords a URI may add as ?name=value (user, password and database have their places)
KEYWORDS = frozenset({
    "host", "hostaddr", "port", "passfile", "channel_binding", "connect_timeout", "client_encoding", "options",
    "application_name", "fallback_application_name", "keepalives", "keepalives_idle", "keepalives_interval",
    "keepalives_count", "tcp_user_timeout", "gssencmode", "sslmode", "requiressl", "sslcompression", "sslcert",
    "sslkey", "sslpassword", "sslrootcert", "sslcrl", "sslcrldir", "sslsni", "requirepeer",
    "ssl_min_protocol_version", "ssl_max_protocol_version", "krbsrvname", "gsslib", "service",
    "target_session_attrs", "load_balance_hosts", "require_auth", "sslcertmode", "sslnegotiation",
})
PLACED = {"password": "postgresql://user:PASSWORD@host/db (or PGPASSWORD, or ~/.pgpass)",
          "user": "postgresql://USER@host/db", "dbname": "postgresql://user@host/DATABASE"}


def parse(text: str, default_table: str, *, sheet: str | None = None, base: Path | None = None) -> Destination:
    need("adbc_driver_postgresql", EXTRA, "postgresql")
    _need_jsonb_writer()
    dest = parse_server(text, "postgresql", default_table, example=EXAMPLE)
    assert dest.server is not None and dest.table is not None
    for key, _ in dest.server.params:
        if key in PLACED:
            raise ConfigError(f"postgresql destination: write the {key} as {PLACED[key]}, not as ?{key}=")
        if key not in KEYWORDS:
            raise ConfigError(f"postgresql destination: unknown parameter ?{key}=; use table, schema or a libpq "
                              f"connection keyword (sslmode, connect_timeout...).{did_you_mean(key, KEYWORDS)}")
    schema = dest.server.schema or DEFAULT_SCHEMA
    for what, name in (("table", dest.table), ("schema", schema)):
        if len(name.encode()) > NAME_BYTES:
            raise ConfigError(f"postgresql {what} name {name[:NAME_BYTES]!r}... is longer than PostgreSQL's "
                              f"{NAME_BYTES} bytes: choose a shorter ?{what}=")
    return replaced(dest, server=replaced(dest.server, schema=schema))


@functools.cache
def _need_jsonb_writer() -> None:
    """ADBC's PostgreSQL driver writes Arrow JSON as jsonb from 1.12 on; before, every load of a
    JSON column failed ("unsupported jsonb version number 123")."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = version("adbc-driver-postgresql")
    except PackageNotFoundError:
        return  # found by need() but not installed as a distribution: nothing to tell
    numbers = tuple(int(p) for p in re.findall(r"\d+", found)[:2])
    if numbers < (1, 12):
        raise ConfigError(f"postgresql destinations need adbc-driver-postgresql 1.12 or later ({found} is installed "
                          f"and cannot write jsonb): pip install -U 'acflow[{EXTRA}]'")


def describe(dest: Destination) -> str:
    assert dest.server is not None
    return (f"{dest.server.url()}?table={url_quote(dest.table or '', safe='')}"
            f"&schema={url_quote(dest.server.schema or DEFAULT_SCHEMA, safe='')}")


# -- the table as it is ------------------------------------------------------------------------

def _one(cur: Any, sql: str, params: Sequence[Any] | None = None) -> Any:
    cur.execute(sql, params) if params is not None else cur.execute(sql)
    row = cur.fetchone()
    return row[0] if row else None


def _ensure_schema(cur: Any, schema: str) -> None:
    """The schema, made in this transaction if missing; acflow writers of two tables of one new
    schema take turns (else the second failed on the first's uncommitted schema)."""
    if _one(cur, "SELECT count(*) FROM pg_namespace WHERE nspname = $1", (schema,)) == 0:
        cur.execute("SELECT pg_advisory_xact_lock(hashtext($1))", (f"acflow schema:{schema}",))
        if _one(cur, "SELECT count(*) FROM pg_namespace WHERE nspname = $1", (schema,)) == 0:
            cur.execute(f"CREATE SCHEMA {quote(schema)}")


def _existing(cur: Any, schema: str, table: str) -> dict[str, str] | None:
    """The table's columns and their types (as `regtype` names), or None when it does not exist."""
    cur.execute("SELECT a.attname, a.atttypid::regtype::text FROM pg_attribute a JOIN pg_class c ON "
                "c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND "
                "c.relname = $2 AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped "
                "ORDER BY a.attnum", (schema, table))
    found = cur.fetchall()
    if found:
        return {name: pg for name, pg in found}
    kind = _one(cur, "SELECT c.relkind::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                     "WHERE n.nspname = $1 AND c.relname = $2", (schema, table))
    if kind in ("r", "p"):
        return {}  # a table without columns
    if kind is not None:
        raise _NotATable(kind)
    return None


class _NotATable(Exception):
    def __init__(self, kind: str) -> None:
        super().__init__({"v": "a view", "m": "a materialized view", "f": "a foreign table"}.get(kind, "not a table"))


# What a new table made by a swap would not carry; any of these: refill in place instead.
_KEEP_IN_PLACE = """
SELECT concat_ws(', ',
  CASE WHEN EXISTS (SELECT 1 FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid
                    WHERE d.classid = 'pg_rewrite'::regclass AND d.refobjid = c.oid AND r.ev_class <> c.oid)
       THEN 'views depend on it' END,
  CASE WHEN EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = c.oid AND NOT t.tgisinternal) THEN 'triggers' END,
  CASE WHEN c.relrowsecurity OR EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid)
       THEN 'row security' END,
  CASE WHEN EXISTS (SELECT 1 FROM pg_constraint f WHERE f.confrelid = c.oid) THEN 'foreign keys point at it' END,
  CASE WHEN EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND NOT i.indisprimary) THEN 'indexes' END,
  CASE WHEN EXISTS (SELECT 1 FROM pg_publication_rel p WHERE p.prrelid = c.oid) THEN 'publications' END,
  CASE WHEN c.relkind = 'p' OR c.relispartition OR EXISTS (SELECT 1 FROM pg_inherits h
       WHERE h.inhparent = c.oid OR h.inhrelid = c.oid) THEN 'partitions or inheritance' END,
  CASE WHEN c.relowner <> (SELECT oid FROM pg_roles WHERE rolname = current_user) THEN 'another owner' END)
FROM pg_class c WHERE c.oid = $1::regclass
"""


def _check_types(dest: Destination, existing: dict[str, str], cols: Sequence[Column], why: str = "") -> None:
    for c in cols:
        old = existing.get(c.name)
        if old is not None and old != c.pg:
            target = f"{quote(dest.server.schema or DEFAULT_SCHEMA)}.{quote(dest.table or '')}"  # type: ignore[union-attr]
            raise DestinationError(
                f"column {c.name!r} of {dest.describe()} is {old} but the rows have {c.pg}{why}: change it "
                f"(ALTER TABLE {target} ALTER COLUMN {quote(c.name)} TYPE {c.pg} USING {quote(c.name)}::{c.pg}), "
                f"write to another ?table=, or drop the table; it is unchanged")


def _add_columns(cur: Any, target: str, existing: dict[str, str], cols: Sequence[Column]) -> None:
    for c in cols:
        if c.name not in existing:
            cur.execute(f"ALTER TABLE {target} ADD COLUMN {quote(c.name)} {c.pg}")


def _try_primary_key(cur: Any, target: str, cols: Sequence[Column], name: str) -> bool:
    """A primary key on id when there is one and the ids are unique and present (a flow's join
    may repeat them: then the table simply has none)."""
    import adbc_driver_manager

    if not any(c.name == "id" for c in cols):
        return False
    cur.execute("SAVEPOINT acflow_key")
    try:
        cur.execute(f"ALTER TABLE {target} ADD CONSTRAINT {quote(name)} PRIMARY KEY (id)")
    except adbc_driver_manager.Error as exc:
        if getattr(exc, "sqlstate", None) not in ("23505", "23502"):  # duplicate or null ids
            raise
        cur.execute("ROLLBACK TO SAVEPOINT acflow_key")
        return False
    cur.execute("RELEASE SAVEPOINT acflow_key")
    return True


def _ingest(cur: Any, stream: pa.RecordBatchReader, table: str, schema: str | None, *, temporary: bool = False
            ) -> int:
    if temporary:
        written = cur.adbc_ingest(table, stream, mode="append", temporary=True)
    else:
        written = cur.adbc_ingest(table, stream, mode="append", db_schema_name=schema)
    return int(written)


def _stage_name() -> str:
    return f"_acflow_{os.getpid()}_{secrets.token_hex(4)}"


# -- writing -----------------------------------------------------------------------------------

def write(rows: Rows, dest: Destination, mode: str, options: WriteOptions) -> int:
    assert dest.server is not None and dest.table is not None
    cols = columns(rows)
    names = [c.name for c in cols]
    for name in names:
        if len(name.encode()) > NAME_BYTES:
            raise DestinationError(f"column {name[:NAME_BYTES]!r}... is longer than PostgreSQL's {NAME_BYTES} bytes: "
                                   f"rename it in the flow; {dest.describe()} is unchanged")
    if mode == "merge" and "id" not in names:
        raise DestinationError(f"cannot merge into {dest.describe()}: the rows have no id column; "
                               "use mode: replace or append; it is unchanged")
    schema, table = dest.server.schema or DEFAULT_SCHEMA, dest.table
    target = f"{quote(schema)}.{quote(table)}"
    with session(dest, mode) as conn, conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(hashtext($1))", (f"acflow:{schema}.{table}",))
        _ensure_schema(cur, schema)
        try:
            existing = _existing(cur, schema, table)
        except _NotATable as exc:
            raise DestinationError(f"{dest.describe()} is {exc}, not a table: choose another ?table=; "
                                   "it is unchanged") from None
        if mode == "replace":
            written = _replace(cur, rows, dest, cols, existing)
        elif existing is None:
            cur.execute(f"CREATE TABLE {target} ({column_defs(cols)})")
            with arrow_stream(rows, cols) as stream:
                written = _ingest(cur, stream, table, schema)
            if mode == "merge":
                _try_primary_key(cur, target, cols, _index_name(table))
        else:
            _check_types(dest, existing, cols)
            _add_columns(cur, target, existing, cols)
            if mode == "append":
                with arrow_stream(rows, cols) as stream:
                    written = _ingest(cur, stream, table, schema)
            else:
                written = _merge(cur, rows, dest, cols)
        if mode == "merge" and rows.gone:
            _delete_gone(cur, target, rows.gone, cols)
        conn.commit()
    return written


def _index_name(table: str) -> str:
    name = f"{table}_pkey"
    return name if len(name.encode()) <= NAME_BYTES else f"_acflow_pkey_{secrets.token_hex(4)}"


def _replace(cur: Any, rows: Rows, dest: Destination, cols: Sequence[Column], existing: dict[str, str] | None) -> int:
    schema, table = dest.server.schema or DEFAULT_SCHEMA, dest.table or ""  # type: ignore[union-attr]
    target = f"{quote(schema)}.{quote(table)}"
    kept = _one(cur, _KEEP_IN_PLACE, (target,)) if existing is not None else ""
    if kept:  # refill in place: everything attached to the table stays
        _check_types(dest, existing or {}, cols, f" (the table is refilled in place, as it has {kept})")
        _add_columns(cur, target, existing or {}, cols)
        stage = _stage_name()
        cur.execute(f"CREATE TEMP TABLE {quote(stage)} ({column_defs(cols)}) ON COMMIT DROP")
        with arrow_stream(rows, cols) as stream:
            written = _ingest(cur, stream, stage, None, temporary=True)
        listed = ", ".join(quote(c.name) for c in cols)
        cur.execute(f"TRUNCATE {target}")
        cur.execute(f"INSERT INTO {target} ({listed}) SELECT {listed} FROM {quote(stage)}")
        return written
    stage = _stage_name()
    staged = f"{quote(schema)}.{quote(stage)}"
    cur.execute(f"CREATE TABLE {staged} ({column_defs(cols)})")
    with arrow_stream(rows, cols) as stream:
        written = _ingest(cur, stream, stage, schema)
    keyed = _try_primary_key(cur, staged, cols, f"{stage}_pkey")
    if existing is not None:
        _carry_over(cur, target, staged, cols)
        cur.execute(f"DROP TABLE {target}")
    cur.execute(f"ALTER TABLE {staged} RENAME TO {quote(table)}")
    if keyed:
        cur.execute(f"ALTER INDEX {quote(schema)}.{quote(stage + '_pkey')} RENAME TO {quote(_index_name(table))}")
    return written


def _carry_over(cur: Any, old: str, new: str, cols: Sequence[Column]) -> None:
    """The old table's grants and comments, given to the table that takes its place."""
    cur.execute("SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(r.rolname) END, a.privilege_type, "
                "a.is_grantable FROM pg_class c, aclexplode(c.relacl) a LEFT JOIN pg_roles r ON r.oid = a.grantee "
                "WHERE c.oid = $1::regclass AND a.grantee <> c.relowner", (old,))
    for grantee, privilege, grantable in cur.fetchall():
        cur.execute(f"GRANT {privilege} ON {new} TO {grantee}{' WITH GRANT OPTION' if grantable else ''}")
    cur.execute("SELECT d.objsubid, a.attname, d.description FROM pg_description d LEFT JOIN pg_attribute a ON "
                "a.attrelid = d.objoid AND a.attnum = d.objsubid WHERE d.objoid = $1::regclass AND "
                "d.classoid = 'pg_class'::regclass", (old,))
    names = {c.name for c in cols}
    for sub, name, text in cur.fetchall():
        if sub == 0:
            cur.execute(f"COMMENT ON TABLE {new} IS {_literal(text)}")
        elif name in names:  # not a column the new rows no longer have
            cur.execute(f"COMMENT ON COLUMN {new}.{quote(name)} IS {_literal(text)}")


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _merge(cur: Any, rows: Rows, dest: Destination, cols: Sequence[Column]) -> int:
    schema, table = dest.server.schema or DEFAULT_SCHEMA, dest.table or ""  # type: ignore[union-attr]
    target = f"{quote(schema)}.{quote(table)}"
    stage = _stage_name()
    cur.execute(f"CREATE TEMP TABLE {quote(stage)} ({column_defs(cols)}) ON COMMIT DROP")
    with arrow_stream(rows, cols) as stream:
        written = _ingest(cur, stream, stage, None, temporary=True)
    listed = ", ".join(quote(c.name) for c in cols)
    unique = _one(cur, "SELECT count(*) FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND "
                       "a.attnum = i.indkey[0] WHERE i.indrelid = $1::regclass AND i.indisunique AND "
                       "i.indnkeyatts = 1 AND i.indpred IS NULL AND a.attname = 'id'", (target,))
    if unique:
        updates = ", ".join(f"{quote(c.name)} = EXCLUDED.{quote(c.name)}" for c in cols if c.name != "id")
        action = f"DO UPDATE SET {updates}" if updates else "DO NOTHING"
        cur.execute(f"INSERT INTO {target} ({listed}) SELECT {listed} FROM {quote(stage)} ON CONFLICT (id) {action}")
    else:
        cur.execute(f"DELETE FROM {target} t USING {quote(stage)} s WHERE t.id = s.id")
        cur.execute(f"INSERT INTO {target} ({listed}) SELECT {listed} FROM {quote(stage)}")
    return written


def _delete_gone(cur: Any, target: str, gone: Sequence[Any], cols: Sequence[Column]) -> None:
    """Records gone from ActiveCampaign, deleted by id: ingested as text, so any number of them,
    and compared as the table's id type, so its key is used."""
    import pyarrow as pa

    id_type = next(c.pg for c in cols if c.name == "id")
    stage = _stage_name()
    cur.execute(f"CREATE TEMP TABLE {quote(stage)} (id text) ON COMMIT DROP")
    cur.adbc_ingest(stage, pa.table({"id": pa.array([str(i) for i in gone], pa.string())}), mode="append",
                    temporary=True)
    cur.execute(f"DELETE FROM {target} t USING {quote(stage)} s WHERE t.id = CAST(s.id AS {id_type})")


# -- acflow validate --connect -----------------------------------------------------------------

def check(dest: Destination) -> None:
    """The server answers, the user logs in, and may create a table in the schema (a probe table
    made inside a transaction that is rolled back: nothing stays)."""
    assert dest.server is not None
    schema = dest.server.schema or DEFAULT_SCHEMA
    with session(dest) as conn, conn.cursor() as cur:
        _ensure_schema(cur, schema)
        cur.execute(f"CREATE TABLE {quote(schema)}.{quote(_stage_name())} (id bigint)")
        try:
            existing = _existing(cur, schema, dest.table or "")
        except _NotATable as exc:
            raise DestinationError(f"{dest.describe()} is {exc}, not a table: choose another ?table=") from None
        if existing is not None and not _one(cur, "SELECT has_table_privilege($1::regclass, 'INSERT')",
                                             (f"{quote(schema)}.{quote(dest.table or '')}",)):
            raise DestinationError(f"user {dest.server.user or '(your login name)'!r} may not insert into "
                                   f"{dest.describe()}: GRANT INSERT (and for replace and merge, ownership) to it")
        conn.rollback()
