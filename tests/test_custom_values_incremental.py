"""Contacts' custom field values (fieldValues) synced with the contacts' incremental read.

/fieldValues has no date filter: a full read is every value of every contact. After the first
sync, contacts are read with include=fieldValues, so the changed contacts' values come with them
(no request of their own) and replace those contacts' values; the full read stays for --full and
full_every. Whether ActiveCampaign moves a contact's udate when only a value changes is not
documented, so the sandbox does either (value_bumps_record) and both are tested here.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

import acflow
from acflow.account import Account
from acflow.mirror import Mirror
from acflow.sandbox import Sandbox

ENTITIES = ["contacts", "fields", "fieldValues"]
SIZES = {"contacts": 2_000, "fields": 5, "fieldValues": 10_000}


def _api(sandbox: Sandbox, path: str, **params: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    with httpx.Client(base_url=sandbox.url + "/api/3", headers={"Api-Token": sandbox.admin_key}) as client:
        while batch := client.get(path, params={"limit": 100, "offset": len(out), **params}).json()[path]:
            out += batch
    return out


def _held(mirror_path, sandbox: Sandbox) -> dict[int, tuple[int, int, str]]:
    """The mirror's current values: id -> (contact, field, value)."""
    with Mirror(mirror_path) as db:
        rows = db.query(f"SELECT id, contact, field, value FROM {db.current(sandbox.url, 'fieldValues')}")
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def _truth(sandbox: Sandbox) -> dict[int, tuple[int, int, str]]:
    return {int(v["id"]): (int(v["contact"]), int(v["field"]), v["value"]) for v in _api(sandbox, "fieldValues")}


def _paths(sandbox: Sandbox) -> dict[str, int]:
    return dict(sandbox.stats()["by_path"])


@pytest.fixture
def big(sandbox_server: Sandbox) -> Sandbox:
    """2,000 contacts with 5 values each: a full fieldValues read is 100+ requests, the contacts 20."""
    sandbox_server.reset(sizes=SIZES)
    return sandbox_server


def test_contacts_list_side_loads_their_field_values_when_asked(big):
    with httpx.Client(base_url=big.url + "/api/3", headers={"Api-Token": big.admin_key}) as client:
        plain = client.get("contacts", params={"limit": 20, "orders[id]": "ASC"}).json()
        body = client.get("contacts", params={"limit": 20, "orders[id]": "ASC", "include": "fieldValues"}).json()
    assert "fieldValues" not in plain and all("fieldValues" not in c for c in plain["contacts"])
    sent = {v["id"]: v for v in body["fieldValues"]}
    page = {c["id"] for c in body["contacts"]}
    truth = {v["id"] for v in _api(big, "fieldValues") if v["contact"] in page}
    assert set(sent) == truth and truth  # every value of the page's contacts, and only theirs
    for contact in body["contacts"]:  # each contact names its values' ids
        assert sorted(contact["fieldValues"]) == sorted(i for i, v in sent.items() if v["contact"] == contact["id"])


