"""The sandbox's records look like ActiveCampaign's: keys, JSON types, quirks and realism."""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import replace
from operator import attrgetter
from pathlib import Path

import httpx
import pytest

from acflow.catalog import CATALOG, ColType
from acflow.sandbox import Sandbox
from acflow.sandbox.world import PROFILES

RECORDED = Path(__file__).resolve().parents[2] / "shared" / "reference" / "recorded-payloads"


def _recorded() -> list[tuple[str, dict]]:
    """(file, record) of every full record recorded from the real API (stubs left out)."""
    out = []
    for path in sorted(RECORDED.glob("*/*.json")):
        entity = CATALOG.get(path.parent.name)
        if entity is None:
            continue
        body = json.loads(path.read_text())
        for record in body.get(entity.key) or ([body[entity.single]] if entity.single in body else []):
            if not set(record) <= {"id", "title", "status", "isDisabled"}:
                out.append((f"{path.parent.name}/{path.name}", record))
    return out


RECORDED_RECORDS = _recorded()
# A contact by id also carries its side-loads' ids; emailDomain is the unknown key we send on some.
BY_ID_ONLY = {"contactAutomations", "contactLists", "fieldValues", "geoIps", "deals"}
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$")
NAIVE = re.compile(r"^\d{4}-\d\d-\d\d( \d\d:\d\d:\d\d)?$")
ZERO = ("0000-00-00", "0000-00-00 00:00:00")
# Fields the real API sends as JSON numbers or booleans, not strings (reference, section 4).
NATIVE: dict[tuple[str, str], type | tuple[type, ...]] = {
    ("deals", "winProbability"): int, ("deals", "isDisabled"): bool, ("forms", "contacts"): int,
    ("forms", "deals"): int, ("contacts", "email_empty"): bool, ("campaigns", "groupLimitViolation"): bool,
    ("dealGroups", "count"): int, ("automations", "status"): int, ("contactAutomations", "completed"): int,
    ("contactAutomations", "completeValue"): int,
    **{("ecomOrders", f): int for f in ("totalPrice", "shippingAmount", "taxAmount", "discountAmount",
                                        "totalProducts", "state")},
    **{(meta, f): int for meta in ("dealCustomFieldMeta", "accountCustomFieldMeta")
       for f in ("isFormVisible", "isRequired", "displayOrder", "hideFieldFlag")},
    **{(meta, "fieldDefault"): (int, str) for meta in ("dealCustomFieldMeta", "accountCustomFieldMeta")},
    **{(data, f): int for data, owner in (("dealCustomFieldData", "deal"), ("accountCustomFieldData", "account"))
       for f in (f"{owner}CustomFieldMetumId", f"{owner}Id", "customFieldId")},
}
EXTRA_KEYS = {"contacts": {"sandbox_newer_field"}}  # a key unknown to the catalog, as newer responses bring
# Catalog columns a list answer leaves out: a contact's side-loaded ids come only by id or with include=
LIST_OMITS = {"contacts": BY_ID_ONLY | {"contactTags"}}


@pytest.fixture
def api(sandbox: Sandbox):
    with httpx.Client(base_url=sandbox.url + "/api/3", headers={"Api-Token": sandbox.admin_key}) as client:
        yield client


# List answers without `meta` (as the reference's examples): paging ends on a short page.
NO_META = {e.name for e in CATALOG.values() if not e.counted}


def read_all(api: httpx.Client, entity) -> list[dict]:
    if entity.parent:  # a list under each parent record (links/{id}/linkData)
        return [r for parent in read_all(api, CATALOG[entity.parent])
                for r in read_all(api, replace(entity, path=entity.path.replace("{id}", parent["id"]), parent=None))]
    out, offset = [], 0
    while True:
        body = api.get(entity.path, params={"limit": 100, "offset": offset}).json()
        out += body[entity.key]
        offset += 100
        if len(body[entity.key]) < 100 or ("meta" in body and offset >= int(body["meta"]["total"])):
            return out


def list_path(entity) -> str:
    """Where a list of the entity is: under the first parent record for one listed per parent."""
    return entity.path.replace("{id}", "1")


def check_type(entity: str, column: str, kind: ColType, value: object) -> None:
    where = f"{entity}.{column}={value!r}"
    if (entity, column) in NATIVE:
        native = NATIVE[entity, column]
        assert value is None or type(value) in (native if isinstance(native, tuple) else (native,)), where
    elif kind in (ColType.ID, ColType.INT, ColType.FLAG):
        empty_ok = kind is ColType.INT and value == ""  # contacts' best_send_hour, as the API sends it
        assert value is None or empty_ok or (isinstance(value, str) and re.fullmatch(r"-?\d+", value)), where
        if kind is ColType.FLAG and value is not None:
            assert value in ("0", "1"), where
    elif kind is ColType.TEXT:
        assert value is None or isinstance(value, str), where
    elif kind is ColType.DATE:
        assert value in (None, "", *ZERO) or re.fullmatch(r"\d{4}-\d\d-\d\d", value), where  # type: ignore[arg-type]
    elif kind is ColType.TIMESTAMP:
        assert value in (None, "", *ZERO) or ISO.match(value) or NAIVE.match(value), where  # type: ignore[arg-type]
    else:  # JSON: nested values, or (campaigns.additional_data) JSON encoded in a string
        assert value is None or isinstance(value, list | dict | str), where


