"""The PostgreSQL destination against this machine's PostgreSQL (the postgres_url fixture): every
mode and entity read back with psycopg beside the DuckDB writer's copy of the same rows, readers
during a replace, kills and lost connections mid-load, and every refusal as users meet it."""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from typer.testing import CliRunner

import acflow
from acflow import destinations
from acflow.catalog import CATALOG
from acflow.cli import app
from acflow.destinations import postgres, postgres_connect
from acflow.errors import ConfigError, DestinationError
from acflow.export import derived_query, json_columns, publish
from acflow.mirror import Mirror
from acflow.sync import sync_async

psycopg = pytest.importorskip("psycopg")
from psycopg import sql  # noqa: E402

# the password of the password-asking server below (a quote, a backslash, a space, an @: libpq's
# quoting and the URI's escaping are tested too); never printed
PASSWORD = "s3cret 'of' acflow\\x@y"
IN_URI = quote(PASSWORD, safe="")
UPDATED = {"contacts": "udate", "deals": "mdate", "lists": "udate"}  # what the snapshot calls "updated"
# DuckDB type in the reference copy -> PostgreSQL type (json columns: jsonb)
EXPECTED = {"BIGINT": "bigint", "TINYINT": "smallint", "VARCHAR": "text", "DATE": "date", "DOUBLE": "double precision",
            "BOOLEAN": "boolean", "TIMESTAMP WITH TIME ZONE": "timestamp with time zone", "INTEGER": "integer"}


@pytest.fixture
def pg(postgres_url: str) -> Iterator[Any]:
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        yield conn


def uri(base: str, table: str, schema: str | None = None) -> str:
    return f"{base}?table={quote(table, safe='')}" + (f"&schema={quote(schema, safe='')}" if schema else "")


def pg_rows(pg: Any, table: str, schema: str = "public") -> list[dict[str, Any]]:
    cur = pg.execute(sql.SQL("SELECT * FROM {}.{}").format(sql.Identifier(schema), sql.Identifier(table)))
    names = [d.name for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def pg_types(pg: Any, table: str, schema: str = "public") -> dict[str, str]:
    return dict(pg.execute("SELECT attname, atttypid::regtype::text FROM pg_attribute WHERE attrelid = %s::regclass "
                           "AND attnum > 0 AND NOT attisdropped",
                           [sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table)).as_string(pg)]
                           ).fetchall())


def key(row: dict[str, Any]) -> tuple[Any, ...]:
    return (row.get("id"), json.dumps(row, default=str, sort_keys=True))


@pytest.fixture(scope="module")
def synced(sandbox_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Mirror, str]]:
    """Every entity of the catalog synced once from the sandbox into a mirror of this module's."""
    from acflow.account import Account

    sandbox_server.reset()
    account = Account(sandbox_server.url, sandbox_server.admin_key, rate_limit=1000)
    path = tmp_path_factory.mktemp("pg") / "mirror.duckdb"
    with Mirror(path) as mirror:
        import asyncio

        summary = asyncio.run(sync_async(account, list(CATALOG.values()), mirror))
        assert all(e.status == "ok" for e in summary.entities), summary
        yield mirror, account.url


# -- every mode, every entity ------------------------------------------------------------------

SEEDS = ("campaigns", "contacts", "lists", "deals", "segments", "forms")


@pytest.mark.parametrize("name", list(CATALOG))
def test_every_mode_on_every_entity(name, synced, postgres_url, pg):
    """What the writer is handed (the query export publishes, as DuckDB reads it) is what
    PostgreSQL holds, value for value and type for type, in each mode."""
    mirror, account_url = synced
    entity = CATALOG[name]
    json_names = json_columns(entity)
    query = derived_query(entity, mirror.current(account_url, name)) + " ORDER BY id"
    with mirror.cursor() as con:
        cur = con.execute(f"SELECT * FROM ({query})")
        names = [d[0] for d in cur.description]
        want = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
        duck_types = dict(con.execute(f"SELECT column_name, column_type FROM (DESCRIBE {query})").fetchall())
    table = f"every_{name}"
    dest = destinations.parse(uri(postgres_url, table), name)
    for _ in range(2 if name in SEEDS else 1):  # the second replace swaps a table that exists
        assert destinations.write(mirror, query, dest, "replace", json_names) == len(want)
        assert_same(pg, table, want, duck_types, json_names)
    keyed = "id" in names and len({r["id"] for r in want}) == len(want)
    assert primary_key(pg, table) == (["id"] if keyed else [])
    stamped = derived_query(entity, mirror.current(account_url, name), extracted_at=datetime.now().astimezone())
    appended = destinations.parse(uri(postgres_url, f"{table}_a"), name)
    assert destinations.write(mirror, stamped, appended, "append", json_names) == len(want)
    assert_same(pg, f"{table}_a", want, duck_types, json_names, stamped=True)
    if "id" in names:
        merged = destinations.parse(uri(postgres_url, f"{table}_m"), name)
        for _ in range(2 if name in SEEDS else 1):  # the second upserts every row over itself
            assert destinations.write(mirror, query, merged, "merge", json_names) == len(want)
        assert_same(pg, f"{table}_m", want, duck_types, json_names)


