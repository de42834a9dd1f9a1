"""Every real response recorded by other projects is read faithfully: no field lost, every type right."""

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from acflow.catalog import TWINS, find
from acflow.client import read_page
from acflow.columns import BatchBuilder
from acflow.paging import Page
from acflow.zones import AccountZone

RECORDED = Path(__file__).resolve().parents[2] / "shared" / "reference" / "recorded-payloads"
pytestmark = pytest.mark.needs_shared  # skipped from a clone alone; run (and failing) under CI
FILES = sorted(p for p in RECORDED.glob("*/*.json") if find(p.parent.name))


def load(path):
    """(entity, body, records): list responses through the reader syncs use, single ones as they are."""
    entity = find(path.parent.name)
    body = json.loads(path.read_text())
    listed = entity.key in body
    records = Page(read_page(path.read_bytes(), entity.key)).records() if listed else [body[entity.single]]
    return entity, body, records


def test_recordings_are_there():
    assert len(FILES) >= 30, f"expected the recorded payloads beside the repo at {RECORDED}"


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_field_is_kept_and_typed(path):
    entity, _, records = load(path)
    # the API user of one real account lives in Europe/Berlin while its dates are at -05:00/-06:00:
    # the zone must come from the dates, as a sync learns it
    builder = BatchBuilder(entity, AccountZone(user_zone="Europe/Berlin"))
    rows = builder.build(records).to_pylist()
    assert builder.degraded == {}
    assert len(rows) == len(records)
    for record, row in zip(records, rows, strict=True):
        assert set(record) - {"links"} <= set(row)
        assert row["id"] == int(record["id"])
        for name, value in record.items():
            if name == "links" or value is None:
                continue
            kind = builder.types[name]
            if kind.value in ("id", "int") and value != "":
                assert row[name] == int(value)
            elif kind.value == "flag":
                assert row[name] == int(value) and row[name] in (0, 1)
            elif kind.value == "json":
                assert json.loads(row[name]) == value or row[name] == value
            elif kind.value == "timestamp" and not str(value).startswith("0000"):
                assert isinstance(row[name], datetime) and row[name].tzinfo is not None
                if "T" in value:  # ISO with its offset: exactly that instant
                    assert row[name] == datetime.fromisoformat(value)
            elif kind.value == "date" and not str(value).startswith("0000"):
                assert row[name].isoformat() == value[:10]  # the day as sent, never shifted
            elif kind.value in ("timestamp", "date"):
                assert row[name] is None
        for iso, naive in TWINS:  # a naive twin is the same instant as its ISO date
            if isinstance(record.get(iso), str) and isinstance(record.get(naive), str) and \
                    record[iso][:10] == record[naive][:10]:
                # (real ones may differ by a second; a zone wrong would be hours)
                assert abs((row[naive] - row[iso]).total_seconds()) < 60, (iso, naive)


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_meta_total_is_read_as_a_number(path):
    entity, body, _ = load(path)
    if "meta" in body and entity.key in body:
        raw = read_page(path.read_bytes(), entity.key)
        assert raw.total == int(body["meta"]["total"])
        assert raw.ids == [r["id"] for r in body[entity.key]]


def test_dates_keep_their_instant():
    _, _, records = load(RECORDED / "contacts" / "mhenrixon-1.json")
    row = BatchBuilder(find("contacts"), "America/Chicago").build(records).to_pylist()[0]
    assert row["cdate"] == datetime(2020, 5, 24, 10, 16, 44, tzinfo=UTC)  # 05:16:44-05:00
    # naive local times are read in the account's zone (CDT in May: -05:00)
    assert row["created_timestamp"] == row["cdate"]
    assert row["created_utc_timestamp"] == row["cdate"]


def test_quirks_of_real_records():
    entity, _, records = load(RECORDED / "contacts" / "webgriffe-1.json")
    row = BatchBuilder(entity, "America/Chicago").build(records).to_pylist()[0]
    assert row["created_timestamp"] == datetime(2022, 3, 24, 16, 23, 40, tzinfo=UTC)  # "2022-03-2411:23:40"
    assert row["email_empty"] == 0  # a JSON false
    entity, _, records = load(RECORDED / "deals" / "mhenrixon-2.json")
    rows = BatchBuilder(entity).build(records).to_pylist()
    assert {r["isDisabled"] for r in rows} <= {0, 1} and any(r["isDisabled"] == 1 for r in rows)
    entity, _, records = load(RECORDED / "deals" / "mhenrixon-3.json")
    assert records == [] and read_page((RECORDED / "deals" / "mhenrixon-3.json").read_bytes(), entity.key).total == 0
    entity, _, records = load(RECORDED / "segments" / "acdocs-single-1.json")
    assert "links" not in BatchBuilder(entity).build(records).schema.names


def test_unknown_fields_are_kept_as_text():
    entity, _, records = load(RECORDED / "contacts" / "sourcelab-single-1.json")
    builder = BatchBuilder(entity)
    row = builder.build(records).to_pylist()[0]
    assert row["emailDomain"] == records[0]["emailDomain"]
    assert json.loads(row["contactLists"]) == records[0]["contactLists"]


def test_values_that_do_not_fit_are_kept_as_text_not_lost():
    builder = BatchBuilder(find("deals"))
    rows = builder.build([{"id": "1", "value": "12.5"}, {"id": "2", "value": "300"}]).to_pylist()
    assert [r["value"] for r in rows] == ["12.5", "300"]
    assert "value" in builder.degraded