@pytest.mark.parametrize("entity", CATALOG.values(), ids=attrgetter("name"))
def test_records_have_the_catalog_columns_with_the_api_types(api, entity):
    records = read_all(api, entity)
    assert records, f"no {entity.name}"
    for record in records:
        omitted = LIST_OMITS.get(entity.name, set())
        assert set(record) - EXTRA_KEYS.get(entity.name, set()) == {*entity.columns, "links"} - omitted
        for column, kind in entity.columns.items():
            if column not in omitted:
                check_type(entity.name, column, kind, record[column])
        links = record["links"]
        if entity.name == "brandings":
            assert links == "1"  # a 0/1 setting of brandings, named links (the reference's example)
        elif PROFILES[entity.name].links is None:
            assert links == []  # segments, scores, webhooks...: an empty array, not an object
        else:
            assert isinstance(links, dict) and links


@pytest.mark.parametrize("entity", CATALOG.values(), ids=attrgetter("name"))
def test_list_and_single_answers_use_the_api_keys(api, entity):
    body = api.get(list_path(entity), params={"limit": 3}).json()
    assert set(body) == {entity.key, *entity.sideloads} | (set() if entity.name in NO_META else {"meta"})
    if entity.name not in NO_META:
        assert type(body["meta"]["total"]) is (int if entity.name == "deals" else str)
    first = body[entity.key][0]
    if entity.parent:  # no record of these is read alone
        assert api.get(entity.path.rsplit("/", 1)[-1]).status_code == 404
        return
    one = api.get(f"{entity.path}/{first['id']}").json()
    assert one[entity.single] == first
    assert all(isinstance(v, list) for k, v in one.items() if k != entity.single)


def test_the_recordings_are_there():
    assert len(RECORDED_RECORDS) >= 30, f"expected the recorded payloads beside the repo at {RECORDED}"


@pytest.mark.parametrize(("name", "record"), RECORDED_RECORDS, ids=[f for f, _ in RECORDED_RECORDS])
def test_every_recorded_key_is_sent(api, name, record):
    """Every key of a real recorded record, the sandbox's records have too."""
    entity = CATALOG[name.split("/")[0]]
    ours = set(api.get(list_path(entity), params={"limit": 1}).json()[entity.key][0])
    assert set(record) - ours - BY_ID_ONLY - {"emailDomain"} == set()


def test_contacts_are_realistic(api):
    contacts = read_all(api, CATALOG["contacts"])
    n = len(contacts)
    deleted = sum(c["deleted"] == "1" for c in contacts)
    assert 0.02 * n < deleted < 0.09 * n
    assert all(c["deleted_at"] and NAIVE.match(c["deleted_at"]) for c in contacts if c["deleted"] == "1")
    assert 0 < sum("sandbox_newer_field" in c for c in contacts) < n
    assert {c["gravatar"] for c in contacts} == {"0", "1", "3"}  # "3" is real: not a 0/1 flag
    assert any(c["udate"] is None for c in contacts)  # never edited: clients fall back to cdate
    offsets = Counter(c["cdate"][-6:] for c in contacts)
    assert set(offsets) == {"-06:00", "-05:00"}  # America/Chicago, with DST
    assert any(c["bounced_date"] == "0000-00-00" for c in contacts)
    assert any(c["socialdata_lastcheck"] == "0000-00-00 00:00:00" for c in contacts)
    assert any(c["email_empty"] for c in contacts) or all(c["email"] for c in contacts)
    assert all(c["email_empty"] == (c["email"] == "") for c in contacts)
    assert len({c["email"] for c in contacts if c["email"]}) == sum(bool(c["email"]) for c in contacts)


def test_created_and_updated_naive_times_agree_with_the_offset_times(api):
    for c in api.get("contacts", params={"limit": 100}).json()["contacts"]:
        assert c["created_timestamp"] == c["cdate"][:19].replace("T", " ")
        if c["udate"]:
            assert c["updated_timestamp"] == c["udate"][:19].replace("T", " ")


def test_deals_span_pipelines_currencies_and_statuses(api):
    deals = read_all(api, CATALOG["deals"])
    assert {d["currency"] for d in deals} == {"usd", "eur", "jpy", "kwd"}
    assert {d["status"] for d in deals} == {"0", "1", "2"}
    assert len({d["group"] for d in deals}) >= 3 and len({d["owner"] for d in deals}) >= 3
    assert all(re.fullmatch(r"\d+", d["value"]) for d in deals)
    assert all(d["isDisabled"] is False for d in deals)
    stages = {s["id"]: s["group"] for s in read_all(api, CATALOG["dealStages"])}
    assert all(stages[d["stage"]] == d["group"] for d in deals)  # a deal's stage is in its pipeline
    assert all((d["edate"] is None) == (d["status"] == "0") for d in deals)