def assert_same(pg: Any, table: str, want: list[dict[str, Any]], duck_types: dict[str, str],
                json_names: frozenset[str], *, stamped: bool = False) -> None:
    got, types = pg_rows(pg, table), pg_types(pg, table)
    if stamped:
        assert types.pop("_extracted_at") == "timestamp with time zone"
        assert len({r.pop("_extracted_at") for r in got}) <= 1
    assert types == {n: expected_type(n, t, json_names) for n, t in duck_types.items()}
    text_json = {n for n, t in duck_types.items() if n in json_names or t == "JSON"}
    want = [{k: (json.loads(v) if k in text_json and v is not None else v) for k, v in r.items()} for r in want]
    assert sorted(got, key=key) == sorted(want, key=key)


def expected_type(name: str, duck_type: str, json_names: frozenset[str]) -> str:
    if name in json_names or duck_type == "JSON" or duck_type.endswith("]") or duck_type.startswith(("STRUCT", "MAP")):
        return "jsonb"
    return "numeric" if duck_type.startswith("DECIMAL") else EXPECTED[duck_type]


def primary_key(pg: Any, table: str) -> list[str]:
    return [r[0] for r in pg.execute("SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
                                     "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s::regclass AND i.indisprimary",
                                     [sql.Identifier(table).as_string(pg)]).fetchall()]


def test_types_read_back_as_their_own(synced, postgres_url, pg):
    mirror, account_url = synced
    for name in ("deals", "contacts", "forms"):
        publish(mirror, account_url, CATALOG[name], destinations.parse(uri(postgres_url, f"typed_{name}"), name),
                "replace")
    deals = pg_rows(pg, "typed_deals")
    assert {type(r["amount"]) for r in deals} == {Decimal}
    digits = {"jpy": 0, "kwd": 3}
    for r in deals:
        assert r["amount"] == Decimal(r["value"]) / 10 ** digits.get(r["currency"], 2)
        assert isinstance(r["cdate"], datetime) and r["cdate"].utcoffset() is not None
    contacts = pg_rows(pg, "typed_contacts")
    assert isinstance(contacts[0]["deleted"], int)
    live = pg.execute("SELECT count(*) FROM typed_contacts WHERE deleted = 0").fetchone()[0]  # as the seeds say
    assert 0 < live == sum(1 for r in contacts if r["deleted"] == 0)
    assert any(isinstance(r["bounced_date"], date) for r in contacts)
    forms = pg_rows(pg, "typed_forms")
    assert all(isinstance(r["style"], dict) for r in forms)
    assert pg.execute("SELECT count(*) FROM typed_forms WHERE style ? 'layout'").fetchone()[0] == len(forms)


# -- flows' types and odd values ---------------------------------------------------------------

ODD = """
SELECT * FROM (VALUES
  (1, '{"a": [1, 2]}', 'plain', true, 1.5::DOUBLE, 7::TINYINT, 12.345::DECIMAL(18,3), DATE '2024-02-29',
   TIMESTAMPTZ '2024-03-01 10:00:00+00', TIMESTAMP '2024-03-01 10:00:00', [1, 2], {'k': 'v'},
   18446744073709551615::UBIGINT, 'ab'::BLOB, TIME '12:34:56', INTERVAL 3 DAY, 'e'::ENUM('e', 'f')),
  (2, '{"a": NaN}', 'nul' || chr(0) || 'here', false, 'NaN'::DOUBLE, 0::TINYINT, NULL, NULL, NULL, NULL, [], NULL,
   0::UBIGINT, NULL, NULL, NULL, NULL),
  (3, '[1, 2,]', '', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
  (4, '"\\u0000"', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
  (5, 'not json at all', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
  (6, '', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
  (7, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
  (8, 'nul ' || chr(0), NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)
) t(id, doc, txt, flag, dbl, small, amount, day, stamp, naive, list, struct, big, bytes, clock, span, choice)
"""


def test_flow_types_and_json_postgres_would_refuse(mirror, postgres_url, pg):
    dest = destinations.parse(uri(postgres_url, "odd"), "odd")
    assert destinations.write(mirror, ODD, dest, "replace", frozenset({"doc"})) == 8
    assert pg_types(pg, "odd") == {
        "id": "integer", "doc": "jsonb", "txt": "text", "flag": "boolean", "dbl": "double precision",
        "small": "smallint", "amount": "numeric", "day": "date", "stamp": "timestamp with time zone",
        "naive": "timestamp without time zone", "list": "jsonb", "struct": "jsonb", "big": "numeric",
        "bytes": "bytea", "clock": "time without time zone", "span": "interval", "choice": "text"}
    rows = {r["id"]: r for r in pg_rows(pg, "odd")}
    # JSON that PostgreSQL takes is JSON; what it would refuse is kept, whole, as a JSON string
    assert [rows[i]["doc"] for i in range(1, 9)] == [
        {"a": [1, 2]}, '{"a": NaN}', "[1, 2,]", '"\\u0000"', "not json at all", "", None, "nul \ufffd"]
    assert rows[2]["txt"] == "nul\ufffdhere" and rows[3]["txt"] == "" and rows[4]["txt"] is None
    first = rows[1]
    assert (first["flag"], first["dbl"], first["small"], first["amount"]) == (True, 1.5, 7, Decimal("12.345"))
    assert first["list"] == [1, 2] and first["struct"] == {"k": "v"} and rows[2]["list"] == []
    assert first["big"] == Decimal(18446744073709551615) and first["bytes"] == b"ab"
    assert first["stamp"] == datetime.fromisoformat("2024-03-01T10:00:00+00:00")
    assert first["naive"] == datetime(2024, 3, 1, 10) and first["choice"] == "e"
    assert rows[2]["dbl"] != rows[2]["dbl"]  # NaN


