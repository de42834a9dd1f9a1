"""A DuckDB database file (the mirror's own file too): the table swapped, grown or merged by id in
one transaction, the rows never leaving DuckDB."""

from __future__ import annotations

import contextlib
from pathlib import Path
from urllib.parse import parse_qs

from ..errors import ConfigError, DestinationError
from ..sqltext import quote
from .base import Destination, Rows, WriteOptions
from .files import placed
from .local import run_interruptibly, sql_path

MODES = ("replace", "append", "merge")
EXTRA = None


def embedded_parse(text: str, kind: str, default_table: str, base: Path | None) -> Destination:
    """As SQLAlchemy's URLs: duckdb:///relative.duckdb, duckdb:////absolute/path.duckdb."""
    rest = text[len(kind) + 3:]
    if not rest.startswith("/") or not rest[1:].split("?", 1)[0]:
        ext = "duckdb" if kind == "duckdb" else "db"
        raise ConfigError(f"destination {text!r} names no file: write {kind}:///path/to/file.{ext}")
    path, _, query = rest[1:].partition("?")
    table = parse_qs(query).get("table", [default_table])[0]
    return Destination(kind, placed(path, base), table)


def parse(text: str, default_table: str, *, sheet: str | None = None, base: Path | None = None) -> Destination:
    return embedded_parse(text, "duckdb", default_table, base)


def describe(dest: Destination) -> str:
    return f"{dest.kind}:///{dest.path}?table={dest.table}"


def write(rows: Rows, dest: Destination, mode: str, options: WriteOptions) -> int:
    import duckdb

    assert dest.path is not None
    con, query = rows.con, rows.query
    count = rows.count()
    same_file = dest.path.resolve() == rows.mirror.path.resolve()
    alias = "main" if same_file else "acflow_dest"
    if not same_file:
        try:
            dest.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DestinationError(f"cannot write {dest.describe()}: {exc.strerror}; it is unchanged") from None
        con.execute(f"DETACH DATABASE IF EXISTS {alias}")  # left attached by a write that failed to detach
        con.execute(f"ATTACH {sql_path(dest.path)} AS {alias}")
    table = f"{alias if not same_file else 'main'}.{quote(dest.table or 'data')}"
    try:
        database = con.execute("SELECT current_database()").fetchone()[0] if same_file else alias
        exists = con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND schema_name = 'main' "
            "AND table_name = ?", [database, dest.table],
        ).fetchone()[0]
        con.execute("BEGIN TRANSACTION")
        try:
            if mode == "replace" or not exists:
                run_interruptibly(con, f"CREATE OR REPLACE TABLE {table} AS {query}")
            else:
                for name, ctype in rows.columns:
                    con.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {quote(name)} {ctype}")
                if mode == "merge":
                    con.execute(f"DELETE FROM {table} WHERE id IN (SELECT id FROM ({query}))")
                    if rows.gone:
                        con.execute(f"DELETE FROM {table} WHERE id IN (SELECT unnest(?))", [list(rows.gone)])
                run_interruptibly(con, f"INSERT INTO {table} BY NAME {query}")
            con.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(duckdb.Error):  # DuckDB may have ended it already: keep the cause
                con.execute("ROLLBACK")
            raise
    finally:
        if not same_file:
            with contextlib.suppress(duckdb.Error):  # a full disk fails its checkpoint too; the data is safe
                con.execute(f"DETACH {alias}")
    return count
