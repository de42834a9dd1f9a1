"""The local mirror: one DuckDB file holding a typed raw table per account and
entity, the sync state and the run log.

A load writes into a staging table and swaps it in inside one transaction, so
a reader of the mirror sees the previous complete table or the new complete
table, never half of one; a load that fails leaves the previous table as it was.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from .errors import ConfigError

DEFAULT_PATH = Path(".acflow") / "mirror.duckdb"
META = "_acflow"

_SETUP = f"""
CREATE SCHEMA IF NOT EXISTS {META};
CREATE TABLE IF NOT EXISTS {META}.state (
    account VARCHAR, entity VARCHAR, table_name VARCHAR, synced_at TIMESTAMPTZ,
    rows BIGINT, full_sync BOOLEAN, cursor VARCHAR, PRIMARY KEY (account, entity));
CREATE TABLE IF NOT EXISTS {META}.runs (
    run_id VARCHAR, account VARCHAR, entity VARCHAR, started TIMESTAMPTZ, ended TIMESTAMPTZ,
    fetch_kind VARCHAR, requests BIGINT, retries BIGINT, rate_limited BIGINT, rows BIGINT,
    stubs BIGINT, status VARCHAR, error VARCHAR);
"""


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def account_schema(account_url: str) -> str:
    """`https://acme.api-us1.com` -> `acme_api_us1_com`: one schema per account."""
    host = re.sub(r"^https?://", "", account_url)
    return re.sub(r"[^0-9a-zA-Z]+", "_", host).strip("_").lower() or "account"


class Mirror:
    """One connection, used by one writer at a time (the lock), from any thread."""

    def __init__(self, path: str | Path = DEFAULT_PATH) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.con = duckdb.connect(str(self.path))
        except duckdb.IOException as exc:
            why = "is in use by another acflow process" if "lock" in str(exc).lower() else "cannot be opened"
            raise ConfigError(f"mirror {self.path} {why}: {str(exc).splitlines()[0]}") from None
        except OSError as exc:
            raise ConfigError(f"mirror {self.path} cannot be created: {exc.strerror}") from None
        self.lock = threading.RLock()
        self.con.execute("SET TimeZone = 'UTC'")
        self.con.execute(_SETUP)
        self._drop_leftover_loads()

    def close(self) -> None:
        self.con.close()

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

    def has(self, account_url: str, entity: str) -> bool:
        with self.lock:
            return bool(self.con.execute(
                "SELECT count(*) FROM duckdb_tables() WHERE schema_name = ? AND table_name = ?",
                [account_schema(account_url), entity],
            ).fetchone()[0])

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
        cols = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        with self.lock:
            self.con.execute(f"INSERT INTO {META}.runs ({cols}) VALUES ({marks})", list(row.values()))

    def runs(self) -> list[dict[str, Any]]:
        with self.lock:
            cur = self.con.execute(f"SELECT * FROM {META}.runs ORDER BY started")
            names = [d[0] for d in cur.description]
            return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


class Load:
    """Rows of one entity on their way into the mirror; invisible until commit()."""

    def __init__(self, mirror: Mirror, account_url: str, entity: str, schema: pa.Schema) -> None:
        self.mirror = mirror
        self.schema_name = account_schema(account_url)
        self.entity = entity
        self.account_url = account_url
        self.staging = f"{quote(self.schema_name)}.{quote('_load_' + entity + '_' + uuid.uuid4().hex[:8])}"
        self.rows = 0
        self.columns: dict[str, pa.DataType] = {}
        with mirror.lock:
            mirror.con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(self.schema_name)}")
            empty = pa.Table.from_batches([], schema=schema)
            mirror.con.register("_acflow_empty", empty)
            try:
                mirror.con.execute(f"CREATE TABLE {self.staging} AS SELECT * FROM _acflow_empty")
            finally:
                mirror.con.unregister("_acflow_empty")
        self.columns = {f.name: f.type for f in schema}

    def append(self, batch: pa.RecordBatch) -> None:
        con = self.mirror.con
        with self.mirror.lock:
            for field in batch.schema:  # new unknown columns, or columns now kept as text
                known = self.columns.get(field.name)
                if known is None:
                    con.execute(f"ALTER TABLE {self.staging} ADD COLUMN {quote(field.name)} VARCHAR")
                elif known != field.type and pa.types.is_string(field.type):
                    con.execute(f"ALTER TABLE {self.staging} ALTER {quote(field.name)} TYPE VARCHAR")
                self.columns[field.name] = field.type
            con.register("_acflow_batch", batch)
            try:
                con.execute(f"INSERT INTO {self.staging} BY NAME SELECT * FROM _acflow_batch")
            finally:
                con.unregister("_acflow_batch")
            self.rows += batch.num_rows

    def commit(self, *, full_sync: bool = True, cursor: str | None = None) -> int:
        """Swap the staging table in: one transaction, duplicates by id dropped (latest wins)."""
        final = f"{quote(self.schema_name)}.{quote(self.entity)}"
        con = self.mirror.con
        with self.mirror.lock:
            con.execute("BEGIN TRANSACTION")
            try:
                dupes = con.execute(
                    f"SELECT count(*) - count(DISTINCT id) FROM {self.staging}"
                ).fetchone()[0]
                if dupes:
                    con.execute(
                        f"DELETE FROM {self.staging} WHERE rowid NOT IN "
                        f"(SELECT max(rowid) FROM {self.staging} GROUP BY id)"
                    )
                rows = con.execute(f"SELECT count(*) FROM {self.staging}").fetchone()[0]
                con.execute(f"DROP TABLE IF EXISTS {final}")
                con.execute(f"ALTER TABLE {self.staging} RENAME TO {quote(self.entity)}")
                con.execute(
                    f"INSERT OR REPLACE INTO {META}.state VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [self.account_url, self.entity, final, datetime.now().astimezone(), rows,
                     full_sync, cursor],
                )
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        self.rows = rows
        return rows

    def abort(self) -> None:
        with self.mirror.lock:
            self.mirror.con.execute(f"DROP TABLE IF EXISTS {self.staging}")