# -- append, merge and the table's columns -----------------------------------------------------

def test_append_and_merge_follow_the_sandbox(sandbox, account, mirror, postgres_url, pg):
    names, tables = ("contacts", "deals", "lists"), {"merge": "merged", "append": "appended"}

    def publish_all() -> dict[str, tuple[int, int]]:
        return {name: tuple(publish(mirror, account.url, CATALOG[name],  # type: ignore[misc]
                                    destinations.parse(uri(postgres_url, f"{tables[mode]}_{name}"), name), mode)
                            for mode in ("merge", "append")) for name in names}

    acflow.sync(list(names), account=account, mirror=mirror)
    publish_all()
    done = {"contacts": sandbox.mutate("contacts", create=5, update=7, delete=3),
            "deals": sandbox.mutate("deals", create=4, update=6, delete=2),
            "lists": sandbox.mutate("lists", create=2, update=1, delete=1)}
    before = {name: count(pg, f"appended_{name}") for name in names}
    acflow.sync(list(names), account=account, mirror=mirror, full=True)  # a full fetch finds the deletions
    written = publish_all()
    for name in names:
        merged, appended = written[name]
        assert merged == appended == len(done[name]["created"]) + len(done[name]["updated"])  # only what changed
        truth = {int(r["id"]): datetime.fromisoformat(r["updated"]) if r["updated"] else None
                 for r in sandbox.snapshot(name)}
        held = dict(pg.execute(sql.SQL("SELECT id, {} FROM {}").format(
            sql.Identifier(UPDATED[name]), sql.Identifier(f"merged_{name}"))).fetchall())
        assert held == truth  # creates, updates and deletes all applied
        after = pg.execute(sql.SQL("SELECT count(*), count(DISTINCT _extracted_at) FROM {}").format(
            sql.Identifier(f"appended_{name}"))).fetchone()
        assert after == (before[name] + appended, 2)


def count(pg: Any, table: str) -> int:
    return int(pg.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()[0])


def test_new_columns_are_added_and_a_changed_type_is_refused(mirror, postgres_url, pg):
    dest = destinations.parse(uri(postgres_url, "grows"), "grows")
    destinations.write(mirror, "SELECT range AS id, 'a' AS name FROM range(3)", dest, "merge")
    destinations.write(mirror, "SELECT range AS id, 'b' AS name, 2.5::DOUBLE AS score FROM range(2, 5)", dest,
                       "merge")
    destinations.write(mirror, "SELECT 9::BIGINT AS id, 'c' AS name, 1.0::DOUBLE AS score, 1 AS n", dest, "append")
    assert pg_types(pg, "grows") == {"id": "bigint", "name": "text", "score": "double precision", "n": "integer"}
    assert pg.execute("SELECT id, name, score FROM grows ORDER BY id").fetchall() == [
        (0, "a", None), (1, "a", None), (2, "b", 2.5), (3, "b", 2.5), (4, "b", 2.5), (9, "c", 1.0)]
    before = pg.execute("SELECT * FROM grows ORDER BY id").fetchall()
    for mode in ("append", "merge"):
        with pytest.raises(DestinationError) as info:
            destinations.write(mirror, "SELECT 10::BIGINT AS id, 'x' AS name, 'high' AS score", dest, mode)
        assert str(info.value) == (
            f"column 'score' of {dest.describe()} is double precision but the rows have text: change it (ALTER TABLE "
            '"public"."grows" ALTER COLUMN "score" TYPE text USING "score"::text), write to another ?table=, or '
            "drop the table; it is unchanged")
    assert pg.execute("SELECT * FROM grows ORDER BY id").fetchall() == before
    destinations.write(mirror, "SELECT 1 AS other", dest, "replace")  # replace makes the table anew
    assert pg_types(pg, "grows") == {"other": "integer"}


