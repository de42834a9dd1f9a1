"""The Snowflake destination against fakesnow's server (tests/standins/snowflake.py): the real
snowflake-connector-python logs in, PUTs the Parquet files and runs our SQL over HTTP; fakesnow runs
the SQL on DuckDB. What a stand-in cannot show (Snowflake's own type coercions in COPY, grants kept
by COPY GRANTS, key-pair logins) is said in the README, not pretended here."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import uuid
from decimal import Decimal

import pytest

import acflow
from acflow import destinations
from acflow.errors import ConfigError, DestinationError

try:
    import fakesnow  # noqa: F401
except ImportError:  # a dev dependency: under CI its absence fails the run
    if os.environ.get("CI"):
        raise
    pytest.skip("fakesnow is not installed (pip install -e '.[dev]'); under CI this fails", allow_module_level=True)

from standins.snowflake import PASSWORD, connect, create_database, snowflake_server


@pytest.fixture(scope="session")
def endpoint():
    with snowflake_server() as url:
        yield url


class Warehouse:
    """A database and schema of their own on the stand-in, and a connection to read them back."""

    def __init__(self, endpoint: str) -> None:
        self.database = f"DB_{uuid.uuid4().hex[:8].upper()}"
        self.con = connect(endpoint)
        create_database(self.con, self.database, "ACFLOW")
        create_database(self.con, f"{self.database}_NOWH", "ACFLOW", warehouse=None)
        self.con.cursor().execute(f"USE SCHEMA {self.database}.ACFLOW")

    def uri(self, table: str, who: str = "loader") -> str:
        return f"snowflake://{who}@standin/{self.database.lower()}/acflow?table={table}&warehouse=LOAD_WH"

    def rows(self, sql: str) -> list[tuple]:
        cur = self.con.cursor()
        cur.execute(sql)
        return list(cur.fetchall())

    def types(self, table: str) -> dict[str, str]:
        return {name: f"{t}({p},{s})" if t == "NUMBER" else t for name, t, p, s in self.rows(
            "SELECT column_name, data_type, numeric_precision, numeric_scale FROM information_schema.columns "
            f"WHERE table_schema = 'ACFLOW' AND table_name = '{table}' ORDER BY ordinal_position")}


@pytest.fixture
def wh(endpoint, monkeypatch):
    monkeypatch.setenv("ACFLOW_SNOWFLAKE_ENDPOINT", endpoint)
    monkeypatch.setenv("SNOWFLAKE_PASSWORD", PASSWORD)
    monkeypatch.delenv("SNOWFLAKE_PRIVATE_KEY_PATH", raising=False)
    warehouse = Warehouse(endpoint)
    yield warehouse
    warehouse.con.close()


@pytest.fixture
def mirror_path(tmp_path):
    return tmp_path / "mirror.duckdb"


def _updated(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def test_each_mode_keeps_the_table_equal_to_activecampaign(sandbox, account, mirror_path, wh):
    """replace, then merge after creates, updates and deletes: the table is the snapshot, record
    for record (id and update time); append adds only the changed rows, with their time."""
    for entity, cursor in (("contacts", "udate"), ("deals", "mdate")):
        table = entity.upper()
        first = acflow.export(entity, to=wh.uri(entity), account=account, mirror=mirror_path)
        assert first.rows == len(sandbox.snapshot(entity))
        assert wh.rows(f"SELECT count(*) FROM {table}") == [(first.rows,)]
        acflow.export(entity, to=wh.uri(f"{entity}_log"), mode="append", account=account, mirror=mirror_path)
        done = sandbox.mutate(entity, create=3, update=4, delete=2)
        merged = acflow.export(entity, to=wh.uri(entity), mode="merge", account=account, mirror=mirror_path,
                               full=True)  # a full sync is what notices deletions
        assert merged.rows == 7  # only what changed went up
        snapshot = {r["id"]: r["updated"] for r in sandbox.snapshot(entity)}
        # fakesnow's server sends a NULL timestamp to the connector as 1970-01-01 (it stores NULL): ask IS NULL too
        got = {i: None if null else _updated(u)
               for i, null, u in wh.rows(f'SELECT "id", "{cursor}" IS NULL, "{cursor}" FROM {table}')}
        assert got == snapshot
        assert not set(got) & {int(i) for i in done["deleted"]}
        appended = acflow.export(entity, to=wh.uri(f"{entity}_log"), mode="append", account=account,
                                 mirror=mirror_path)
        assert appended.rows == 7
        assert wh.rows(f'SELECT count(*), count(DISTINCT "_extracted_at") FROM {table}_LOG') == [(first.rows + 7, 2)]


def test_types_read_back(sandbox, account, mirror_path, wh):
    acflow.export("deals", to=wh.uri("deals"), account=account, mirror=mirror_path)
    types = wh.types("DEALS")
    assert (types["id"], types["value"], types["amount"]) == ("NUMBER(38,0)", "NUMBER(38,0)", "NUMBER(38,3)")
    assert (types["cdate"], types["nextTask"], types["title"], types["isDisabled"]) == \
        ("TIMESTAMP_TZ", "VARIANT", "TEXT", "NUMBER(38,0)")
    digits = {"jpy": 0, "kwd": 3}
    for value, currency, amount, cdate in wh.rows('SELECT "value", "currency", "amount", "cdate" FROM DEALS'):
        assert amount == Decimal(value) / 10 ** digits.get(currency, 2)
        assert cdate.utcoffset() == dt.timedelta(0)
    acflow.export("contacts", to=wh.uri("contacts"), account=account, mirror=mirror_path)
    assert wh.types("CONTACTS")["accountContacts"] == "VARIANT"
    links = [json.loads(t) for (t,) in wh.rows('SELECT "accountContacts" FROM CONTACTS '
                                                'WHERE "accountContacts" IS NOT NULL')]
    assert links and all(isinstance(t, list | dict) for t in links)  # parsed JSON, not strings of JSON


QUERY = """SELECT i::BIGINT AS id, (i * 1.5)::DECIMAL(38, 3) AS amount, i / 4 AS ratio, i % 2 = 0 AS truly,
    (i % 2)::TINYINT AS flag, 'Zoë 😀 ' || i AS "firstName",
    TIMESTAMPTZ '2024-03-01 10:00:00.123456+00' + to_days(i::INT) AS cdate, TIMESTAMP '2024-03-01 12:00:00' AS naive,
    DATE '2024-03-01' AS day, CASE i WHEN 1 THEN '{"a": [1, 2]}' WHEN 2 THEN 'not json' END AS doc,
    [i, 7] AS tags FROM range(1, 4) t(i)"""


def test_every_type_and_invalid_json_kept_as_a_json_string(mirror, wh):
    dest = destinations.parse(wh.uri("typed"), "typed")
    assert destinations.write(mirror, QUERY, dest, "replace", frozenset({"doc"})) == 3
    assert wh.types("TYPED") == {
        "id": "NUMBER(38,0)", "amount": "NUMBER(38,3)", "ratio": "FLOAT", "truly": "BOOLEAN", "flag": "NUMBER(38,0)",
        "firstName": "TEXT", "cdate": "TIMESTAMP_TZ", "naive": "TIMESTAMP_NTZ", "day": "DATE", "doc": "VARIANT",
        "tags": "VARIANT"}
    rows = wh.rows('SELECT "id", "amount", "truly", "firstName", "cdate", "naive", "doc", "tags" FROM TYPED '
                   'ORDER BY "id"')
    first, second, third = rows
    assert first[1:4] == (Decimal("1.500"), False, "Zoë 😀 1")
    assert first[4] == dt.datetime(2024, 3, 2, 10, 0, 0, 123456, tzinfo=dt.UTC)
    assert first[5] == dt.datetime(2024, 3, 1, 12, 0)
    assert json.loads(first[6]) == {"a": [1, 2]} and json.loads(first[7]) == [1, 7]
    assert json.loads(second[6]) == "not json"  # not JSON: kept, as a JSON string
    assert third[6] is None
    assert wh.rows('SELECT count(*) FROM TYPED WHERE "doc" IS NULL') == [(1,)]


def test_a_new_column_is_added_and_old_rows_keep_null(mirror, wh):
    dest = destinations.parse(wh.uri("grow"), "grow")
    destinations.write(mirror, "SELECT 1::BIGINT AS id, 'a' AS name", dest, "append")
    destinations.write(mirror, "SELECT 2::BIGINT AS id, 'b' AS name, 5::BIGINT AS score", dest, "append")
    assert wh.rows('SELECT "id", "name", "score" FROM GROW ORDER BY "id"') == [(1, "a", None), (2, "b", 5)]
    destinations.write(mirror, "SELECT 2::BIGINT AS id, 'c' AS name, 6::BIGINT AS score, 'x' AS note", dest, "merge",
                       delete_ids="SELECT 1")
    assert wh.rows('SELECT "id", "name", "score", "note" FROM GROW') == [(2, "c", 6, "x")]


def test_a_changed_type_is_one_line_and_the_table_is_unchanged(mirror, wh):
    dest = destinations.parse(wh.uri("fixed"), "fixed")
    destinations.write(mirror, "SELECT 1::BIGINT AS id, 10::BIGINT AS score", dest, "replace")
    for mode in ("append", "merge"):
        with pytest.raises(DestinationError) as info:
            destinations.write(mirror, "SELECT 1::BIGINT AS id, 'high' AS score, 1 AS extra", dest, mode)
        assert str(info.value) == (
            f"cannot write {dest.describe()}: column 'score' is NUMBER(38,0) in the table and VARCHAR in the rows; "
            "change the table's column, drop the table or write once with mode: replace; the table is unchanged")
        assert info.value.exit_code == 1
    assert wh.types("FIXED") == {"id": "NUMBER(38,0)", "score": "NUMBER(38,0)"}
    assert wh.rows('SELECT "id", "score" FROM FIXED') == [(1, 10)]


def test_a_failed_merge_leaves_rows_and_columns_as_they_were(mirror, wh):
    """The MERGE fails (an amount too wide for the column the user made narrower) after a new column
    was added: the column is taken away again and the rows are untouched."""
    dest = destinations.parse(wh.uri("kept"), "kept")
    wh.rows('CREATE TABLE KEPT ("id" NUMBER(38,0), "amount" NUMBER(5,3))')
    wh.rows("INSERT INTO KEPT VALUES (1, 1.5)")
    with pytest.raises(DestinationError) as info:
        destinations.write(mirror, "SELECT 2::BIGINT AS id, 123456.789::DECIMAL(38, 3) AS amount, 2::BIGINT AS extra",
                           dest, "merge")
    assert "\n" not in str(info.value) and str(info.value).endswith("; the table is unchanged")
    assert wh.types("KEPT") == {"id": "NUMBER(38,0)", "amount": "NUMBER(5,3)"}
    assert wh.rows('SELECT "id", "amount" FROM KEPT') == [(1, Decimal("1.500"))]


def test_names_with_quotes_and_spaces(mirror, wh):
    dest = destinations.parse(wh.uri('deals%20"won"'), "x")
    destinations.write(mirror, 'SELECT 1::BIGINT AS id, 2 AS "odd ""col"""', dest, "replace")
    assert wh.rows('SELECT "id", "odd ""col""" FROM "deals ""won"""') == [(1, 2)]


