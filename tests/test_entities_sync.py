"""The entities beyond the seeds through the sync engine: every record exactly once under faults and
churn, activities read incrementally, what a restricted key gets, link data read link by link."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from acflow import catalog
from acflow.account import Account
from acflow.catalog import CATALOG, Access
from acflow.client import Client, RawPage
from acflow.paging import Page, _with_parent
from acflow.sync import sync_async

NEW = [e for e in CATALOG.values() if not e.seed and e.name not in {"users", "dealGroups", "dealStages", "tags",
                                                                    "fields", "fieldValues", "accounts"}]


def fast_client(account: Account) -> Client:
    return Client(account, timeout=2.0, max_attempts=25, backoff_max=0.05)


def run_sync(account, mirror, entities, **kw):
    return asyncio.run(sync_async(account, entities, mirror, client=fast_client(account), **kw))


def ids_in(mirror, account, name) -> list[int]:
    return [r[0] for r in mirror.query(f"SELECT id FROM {mirror.table(account.url, name)}")]


def truth(sandbox, name) -> list[int]:
    return sorted(int(r["id"]) for r in sandbox.snapshot(name))


def test_every_new_entity_exactly_once_under_faults(sandbox, account, mirror):
    # the faults a sync rides out (a server that ignores offset is caught and reported instead: test_sync)
    sandbox.set_faults("500=0.06,503=0.04,429=next:3,reset=0.03,truncate=0.03,cut=0.02,empty=0.03,total-absent=0.03")
    summary = run_sync(account, mirror, NEW)
    faults = sandbox.stats()["faults"]
    sandbox.set_faults(None)
    assert summary.ok, summary.to_dict()
    assert sum(faults.values()) > 30, faults
    for entity in NEW:
        ids = ids_in(mirror, account, entity.name)
        assert len(ids) == len(set(ids)) and sorted(ids) == truth(sandbox, entity.name), entity.name


CHURNED = ("contactLists", "contactTags", "dealTasks", "ecomOrders", "activities", "dealActivities")


def test_churn_on_new_entities_while_syncing(sandbox, account, mirror):
    """Records that exist for the whole sync arrive exactly once; others at most once."""
    sandbox.set_latency(10)
    before = {n: set(truth(sandbox, n)) for n in CHURNED}
    sandbox.set_churn({n: 150 for n in CHURNED})
    try:
        summary = run_sync(account, mirror, [CATALOG[n] for n in CHURNED])
    finally:
        sandbox.set_churn(None)
    assert summary.ok, summary.to_dict()
    for name in CHURNED:
        after = set(truth(sandbox, name))
        ids = ids_in(mirror, account, name)
        assert len(ids) == len(set(ids)), name
        assert before[name] & after <= set(ids), name
        assert set(ids) <= before[name] | after | set(range(max(before[name]) + 1, max(after) + 2000)), name
    assert sandbox.stats()["mutations"] > 0


def test_activities_are_read_incrementally_with_after(sandbox, account, mirror):
    activities = CATALOG["activities"]
    first = run_sync(account, mirror, [activities])
    assert first.result("activities").fetch == "full"
    made = sandbox.mutate("activities", create=7)["created"]
    second = run_sync(account, mirror, [activities])
    result = second.result("activities")
    assert result.fetch == "incremental" and result.since
    assert result.requests < first.result("activities").requests
    assert set(made) <= set(ids_in(mirror, account, "activities"))
    assert sorted(ids_in(mirror, account, "activities")) == truth(sandbox, "activities")


def test_a_restricted_key_is_refused_admin_entities_and_sees_its_pipelines_only(sandbox, mirror):
    account = Account(sandbox.url, sandbox.restricted_key, rate_limit=1000)
    names = ["groups", "contactLists", "dealTasks", "dealActivities", "dealCustomFieldData", "dealGroupUsers"]
    summary = run_sync(account, mirror, [CATALOG[n] for n in names])
    groups = summary.result("groups")
    assert groups.status == "failed" and "403" in groups.error and "admin" in groups.error
    assert summary.result("contactLists").status == "ok"
    assert sorted(ids_in(mirror, account, "contactLists")) == truth(sandbox, "contactLists")
    deals = {d["id"]: d for d in _all(sandbox, "deals")}
    for name, deal_of in (("dealActivities", lambda r: r["deal"]),
                          ("dealCustomFieldData", lambda r: str(r["dealId"])),
                          ("dealTasks", lambda r: r["relid"] if r["reltype"] == "Deal" else None)):
        assert CATALOG[name].access is Access.PIPELINES
        records = _all(sandbox, name)
        mine = {int(r["id"]) for r in records if deal_of(r) is None or int(deals[deal_of(r)]["group"]) % 2 == 1}
        assert sorted(ids_in(mirror, account, name)) == sorted(mine) and len(mine) < len(records), name
    groups_seen = {int(r[0]) for r in mirror.query(
        f'SELECT "dealGroup" FROM {mirror.table(account.url, "dealGroupUsers")}')}
    assert groups_seen and all(g % 2 == 1 for g in groups_seen)


def _all(sandbox, name) -> list[dict]:
    """Every record of an entity as the admin key reads it."""
    import httpx

    entity, out, offset = CATALOG[name], [], 0
    while True:
        body = httpx.get(f"{sandbox.url}/api/3/{entity.path}", params={"limit": 100, "offset": offset},
                         headers={"Api-Token": sandbox.admin_key}).json()
        out += body[entity.key]
        offset += 100
        if len(body[entity.key]) < 100:
            return out


def test_link_data_is_read_under_each_link(sandbox, account, mirror):
    summary = run_sync(account, mirror, [CATALOG["linkData"]])
    assert summary.ok, summary.to_dict()
    by_path = sandbox.stats()["by_path"]
    assert by_path["/api/3/links"] >= 1 and by_path["/api/3/links/{id}/linkData"] >= len(truth(sandbox, "links"))
    rows = mirror.query(f'SELECT link, count(*) FROM {mirror.table(account.url, "linkData")} GROUP BY link')
    assert len(rows) == len(truth(sandbox, "links")) and sum(n for _, n in rows) == len(truth(sandbox, "linkData"))


def test_a_record_that_does_not_name_its_parent_is_given_it():
    entity = CATALOG["linkData"]
    body = orjson.dumps({"linkData": [{"id": "7", "contact": "3"}, {"id": "8", "contact": "4", "link": "9"}],
                         "meta": {"total": "2"}})
    page = _with_parent(Page(RawPage(body, "linkData", ["7", "8"], 2)), entity, 12)
    assert [r["link"] for r in page.records()] == ["12", "9"]  # what the API said is kept
    named = orjson.dumps({"linkData": [{"id": "8", "link": "9"}]})
    same = Page(RawPage(named, "linkData", ["8"], None))
    assert _with_parent(same, entity, 12) is same  # nothing to add: the bytes as they came


def test_flow_lookups_name_lists_tags_and_automations(sandbox, tmp_path):
    import acflow

    (tmp_path / "acflow.yaml").write_text(
        "version: 1\naccounts:\n  main:\n    url_env: AC_URL\n    key_env: AC_KEY\nflows:\n"
        "  memberships:\n    source: contactLists\n    lookups: [list, contact]\n"
        "    select: [id, contact, contact_email, list, list_name, status, status_label, sdate, udate]\n"
        "    to: out/memberships.parquet\n"
        "  tagged:\n    source: contactTags\n    lookups: [tag]\n    select: [id, contact, tag, tag_name]\n"
        "    to: out/tagged.parquet\n"
        "  journeys:\n    source: contactAutomations\n    lookups: [automation]\n"
        "    select: [id, automation, automation_name, status_label]\n    to: out/journeys.parquet\n"
        "  deal_fields:\n    source: dealCustomFieldData\n    lookups: [field, deal]\n"
        "    select: [id, dealId, deal_title, customFieldId, field_name, fieldValue]\n"
        "    to: out/deal_fields.parquet\n")
    account = Account(sandbox.url, sandbox.admin_key, rate_limit=1000)
    summary = acflow.run(config=tmp_path / "acflow.yaml", accounts={"main": account})
    assert summary.ok, summary.to_dict()
    import pyarrow.parquet as pq

    lists = {r["id"]: r["name"] for r in _all(sandbox, "lists")}
    rows = pq.read_table(tmp_path / "out" / "memberships.parquet").to_pylist()
    assert len(rows) == len(truth(sandbox, "contactLists"))
    assert all(r["list_name"] == lists[str(r["list"])] for r in rows)
    assert {r["status_label"] for r in rows} == {"unconfirmed", "subscribed", "unsubscribed", "bounced"}
    assert all((r["udate"] is None) == (r["status_label"] in ("unconfirmed", "subscribed")) for r in rows)
    emails = {int(c["id"]): c["email"] for c in _all(sandbox, "contacts")}
    assert all(r["contact_email"] == emails[r["contact"]] for r in rows[:50])
    tags = {int(t["id"]): t["tag"] for t in _all(sandbox, "tags")}
    assert all(r["tag_name"] == tags[r["tag"]] for r in pq.read_table(tmp_path / "out" / "tagged.parquet").to_pylist())
    journeys = pq.read_table(tmp_path / "out" / "journeys.parquet").to_pylist()
    assert all(r["automation_name"] for r in journeys)
    fields = {int(f["id"]): f["fieldLabel"] for f in _all(sandbox, "dealCustomFieldMeta")}
    deal_fields = pq.read_table(tmp_path / "out" / "deal_fields.parquet").to_pylist()
    assert deal_fields and all(r["field_name"] == fields[r["customFieldId"]] for r in deal_fields)
    assert all(r["deal_title"] for r in deal_fields)


@pytest.mark.parametrize("name", ["contactLists", "linkData", "dealCustomFieldData"])
def test_preview_shows_the_first_rows(sandbox, name):
    from acflow.preview import preview

    table = preview(name, account=Account(sandbox.url, sandbox.admin_key, rate_limit=1000), limit=5)
    assert 0 < table.num_rows <= 5 and set(CATALOG[name].columns) <= set(table.column_names)


def test_catalog_lists_the_new_entities_for_the_sync_command():
    assert {"contactLists", "linkData", "activities"} <= set(catalog.names())