def test_merge_without_a_key_on_id_and_what_cannot_be_merged_or_written(mirror, postgres_url, pg):
    pg.execute("CREATE TABLE unkeyed (id bigint, name text)")  # made by someone else, without a key
    pg.execute("INSERT INTO unkeyed VALUES (1, 'one'), (2, 'two')")
    dest = destinations.parse(uri(postgres_url, "unkeyed"), "u")
    destinations.write(mirror, "SELECT 2::BIGINT AS id, 'TWO' AS name UNION ALL SELECT 3, 'three'", dest, "merge")
    assert pg.execute("SELECT id, name FROM unkeyed ORDER BY id").fetchall() == [(1, "one"), (2, "TWO"), (3, "three")]
    with pytest.raises(DestinationError, match=r"^cannot merge into .*unkeyed.*: the rows have no id column; use mode: "
                                               r"replace or append; it is unchanged$"):
        destinations.write(mirror, "SELECT 'x' AS name", dest, "merge")
    pg.execute("CREATE VIEW a_view AS SELECT 1 AS id")
    view = destinations.parse(uri(postgres_url, "a_view"), "v")
    with pytest.raises(DestinationError) as info:
        destinations.write(mirror, "SELECT 1 AS id", view, "replace")
    assert str(info.value) == f"{view.describe()} is a view, not a table: choose another ?table=; it is unchanged"
    assert pg.execute("SELECT * FROM a_view").fetchall() == [(1,)]


def test_validate_connect_and_a_flow_run(account, postgres_url, unprivileged, pg, tmp_path):
    path = tmp_path / "acflow.yaml"
    flow = "flows:\n  l:\n    source: lists\n    select: [id, name]\n    to: '{to}'\n    mode: merge\n"
    path.write_text("accounts: {main: {url: x, key_env: NOPE}}\n" + flow.format(to=uri(postgres_url, "flow_lists")))
    checked = CliRunner().invoke(app, ["validate", "--config", str(path), "--connect"])
    assert checked.exit_code == 0, checked.output
    assert acflow.run(config=path, accounts={"main": account}).ok
    assert pg_types(pg, "flow_lists") == {"id": "bigint", "name": "text"} and count(pg, "flow_lists") > 0
    path.write_text("accounts: {main: {url: x, key_env: NOPE}}\n" + flow.format(to=uri(unprivileged, "flow_lists")))
    refused = CliRunner().invoke(app, ["validate", "--config", str(path), "--connect"])
    assert refused.exit_code == 1
    assert refused.stderr.strip().startswith("Error: flow 'l': user 'acflow_nobody_")


def test_quotes_spaces_and_capitals_in_names(mirror, postgres_url, pg):
    table, schema = 'Odd "T" able', 'My "Sch ema'
    dest = destinations.parse(uri(postgres_url, table, schema), "x")
    for mode in ("replace", "replace", "merge"):
        destinations.write(mirror, 'SELECT range AS id, \'v\' AS "Value ""q""" FROM range(3)', dest, mode)
    assert pg_types(pg, table, schema) == {"id": "bigint", 'Value "q"': "text"}
    assert len(pg_rows(pg, table, schema)) == 3  # replaced by 3, merged over by id
    # the key a replace made holds one row per id: an append that repeats one says what to do instead
    with pytest.raises(DestinationError, match=r"^cannot append to .*: it has a unique key on id \(a replace or merge "
                                               r"made it\) and the rows repeat an id \(duplicate key value violates "
                                               r"unique constraint .*\): use merge, or append to another \?table=; "):
        destinations.write(mirror, 'SELECT range AS id, \'v\' AS "Value ""q""" FROM range(3)', dest, "append")
    appended = destinations.parse(uri(postgres_url, table + " log", schema), "x")
    for _ in range(2):
        destinations.write(mirror, 'SELECT range AS id, \'v\' AS "Value ""q""" FROM range(3)', appended, "append")
    assert len(pg_rows(pg, table + " log", schema)) == 6
    assert dest.describe().endswith("?table=Odd%20%22T%22%20able&schema=My%20%22Sch%20ema")


# -- readers during a replace; views and grants --------------------------------------------------

def poll(url: str, query: str, stop: threading.Event, seen: list[Any]) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        while not stop.is_set():
            try:
                seen.append(conn.execute(query).fetchone())
            except psycopg.Error as exc:
                seen.append(("error", str(exc)))


def replace_while_reading(mirror: Mirror, postgres_url: str, table: str, reads: list[str]) -> list[Any]:
    """Three replaces (20,000 rows tagged a, then 30,000 b, then a) while readers poll `reads`."""
    dest = destinations.parse(uri(postgres_url, table), table)
    source = "SELECT range AS id, '{tag}' AS tag, repeat('x', 40) AS pad FROM range({n})"
    destinations.write(mirror, source.format(tag="a", n=20_000), dest, "replace")
    stop, seen = threading.Event(), [[] for _ in reads]
    threads = [threading.Thread(target=poll, args=(postgres_url, q, stop, s)) for q, s in zip(reads, seen, strict=True)]
    for t in threads:
        t.start()
    try:
        for tag, n in (("b", 30_000), ("a", 20_000), ("b", 30_000)):
            destinations.write(mirror, source.format(tag=tag, n=n), dest, "replace")
    finally:
        stop.set()
        for t in threads:
            t.join()
    return seen