def test_wrong_password_is_one_line_without_the_password(mirror, wh, monkeypatch):
    monkeypatch.delenv("SNOWFLAKE_PASSWORD")
    secret = "hunter2-s3cret"
    dest = destinations.parse(wh.uri("deals").replace("loader@", f"loader:{secret}@"), "deals")
    assert secret not in repr(dest) and secret not in dest.describe() and secret not in dest.key()
    with pytest.raises(DestinationError) as info:
        destinations.write(mirror, "SELECT 1::BIGINT AS id", dest, "replace")
    assert str(info.value) == (
        f"cannot write {dest.describe()}: Snowflake refused the user or password: check the password in the URI, "
        "SNOWFLAKE_PASSWORD or SNOWFLAKE_PRIVATE_KEY_PATH; the table is unchanged")
    with pytest.raises(DestinationError) as checked:
        dest.writer.check(dest)
    assert secret not in str(checked.value) and "refused the user or password" in str(checked.value)


def test_the_password_may_come_from_the_uri(mirror, wh, monkeypatch):
    monkeypatch.delenv("SNOWFLAKE_PASSWORD")
    dest = destinations.parse(wh.uri("deals").replace("loader@", f"loader:{PASSWORD}@"), "deals")
    assert destinations.write(mirror, "SELECT 1::BIGINT AS id", dest, "replace") == 1


