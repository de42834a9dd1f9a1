"""The BigQuery destination against bqemulator (tests/standins/bigquery.py), a separate process
answering the BigQuery REST API: the real google-cloud-bigquery client creates tables, uploads the
Parquet files in load jobs and runs our INSERT, MERGE and transactions over HTTP. What it cannot
show (real IAM, real credentials, BigQuery's own limits) is said in the README, not pretended here."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import uuid
from decimal import Decimal

import pytest
from standins.bigquery import SETUP, bigquery_emulator, client, find

import acflow
from acflow import destinations
from acflow.errors import ConfigError, DestinationError

PROJECT = "acflow-test"


@pytest.fixture(scope="session")
def endpoint():
    exe = find()
    if exe is None:
        if os.environ.get("CI"):
            raise RuntimeError(f"bqemulator is needed under CI and is not installed: {SETUP}")
        pytest.skip(f"bqemulator not installed ({SETUP}); under CI this fails")
    with bigquery_emulator(exe, PROJECT) as url:
        yield url


class Dataset:
    """A dataset of its own on the emulator, and a client to read it back."""

    def __init__(self, endpoint: str) -> None:
        self.name = f"ds_{uuid.uuid4().hex[:8]}"
        self.client = client(endpoint, PROJECT)
        self.client.create_dataset(self.name)

    def uri(self, table: str) -> str:
        return f"bigquery://{PROJECT}/{self.name}?table={table}"

    def rows(self, sql: str) -> list[tuple]:
        return [tuple(r.values()) for r in self.client.query(sql.replace("DS.", f"`{PROJECT}.{self.name}`.")).result()]

    def types(self, table: str) -> dict[str, str]:
        return {f.name: f.field_type for f in self.client.get_table(f"{PROJECT}.{self.name}.{table}").schema}

    def tables(self) -> list[str]:
        return sorted(t.table_id for t in self.client.list_tables(self.name))


@pytest.fixture
def bq(endpoint, monkeypatch):
    monkeypatch.setenv("ACFLOW_BIGQUERY_ENDPOINT", endpoint)
    return Dataset(endpoint)


@pytest.fixture
def mirror_path(tmp_path):
    return tmp_path / "mirror.duckdb"


def _updated(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def test_each_mode_keeps_the_table_equal_to_activecampaign(sandbox, account, mirror_path, bq):
    """replace (twice: the second through the emptying transaction), then merge after creates,
    updates and deletes: the table is the snapshot, record for record; append adds only the changed
    rows, with their time; no staging table is left."""
    for entity, cursor in (("contacts", "udate"), ("deals", "mdate")):
        first = acflow.export(entity, to=bq.uri(entity), account=account, mirror=mirror_path)
        assert first.rows == len(sandbox.snapshot(entity))
        again = acflow.export(entity, to=bq.uri(entity), account=account, mirror=mirror_path)
        assert bq.rows(f"SELECT count(*) FROM DS.{entity}") == [(again.rows,)] == [(first.rows,)]
        acflow.export(entity, to=bq.uri(f"{entity}_log"), mode="append", account=account, mirror=mirror_path)
        done = sandbox.mutate(entity, create=3, update=4, delete=2)
        merged = acflow.export(entity, to=bq.uri(entity), mode="merge", account=account, mirror=mirror_path,
                               full=True)  # a full sync is what notices deletions
        assert merged.rows == 7  # only what changed went up
        snapshot = {r["id"]: r["updated"] for r in sandbox.snapshot(entity)}
        got = {i: _updated(u) for i, u in bq.rows(f"SELECT id, {cursor} FROM DS.{entity}")}
        assert got == snapshot
        assert not set(got) & {int(i) for i in done["deleted"]}
        appended = acflow.export(entity, to=bq.uri(f"{entity}_log"), mode="append", account=account,
                                 mirror=mirror_path)
        assert appended.rows == 7
        assert bq.rows(f"SELECT count(*), count(DISTINCT _extracted_at) FROM DS.{entity}_log") == [(first.rows + 7, 2)]
    assert bq.tables() == ["contacts", "contacts_log", "deals", "deals_log"]


def test_types_read_back(sandbox, account, mirror_path, bq):
    acflow.export("deals", to=bq.uri("deals"), account=account, mirror=mirror_path)
    types = bq.types("deals")
    assert (types["id"], types["value"], types["amount"], types["cdate"], types["nextTask"], types["title"],
            types["isDisabled"]) == ("INT64", "INT64", "NUMERIC", "TIMESTAMP", "JSON", "STRING", "INT64")
    digits = {"jpy": 0, "kwd": 3}
    for value, currency, amount in bq.rows("SELECT value, currency, amount FROM DS.deals"):
        assert amount == Decimal(value) / 10 ** digits.get(currency, 2)
    acflow.export("contacts", to=bq.uri("contacts"), account=account, mirror=mirror_path)
    assert bq.types("contacts")["accountContacts"] == "JSON"
    links = [json.loads(t) for (t,) in bq.rows("SELECT TO_JSON_STRING(accountContacts) FROM DS.contacts "
                                                "WHERE accountContacts IS NOT NULL")]
    assert links and all(isinstance(t, list | dict) for t in links)  # parsed JSON, not strings of JSON


QUERY = """SELECT i::BIGINT AS id, (i * 1.5)::DECIMAL(38, 3) AS amount, i / 4 AS ratio, i % 2 = 0 AS truly,
    (i % 2)::TINYINT AS flag, 'Zoë 😀 ' || i AS "firstName", 'big' AS "Company Size",
    TIMESTAMPTZ '2024-03-01 10:00:00.123456+00' + to_days(i::INT) AS cdate, TIMESTAMP '2024-03-01 12:00:00' AS naive,
    DATE '2024-03-01' AS day, CASE i WHEN 1 THEN '{"a": [1, 2]}' WHEN 2 THEN 'not json' END AS doc,
    [i, 7] AS tags FROM range(1, 4) t(i)"""


def test_every_type_and_invalid_json_kept_as_a_json_string(mirror, bq):
    dest = destinations.parse(bq.uri("typed"), "typed")
    assert destinations.write(mirror, QUERY, dest, "replace", frozenset({"doc"})) == 3
    assert bq.types("typed") == {
        "id": "INT64", "amount": "NUMERIC", "ratio": "FLOAT64", "truly": "BOOL", "flag": "INT64",
        "firstName": "STRING", "Company Size": "STRING", "cdate": "TIMESTAMP", "naive": "DATETIME", "day": "DATE",
        "doc": "JSON", "tags": "JSON"}
    rows = bq.rows("SELECT id, amount, truly, firstName, cdate, naive, TO_JSON_STRING(doc), TO_JSON_STRING(tags), "
                   "`Company Size` FROM DS.typed ORDER BY id")
    first, second, third = rows
    assert first[1:4] == (Decimal("1.5"), False, "Zoë 😀 1")
    assert first[4] == dt.datetime(2024, 3, 2, 10, 0, 0, 123456, tzinfo=dt.UTC)
    assert first[5] == dt.datetime(2024, 3, 1, 12, 0)
    assert json.loads(first[6]) == {"a": [1, 2]} and json.loads(first[7]) == [1, 7] and first[8] == "big"
    assert json.loads(second[6]) == "not json"  # not JSON: kept, as a JSON string
    assert third[6] is None  # SQL NULL, not JSON null


def test_a_new_column_is_added_and_old_rows_keep_null(mirror, bq):
    dest = destinations.parse(bq.uri("grow"), "grow")
    destinations.write(mirror, "SELECT 1::BIGINT AS id, 'a' AS name", dest, "append")
    destinations.write(mirror, "SELECT 2::BIGINT AS id, 'b' AS name, 5::BIGINT AS score", dest, "append")
    assert bq.rows("SELECT id, name, score FROM DS.grow ORDER BY id") == [(1, "a", None), (2, "b", 5)]
    destinations.write(mirror, "SELECT 2::BIGINT AS id, 'c' AS name, 6::BIGINT AS score, 'x' AS note", dest, "merge",
                       delete_ids="SELECT 1")
    assert bq.rows("SELECT id, name, score, note FROM DS.grow") == [(2, "c", 6, "x")]
    assert bq.types("grow") == {"id": "INT64", "name": "STRING", "score": "INT64", "note": "STRING"}


def test_replace_with_other_columns_makes_the_table_anew(mirror, bq):
    dest = destinations.parse(bq.uri("anew"), "anew")
    destinations.write(mirror, "SELECT 1::BIGINT AS id, 'a' AS gone_column", dest, "replace")
    destinations.write(mirror, "SELECT 2::BIGINT AS id, 7::BIGINT AS score", dest, "replace")
    assert bq.rows("SELECT id, score FROM DS.anew") == [(2, 7)]
    assert set(bq.types("anew")) == {"id", "score"}


def test_a_changed_type_is_one_line_and_the_table_is_unchanged(mirror, bq):
    dest = destinations.parse(bq.uri("fixed"), "fixed")
    destinations.write(mirror, "SELECT 1::BIGINT AS id, 10::BIGINT AS score", dest, "replace")
    for mode in ("append", "merge"):
        with pytest.raises(DestinationError) as info:
            destinations.write(mirror, "SELECT 1::BIGINT AS id, 'high' AS score, 1 AS extra", dest, mode)
        assert str(info.value) == (
            f"cannot write {dest.describe()}: column 'score' is INT64 in the table and STRING in the rows; "
            "change the table's column, drop the table or write once with mode: replace; the table is unchanged")
        assert info.value.exit_code == 1
    assert bq.types("fixed") == {"id": "INT64", "score": "INT64"}
    assert bq.rows("SELECT id, score FROM DS.fixed") == [(1, 10)]
    assert bq.tables() == ["fixed"]


def test_an_unknown_dataset_is_one_line(mirror, bq):
    dest = destinations.parse(f"bigquery://{PROJECT}/nowhere?table=deals", "deals")
    with pytest.raises(DestinationError) as info:
        destinations.write(mirror, "SELECT 1::BIGINT AS id", dest, "replace")
    message = str(info.value)
    assert message.startswith(f"cannot write {dest.describe()}: ") and "nowhere" in message and "\n" not in message
    assert message.endswith("check the project and dataset in the URI (and &location=), or create the dataset; "
                            "the table is unchanged")
    with pytest.raises(DestinationError) as checked:
        dest.writer.check(dest)
    assert "nowhere" in str(checked.value) and "\n" not in str(checked.value)


def test_check_makes_and_removes_a_probe_table(bq):
    dest = destinations.parse(bq.uri("deals"), "deals")
    dest.writer.check(dest)
    assert bq.tables() == []


def test_no_credentials_is_one_line(mirror, monkeypatch, tmp_path):
    """No endpoint, no key, no Application Default Credentials (and no metadata server asked)."""
    for name in ("ACFLOW_BIGQUERY_ENDPOINT", "GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CLOUD_PROJECT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_GCE_CHECK", "True")  # google.auth would otherwise ask the metadata server
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path))  # and no gcloud login of this machine
    dest = destinations.parse(f"bigquery://{PROJECT}/ds?table=deals", "deals")
    with pytest.raises(DestinationError) as info:
        destinations.write(mirror, "SELECT 1::BIGINT AS id", dest, "replace")
    assert str(info.value) == (
        f"cannot write {dest.describe()}: no Google credentials: set GOOGLE_APPLICATION_CREDENTIALS to a "
        "service-account JSON key, add &credentials=/path/key.json to the URI, or run gcloud auth "
        "application-default login; the table is unchanged")


def test_a_broken_key_file_is_a_config_error_without_the_key(mirror, tmp_path):
    secret = "MIIEsecret-key-material"
    key = tmp_path / "key.json"
    key.write_text(json.dumps({"type": "service_account", "project_id": PROJECT, "client_email": "a@b.iam",
                               "private_key_id": "1", "token_uri": "https://oauth2.example/token",
                               "private_key": f"-----BEGIN PRIVATE KEY-----\n{secret}\n-----END PRIVATE KEY-----\n"}))
    dest = destinations.parse(f"bigquery://{PROJECT}/ds?table=deals&credentials={key}", "deals")
    assert str(key) not in dest.describe() and secret not in repr(dest)
    with pytest.raises(ConfigError) as info:
        destinations.write(mirror, "SELECT 1::BIGINT AS id", dest, "replace")
    assert secret not in str(info.value) and "is not a service-account key" in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("uri, message", [
    ("bigquery://proj", "destination 'bigquery://proj' needs a project and a dataset: write "
                        "bigquery://PROJECT/DATASET?table=NAME"),
    ("bigquery://proj/ds/t", "destination 'bigquery://proj/ds/t' needs a project and a dataset: write "
                             "bigquery://PROJECT/DATASET?table=NAME"),
    ("bigquery://proj/ds?tabel=x", "destination 'bigquery://proj/ds?tabel=x': unknown parameter 'tabel'; "
                                   "bigquery:// takes table, location, credentials"),
    ("bigquery://proj/ds?credentials=/no/such.json", "destination 'bigquery://proj/ds?credentials=/no/such.json': no "
     "credentials file '/no/such.json'; give the path of a service-account JSON key"),
])
def test_bad_uris_are_config_errors(uri, message):
    with pytest.raises(ConfigError) as info:
        destinations.parse(uri, "deals")
    assert str(info.value) == message and info.value.exit_code == 2


def test_uri_parts():
    dest = destinations.parse("bigquery://example.com:proj/crm?location=EU", "deals")
    s = dest.server
    assert (s.database, s.schema, dest.table, s.param("location")) == ("example.com:proj", "crm", "deals", "EU")
    assert dest.describe() == "bigquery://example.com:proj/crm?table=deals"


def test_a_missing_extra_names_it(monkeypatch):
    for name in ("google.cloud.bigquery", "google.cloud"):
        monkeypatch.setitem(sys.modules, name, None)  # as if google-cloud-bigquery were not installed
    with pytest.raises(ConfigError) as info:
        destinations.parse("bigquery://proj/ds", "deals")
    assert str(info.value) == "bigquery:// destinations need the 'bigquery' extra: pip install 'acflow[bigquery]'"
