"""MySQL and MariaDB: the rows stream to the server as CSV through LOAD DATA LOCAL INFILE, DuckDB's
Arrow batches written by pyarrow while the server loads the previous ones; no file is written
(mysql_wire.py). Where the server has local_infile off, DuckDB spells the rows out as multi-row
INSERTs instead (slower, same result). replace loads a staging table and swaps it in with one
RENAME TABLE (atomic: a reader sees the old table or the new one); append loads into the table
inside one InnoDB transaction; merge loads a staging table, then deletes what is gone and upserts
by id in one transaction.

Each run names its staging tables `_acflow_stage_TOKEN` / `_acflow_old_TOKEN` and holds the server
lock `acflow-run:TOKEN` while it runs; the lock dies with the connection, so the next run drops the
tables of a run that was killed. Only one acflow writes a given table at a time (another lock).

MySQL has no time zone type: TIMESTAMPTZ columns become DATETIME(6) holding UTC, and say so in their
COMMENT. Tables and the connection are utf8mb4, so emoji survive.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError, DestinationError
from ..sqltext import quote
from .base import Destination, Rows, WriteOptions, need, parse_server, redact
from .mysql_wire import (
    DENIED,
    LOCK_TIMEOUT,
    NO_LOCAL,
    ahead,
    close,
    code_text,
    connect,
    csv_stream,
    describe,
    failed,
    ident,
    one,
)
from .mysql_wire import GRANTS as GRANTS  # the privileges to grant, for messages and tests

MODES = ("replace", "append", "merge")
ORDERED = False  # a table: rows have no order, so publish does not sort them
EXTRA = "mysql"
EXAMPLE = "mysql://user:password@host:3306/database?table=NAME"
PARAMS = ("unix_socket",)  # query parameters besides table
PYARROW = 22  # the first pyarrow whose CSV writer takes null_string
CLEANUP_WAIT = 10  # seconds a failed run waits to drop its own staging table before leaving it to the next run
UTC_COMMENT = "UTC (MySQL keeps no time zone)"
OURS = re.compile(r"_acflow_(?:stage|old|check)_([0-9a-f]{12})")
log = logging.getLogger("acflow")


def parse(text: str, default_table: str, *, sheet: str | None = None, base: Path | None = None) -> Destination:
    need("pymysql", "mysql", "mysql://")
    dest = parse_server(text, "mysql", default_table, example=EXAMPLE)
    server = dest.server
    assert server is not None and dest.table is not None
    if not server.database:
        raise ConfigError(f"destination {redact(text)!r} names no database: write {EXAMPLE}")
    if server.schema:
        raise ConfigError(f"destination {redact(text)!r}: MySQL has no schemas inside a database; "
                          "name the database in the path and leave out ?schema=")
    unknown = [k for k, _ in server.params if k not in PARAMS]
    if unknown:
        raise ConfigError(f"destination {redact(text)!r}: unknown parameter {unknown[0]!r}; "
                          f"MySQL destinations take ?table= and {', '.join(PARAMS)}")
    for what, name in (("table", dest.table), ("database", server.database)):
        if not _fits(name):
            raise ConfigError(f"destination {redact(text)!r}: MySQL {what} names {NAMES}; {name[:70]!r} does not fit")
    return dest


NAMES = "have at most 64 characters, none beyond Unicode's first plane (no emoji), and cannot end with a space"


def _fits(name: str) -> bool:
    """Whether MySQL takes `name` as a table or column name (identifiers are utf8mb3, 64 characters)."""
    return bool(name) and len(name) <= 64 and name == name.rstrip() and all("\0" < ch <= "\uffff" for ch in name)


# -- columns: DuckDB type -> MySQL type, and the DuckDB expression that writes a value it takes --

@dataclass(frozen=True)
class Column:
    name: str
    sql_type: str  # as created
    family: str  # which existing column types take these values (ACCEPTS)
    expr: str  # DuckDB: the value as the load file and an INSERT literal want it
    quoted: bool = True  # a string in an INSERT literal (numbers are not)
    blob: bool = False  # hex in the file, UNHEX() on the server
    comment: str | None = None

    def definition(self, key: bool = False) -> str:
        extra = " NOT NULL" if key else ""
        note = f" COMMENT '{self.comment}'" if self.comment else ""
        return f"{ident(self.name)} {self.sql_type}{extra}{note}"


_UNINDEXED = ("LONGTEXT", "JSON", "LONGBLOB")  # need a prefix length to be a key
ACCEPTS = {
    "integer": {"tinyint", "smallint", "mediumint", "int", "bigint", "decimal"},
    "decimal": {"decimal"},
    "float": {"float", "double"},
    "text": {"char", "varchar", "tinytext", "text", "mediumtext", "longtext", "json", "enum", "set"},
    "datetime": {"datetime", "timestamp"},
    "date": {"date", "datetime"},
    "time": {"time"},
    "binary": {"binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob"},
}
_INTS = {"TINYINT": "TINYINT", "SMALLINT": "SMALLINT", "INTEGER": "INT", "BIGINT": "BIGINT",
         "UTINYINT": "TINYINT UNSIGNED", "USMALLINT": "SMALLINT UNSIGNED", "UINTEGER": "INT UNSIGNED",
         "UBIGINT": "BIGINT UNSIGNED"}
_DATES = {  # DuckDB's type of a value, its MySQL range; outside it a value becomes NULL
    "TIMESTAMPTZ": "TIMESTAMPTZ '1000-01-01 00:00:00+00' AND TIMESTAMPTZ '9999-12-31 23:59:59.999999+00'",
    "TIMESTAMP": "TIMESTAMP '1000-01-01 00:00:00' AND TIMESTAMP '9999-12-31 23:59:59.999999'",
    "DATE": "DATE '1000-01-01' AND DATE '9999-12-31'",
}


def _in_range(value: str, kind: str) -> str:
    return f"isfinite({value}) AND {value} BETWEEN {_DATES[kind]}"


def column(name: str, duck: str, is_json: bool = False) -> Column:
    """One column's MySQL type and conversion. Values MySQL cannot hold become NULL: non-finite
    doubles, dates before year 1000 or after 9999 (DATETIME's range)."""
    q = quote(name)
    if duck in _INTS:
        return Column(name, _INTS[duck], "integer", q, quoted=False)
    if duck == "BOOLEAN":
        return Column(name, "TINYINT(1)", "integer", f"CAST({q} AS TINYINT)", quoted=False)
    if duck in ("HUGEINT", "UHUGEINT"):
        return Column(name, "DECIMAL(39,0)", "decimal", q, quoted=False)
    if match := re.fullmatch(r"DECIMAL\((\d+),(\d+)\)", duck):
        if int(match.group(2)) <= 30:  # MySQL's largest scale
            return Column(name, duck, "decimal", q, quoted=False)
        return Column(name, "DOUBLE", "float", f"CAST({q} AS DOUBLE)", quoted=False)
    if duck in ("DOUBLE", "FLOAT", "REAL"):
        return Column(name, "DOUBLE" if duck == "DOUBLE" else "FLOAT", "float",
                      f"CASE WHEN isfinite({q}) THEN {q} END", quoted=False)
    if duck in ("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ"):
        return Column(name, "DATETIME(6)", "datetime",
                      f"CASE WHEN {_in_range(q, 'TIMESTAMPTZ')} THEN CAST(timezone('UTC', {q}) AS VARCHAR) END",
                      comment=UTC_COMMENT)
    if duck.startswith("TIMESTAMP"):  # naive, in whatever zone the flow chose; _S, _MS, _NS
        ts = f"CAST({q} AS TIMESTAMP)"
        return Column(name, "DATETIME(6)", "datetime",
                      f"CASE WHEN {_in_range(ts, 'TIMESTAMP')} THEN CAST({ts} AS VARCHAR) END")
    if duck == "DATE":
        return Column(name, "DATE", "date", f"CASE WHEN {_in_range(q, 'DATE')} THEN CAST({q} AS VARCHAR) END")
    if duck == "TIME":
        return Column(name, "TIME(6)", "time", f"CAST({q} AS VARCHAR)")
    if duck == "BLOB":
        return Column(name, "LONGBLOB", "binary", f"hex({q})", blob=True)
    if duck == "UUID":
        return Column(name, "CHAR(36)", "text", f"CAST({q} AS VARCHAR)")
    if duck == "VARCHAR" and is_json:  # JSON text from the API: kept as a JSON string where it is not JSON
        return Column(name, "JSON", "text",
                      f"CASE WHEN {q} IS NULL OR json_valid({q}) THEN {q} ELSE CAST(to_json({q}) AS VARCHAR) END")
    if duck == "JSON":
        return Column(name, "JSON", "text", f"CAST({q} AS VARCHAR)")
    if duck.endswith("]") or duck.startswith(("STRUCT(", "MAP(", "UNION(")):  # lists, arrays, nested
        return Column(name, "JSON", "text", f"CAST(to_json({q}) AS VARCHAR)")
    if duck == "VARCHAR":
        return Column(name, "LONGTEXT", "text", q)
    return Column(name, "LONGTEXT", "text", f"CAST({q} AS VARCHAR)")  # ENUM, INTERVAL, BIT, TIME WITH TIME ZONE...


def columns(rows: Rows, dest: Destination) -> list[Column]:
    cols = [column(n, t, n in rows.json_columns) for n, t in rows.columns]
    seen: dict[str, str] = {}
    for c in cols:
        if not _fits(c.name):
            raise DestinationError(f"cannot write {describe(dest)}: MySQL column names {NAMES}; rename "
                                   f"{c.name[:70]!r} in the flow; the table is unchanged")
        if c.name.lower() in seen:
            raise DestinationError(f"cannot write {describe(dest)}: columns {seen[c.name.lower()]!r} and {c.name!r} "
                                   "differ only in case, which MySQL does not tell apart; rename one in the flow; "
                                   "the table is unchanged")
        seen[c.name.lower()] = c.name
    return cols


# -- the connection, its errors and its locks --

def _lock_name(dest: Destination) -> str:
    assert dest.server is not None
    digest = hashlib.sha1(f"{dest.server.database}\0{dest.table}".encode()).hexdigest()[:32]
    return f"acflow:{digest}"  # MySQL takes lock names of up to 64 characters


def _take_locks(conn: Any, dest: Destination | None, token: str) -> None:
    """This run's lock (which marks its staging tables as alive) and, when writing, the table's."""
    cur = conn.cursor()
    one(cur, f"SELECT GET_LOCK({conn.escape('acflow-run:' + token)}, 0)")
    if dest is not None and one(cur, f"SELECT GET_LOCK({conn.escape(_lock_name(dest))}, {LOCK_TIMEOUT})") != 1:
        raise DestinationError(f"cannot write {describe(dest)}: another acflow run has been writing this table for "
                               f"{LOCK_TIMEOUT} s; run again when it is done; the table is unchanged")


def _drop_stale(conn: Any) -> None:
    """Staging tables of runs that were killed (their run lock is free): a kill cannot drop them."""
    import pymysql

    cur = conn.cursor()
    cur.execute("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() "
                "AND TABLE_NAME LIKE '_acflow%'")
    for (name,) in cur.fetchall():
        match = OURS.fullmatch(name)
        if match and one(cur, f"SELECT IS_FREE_LOCK({conn.escape('acflow-run:' + match.group(1))})") == 1:
            try:
                cur.execute(f"DROP TABLE IF EXISTS {ident(name)}")
            except pymysql.err.Error as exc:  # another user's: theirs to drop
                if code_text(exc)[0] not in DENIED:
                    raise


def _local_infile(conn: Any) -> bool:
    return bool(one(conn.cursor(), "SELECT @@GLOBAL.local_infile"))


def check(dest: Destination) -> None:
    """`acflow validate --connect` and export's first step: the server answers, the password is
    right, the database exists, and the user may create and drop a table in it."""
    import pymysql

    token = secrets.token_hex(6)
    conn = connect(dest)
    try:
        _take_locks(conn, None, token)
        cur = conn.cursor()
        probe = ident(f"_acflow_check_{token}")
        cur.execute(f"CREATE TABLE {probe} (id BIGINT) ENGINE=InnoDB")
        cur.execute(f"DROP TABLE {probe}")
        if not _local_infile(conn):
            _slow_note(dest)
    except pymysql.err.Error as exc:
        raise DestinationError(failed(exc, dest)) from None
    finally:
        close(conn)


_told: set[str] = set()  # servers told about, once per process


def _slow_note(dest: Destination, why: str = "the server has local_infile off",
               fix: str = "SET GLOBAL local_infile = 1 on the server") -> None:
    assert dest.server is not None
    if dest.server.url() not in _told:
        _told.add(dest.server.url())
        log.warning("%s: %s, so rows go in by multi-row INSERT (slower than LOAD DATA); %s for the fast path",
                    dest.server.url(), why, fix)


def _fast(conn: Any, dest: Destination) -> bool:
    """Whether rows go by LOAD DATA: the server takes it, and pyarrow writes NULL (from version 22)."""
    import pyarrow

    if not _local_infile(conn):
        _slow_note(dest)
        return False
    if int(pyarrow.__version__.split(".")[0]) < PYARROW:
        _slow_note(dest, f"pyarrow {pyarrow.__version__} cannot write NULL in CSV", f"pip install 'pyarrow>={PYARROW}'")
        return False
    return True


# -- the table as it is --

@dataclass
class Existing:
    columns: dict[str, tuple[str, str, str]]  # lower-case name -> (name, DATA_TYPE, COLUMN_TYPE)
    keys: list[str]  # the columns of each unique key, lower case, comma-separated

    @property
    def id_key(self) -> bool:
        """id is the table's only unique key: merge upserts by ON DUPLICATE KEY UPDATE."""
        return self.keys == ["id"]


def _existing(conn: Any, dest: Destination) -> Existing | None:
    cur = conn.cursor()
    table = conn.escape(dest.table)
    cur.execute(f"SELECT TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() "
                f"AND TABLE_NAME = {table}")
    found = cur.fetchone()
    if found is None:
        return None
    if found[0] not in ("BASE TABLE", "SYSTEM VERSIONED"):  # the latter: MariaDB's tables with history
        raise DestinationError(f"cannot write {describe(dest)}: it is a {str(found[0]).lower()}, not a table; "
                               "name another table with ?table=; it is unchanged")
    cur.execute(f"SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE FROM information_schema.COLUMNS "
                f"WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = {table} ORDER BY ORDINAL_POSITION")
    cols = {str(n).lower(): (str(n), str(d).lower(), str(t)) for n, d, t in cur.fetchall()}
    cur.execute(f"SELECT INDEX_NAME, GROUP_CONCAT(COLUMN_NAME ORDER BY SEQ_IN_INDEX) FROM "
                f"information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = {table} "
                "AND NON_UNIQUE = 0 GROUP BY INDEX_NAME")
    return Existing(cols, [str(c).lower() for _, c in cur.fetchall()])


def _fit(existing: Existing, cols: list[Column], dest: Destination, mode: str) -> list[Column]:
    """The rows' columns the table lacks; a column whose type differs is an error, never a cast."""
    if mode == "append" and "id" in existing.keys and any(c.name == "id" for c in cols):
        raise DestinationError(
            f"cannot append to {describe(dest)}: the table has a unique key on id, and append adds each changed "
            f"record again; write with mode merge, or drop the key (ALTER TABLE {ident(dest.table or '')} DROP "
            "PRIMARY KEY); the table is unchanged")
    new = []
    for c in cols:
        have = existing.columns.get(c.name.lower())
        if have is None:
            new.append(c)
        elif have[1] not in ACCEPTS[c.family]:
            raise DestinationError(
                f"cannot {mode} into {describe(dest)}: column {have[0]!r} is {have[2]} in the table but "
                f"{c.sql_type} in the rows; drop or rename the table (or that column), or write with mode "
                "replace; the table is unchanged")
    return new


# -- loading --

def _select(cols: list[Column], query: str) -> str:
    return f"SELECT {', '.join(f'{c.expr} AS c{i}' for i, c in enumerate(cols))} FROM ({query})"


def _literals(cols: list[Column], query: str) -> str:
    """One `(v1, v2, ...)` per row, as MySQL reads it with NO_BACKSLASH_ESCAPES: quotes doubled."""
    parts = []
    for i, c in enumerate(cols):
        v = f"c{i}"
        if c.blob:
            parts.append(f"coalesce('X''' || {v} || '''', 'NULL')")
        elif c.quoted:
            parts.append(f"coalesce('''' || replace({v}, '''', '''''') || '''', 'NULL')")
        else:
            parts.append(f"coalesce(CAST({v} AS VARCHAR), 'NULL')")
    joined = " || ',' || ".join(parts)
    return f"SELECT '(' || {joined} || ')' FROM ({_select(cols, query)})"


def _targets(cols: list[Column]) -> tuple[str, str]:
    """LOAD DATA's column list and SET clause: blobs come as hex."""
    names = [f"@v{i}" if c.blob else ident(c.name) for i, c in enumerate(cols)]
    sets = [f"{ident(c.name)} = UNHEX(@v{i})" for i, c in enumerate(cols) if c.blob]
    return ", ".join(names), (" SET " + ", ".join(sets)) if sets else ""


def _load(run: _Run, rows: Rows, cols: list[Column], table: str, expect: int) -> None:
    """The rows into `table`, by LOAD DATA or by INSERT. LOAD DATA LOCAL turns a value the server
    cannot take into a warning (it cannot stop the upload), so any warning fails the load."""
    import pymysql

    conn = run.conn
    if not run.fast:
        _insert(conn, rows, cols, table, run.dest)
        return
    names, sets = _targets(cols)
    cur = conn.cursor()
    stream = f"acflow-{run.token}.csv"  # a name only: no file is read
    conn.offered = (stream, lambda: csv_stream(rows, _select(cols, rows.query), run.dest))
    try:
        loaded = cur.execute(f"LOAD DATA LOCAL INFILE '{stream}' INTO TABLE {ident(table)} CHARACTER SET utf8mb4 "
                             "FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' ESCAPED BY '' "
                             f"LINES TERMINATED BY '\n' ({names}){sets}")
    except pymysql.err.OperationalError as exc:
        if code_text(exc)[0] not in NO_LOCAL:  # refused after all (a proxy, a server that says one thing...)
            raise
        _slow_note(run.dest)
        _insert(conn, rows, cols, table, run.dest)
        return
    finally:
        conn.offered = None
    if cur.warning_count or loaded != expect:
        _refuse_warnings(cur, run.dest, loaded, expect)


def _refuse_warnings(cur: Any, dest: Destination, loaded: int, expect: int) -> None:
    cur.execute("SHOW WARNINGS LIMIT 3")
    warnings = [(int(code), " ".join(str(text).split())) for _, code, text in cur.fetchall()]
    if any(code == 1062 for code, _ in warnings):
        text = next(t for c, t in warnings if c == 1062)
        raise DestinationError(f"cannot write {describe(dest)}: the rows repeat a unique key of the table ({text}); "
                               "append adds each changed record again: drop that key, or write with mode merge; "
                               "the table is unchanged")
    said = "; ".join(t for _, t in warnings) or f"{loaded} of {expect} rows loaded"
    raise DestinationError(f"cannot write {describe(dest)}: the server did not take every value as it was ({said}); "
                           "the table is unchanged")


def _insert(conn: Any, rows: Rows, cols: list[Column], table: str, dest: Destination) -> None:
    """The slower path: multi-row INSERTs whose values DuckDB writes as SQL literals (made ahead,
    as for LOAD DATA), each statement well under max_allowed_packet."""
    limit = max(1 << 16, min(int(one(conn.cursor(), "SELECT @@max_allowed_packet")) // 4, 4 << 20))
    head = f"INSERT INTO {ident(table)} ({', '.join(ident(c.name) for c in cols)}) VALUES "
    cur = conn.cursor()
    statement: list[str] = []
    size = 0
    for values in ahead(rows, _literals(cols, rows.query), lambda batch: batch.column(0).to_pylist(), dest):
        for text in values:
            if statement and size + len(text) > limit:
                cur.execute(head + ",".join(statement))
                statement, size = [], 0
            statement.append(text)
            size += len(text) + 1
    if statement:
        cur.execute(head + ",".join(statement))


# -- the three modes --

def _create(conn: Any, name: str, cols: list[Column], key: str | None) -> None:
    """key: "primary" (PRIMARY KEY (id)), "index" (KEY (id), a merge's staging table) or None."""
    defs = [c.definition(key == "primary" and c.name == "id") for c in cols]
    if key == "primary":
        defs.append("PRIMARY KEY (`id`)")
    elif key == "index":
        defs.append("KEY (`id`)")
    conn.cursor().execute(f"CREATE TABLE {ident(name)} ({', '.join(defs)}) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4")


def _count_and_key(rows: Rows, cols: list[Column], mode: str) -> tuple[int, str | None]:
    """The rows to send and the key of the table acflow creates for them, in one pass over the rows:
    PRIMARY KEY (id) unless it is for append (which repeats ids) or the ids are not unique and
    present (a join in a flow)."""
    col = next((c for c in cols if c.name == "id"), None)
    if mode == "append" or col is None or col.family != "integer":
        return rows.count(), None
    [(n, non_null, distinct)] = rows.con.execute(
        f"SELECT count(*), count(id), count(DISTINCT id) FROM ({rows.query})").fetchall()
    return n, ("primary" if n == non_null == distinct else None)


@dataclass
class _Run:
    conn: Any
    dest: Destination
    token: str
    fast: bool = True  # the server takes LOAD DATA LOCAL
    made: set[str] = field(default_factory=set)  # tables created and not yet dropped or renamed away

    def name(self, what: str) -> str:
        return f"_acflow_{what}_{self.token}"

    def create(self, what: str, cols: list[Column], key: str | None) -> str:
        name = self.name(what)
        self.made.add(name)
        _create(self.conn, name, cols, key)
        return name


def write(rows: Rows, dest: Destination, mode: str, options: WriteOptions) -> int:
    import pymysql

    cols = columns(rows, dest)
    if mode == "merge" and not any(c.name == "id" for c in cols):
        raise DestinationError(f"cannot merge into {describe(dest)}: the rows have no id column; "
                               "use mode replace or append; the table is unchanged")
    run = _Run(connect(dest), dest, secrets.token_hex(6))
    try:
        _take_locks(run.conn, dest, run.token)
        _drop_stale(run.conn)
        run.fast = _fast(run.conn, dest)
        existing = _existing(run.conn, dest)
        if existing is None or mode == "replace":
            count, key = _count_and_key(rows, cols, mode)
            _swap_in(run, rows, cols, count, key, existing is not None)
        elif mode == "append":
            count = rows.count()
            _append(run, rows, cols, count, _fit(existing, cols, dest, mode))
        else:
            count = rows.count()
            _merge(run, rows, cols, count, _fit(existing, cols, dest, mode), existing.id_key)
    except pymysql.err.Error as exc:
        raise DestinationError(failed(exc, dest)) from None
    finally:
        close(run.conn)  # what was not committed is rolled back by the server
        if run.made:
            _clean_up(dest, run.made)
    return count


def _swap_in(run: _Run, rows: Rows, cols: list[Column], count: int, key: str | None, exists: bool) -> None:
    """replace, or a first write in any mode: a complete staging table renamed into place."""
    stage = run.create("stage", cols, key)
    _load(run, rows, cols, stage, count)
    cur, table = run.conn.cursor(), ident(run.dest.table or "")
    if exists:
        old = run.name("old")
        run.made.add(old)
        cur.execute(f"RENAME TABLE {table} TO {ident(old)}, {ident(stage)} TO {table}")  # atomic
        run.made.discard(stage)
        cur.execute(f"DROP TABLE {ident(old)}")
        run.made.discard(old)
    else:
        cur.execute(f"RENAME TABLE {ident(stage)} TO {table}")
        run.made.discard(stage)


def _add_columns(run: _Run, new: list[Column]) -> None:
    """New columns, nullable (MySQL commits DDL at once: they stay even if the load then fails)."""
    if new:
        adds = ", ".join(f"ADD COLUMN {c.definition()}" for c in new)
        run.conn.cursor().execute(f"ALTER TABLE {ident(run.dest.table or '')} {adds}")


def _append(run: _Run, rows: Rows, cols: list[Column], count: int, new: list[Column]) -> None:
    """Straight into the table, in one transaction. When columns must be added first (DDL, which
    MySQL commits at once), the rows are loaded into a staging table before: a value the server
    refuses then fails the run before the table changes at all."""
    if not new:
        run.conn.begin()
        _load(run, rows, cols, run.dest.table or "", count)
        run.conn.commit()
        return
    stage = run.create("stage", cols, None)
    _load(run, rows, cols, stage, count)
    _add_columns(run, new)
    names = ", ".join(ident(c.name) for c in cols)
    run.conn.begin()
    run.conn.cursor().execute(f"INSERT INTO {ident(run.dest.table or '')} ({names}) SELECT {names} FROM {ident(stage)}")
    run.conn.commit()
    run.conn.cursor().execute(f"DROP TABLE {ident(stage)}")
    run.made.discard(stage)


def _merge(run: _Run, rows: Rows, cols: list[Column], count: int, new: list[Column], id_key: bool) -> None:
    """Upsert by id and delete what is gone, in one transaction. With id as the table's only unique
    key, INSERT ... ON DUPLICATE KEY UPDATE; otherwise (a table made by append, or with more unique
    keys of its own) the rows' ids are deleted and the rows inserted."""
    id_type = next(c.sql_type for c in cols if c.name == "id")
    stage = run.create("stage", cols, None if id_key or id_type in _UNINDEXED else "index")
    _load(run, rows, cols, stage, count)
    _add_columns(run, new)
    cur, table = run.conn.cursor(), ident(run.dest.table or "")
    names = ", ".join(ident(c.name) for c in cols)
    run.conn.begin()
    gone = list(rows.gone)
    for i in range(0, len(gone), 1000):
        cur.execute(f"DELETE FROM {table} WHERE `id` IN ({', '.join(run.conn.escape(v) for v in gone[i:i + 1000])})")
    if id_key:
        updates = ", ".join(f"{ident(c.name)} = VALUES({ident(c.name)})" for c in cols)
        cur.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM {ident(stage)} "
                    f"ON DUPLICATE KEY UPDATE {updates}")
    else:
        cur.execute(f"DELETE d FROM {table} AS d JOIN {ident(stage)} AS s ON d.`id` = s.`id`")
        cur.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM {ident(stage)}")
    run.conn.commit()
    cur.execute(f"DROP TABLE {ident(stage)}")
    run.made.discard(stage)


def _clean_up(dest: Destination, tables: set[str]) -> None:
    """A failed run's staging tables, dropped over a fresh connection (the old one may be mid-upload);
    what cannot be dropped now is dropped by the next run, once this run's lock is gone."""
    with contextlib.suppress(Exception):
        conn = connect(dest, timeout=5)
        try:
            cur = conn.cursor()
            cur.execute(f"SET SESSION lock_wait_timeout = {CLEANUP_WAIT}")
            for name in tables:
                cur.execute(f"DROP TABLE IF EXISTS {ident(name)}")
        finally:
            close(conn)