def test_an_unknown_database_is_one_line(mirror, wh):
    dest = destinations.parse("snowflake://loader@standin/nowhere/acflow?table=deals", "deals")
    with pytest.raises(DestinationError) as info:
        destinations.write(mirror, "SELECT 1::BIGINT AS id", dest, "replace")
    message = str(info.value)
    assert message.startswith(f"cannot write {dest.describe()}: ") and "NOWHERE" in message
    assert message.endswith("Check the database, schema and role in the URI; the table is unchanged")
    assert "\n" not in message


def test_check_answers_for_a_good_destination_and_bad_ones(wh):
    good = destinations.parse(wh.uri("deals"), "deals")
    good.writer.check(good)
    assert wh.rows("SHOW TABLES") == []  # its probe table was temporary
    bad = destinations.parse(f"snowflake://loader@standin/{wh.database}/missing?table=deals", "deals")
    with pytest.raises(DestinationError) as info:
        bad.writer.check(bad)
    assert "MISSING" in str(info.value) and "\n" not in str(info.value)
    idle = destinations.parse(f"snowflake://loader@standin/{wh.database}_nowh/acflow?table=deals", "deals")
    with pytest.raises(DestinationError) as info:
        idle.writer.check(idle)
    assert str(info.value) == (f"cannot write {idle.describe()}: no warehouse is in use: add &warehouse=NAME to the "
                               "URI or give the user a default warehouse")