def test_readers_see_the_old_or_the_new_table_never_less(mirror, postgres_url, pg):
    pg.execute("DROP ROLE IF EXISTS acflow_reader_role")
    pg.execute("CREATE ROLE acflow_reader_role")
    destinations.write(mirror, "SELECT 1::BIGINT AS id, 'a' AS tag, '' AS pad", destinations.parse(
        uri(postgres_url, "swapped"), "swapped"), "replace")
    pg.execute("GRANT SELECT ON swapped TO acflow_reader_role")
    pg.execute("COMMENT ON TABLE swapped IS 'contacts for the BI tool'")
    pg.execute("COMMENT ON COLUMN swapped.tag IS 'a or b'")
    (seen,) = replace_while_reading(mirror, postgres_url, "swapped",
                                    ["SELECT count(*), min(tag), max(tag) FROM swapped"])
    assert len(seen) > 3
    assert set(seen) <= {(20_000, "a", "a"), (30_000, "b", "b")}, [s for s in seen if s[0] == "error"][:1]
    assert seen[-1] == (30_000, "b", "b")
    # the table that took the old one's place has its grants, comments and a primary key
    assert pg.execute("SELECT has_table_privilege('acflow_reader_role', 'swapped', 'SELECT')").fetchone() == (True,)
    assert pg.execute("SELECT obj_description('swapped'::regclass), col_description('swapped'::regclass, 2)"
                      ).fetchone() == ("contacts for the BI tool", "a or b")
    assert primary_key(pg, "swapped") == ["id"]
    assert pg.execute("SELECT count(*) FROM pg_class WHERE relname LIKE '\\_acflow%'").fetchone() == (0,)
    pg.execute("DROP TABLE swapped")
    pg.execute("DROP ROLE acflow_reader_role")


def test_a_table_with_views_is_refilled_in_place(mirror, postgres_url, pg):
    destinations.write(mirror, "SELECT 1::BIGINT AS id, 'a' AS tag, '' AS pad", destinations.parse(
        uri(postgres_url, "viewed"), "viewed"), "replace")
    pg.execute("CREATE VIEW viewed_b AS SELECT id FROM viewed WHERE tag = 'b'")
    oid = pg.execute("SELECT 'viewed'::regclass::oid").fetchone()
    seen_table, seen_view = replace_while_reading(
        mirror, postgres_url, "viewed",
        ["SELECT count(*), min(tag), max(tag) FROM viewed", "SELECT count(*) FROM viewed_b"])
    assert set(seen_table) <= {(20_000, "a", "a"), (30_000, "b", "b")}
    assert set(seen_view) <= {(0,), (30_000,)} and seen_view[-1] == (30_000,)
    assert pg.execute("SELECT 'viewed'::regclass::oid").fetchone() == oid  # the same table, refilled
    # a type the view's table cannot take in place is refused, naming why
    with pytest.raises(DestinationError, match=r"column 'tag' of .* is text but the rows have integer \(the table is "
                                               r"refilled in place, as it has views depend on it\)"):
        destinations.write(mirror, "SELECT 1::BIGINT AS id, 2 AS tag",
                           destinations.parse(uri(postgres_url, "viewed"), "v"), "replace")
    assert pg.execute("SELECT count(*) FROM viewed_b").fetchone() == (30_000,)


# -- kills and lost connections --------------------------------------------------------------------

CHILD = textwrap.dedent("""
    import sys
    from acflow import destinations
    from acflow.mirror import Mirror

    with Mirror(sys.argv[1]) as db:
        db.con.execute("CREATE TABLE main.big AS SELECT range AS id, 'new' AS tag, repeat('x', 60) AS pad "
                       "FROM range(1000000)")
        try:
            destinations.write(db, "SELECT * FROM main.big", destinations.parse(sys.argv[2], "big"), "replace")
        except KeyboardInterrupt:
            print("interrupted")
            raise SystemExit(130)
    print("done")
""")


def copying(pg: Any, table_hint: str = "") -> int | None:
    """The backend of an acflow connection that is running its COPY, if any."""
    row = pg.execute("SELECT pid FROM pg_stat_activity WHERE application_name = 'acflow' AND state = 'active' "
                     "AND query LIKE 'COPY %%'").fetchone()
    return row[0] if row else None