def test_a_second_sync_after_1_percent_changed_costs_the_contacts_not_every_value(big, tmp_path):
    account = Account(big.url, big.admin_key, rate_limit=1000)
    mirror = tmp_path / "mirror.duckdb"
    first = acflow.sync(ENTITIES, account=account, mirror=mirror)
    assert first.ok and first.result("fieldValues").fetch == "full"
    full_values = _paths(big)["/api/3/fieldValues"]
    assert full_values >= SIZES["fieldValues"] // 100  # the full read: every value, 100 a request
    big.mutate("contacts", update=SIZES["contacts"] // 100)  # 1% of the contacts change
    changed = _api(big, "fieldValues")[:3]
    big.edit("fieldValues", update=[{"id": int(v["id"]), "value": f"changed {v['id']}"} for v in changed])
    gone = _api(big, "fieldValues")[10]
    big.edit("fieldValues", delete=[int(gone["id"])])  # removed in ActiveCampaign
    added = big.edit("fieldValues", create=[{"contact": "7", "field": "2", "value": "new one"}])["created"][0]

    before = _paths(big)  # after this test's own reads of the API
    second = acflow.sync(ENTITIES, account=account, mirror=mirror)
    after = _paths(big)
    spent = {p: after.get(p, 0) - before.get(p, 0) for p in after}
    assert second.ok, second.to_dict()
    values = second.result("fieldValues")
    assert values.fetch == "incremental" and values.requests == 0
    assert spent.get("/api/3/fieldValues", 0) == 0  # no full read of the values
    contacts = second.result("contacts")
    assert contacts.fetch == "incremental"
    # the whole sync costs what the contacts cost, plus the fields (one page) and the key check
    assert sum(spent.values()) == contacts.requests + second.result("fields").requests + 1
    assert sum(spent.values()) < full_values / 4
    held = _held(mirror, big)
    assert held == _truth(big)  # changed, removed and added values all followed
    assert held[added] == (7, 2, "new one") and int(gone["id"]) not in held
    assert values.updated >= 3 and values.removed == 1 and values.inserted == 1


def test_without_a_udate_bump_a_value_change_waits_for_the_full_read(big, tmp_path):
    account = Account(big.url, big.admin_key, rate_limit=1000)
    mirror = tmp_path / "mirror.duckdb"
    acflow.sync(ENTITIES, account=account, mirror=mirror)
    big.set_value_bumps_record(False)
    assert big.settings()["value_bumps_record"] is False
    value = _api(big, "fieldValues")[5]
    big.edit("fieldValues", update=[{"id": int(value["id"]), "value": "quiet change"}])
    acflow.sync(ENTITIES, account=account, mirror=mirror)  # the contact did not move: not re-read
    assert _held(mirror, big)[int(value["id"])][2] == value["value"]
    again = acflow.sync(ENTITIES, account=account, mirror=mirror, full_every=timedelta(0))  # the safety net
    assert again.result("fieldValues").fetch == "full"
    assert _held(mirror, big) == _truth(big)
    big.edit("fieldValues", update=[{"id": int(value["id"]), "value": "quiet again"}])
    acflow.sync(ENTITIES, account=account, mirror=mirror, full=True)
    assert _held(mirror, big)[int(value["id"])][2] == "quiet again"


def test_a_sync_of_contacts_alone_keeps_the_values_up_to_date(big, tmp_path):
    """Else the contacts' cursor would move past changes the values never got."""
    account = Account(big.url, big.admin_key, rate_limit=1000)
    mirror = tmp_path / "mirror.duckdb"
    acflow.sync(ENTITIES, account=account, mirror=mirror)
    value = _api(big, "fieldValues")[42]
    big.edit("fieldValues", update=[{"id": int(value["id"]), "value": "seen by contacts"}])
    alone = acflow.sync(["contacts"], account=account, mirror=mirror)
    assert [e.entity for e in alone.entities] == ["contacts", "fieldValues"]
    assert alone.result("fieldValues").fetch == "incremental" and alone.ok
    assert _held(mirror, big) == _truth(big)


@pytest.mark.parametrize("faults", ["503=every:3@contacts,reset=next:2@contacts", "truncate=next:2@contacts",
                                    "cut=every:4@contacts"])
def test_every_value_exactly_once_under_faults(big, tmp_path, faults):
    account = Account(big.url, big.admin_key, rate_limit=1000)
    mirror = tmp_path / "mirror.duckdb"
    acflow.sync(ENTITIES, account=account, mirror=mirror)
    big.mutate("contacts", update=60)
    big.mutate("fieldValues", update=40, delete=5, create=5)
    big.set_faults(faults)
    second = acflow.sync(ENTITIES, account=account, mirror=mirror, attempts=10)
    big.set_faults(None)
    assert second.ok, second.to_dict()
    assert second.result("fieldValues").fetch == "incremental"
    assert _held(mirror, big) == _truth(big)


def test_a_side_load_that_is_missing_is_never_taken_for_no_values(tmp_path):
    """A server that ignores include=: the contacts go in, and the values are read in full next time."""
    with Sandbox(port=0, sizes={"contacts": 300, "fields": 3, "fieldValues": 900}, rate_limit=0) as sb:
        account = Account(sb.url, sb.admin_key, rate_limit=1000)
        mirror = tmp_path / "mirror.duckdb"
        acflow.sync(ENTITIES, account=account, mirror=mirror)
        held = _held(mirror, sb)
        sb.mutate("contacts", update=10)
        sb.server.subs.pop(("contacts", "fieldValues"))  # include= now side-loads nothing
        second = acflow.sync(ENTITIES, account=account, mirror=mirror)
        assert second.result("contacts").status == "ok"
        assert second.result("fieldValues").status == "failed"
        assert "include=fieldValues" in str(second.result("fieldValues").error)
        assert _held(mirror, sb) == held  # nothing deleted
        third = acflow.sync(ENTITIES, account=account, mirror=mirror)
        assert third.result("fieldValues").fetch == "full" and third.ok
        assert _held(mirror, sb) == _truth(sb)
