"""A SQLite database file: the rows go into a staging table and the table is swapped (replace),
grown (append) or merged by id (merge), all in one SQLite transaction."""

from __future__ import annotations

import contextlib
from pathlib import Path

from ..errors import DestinationError
from ..sqltext import quote
from .base import Destination, Rows, WriteOptions
from .base import why as _why
from .duckdb import embedded_parse
from .files import iso_sql

MODES = ("replace", "append", "merge")
EXTRA = None
_TYPES = {"BIGINT": "INTEGER", "INTEGER": "INTEGER", "SMALLINT": "INTEGER", "TINYINT": "INTEGER",
          "UBIGINT": "INTEGER", "UINTEGER": "INTEGER", "USMALLINT": "INTEGER", "UTINYINT": "INTEGER",
          "BOOLEAN": "INTEGER", "DOUBLE": "REAL", "FLOAT": "REAL"}
_PLAIN = {"VARCHAR", "BIGINT", "INTEGER", "SMALLINT", "TINYINT", "UBIGINT", "UINTEGER", "USMALLINT",
          "UTINYINT", "DOUBLE", "FLOAT", "BOOLEAN"}


def parse(text: str, default_table: str, *, sheet: str | None = None, base: Path | None = None) -> Destination:
    return embedded_parse(text, "sqlite", default_table, base)


def describe(dest: Destination) -> str:
    return f"{dest.kind}:///{dest.path}?table={dest.table}"


def _select(rows: Rows) -> str:
    """ISO-8601 timestamps (UTC with Z; a flow's local zone without), decimals as doubles, lists,
    structs, JSON and dates as text: SQLite has no such types."""
    cols = []
    for name, ctype in rows.columns:
        q = quote(name)
        if ctype.startswith("TIMESTAMP"):
            cols.append(f"{iso_sql(q, ctype in ('TIMESTAMP WITH TIME ZONE', 'TIMESTAMPTZ'))} AS {q}")
        elif ctype.startswith("DECIMAL") or ctype == "HUGEINT":
            cols.append(f"CAST({q} AS DOUBLE) AS {q}")
        elif ctype not in _PLAIN:
            cols.append(f"CAST({q} AS VARCHAR) AS {q}")
        else:
            cols.append(q)
    return f"SELECT {', '.join(cols)} FROM ({rows.query})"


def write(rows: Rows, dest: Destination, mode: str, options: WriteOptions) -> int:
    import sqlite3

    assert dest.path is not None
    count = rows.count()
    select = _select(rows)
    described = [(r[0], r[1]) for r in rows.con.execute(f"DESCRIBE {select}").fetchall()]  # as cast
    names = [n for n, _ in described]
    table = quote(dest.table or "data")
    stage = quote(f"_acflow_new_{dest.table}")
    col_defs = ", ".join(f"{quote(n)} {_TYPES.get(t, 'TEXT')}" for n, t in described)
    col_list = ", ".join(quote(n) for n in names)
    marks = ", ".join("?" for _ in names)
    if mode == "merge" and "id" not in names:
        raise DestinationError(f"cannot merge into {dest.describe()}: the rows have no id column; "
                               "use mode: replace or append; it is unchanged")
    try:
        dest.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(str(dest.path), timeout=2.0, isolation_level=None)
    except (OSError, sqlite3.Error) as exc:
        cause = getattr(exc, "strerror", None) or str(exc)
        raise DestinationError(f"cannot write {dest.describe()}: {cause}; it is unchanged") from None
    try:
        db.execute("BEGIN IMMEDIATE")
        try:
            exists = db.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?",
                                [dest.table]).fetchone()[0]
            db.execute(f"DROP TABLE IF EXISTS {stage}")
            db.execute(f"CREATE TABLE {stage} ({col_defs})")
            cur = rows.con.execute(select)
            while batch := cur.fetchmany(5000):
                db.executemany(f"INSERT INTO {stage} VALUES ({marks})", batch)
            if mode == "replace" or not exists:
                db.execute(f"DROP TABLE IF EXISTS {table}")
                db.execute(f"ALTER TABLE {stage} RENAME TO {table}")
            else:
                have = {r[1] for r in db.execute(f"PRAGMA table_info({table})").fetchall()}
                for n, t in described:
                    if n not in have:
                        db.execute(f"ALTER TABLE {table} ADD COLUMN {quote(n)} {_TYPES.get(t, 'TEXT')}")
                if mode == "merge":
                    db.execute(f"DELETE FROM {table} WHERE id IN (SELECT id FROM {stage})")
                    # one pass: a DELETE per gone id scanned the whole table each time (2,000 took 74 s)
                    db.execute("CREATE TEMP TABLE IF NOT EXISTS _acflow_gone (id)")
                    db.execute("DELETE FROM _acflow_gone")
                    db.executemany("INSERT INTO _acflow_gone VALUES (?)", [(i,) for i in rows.gone])
                    db.execute(f"DELETE FROM {table} WHERE id IN (SELECT id FROM _acflow_gone)")
                db.execute(f"INSERT INTO {table} ({col_list}) SELECT {col_list} FROM {stage}")
                db.execute(f"DROP TABLE {stage}")
            db.execute("COMMIT")
        except BaseException:
            # SQLite has already rolled back after some errors (a full disk): a ROLLBACK then
            # fails with "no transaction is active", which used to hide the cause
            if db.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
            raise
    except sqlite3.Error as exc:
        raise DestinationError(f"cannot write {dest.describe()}: {_why(exc)}; the destination is unchanged"
                               ) from None
    finally:
        db.close()
    return count