@pytest.mark.parametrize("uri, message", [
    ("snowflake://loader@acct", "destination 'snowflake://loader@acct' needs an account and a database: write "
                                "snowflake://USER@ACCOUNT/DATABASE/SCHEMA?table=NAME&warehouse=WH"),
    ("snowflake://loader:pw@acct/db/s/extra", "destination 'snowflake://loader:***@acct/db/s/extra' needs an account "
     "and a database: write snowflake://USER@ACCOUNT/DATABASE/SCHEMA?table=NAME&warehouse=WH"),
    ("snowflake://loader@acct/db?wharehouse=x", "destination 'snowflake://loader@acct/db?wharehouse=x': unknown "
     "parameter 'wharehouse'; snowflake:// takes table, warehouse, role, authenticator"),
    ("snowflake://acct/db", "destination 'snowflake://acct/db' names no user: write "
                            "snowflake://USER@ACCOUNT/DATABASE/SCHEMA?table=NAME&warehouse=WH or set SNOWFLAKE_USER"),
])
def test_bad_uris_are_config_errors(uri, message, monkeypatch):
    monkeypatch.delenv("SNOWFLAKE_USER", raising=False)
    with pytest.raises(ConfigError) as info:
        destinations.parse(uri, "deals")
    assert str(info.value) == message and info.value.exit_code == 2


def test_uri_parts():
    dest = destinations.parse("snowflake://ann@xy12345.eu-central-1.snowflakecomputing.com/Analytics?warehouse=WH"
                              "&role=LOADER", "deals")
    s = dest.server
    assert (s.host, s.user, s.database, s.schema, dest.table) == ("xy12345.eu-central-1", "ann", "Analytics",
                                                                   "PUBLIC", "deals")
    assert (s.param("warehouse"), s.param("role")) == ("WH", "LOADER")
    assert dest.describe() == "snowflake://ann@xy12345.eu-central-1/Analytics/PUBLIC?table=deals"


def test_a_missing_extra_names_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "snowflake", None)  # as if snowflake-connector-python were not installed
    monkeypatch.setitem(sys.modules, "snowflake.connector", None)
    with pytest.raises(ConfigError) as info:
        destinations.parse("snowflake://ann@acct/db/s", "deals")
    assert str(info.value) == "snowflake:// destinations need the 'snowflake' extra: pip install 'acflow[snowflake]'"
