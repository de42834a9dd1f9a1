"""Paging, ordering and date filters answer as the real API does (see acflow.sandbox.listing)."""

from __future__ import annotations

from datetime import datetime
from operator import attrgetter

import httpx
import pytest

from acflow.catalog import CATALOG
from acflow.sandbox import Sandbox


@pytest.fixture
def api(sandbox: Sandbox):
    with httpx.Client(base_url=sandbox.url + "/api/3", headers={"Api-Token": sandbox.admin_key}) as client:
        yield client


def ids(body: dict, key: str) -> list[int]:
    return [int(r["id"]) for r in body[key]]


def offset_pages(api: httpx.Client, path: str, key: str, **params) -> list[int]:
    seen, offset = [], 0
    while True:
        body = api.get(path, params={**params, "limit": 100, "offset": offset}).json()
        if not body[key]:
            return seen
        seen += ids(body, key)
        offset += 100


def keyset_pages(api: httpx.Client, **params) -> list[int]:
    seen, last = [], 0
    while True:
        body = api.get("contacts", params={**params, "orders[id]": "ASC", "id_greater": last, "limit": 100}).json()
        if not body["contacts"]:
            return seen
        seen += ids(body, "contacts")
        last = seen[-1]


@pytest.mark.parametrize("entity", CATALOG.values(), ids=attrgetter("name"))
def test_offset_paging_returns_every_record_once(sandbox, api, entity):
    if entity.parent:  # a list under each parent record: every record under exactly one
        parents = offset_pages(api, CATALOG[entity.parent].path, CATALOG[entity.parent].key)
        lists = [offset_pages(api, entity.path.replace("{id}", str(p)), entity.key) for p in parents]
        assert all(ids == sorted(ids) for ids in lists)
        seen = [i for ids in lists for i in ids]
    else:
        seen = offset_pages(api, entity.path, entity.key)
        assert seen == sorted(seen)  # by id ascending unless told otherwise
    truth = sorted(r["id"] for r in sandbox.snapshot(entity.name))
    assert len(seen) == len(set(seen)) and sorted(seen) == truth


def test_keyset_and_offset_agree(api):
    assert keyset_pages(api) == offset_pages(api, "contacts", "contacts", **{"orders[id]": "ASC"})


def test_descending_keyset_with_id_less(api):
    asc = keyset_pages(api)
    body = api.get("contacts", params={"orders[id]": "DESC", "id_less": asc[50], "limit": 10}).json()
    assert ids(body, "contacts") == asc[40:50][::-1]
    assert body["meta"]["total"] == "50"  # id_less counts as a filter


def test_id_greater_and_total(api):
    all_ids = keyset_pages(api)
    body = api.get("contacts", params={"id_greater": all_ids[-3], "limit": 100}).json()
    assert ids(body, "contacts") == all_ids[-2:] and body["meta"]["total"] == "2"


def test_limit_defaults_to_20_and_caps_at_100(api):
    assert len(api.get("contacts").json()["contacts"]) == 20
    assert len(api.get("contacts", params={"limit": 1000}).json()["contacts"]) == 100
    assert len(api.get("contacts", params={"limit": "x"}).json()["contacts"]) == 20
    assert api.get("tags", params={"offset": 10_000}).json()["tags"] == []


def test_deals_by_cdate_with_ties_by_id(api):
    seen = offset_pages(api, "deals", "deals", **{"orders[cdate]": "ASC"})
    deals = {int(d["id"]): d for d in offset_pages_records(api)}
    # ISO strings with varying offsets do not sort as times; compare real instants
    instants = [(datetime.fromisoformat(deals[i]["cdate"]), i) for i in seen]
    assert instants == sorted(instants)
    assert seen != sorted(seen)  # imports: creation order is not id order
    assert len({c for c, _ in instants}) < len(instants)  # some deals share a created second


def offset_pages_records(api: httpx.Client) -> list[dict]:
    out, offset = [], 0
    while batch := api.get("deals", params={"limit": 100, "offset": offset}).json()["deals"]:
        out += batch
        offset += 100
    return out


def all_contacts(api: httpx.Client) -> list[dict]:
    out, last = [], 0
    while batch := api.get("contacts", params={"id_greater": last, "limit": 100}).json()["contacts"]:
        out += batch
        last = int(batch[-1]["id"])
    return out


@pytest.mark.parametrize("value", ["2024-06-15", "2024-06-15T23:59:59-05:00", "2024-06-15 03:00:00"])
def test_day_filters_ignore_the_time_and_use_the_account_date(api, value):
    contacts = all_contacts(api)
    day = "2024-06-15"
    created_after = api.get("contacts", params={"filters[created_after]": value, "limit": 100}).json()
    expect = sorted(int(c["id"]) for c in contacts if c["cdate"][:10] >= day)  # the local date
    assert created_after["meta"]["total"] == str(len(expect))
    assert keyset_pages(api, **{"filters[created_after]": value}) == expect
    before = keyset_pages(api, **{"filters[created_before]": value})
    assert before == sorted(int(c["id"]) for c in contacts if c["cdate"][:10] < day)
    assert set(before).isdisjoint(expect) and len(before) + len(expect) == len(contacts)


def test_updated_filters_use_udate_or_cdate_when_null(api):
    contacts = all_contacts(api)
    day = "2025-01-01"
    got = keyset_pages(api, **{"filters[updated_after]": day})
    assert got == sorted(int(c["id"]) for c in contacts if (c["udate"] or c["cdate"])[:10] >= day)
    both = keyset_pages(api, **{"filters[updated_after]": "2024-01-01", "filters[updated_before]": day})
    assert both == sorted(int(c["id"]) for c in contacts if "2024-01-01" <= (c["udate"] or c["cdate"])[:10] < day)
    assert got and both


def test_deal_filters_and_total(api):
    deals = offset_pages_records(api)
    body = api.get("deals", params={"filters[updated_after]": "2025-06-01", "limit": 100}).json()
    expect = [d for d in deals if d["mdate"][:10] >= "2025-06-01"]
    assert body["meta"]["total"] == len(expect) > 0
    assert {d["id"] for d in body["deals"]} <= {d["id"] for d in expect}


def test_filters_are_ignored_where_the_api_has_none(api):
    assert api.get("tags", params={"filters[created_after]": "2099-01-01"}).json()["meta"]["total"] != "0"


def test_a_bad_date_is_a_400_naming_the_parameter(api):
    r = api.get("contacts", params={"filters[updated_after]": "yesterday"})
    assert r.status_code == 400
    assert r.json()["errors"][0]["source"] == {"parameter": "filters[updated_after]"}