def wait_for(condition: Any, what: str, seconds: float = 60) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.02)
    raise AssertionError(f"gave up waiting for {what}")


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "Ctrl-C"])
def test_a_kill_mid_load_leaves_the_old_table_and_the_next_run_works(signum, mirror, postgres_url, pg, tmp_path):
    target = uri(postgres_url, f"killed_{signum.name}")
    destinations.write(mirror, "SELECT range AS id, 'old' AS tag FROM range(100)", destinations.parse(target, "k"),
                       "replace")
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    child = subprocess.Popen([sys.executable, str(script), str(tmp_path / "child.duckdb"), target],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        backend = wait_for(lambda: copying(pg) or child.poll() is not None, "the child's COPY")
        assert child.poll() is None, child.communicate()
        child.send_signal(signum)
        out, _ = child.communicate(timeout=120)
        wait_for(lambda: pg.execute("SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = %s", [backend]
                                    ).fetchone()[0], "the server to end the killed load")
    finally:
        if child.poll() is None:
            child.kill()
    if signum == signal.SIGINT:  # Ctrl-C cancels the COPY at once and is an interruption, not a failed write
        assert (child.returncode, out) == (130, "interrupted\n")
    table = sql.Identifier(f"killed_{signum.name}")
    assert pg.execute(sql.SQL("SELECT count(*), min(tag), max(tag) FROM {}").format(table)).fetchone() == (
        100, "old", "old")
    assert pg.execute("SELECT count(*) FROM pg_class WHERE relname LIKE '\\_acflow%'").fetchone() == (0,)
    destinations.write(mirror, "SELECT range AS id, 'next' AS tag FROM range(50)", destinations.parse(target, "k"),
                       "replace")
    assert pg.execute(sql.SQL("SELECT count(*), min(tag) FROM {}").format(table)).fetchone() == (50, "next")


def test_a_connection_ended_by_the_server_mid_load(mirror, postgres_url, pg):
    dest = destinations.parse(uri(postgres_url, "terminated"), "t")
    destinations.write(mirror, "SELECT range AS id, 'old' AS tag FROM range(100)", dest, "append")
    mirror.con.execute("CREATE TABLE main.big AS SELECT range AS id, 'new' AS tag, repeat('x', 60) AS pad "
                       "FROM range(1000000)")
    ended: list[bool] = []

    def terminate() -> None:
        with psycopg.connect(postgres_url, autocommit=True) as other:
            backend = wait_for(lambda: copying(other), "the COPY")
            ended.append(other.execute("SELECT pg_terminate_backend(%s)", [backend]).fetchone()[0])

    killer = threading.Thread(target=terminate)
    killer.start()
    try:
        with pytest.raises(DestinationError) as info:
            destinations.write(mirror, "SELECT * FROM main.big", dest, "append")
    finally:
        killer.join()
    assert ended == [True]
    assert str(info.value).startswith("the connection to PostgreSQL at 127.0.0.1:5432 was lost during the load (")
    assert str(info.value).endswith(f"the server rolled the load back: run again; {dest.describe()} is unchanged")
    assert "\n" not in str(info.value)
    assert pg.execute("SELECT count(*), max(tag) FROM terminated").fetchone() == (100, "old")
    destinations.write(mirror, "SELECT range AS id, 'next' AS tag FROM range(5)", dest, "append")
    assert pg.execute("SELECT count(*) FROM terminated").fetchone() == (105,)


def test_a_query_that_fails_mid_stream_changes_nothing(mirror, postgres_url, pg):
    dest = destinations.parse(uri(postgres_url, "midway"), "m")
    destinations.write(mirror, "SELECT range AS id FROM range(10)", dest, "replace")
    with pytest.raises(DestinationError) as info:
        destinations.write(mirror, "SELECT CASE WHEN range = 50000 THEN error('the mirror said no') ELSE range END "
                                   "AS id FROM range(100000)", dest, "replace")
    assert str(info.value) == f"cannot write {dest.describe()}: the mirror said no; {dest.describe()} is unchanged"
    assert pg.execute("SELECT count(*) FROM midway").fetchone() == (10,)


@pytest.fixture
def tiny_tablespace(pg: Any) -> Iterator[str]:
    """A tablespace on an 8 MB tmpfs: the server's disk fills during a load."""
    import pwd

    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("a full disk on the server is an 8 MB tmpfs, which only root can mount")
    folder = Path(tempfile.mkdtemp(prefix="acflow-pg-disk-"))
    folder.chmod(0o755)
    owner = pwd.getpwnam("postgres").pw_uid
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size=8m,uid={owner},mode=0700", "tmpfs", str(folder)],
                          capture_output=True, text=True)
    if done.returncode:
        pytest.skip(f"cannot mount an 8 MB tmpfs here: {done.stderr.strip()}")
    name = f"acflow_tiny_{os.getpid()}"
    try:
        pg.execute(sql.SQL("CREATE TABLESPACE {} LOCATION {}").format(sql.Identifier(name), sql.Literal(str(folder))))
        yield name
    finally:
        pg.execute(sql.SQL("DROP TABLESPACE IF EXISTS {}").format(sql.Identifier(name)))
        subprocess.run(["umount", "-l", str(folder)], check=False)
        shutil.rmtree(folder, ignore_errors=True)


def test_a_full_disk_on_the_server(mirror, postgres_url, pg, tiny_tablespace):
    dest = destinations.parse(uri(postgres_url, "filled"), "f")
    destinations.write(mirror, "SELECT range AS id, 'old' AS tag FROM range(10)", dest, "replace")
    filling = destinations.parse(uri(postgres_url, "filled") + f"&options=-c%20default_tablespace%3D{tiny_tablespace}",
                                 "f")
    with pytest.raises(DestinationError) as info:
        destinations.write(mirror, "SELECT range AS id, repeat('x', 200) AS tag FROM range(200000)", filling,
                           "replace")
    assert str(info.value).startswith("the disk of PostgreSQL at 127.0.0.1:5432 is full (could not extend file ")
    assert str(info.value).endswith(f"No space left on device): free space on the server; {dest.describe()} is "
                                    "unchanged")
    assert pg.execute("SELECT count(*), max(tag) FROM filled").fetchone() == (10, "old")
    pg.execute("DROP TABLE filled")


# -- refusals, as users meet them ------------------------------------------------------------------

