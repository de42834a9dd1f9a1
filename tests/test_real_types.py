"""Types that real responses contradict (reference 8.6, 8.11-8.13), each from a payload shape."""

from __future__ import annotations

import csv
import re

import acflow
from acflow.catalog import CATALOG, ColType, find
from acflow.columns import BatchBuilder


def one(entity: str, record: dict) -> tuple[dict, BatchBuilder]:
    builder = BatchBuilder(find(entity), "America/Chicago")
    return builder.build([record]).to_pylist()[0], builder


def test_gravatar_is_a_number_not_a_flag():
    assert CATALOG["contacts"].columns["gravatar"] is ColType.INT
    row, builder = one("contacts", {"id": "1", "gravatar": "3"})
    assert row["gravatar"] == 3 and builder.degraded == {}


def test_a_sentinel_id_is_read_as_itself_and_the_column_stays_an_integer():
    row, builder = one("campaigns", {"id": "1", "bounceid": "-1", "segmentid": "0"})
    assert row["bounceid"] == -1 and builder.types["bounceid"] is ColType.ID and builder.degraded == {}


def test_json_sent_as_an_empty_string_is_null():
    builder = BatchBuilder(find("campaigns"))
    rows = builder.build([{"id": "1", "additional_data": ""},
                          {"id": "2", "additional_data": '{"copiedFrom": 1}'}]).to_pylist()
    assert [r["additional_data"] for r in rows] == [None, '{"copiedFrom": 1}']
    assert builder.degraded == {}


def test_restricted_stubs_with_a_status_are_still_stubs():
    builder = BatchBuilder(find("deals"))
    row = builder.build([{"title": "Big one", "status": "0", "id": "7", "isDisabled": True}]).to_pylist()[0]
    assert (row["id"], row["status"], row["isDisabled"], row["value"]) == (7, 0, 1, None)


def test_newer_fields_have_their_types():
    row, builder = one("campaigns", {"id": "1", "groupLimitViolation": False, "numberOfMessages": "2",
                                     "statusString": "Automation", "campaignIsText": "0"})
    assert (row["groupLimitViolation"], row["numberOfMessages"], row["statusString"]) == (0, 2, "Automation")
    row, _ = one("contacts", {"id": "1", "sms_consent": "1", "sms_consent_updated_at": "2024-05-01T10:00:00-05:00",
                              "contactLists": ["1", "2"], "account": "4"})
    assert row["sms_consent"] == 1 and row["sms_consent_updated_at"].isoformat() == "2024-05-01T15:00:00+00:00"
    assert row["contactLists"] == '["1","2"]' and row["account"] == 4
    assert builder.degraded == {}


def test_exports_label_automation_campaigns_and_write_dates_as_dates(sandbox, tmp_path):
    account = acflow.Account(sandbox.url, sandbox.admin_key, rate_limit=1000)
    out = tmp_path / "campaigns.csv"
    acflow.export("campaigns", to=str(out), account=account, mirror=tmp_path / "m.duckdb")
    rows = list(csv.DictReader(out.open(encoding="utf-8-sig")))
    automation = [r for r in rows if r["statusString"] == "Automation"]
    assert automation and all(r["status"] == "1" and r["status_label"] == "automation" for r in automation)
    scheduled = [r for r in rows if r["status"] == "1" and r["statusString"] != "Automation"]
    assert all(r["status_label"] == "scheduled" for r in scheduled)
    out = tmp_path / "contacts.csv"
    acflow.export("contacts", to=str(out), account=account, mirror=tmp_path / "m.duckdb")
    rows = list(csv.DictReader(out.open(encoding="utf-8-sig")))
    days = [r["bounced_date"] for r in rows if r["bounced_date"]]
    assert days and all(re.fullmatch(r"\d{4}-\d\d-\d\d", d) for d in days)
    assert {r["gravatar"] for r in rows} >= {"3"}