def test_deals_meta_counts_currencies_upper_case(api):
    meta = api.get("deals", params={"limit": 1}).json()["meta"]
    deals = read_all(api, CATALOG["deals"])
    assert meta["total"] == len(deals)
    for code, item in meta["currencies"].items():
        mine = [d for d in deals if d["currency"].upper() == code]
        assert item == {"total": str(len(mine)), "value": str(sum(int(d["value"]) for d in mine)),
                        "currency": code, "isDisabled": False}
    empty = api.get("deals", params={"filters[created_after]": "2099-01-01"}).json()
    assert empty == {"deals": [], "meta": {"currencies": [], "total": 0}}


def test_campaign_metrics_are_consistent(api):
    campaigns = read_all(api, CATALOG["campaigns"])
    for c in campaigns:
        m = {k: int(c[k]) for k in ("send_amt", "opens", "uniqueopens", "linkclicks", "uniquelinkclicks",
                                    "hardbounces", "softbounces", "unsubscribes", "verified_unique_opens")}
        assert m["uniqueopens"] <= m["opens"] and m["uniqueopens"] <= m["send_amt"]
        assert m["uniquelinkclicks"] <= m["linkclicks"] and m["uniquelinkclicks"] <= m["uniqueopens"]
        assert m["hardbounces"] + m["softbounces"] <= m["send_amt"] and m["unsubscribes"] <= m["send_amt"]
        assert m["verified_unique_opens"] <= m["uniqueopens"]
        if c["status"] in ("0", "1"):
            assert m["send_amt"] == 0 and c["ldate"] is None
    assert any(int(c["hardbounces"]) and int(c["softbounces"]) for c in campaigns)
    assert {c["status"] for c in campaigns} >= {"0", "5"}


def test_forms_keep_their_type_drift(api):
    forms = read_all(api, CATALOG["forms"])
    assert {type(f["cfields"]) for f in forms} == {dict, list}
    assert all(f["cfields"] == {} for f in forms if isinstance(f["cfields"], dict))
    assert {type(f["style"]["button"]["padding"]) for f in forms} == {int, str}
    assert all(isinstance(f["style"]["dark"], bool) and isinstance(f["entries"], str) for f in forms)


def test_field_values_reference_contacts_and_fields(api):
    values = read_all(api, CATALOG["fieldValues"])
    contacts = {c["id"] for c in read_all(api, CATALOG["contacts"])}
    fields = {f["id"] for f in read_all(api, CATALOG["fields"])}
    assert {v["contact"] for v in values} <= contacts and {v["field"] for v in values} <= fields
    assert len({(v["contact"], v["field"]) for v in values}) == len(values)
    assert len({v["contact"] for v in values}) > 50


def test_pipelines_list_their_stages_and_side_load_them(api):
    body = api.get("dealGroups", params={"limit": 2}).json()
    stages = body["dealStages"]
    assert {s["group"] for s in stages} == {g["id"] for g in body["dealGroups"]}
    for group in body["dealGroups"]:
        assert group["stages"] == [s["id"] for s in stages if s["group"] == group["id"]]


def test_contacts_list_side_loads_score_values_and_page_input(api):
    body = api.get("contacts", params={"limit": 5, "offset": 10}).json()
    assert list(body) == ["scoreValues", "contacts", "meta"]
    assert body["meta"]["page_input"]["limit"] == 5 and body["meta"]["page_input"]["offset"] == 10
    assert body["meta"]["sortable"] is True


def test_users_me_is_the_keys_user(sandbox, api):
    assert api.get("users/me").json()["user"]["username"] == "admin"
    restricted = httpx.get(sandbox.url + "/api/3/users/me", headers={"Api-Token": sandbox.restricted_key})
    assert restricted.json()["user"]["id"] == "2"


def test_links_point_at_this_server(sandbox, api):
    contact = api.get("contacts", params={"limit": 1}).json()["contacts"][0]
    assert contact["links"]["fieldValues"] == f"{sandbox.url}/api/3/contacts/{contact['id']}/fieldValues"


def test_same_seed_same_bytes_other_seed_other_data(sandbox):
    def page(sb: Sandbox, path: str) -> bytes:
        body = httpx.get(f"{sb.url}/api/3/{path}", headers={"Api-Token": sb.admin_key}).content
        return body.replace(sb.url.encode(), b"BASE")

    with Sandbox(port=0, seed=1, sizes={"contacts": 500, "deals": 400, "fieldValues": 800},
                 rate_limit=0) as twin, Sandbox(port=0, seed=2, rate_limit=0) as other:
        for path in ("contacts?limit=100&offset=300", "deals?limit=100&orders[cdate]=ASC", "campaigns", "forms"):
            assert page(twin, path) == page(sandbox, path), path
        assert page(other, "contacts?limit=100") != page(sandbox, "contacts?limit=100")


def test_another_time_zone_changes_the_offsets():
    with Sandbox(port=0, seed=1, timezone="Europe/Berlin", rate_limit=0) as sb:
        body = httpx.get(f"{sb.url}/api/3/contacts?limit=100", headers={"Api-Token": sb.admin_key}).json()
    assert {c["cdate"][-6:] for c in body["contacts"]} == {"+01:00", "+02:00"}
