"""The MySQL / MariaDB destination against this machine's own MariaDB (the `mysql_url` fixture): every
mode on every entity read back with pymysql, odd text by both load paths, readers during a replace,
kills of acflow and of its connection, local_infile off, and every bad input through the CLI."""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import subprocess
import sys
import textwrap
import threading
import time as clock
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote as url_quote
from urllib.parse import urlsplit

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import acflow
from acflow import destinations
from acflow.account import Account
from acflow.catalog import CATALOG, ColType
from acflow.cli import app
from acflow.destinations import mysql
from acflow.destinations.base import Rows, WriteOptions
from acflow.errors import ConfigError, DestinationError
from acflow.export import derived_query, json_columns
from acflow.mirror import Mirror

pymysql = pytest.importorskip("pymysql")
runner = CliRunner()
PASSWORD = f"Pw-{secrets.token_hex(8)}"  # the test users' password: it must show up nowhere
WRONG = f"Wrong-{secrets.token_hex(8)}"


def connect(url: str, **kw):
    parts = urlsplit(url)
    return pymysql.connect(host=parts.hostname, port=parts.port or 3306, user=kw.pop("user", parts.username),
                           password=kw.pop("password", parts.password or ""), database=parts.path.lstrip("/"),
                           charset="utf8mb4", autocommit=True, **kw)


def query(url: str, sql: str, args=None) -> list[tuple]:
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, args)
            return list(cur.fetchall())
    finally:
        conn.close()


def uri(url: str, table: str, user: str | None = None, password: str | None = None) -> str:
    if user is not None:
        parts = urlsplit(url)
        who = user + (f":{url_quote(password, safe='')}" if password is not None else "")
        url = f"mysql://{who}@{parts.hostname}:{parts.port or 3306}{parts.path}"
    return f"{url}?table={url_quote(table, safe='')}"