@pytest.mark.parametrize("text, message", [
    ("postgresql://u@h/db?sslmod=require", "postgresql destination: unknown parameter ?sslmod=; use table, schema or "
                                           "a libpq connection keyword (sslmode, connect_timeout...). Did you mean "
                                           "'sslmode'?"),
    ("postgresql://u@h/db?password=x", "postgresql destination: write the password as "
                                       "postgresql://user:PASSWORD@host/db (or PGPASSWORD, or ~/.pgpass), not as "
                                       "?password="),
    ("postgresql://u:pw@h:99999/db", "destination 'postgresql://u:***@h:99999/db' is not a URI (Port out of range "
                                     "0-65535); write postgresql://user@host:5432/database?table=contacts&schema=public"),
    (f"postgresql://u@h/db?table={'t' * 64}", f"postgresql table name {'t' * 63!r}... is longer than PostgreSQL's 63 "
                                              "bytes: choose a shorter ?table="),
])
def test_bad_uris_are_config_errors(text, message):
    with pytest.raises(ConfigError) as info:
        destinations.parse(text, "deals")
    assert str(info.value) == message and info.value.exit_code == 2


def test_uris_name_the_server_and_never_the_password():
    dest = destinations.parse("postgres://ann:p%40ss@db.example:5433/crm?table=Deals&sslmode=require", "deals")
    assert (dest.kind, dest.table, dest.server.schema) == ("postgresql", "Deals", "public")
    assert dest.server.password == "p@ss"
    assert dest.describe() == "postgresql://ann@db.example:5433/crm?table=Deals&schema=public"
    assert "p@ss" not in repr(dest) and "p@ss" not in dest.key()
    assert "sslmode='require'" in postgres_connect.conninfo(dest)


def test_a_missing_extra_names_it():
    code = ("import sys; sys.modules['adbc_driver_postgresql'] = None\n"
            "import importlib.util; importlib.util.find_spec = lambda name, *a: None\n"
            "from acflow.destinations import parse\n"
            "try:\n    parse('postgresql://u@h/db', 't')\nexcept Exception as exc:\n    print(type(exc).__name__, exc)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout == ("ConfigError postgresql destinations need the 'postgres' extra: "
                             "pip install 'acflow[postgres]'\n")


def export_cli(sandbox: Any, to: str, tmp_path: Path, *more: str) -> Any:
    """`acflow export lists --to TO ...` as typed at a prompt (in this process: no start-up to wait for)."""
    return CliRunner().invoke(app, ["export", "lists", "--to", to, "--api-url", sandbox.url, "--api-key",
                                    sandbox.admin_key, "--mirror", str(tmp_path / "m.duckdb"), *more],
                              env={"ACTIVECAMPAIGN_API_URL": None, "ACTIVECAMPAIGN_API_KEY": None, "COLUMNS": "200"})


def test_unknown_database_and_a_table_of_other_types_via_the_cli(sandbox, postgres_url, pg, tmp_path):
    server = postgres_url.rsplit("/", 1)[0]
    result = export_cli(sandbox, f"{server}/no_such_db?table=lists", tmp_path)
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "Error: PostgreSQL at 127.0.0.1:5432 has no database 'no_such_db': create it (createdb no_such_db) or correct "
        "the database in the URI; postgresql://postgres@127.0.0.1:5432/no_such_db?table=lists&schema=public is "
        "unchanged")
    pg.execute("CREATE TABLE other_types (id text, name integer)")
    pg.execute("INSERT INTO other_types VALUES ('keep', 1)")
    result = export_cli(sandbox, uri(postgres_url, "other_types"), tmp_path, "--mode", "append")
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1].startswith(
        "Error: column 'id' of postgresql://postgres@127.0.0.1:5432/")
    assert "is text but the rows have bigint: change it (ALTER TABLE" in result.stderr
    assert pg.execute("SELECT * FROM other_types").fetchall() == [("keep", 1)]
    result = export_cli(sandbox, uri(postgres_url, "other_types"), tmp_path, "--mode", "replace")
    assert result.exit_code == 0, result.stderr  # replace makes the table anew
    assert pg_types(pg, "other_types")["id"] == "bigint"


@pytest.fixture
def unprivileged(postgres_url: str, pg: Any) -> Iterator[str]:
    """A login that may connect but create nothing (PostgreSQL 15: no CREATE on public)."""
    role = f"acflow_nobody_{os.getpid()}"
    pg.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
    pg.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
    pg.execute(sql.SQL("REVOKE CREATE ON SCHEMA public FROM PUBLIC"))
    server, database = postgres_url.rsplit("/", 1)
    yield f"{server.replace('postgres@', f'{role}@')}/{database}"
    pg.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
    pg.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_no_permission_is_said_with_the_grant_to_give(sandbox, unprivileged, pg, tmp_path):
    role = unprivileged.split("//")[1].split("@")[0]
    for schema in (None, "acflow_new_schema"):
        to = uri(unprivileged, "lists", schema)
        result = export_cli(sandbox, to, tmp_path)
        assert result.exit_code == 1
        line = result.stderr.strip().splitlines()[-1]
        assert line.startswith(f"Error: user '{role}' may not write there (permission denied for ")
        assert f'GRANT CREATE, USAGE ON SCHEMA "{schema or "public"}"' in line
        assert line.endswith(f"{destinations.parse(to, 'lists').describe()} is unchanged")
        assert sandbox.stats()["requests"] == 0  # said before any request to ActiveCampaign
        with pytest.raises(DestinationError):
            postgres.check(destinations.parse(to, "lists"))
    assert pg.execute("SELECT count(*) FROM pg_namespace WHERE nspname = 'acflow_new_schema'").fetchone() == (0,)


def test_check_probes_and_leaves_nothing(postgres_url, pg):
    postgres.check(destinations.parse(uri(postgres_url, "probed", "probe_schema"), "t"))
    assert pg.execute("SELECT count(*) FROM pg_namespace WHERE nspname = 'probe_schema'").fetchone() == (0,)
    assert pg.execute("SELECT count(*) FROM pg_class WHERE relname LIKE '\\_acflow%'").fetchone() == (0,)


# -- passwords: a server of our own that asks for them (the machine's own trusts 127.0.0.1) ----------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def password_server() -> Iterator[str]:
    """`postgresql://postgres@127.0.0.1:PORT/postgres` of a throwaway cluster with scram-sha-256."""
    initdb = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb")) or [shutil.which("initdb")]
    if not initdb[-1]:
        if os.environ.get("CI"):
            raise RuntimeError("initdb (PostgreSQL's server package) is needed under CI")
        pytest.skip("initdb not found: no password-asking PostgreSQL to test against; under CI this fails")
    bindir = Path(initdb[-1]).parent
    folder = Path(tempfile.mkdtemp(prefix="acflow-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        shutil.chown(folder, "postgres")
        # util-linux's runuser lives in sbin, which a plain user's PATH (or `env -i`) may leave out
        runuser = shutil.which("runuser") or shutil.which("runuser", path="/usr/sbin:/sbin") or "runuser"
        as_user = [runuser, "-u", "postgres", "--"]
    (folder / "pw").write_text(PASSWORD + "\n")
    (folder / "pw").chmod(0o644)
    port = free_port()
    data = folder / "data"
    subprocess.run([*as_user, str(bindir / "initdb"), "-D", str(data), "--auth=scram-sha-256", "--pwfile",
                    str(folder / "pw"), "-U", "postgres", "--no-sync", "-E", "UTF8"], check=True,
                   capture_output=True, timeout=120)
    subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-l", str(folder / "log"), "-w", "-o",
                    f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off", "start"],
                   check=True, capture_output=True, timeout=120)
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-W", "stop"],
                       capture_output=True, timeout=120)
        shutil.rmtree(folder, ignore_errors=True)


def test_the_password_from_the_uri_pgpassword_or_pgpass(password_server, tmp_path, monkeypatch):
    with_password = password_server.replace("postgres@", f"postgres:{IN_URI}@")
    postgres.check(destinations.parse(with_password, "t"))
    with pytest.raises(DestinationError) as info:
        postgres.check(destinations.parse(password_server, "t"))
    assert str(info.value).startswith("PostgreSQL at 127.0.0.1:")
    assert "wants a password for user 'postgres': put it in the URI (postgresql://user:PASSWORD@host/db), " \
           "PGPASSWORD or ~/.pgpass" in str(info.value)
    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    postgres.check(destinations.parse(password_server, "t"))
    monkeypatch.delenv("PGPASSWORD")
    passfile = tmp_path / "pgpass"
    escaped = PASSWORD.replace("\\", "\\\\").replace(":", "\\:")  # .pgpass's own escaping
    passfile.write_text(f"127.0.0.1:*:*:postgres:{escaped}\n")
    passfile.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(passfile))  # ~/.pgpass, elsewhere
    postgres.check(destinations.parse(password_server, "t"))


def test_a_wrong_password_is_refused_and_no_password_is_ever_shown(sandbox, password_server, tmp_path):
    wrong = password_server.replace("postgres@", "postgres:Wr0ng-pa55word@") + "?table=lists"
    result = export_cli(sandbox, wrong, tmp_path)
    assert result.exit_code == 1
    port = password_server.split(":")[-1].split("/")[0]
    assert result.stderr.strip().splitlines()[-1] == (
        f"Error: PostgreSQL at 127.0.0.1:{port} refused the password for user 'postgres': correct it in the URI "
        f"(postgresql://user:PASSWORD@host/db), PGPASSWORD or ~/.pgpass; postgresql://postgres@127.0.0.1:{port}"
        "/postgres?table=lists&schema=public is unchanged")
    right = password_server.replace("postgres@", f"postgres:{IN_URI}@") + "?table=lists"
    ok = export_cli(sandbox, right, tmp_path, "--json")
    assert ok.exit_code == 0, ok.stderr
    assert json.loads(ok.stdout)["rows"] == len(sandbox.snapshot("lists"))
    for text in (result.stdout, result.stderr, ok.stdout, ok.stderr, (tmp_path / "m.duckdb").read_bytes().decode(
            "latin-1")):
        assert PASSWORD not in text and IN_URI not in text and "Wr0ng-pa55word" not in text