def leftovers(url: str) -> list[str]:
    """Staging tables left in the database (acflow's all start with _acflow_)."""
    names = query(url, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()")
    return [r[0] for r in names if r[0].startswith("_acflow_")]


def count(url: str, table: str) -> int:
    return query(url, f"SELECT COUNT(*) FROM {mysql.ident(table)}")[0][0]


@pytest.fixture(scope="module")
def users(mysql_url):
    """A user with the grants acflow needs and a password, and one that may only SELECT."""
    db = urlsplit(mysql_url).path.lstrip("/")
    rw, ro = f"acflow_rw_{os.getpid()}", f"acflow_ro_{os.getpid()}"
    admin = connect(mysql_url)
    with admin.cursor() as cur:
        for user, grant in ((rw, mysql.GRANTS), (ro, "SELECT")):
            cur.execute(f"DROP USER IF EXISTS '{user}'@'%'")
            cur.execute(f"CREATE USER '{user}'@'%' IDENTIFIED BY '{PASSWORD}'")
            cur.execute(f"GRANT {grant} ON `{db}`.* TO '{user}'@'%'")
    yield rw, ro
    with admin.cursor() as cur:
        for user in (rw, ro):
            cur.execute(f"DROP USER IF EXISTS '{user}'@'%'")
    admin.close()


@pytest.fixture
def local_infile_off(mysql_url):
    """The server refuses LOAD DATA LOCAL (as many hosted MySQL servers do), restored afterwards."""
    admin = connect(mysql_url)
    with admin.cursor() as cur:
        cur.execute("SELECT @@GLOBAL.local_infile")
        before = cur.fetchone()[0]
        cur.execute("SET GLOBAL local_infile = 0")
    try:
        yield
    finally:
        with admin.cursor() as cur:
            cur.execute(f"SET GLOBAL local_infile = {int(before)}")
        admin.close()


# -- URIs --------------------------------------------------------------------------------------------

def test_uris_name_server_database_and_table():
    dest = destinations.parse(f"mysql://bob:{PASSWORD}@db.example:3307/crm?table=deal%20s", "deals")
    assert (dest.kind, dest.table, dest.server.host, dest.server.port, dest.server.database) == \
        ("mysql", "deal s", "db.example", 3307, "crm")
    assert dest.server.password == PASSWORD
    assert dest.describe() == "mysql://bob@db.example:3307/crm?table=deal s"
    assert PASSWORD not in repr(dest) and PASSWORD not in dest.key()
    assert destinations.parse("mariadb://bob@h/crm", "deals").table == "deals"  # the entity's name by default


@pytest.mark.parametrize("text, message", [
    ("mysql://bob:secret@h", "destination 'mysql://bob:***@h' names no database: write "
                             "mysql://user:password@host:3306/database?table=NAME"),
    ("mysql://h/crm?schema=x", "destination 'mysql://h/crm?schema=x': MySQL has no schemas inside a database; "
                               "name the database in the path and leave out ?schema="),
    ("mysql://h/crm?tabel=x", "destination 'mysql://h/crm?tabel=x': unknown parameter 'tabel'; MySQL "
                              "destinations take ?table= and unix_socket"),
    ("mysql://h/crm?table=x%20", f"destination 'mysql://h/crm?table=x%20': MySQL table names {mysql.NAMES}; "
                                 "'x ' does not fit"),
    ("mysql://h/crm?table=deals%F0%9F%98%80", f"destination 'mysql://h/crm?table=deals%F0%9F%98%80': MySQL table "
                                              f"names {mysql.NAMES}; 'deals😀' does not fit"),
    ("mysql://h/" + "d" * 65, None),
    ("mysql://h:port/crm", None),
])
def test_bad_uris_are_config_errors(text, message):
    with pytest.raises(ConfigError) as info:
        destinations.parse(text, "deals")
    assert info.value.exit_code == 2
    assert message is None or str(info.value) == message


# -- every entity, every mode ------------------------------------------------------------------------

_TYPES = {ColType.ID: {"bigint"}, ColType.INT: {"bigint"}, ColType.FLAG: {"tinyint"}, ColType.TEXT: {"longtext"},
          ColType.TIMESTAMP: {"datetime"}, ColType.DATE: {"date"}, ColType.JSON: {"json", "longtext"}}


def _same(a, b, is_json: bool) -> bool:
    """One value as Parquet (the reference export) and as pymysql read it."""
    if isinstance(a, datetime) and a.tzinfo is not None:
        a = a.astimezone(UTC).replace(tzinfo=None)
    if isinstance(a, list | dict) and b is not None:  # lists (custom fields with options) become JSON
        return a == json.loads(b)
    if is_json and a is not None and b is not None:
        return json.loads(a) == json.loads(b)
    return a == b


@pytest.fixture(scope="module")
def published(sandbox_server, tmp_path_factory, mysql_url):
    """Every entity of the catalog synced once, then written twice in every mode (the second replace
    swaps, the second append loads into the table, the second merge upserts every row) and to Parquet
    by DuckDB itself (the reference). Six at a time: 350 writes wait mostly on their DDL's fsyncs.
    Returns {entity: ({mode: rows written, twice}, records in the sandbox, reference file)}."""
    sandbox_server.reset()
    account = Account(sandbox_server.url, sandbox_server.admin_key, rate_limit=1000)
    folder = tmp_path_factory.mktemp("published")
    acflow.sync(list(CATALOG), account=account, mirror=folder / "m.duckdb")
    records = {e: len(sandbox_server.snapshot(e)) for e in CATALOG}
    stamp = datetime.now(UTC)

    def publish_all(mirror: Mirror, name: str) -> tuple:
        entity, con = CATALOG[name], mirror.con.cursor()  # a cursor per thread
        try:
            source = mirror.current(account.url, name)
            ref = folder / f"{name}.parquet"
            con.execute(f"COPY ({derived_query(entity, source)}) TO '{ref}' (FORMAT parquet)")
            written = {}
            for mode in destinations.MODES:
                sql = derived_query(entity, source, extracted_at=stamp if mode == "append" else None) + " ORDER BY id"
                dest = mysql.parse(uri(mysql_url, f"{name}_{mode}"), name)
                written[mode] = [mysql.write(Rows(mirror, con, sql, json_columns(entity)), dest, mode, WriteOptions())
                                 for _ in range(2)]
            return written, records[name], ref
        finally:
            con.close()

    with Mirror(folder / "m.duckdb") as mirror, ThreadPoolExecutor(6) as pool:
        futures = {name: pool.submit(publish_all, mirror, name) for name in CATALOG}
        return {name: future.exception() or future.result() for name, future in futures.items()}


@pytest.mark.parametrize("entity", list(CATALOG))
def test_every_mode_on_every_entity(entity, published, mysql_url):
    if isinstance(published[entity], BaseException):
        raise published[entity]
    written, records, ref = published[entity]
    names = {m: f"{entity}_{m}" for m in destinations.MODES}
    expected = {r["id"]: r for r in pq.read_table(ref).to_pylist()}
    assert len(expected) == records
    assert written == {m: [records, records] for m in destinations.MODES}
    assert count(mysql_url, names["append"]) == 2 * records

    json_cols = json_columns(CATALOG[entity])
    for mode in ("replace", "merge"):
        conn = connect(mysql_url)
        with conn.cursor(pymysql.cursors.DictCursor) as cur:
            cur.execute(f"SELECT * FROM {mysql.ident(names[mode])}")
            got = {r["id"]: r for r in cur.fetchall()}
        conn.close()
        assert got.keys() == expected.keys()
        for i, row in expected.items():
            bad = [k for k, v in row.items() if not _same(v, got[i][k], k in json_cols)]
            assert not bad, (i, {k: (row[k], got[i][k]) for k in bad})
    # types as the catalog says; timestamps say they are UTC; PRIMARY KEY (id) except for append
    types = {(t, c): (d, k, note) for t, c, d, k, note in query(
        mysql_url, "SELECT TABLE_NAME, COLUMN_NAME, DATA_TYPE, COLUMN_KEY, COLUMN_COMMENT FROM "
                   "information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN (%s, %s, %s)",
        list(names.values()))}
    for name, ctype in CATALOG[entity].columns.items():
        if ctype is not ColType.TEXT or (names["replace"], name) in types:
            data_type, _, note = types[(names["replace"], name)]
            assert data_type in _TYPES[ctype], (name, data_type)
            assert (note == mysql.UTC_COMMENT) == (ctype is ColType.TIMESTAMP)
    assert types[(names["replace"], "id")][1] == types[(names["merge"], "id")][1] == "PRI"
    assert types[(names["append"], "id")][1] == ""
    assert types[(names["append"], "_extracted_at")][0] == "datetime"
    if entity == "deals":
        assert types[(names["replace"], "amount")][0] == "decimal"


@pytest.mark.parametrize("entity", ["contacts", "deals"])
def test_merge_equals_the_snapshot_after_creates_updates_and_deletes(entity, sandbox, account, mysql_url, tmp_path):
    mirror, updated = tmp_path / "m.duckdb", {"contacts": "udate", "deals": "mdate"}[entity]
    merged, appended = uri(mysql_url, f"merged_{entity}"), uri(mysql_url, f"appended_{entity}")
    first = acflow.export(entity, to=merged, mode="merge", account=account, mirror=mirror).rows
    acflow.export(entity, to=appended, mode="append", account=account, mirror=mirror)
    done = sandbox.mutate(entity, create=7, update=5, delete=4)
    # a full sync finds the deletions (ActiveCampaign lists no deleted records)
    second = acflow.export(entity, to=merged, mode="merge", account=account, mirror=mirror, full=True).rows
    again = acflow.export(entity, to=appended, mode="append", account=account, mirror=mirror).rows
    truth = {int(r["id"]): r["updated"] for r in sandbox.snapshot(entity)}
    got = dict(query(mysql_url, f"SELECT id, {updated} FROM merged_{entity}"))
    assert got.keys() == truth.keys() and first == len(truth) - 7 + 4
    assert second == again == 12  # only what changed
    assert not got.keys() & {int(i) for i in done["deleted"]}
    for i, stamp in truth.items():
        assert stamp is None or got[i] == datetime.fromisoformat(stamp).astimezone(UTC).replace(tzinfo=None)
    assert query(mysql_url, f"SELECT COUNT(*), COUNT(DISTINCT _extracted_at) FROM appended_{entity}")[0] == \
        (first + 12, 2)


def test_new_columns_are_added_and_a_changed_type_is_refused(sandbox, account, mysql_url, tmp_path):
    mirror = tmp_path / "m.duckdb"
    target = uri(mysql_url, "deals_grow")
    acflow.export("deals", to=target, mode="merge", account=account, mirror=mirror, raw=True)
    assert "amount" not in {r[0] for r in query(mysql_url, "SHOW COLUMNS FROM deals_grow")}
    sandbox.mutate("deals", update=3)
    acflow.export("deals", to=target, mode="merge", account=account, mirror=mirror)  # now with amount
    cols = {r[0]: r[1] for r in query(mysql_url, "SHOW COLUMNS FROM deals_grow")}
    assert cols["amount"].startswith("decimal") and cols["status_label"] == "longtext"
    assert query(mysql_url, "SELECT COUNT(amount) FROM deals_grow")[0][0] == 3  # the rows merged this time

    conn = connect(mysql_url)
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE deals_typed (id BIGINT, title INT, extra_col TEXT)")
        cur.execute("INSERT INTO deals_typed VALUES (1, 2, 'kept')")
    conn.close()
    with pytest.raises(DestinationError) as info:
        acflow.export("deals", to=uri(mysql_url, "deals_typed"), mode="append", account=account, mirror=mirror)
    assert str(info.value) == (
        f"cannot append into {uri(mysql_url, 'deals_typed')}: column 'title' is int(11) in the table but LONGTEXT in "
        "the rows; drop or rename the table (or that column), or write with mode replace; the table is unchanged")
    assert query(mysql_url, "SELECT * FROM deals_typed") == [(1, 2, "kept")]
    assert len(query(mysql_url, "SHOW COLUMNS FROM deals_typed")) == 3  # nothing added


def test_append_into_a_table_keyed_on_id_is_refused(sandbox, account, mysql_url, tmp_path):
    mirror, target = tmp_path / "m.duckdb", uri(mysql_url, "lists_keyed")
    n = acflow.export("lists", to=target, account=account, mirror=mirror).rows
    with pytest.raises(DestinationError, match="the table has a unique key on id, and append adds each changed "
                                               "record again; write with mode merge"):
        acflow.export("lists", to=target, mode="append", account=account, mirror=mirror)
    assert count(mysql_url, "lists_keyed") == n
    assert "_extracted_at" not in {r[0] for r in query(mysql_url, "SHOW COLUMNS FROM lists_keyed")}


# -- values: odd text and every DuckDB type, by LOAD DATA and by INSERT --------------------------------

TEXTS = ["plain", "", "NULL", "\\N", "tab\there", "new\nline", "cr\r\nlf", "back\\slash\\", 'quote"s"', "'single'",
         '",', '"', "\\", "emoji 😀🎉👩‍👩‍👧", "accents éàüñ ç 中文 ✓", "nul\x00byte", None, "=1+2", " lead & trail ",
         "a,b;c|d", "\\t not a tab", "x" * 70_000]
BLOB = bytes(range(256))
UUID = uuid.UUID("12345678-1234-5678-1234-567812345678")


def _odd_mirror(path: Path) -> Mirror:
    db = Mirror(path)
    db.con.execute("""CREATE OR REPLACE TABLE main.odd (id BIGINT, t VARCHAR, j VARCHAR, flag TINYINT, big BIGINT,
        amount DECIMAL(38,3), d DOUBLE, b BOOLEAN, ts TIMESTAMPTZ, day DATE, lst VARCHAR[],
        st STRUCT(a INTEGER, b VARCHAR), bin BLOB, u UUID, tm TIME, naive TIMESTAMP)""")
    rows = []
    for i, text in enumerate(TEXTS):
        rows.append([i, text, '{"a": [1, 2, "é"]}' if i % 3 == 0 else ("not json {" if i % 3 == 1 else None),
                     i % 2, 2**62 + i, Decimal("12345678901234.567") * (-1) ** i,
                     [0.1, float("inf"), float("nan"), -2.5e-300][i % 4], bool(i % 2),
                     datetime(2024, 3, 10, 12, 34, 56, 789012, tzinfo=timezone(timedelta(hours=5, minutes=30))),
                     date(500, 1, 1) if i == 1 else date(2024, 2, 29),
                     ["a", text] if text is not None else None, {"a": i, "b": text},
                     BLOB if i % 2 else None, UUID, time(23, 59, 58, 7),
                     datetime(9999, 12, 31, 23, 59, 59) if i == 2 else datetime(1999, 1, 2, 3, 4, 5)])
    db.con.executemany("INSERT INTO main.odd VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    return db


def _expected(i: int, text: str | None) -> dict:
    return {"id": i, "t": text,
            "j": {"a": [1, 2, "é"]} if i % 3 == 0 else ("not json {" if i % 3 == 1 else None),
            "flag": i % 2, "big": 2**62 + i, "amount": Decimal("12345678901234.567") * (-1) ** i,
            "d": [0.1, None, None, -2.5e-300][i % 4],  # MySQL has no infinity or NaN: NULL
            "b": i % 2, "ts": datetime(2024, 3, 10, 7, 4, 56, 789012),  # UTC
            "day": None if i == 1 else date(2024, 2, 29),  # year 500 is outside DATE's range: NULL
            "lst": ["a", text] if text is not None else None, "st": {"a": i, "b": text},
            "bin": BLOB if i % 2 else None, "u": str(UUID), "tm": timedelta(hours=23, minutes=59, seconds=58,
                                                                            microseconds=7),
            "naive": datetime(9999, 12, 31, 23, 59, 59) if i == 2 else datetime(1999, 1, 2, 3, 4, 5)}


def _read(url: str, table: str) -> list[dict]:
    conn = connect(url)
    with conn.cursor(pymysql.cursors.DictCursor) as cur:
        cur.execute(f"SELECT * FROM {mysql.ident(table)} ORDER BY id")
        rows = cur.fetchall()
    conn.close()
    for r in rows:
        for k in ("j", "lst", "st"):
            if r[k] is not None:
                r[k] = json.loads(r[k])
        r.pop("_extracted_at", None)
    return rows


@pytest.mark.parametrize("path", ["load-data", "insert"])
def test_odd_values_round_trip(path, request, mysql_url, tmp_path, caplog, monkeypatch):
    monkeypatch.setattr(mysql, "_told", set())  # the warning is said once per server and process
    if path == "insert":
        request.getfixturevalue("local_infile_off")
    db = _odd_mirror(tmp_path / "m.duckdb")
    table = f"odd `values` {path}"  # a backtick and spaces in the name
    dest = destinations.parse(uri(mysql_url, table), "odd")
    query_ = "SELECT * FROM main.odd"
    with caplog.at_level(logging.WARNING, logger="acflow"):
        assert destinations.write(db, query_, dest, "replace", frozenset({"j"})) == len(TEXTS)
        assert destinations.write(db, query_, dest, "merge", frozenset({"j"})) == len(TEXTS)  # upsert: no change
        appended = destinations.parse(uri(mysql_url, f"{table} appended"), "odd")
        for _ in range(2):  # the first creates the table, the second loads into it
            destinations.write(db, query_, appended, "append", frozenset({"j"}))
    db.close()
    expected = [_expected(i, t) for i, t in enumerate(TEXTS)]
    assert _read(mysql_url, table) == expected
    assert _read(mysql_url, f"{table} appended") == sorted(expected * 2, key=lambda r: r["id"])
    warned = [r.getMessage() for r in caplog.records if "local_infile" in r.getMessage()]
    assert warned == ([f"{mysql_url}: the server has local_infile off, so rows go in by multi-row INSERT (slower "
                       "than LOAD DATA); SET GLOBAL local_infile = 1 on the server for the fast path"]
                      if path == "insert" else [])  # one line, for four writes
    types = dict(query(mysql_url, "SELECT COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS WHERE "
                                  "TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s", [table]))
    assert types == {"id": "bigint(20)", "t": "longtext", "j": "longtext", "flag": "tinyint(4)", "big": "bigint(20)",
                     "amount": "decimal(38,3)", "d": "double", "b": "tinyint(1)", "ts": "datetime(6)",
                     "day": "date", "lst": "longtext", "st": "longtext", "bin": "longblob", "u": "char(36)",
                     "tm": "time(6)", "naive": "datetime(6)"}  # MariaDB's JSON is LONGTEXT with a json_valid check


# -- readers, kills, lost connections ----------------------------------------------------------------

def _rows(db: Mirror, tag: str, n: int) -> str:
    db.con.execute(f"CREATE OR REPLACE TABLE main.src_{tag} AS SELECT range AS id, '{tag}' AS tag, "
                   f"repeat('x', 100) AS s FROM range({n})")
    return f"SELECT * FROM main.src_{tag}"


def test_a_reader_sees_the_old_or_the_new_table_during_replace(mysql_url, tmp_path):
    db = Mirror(tmp_path / "m.duckdb")
    dest = destinations.parse(uri(mysql_url, "swapped"), "t")
    destinations.write(db, _rows(db, "old", 30_000), dest, "replace")
    query(mysql_url, "CREATE VIEW swapped_tags AS SELECT tag, COUNT(*) AS n FROM swapped GROUP BY tag")
    new = _rows(db, "new", 40_000)
    seen, errors, stop = set(), [], threading.Event()

    def poll() -> None:
        conn = connect(mysql_url)
        with conn.cursor() as cur:
            while not stop.is_set():
                try:
                    cur.execute("SELECT COUNT(*), MIN(tag), MAX(tag) FROM swapped")
                    seen.add(cur.fetchone())
                except pymysql.Error as exc:
                    errors.append(exc)
        conn.close()

    reader = threading.Thread(target=poll)
    reader.start()
    try:
        for _ in range(3):
            destinations.write(db, new, dest, "replace")
    finally:
        stop.set()
        reader.join()
    db.close()
    assert not errors
    assert seen and seen <= {(30_000, "old", "old"), (40_000, "new", "new")}
    assert count(mysql_url, "swapped") == 40_000 and leftovers(mysql_url) == []
    assert query(mysql_url, "SELECT * FROM swapped_tags") == [("new", 40_000)]  # a view names the table: it follows


@pytest.mark.parametrize("path", ["load-data", "insert"])
def test_a_query_failing_midway_leaves_the_old_table(path, request, mysql_url, tmp_path):
    """DuckDB fails after the upload began (rows 60,000 on): the server throws the half-loaded rows away."""
    if path == "insert":
        request.getfixturevalue("local_infile_off")
    failing = ("SELECT CASE WHEN range < 60000 THEN range ELSE error('the rows broke') END AS id, 'new' AS tag "
               "FROM range(90000)")
    with Mirror(tmp_path / "m.duckdb") as db:
        for mode in destinations.MODES:
            dest = destinations.parse(uri(mysql_url, f"half_{mode}_{path}"), "t")
            destinations.write(db, _rows(db, "old", 100), dest, mode)
            with pytest.raises(DestinationError, match="the rows broke"):
                destinations.write(db, failing, dest, mode)
            assert query(mysql_url, f"SELECT COUNT(*), MIN(tag) FROM `half_{mode}_{path}`")[0] == (100, "old")
    assert leftovers(mysql_url) == []


_CHILD = textwrap.dedent("""
    import sys
    from acflow import destinations
    from acflow.errors import AcflowError
    from acflow.mirror import Mirror

    mirror, target, rows = sys.argv[1:]
    db = Mirror(mirror)
    db.con.execute(f"CREATE OR REPLACE TABLE main.src AS SELECT range AS id, 'new' AS tag, "
                   f"repeat('y', 300) AS s FROM range({rows})")
    try:
        print(destinations.write(db, "SELECT * FROM main.src", destinations.parse(target, "t"), "replace"))
    except AcflowError as exc:
        print(exc, file=sys.stderr)
        sys.exit(exc.exit_code)
""")


def _loading(mysql_url: str, proc: subprocess.Popen) -> int:
    """The id of the connection running the child's LOAD DATA, once it runs."""
    conn = connect(mysql_url)
    with conn.cursor() as cur:
        while not cur.execute("SELECT ID FROM information_schema.PROCESSLIST WHERE DB = DATABASE() AND "
                              "INFO LIKE 'LOAD DATA%%'"):
            assert proc.poll() is None, proc.communicate()
            clock.sleep(0.005)
        found = int(cur.fetchone()[0])
    conn.close()
    return found


def _ended(mysql_url: str, conn_id: int) -> None:
    conn = connect(mysql_url)
    with conn.cursor() as cur:
        while cur.execute("SELECT ID FROM information_schema.PROCESSLIST WHERE ID = %s", [conn_id]):
            clock.sleep(0.02)
    conn.close()


@pytest.mark.parametrize("fault", ["sigkill-acflow", "kill-connection"])
def test_a_load_killed_midway_leaves_the_old_table(fault, mysql_url, tmp_path):
    table = f"killed_{fault.split('-')[1]}"
    target = uri(mysql_url, table)
    mirror = tmp_path / "child.duckdb"
    with Mirror(tmp_path / "m.duckdb") as db:
        destinations.write(db, _rows(db, "old", 1000), destinations.parse(target, "t"), "replace")
    script = tmp_path / "child.py"
    script.write_text(_CHILD)
    proc = subprocess.Popen([sys.executable, str(script), str(mirror), target, "150000"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    conn_id = _loading(mysql_url, proc)
    if fault == "sigkill-acflow":
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
        assert proc.returncode == -signal.SIGKILL
    else:
        query(mysql_url, f"KILL {conn_id}")
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 1
        assert err.startswith(f"cannot write {target}: the connection to the server was lost during the load (")
        assert err.endswith("); run again; the table is unchanged\n") and err.count("\n") == 1
    assert query(mysql_url, f"SELECT COUNT(*), MIN(tag), MAX(tag) FROM {table}")[0] == (1000, "old", "old")
    _ended(mysql_url, conn_id)
    with Mirror(mirror) as db:  # the next run: succeeds, drops the staging table, removes the temporary file
        assert destinations.write(db, "SELECT * FROM main.src LIMIT 10", destinations.parse(target, "t"),
                                  "replace") == 10
    assert query(mysql_url, f"SELECT COUNT(*), MIN(tag) FROM {table}")[0] == (10, "new")
    assert leftovers(mysql_url) == []
    assert [p.name for p in tmp_path.iterdir() if ".acflow-" in p.name and not p.name.endswith("lock")] == []


# -- bad input through the CLI ------------------------------------------------------------------------

def _export(sandbox, tmp_path, to: str, *extra: str, env=None):
    return runner.invoke(app, ["export", "lists", "--to", to, "--api-url", sandbox.url, "--api-key",
                               sandbox.admin_key, "--mirror", str(tmp_path / "m.duckdb"), "--rate-limit", "1000",
                               *extra], env={"COLUMNS": "300", **(env or {})})


def test_cli_errors_are_one_line_exit_1_and_never_show_the_password(sandbox, mysql_url, users, tmp_path, caplog):
    rw, ro = users
    parts = urlsplit(mysql_url)
    db, where = parts.path.lstrip("/"), f"{parts.hostname}:{parts.port}"
    good = uri(mysql_url, "lists", rw, PASSWORD)
    shown = uri(mysql_url, "lists", rw)
    cases = [
        (uri(mysql_url, "lists", rw, WRONG), {},
         f"cannot write {shown}: the server at {where} refused user '{rw}' with this password (access denied); "
         "check the password in the URI or MYSQL_PWD; the table is unchanged"),
        (uri(mysql_url, "lists", rw), {"MYSQL_PWD": WRONG},
         f"cannot write {shown}: the server at {where} refused user '{rw}' with this password (access denied); "
         "check the password in the URI or MYSQL_PWD; the table is unchanged"),
        (f"mysql://root@{where}/no_such_db_{os.getpid()}?table=lists", {},
         f"cannot write mysql://root@{where}/no_such_db_{os.getpid()}?table=lists: database "
         f"'no_such_db_{os.getpid()}' does not exist on {where}; create it (CREATE DATABASE "
         f"`no_such_db_{os.getpid()}` CHARACTER SET utf8mb4) or fix the URI; the table is unchanged"),
        (f"mysql://{rw}:{PASSWORD}@{where}/no_such_db_{os.getpid()}?table=lists", {},  # MySQL tells it no more
         f"cannot write mysql://{rw}@{where}/no_such_db_{os.getpid()}?table=lists: user '{rw}' may not use "
         f"database 'no_such_db_{os.getpid()}', or it does not exist (Access denied for user '{rw}'@'%' to "
         f"database 'no_such_db_{os.getpid()}'); grant the user {mysql.GRANTS} ON `no_such_db_{os.getpid()}`.* "
         "or fix the URI; the table is unchanged"),
        (uri(mysql_url, "lists", ro, PASSWORD), {},
         f"cannot write {uri(mysql_url, 'lists', ro)}: user '{ro}' lacks a privilege (CREATE command denied to "
         f"user '{ro}'@'"),
        (f"mysql://{rw}:{PASSWORD}@127.0.0.1:1/{db}?table=lists", {},
         "cannot reach MySQL at 127.0.0.1:1 (Can't connect to MySQL server on '127.0.0.1' ("),
    ]
    with caplog.at_level(logging.DEBUG):
        for to, env, message in cases:
            result = _export(sandbox, tmp_path, to, env=env)
            assert result.exit_code == 1, result.output
            assert result.stderr.startswith(f"Error: {message}"), result.stderr
            assert result.stderr.count("\n") == 1
            assert PASSWORD not in result.output and WRONG not in result.output
        assert sandbox.stats()["requests"] == 0  # said before any ActiveCampaign request
        assert _export(sandbox, tmp_path, good).exit_code == 0  # the password from the URI...
        done = _export(sandbox, tmp_path, uri(mysql_url, "lists", rw), env={"MYSQL_PWD": PASSWORD})  # ...or MYSQL_PWD
        assert done.exit_code == 0 and done.stdout.startswith(f"Wrote 8 lists to {shown} (replace).")
        assert PASSWORD not in done.output
        bad = _export(sandbox, tmp_path, f"mysql://{rw}:{PASSWORD}@{where}")  # no database: a bad URI
        assert bad.exit_code == 2 and PASSWORD not in bad.output
    assert PASSWORD not in caplog.text and WRONG not in caplog.text
    assert PASSWORD.encode() not in (tmp_path / "m.duckdb").read_bytes()
    assert query(mysql_url, "SELECT COUNT(*) FROM lists")[0][0] == 8


def test_odd_table_names_and_a_changed_type_through_the_cli(sandbox, mysql_url, tmp_path):
    for name in ("lists `quoted`", "with space", "it's \"both\"", "ünï ✓ 中"):
        result = _export(sandbox, tmp_path, uri(mysql_url, name))
        assert result.exit_code == 0, result.output
        assert count(mysql_url, name) == 8
    conn = connect(mysql_url)
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE lists_other (id BIGINT, name DATETIME)")
    conn.close()
    conn = connect(mysql_url)
    with conn.cursor() as cur:
        cur.execute("CREATE VIEW lists_view AS SELECT 1 AS id")
    conn.close()
    result = _export(sandbox, tmp_path, uri(mysql_url, "lists_view"))
    assert result.exit_code == 1
    assert result.stderr == (f"Error: cannot write {uri(mysql_url, 'lists_view')}: it is a view, not a table; name "
                             "another table with ?table=; it is unchanged\n")
    result = _export(sandbox, tmp_path, uri(mysql_url, "lists_other"), "--mode", "merge")
    assert result.exit_code == 1
    assert result.stderr == (f"Error: cannot merge into {uri(mysql_url, 'lists_other')}: column 'name' is datetime "
                             "in the table but LONGTEXT in the rows; drop or rename the table (or that column), or "
                             "write with mode replace; the table is unchanged\n")
    assert count(mysql_url, "lists_other") == 0


def test_validate_connect_checks_each_mysql_destination(mysql_url, users, tmp_path, caplog, request, monkeypatch):
    monkeypatch.setattr(mysql, "_told", set())
    rw, ro = users
    config = tmp_path / "acflow.yaml"
    config.write_text("accounts: {main: {url: https://x.api-us1.com, key_env: ACFLOW_TEST_NO_KEY}}\n"
                      f"flows:\n  good:\n    source: lists\n    to: {uri(mysql_url, 'l', rw, PASSWORD)}\n"
                      f"  readonly:\n    source: lists\n    to: {uri(mysql_url, 'l', ro, PASSWORD)}\n")
    result = runner.invoke(app, ["validate", "--config", str(config), "--connect"], env={"COLUMNS": "300"})
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: flow 'readonly': cannot write {uri(mysql_url, 'l', ro)}: user "
                                    f"'{ro}' lacks a privilege (CREATE command denied")
    assert result.stderr.count("\n") == 1 and PASSWORD not in result.output
    mysql.check(destinations.parse(uri(mysql_url, "l", rw, PASSWORD), "l"))  # answers, may create tables
    request.getfixturevalue("local_infile_off")
    with caplog.at_level(logging.WARNING, logger="acflow"):
        mysql.check(destinations.parse(uri(mysql_url, "l", rw, PASSWORD), "l"))
    assert "local_infile off" in caplog.text  # and is told the load will be slower
    assert leftovers(mysql_url) == []
