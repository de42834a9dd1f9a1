"""Records change (mutate, churn) the way clients must cope with; the snapshot is the ground truth."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import httpx
import pytest

from acflow.sandbox import Sandbox
from acflow.sandbox.world import resolve_sizes


@pytest.fixture
def api(sandbox: Sandbox):
    with httpx.Client(base_url=sandbox.url + "/api/3", headers={"Api-Token": sandbox.admin_key}) as client:
        yield client


def contact(api: httpx.Client, cid: int) -> httpx.Response:
    return api.get(f"contacts/{cid}")


def listed_ids(api: httpx.Client, path: str) -> list[int]:
    out, offset = [], 0
    while batch := api.get(path, params={"limit": 100, "offset": offset}).json()[path]:
        out += [int(r["id"]) for r in batch]
        offset += 100
    return out


def test_snapshot_is_what_the_api_lists(sandbox, api):
    snap = sandbox.snapshot("contacts")
    assert [r["id"] for r in snap] == listed_ids(api, "contacts")
    assert all(isinstance(r["id"], int) and set(r) == {"id", "updated"} for r in snap)
    by_id = {int(c["id"]): c for c in api.get("contacts", params={"limit": 100}).json()["contacts"]}
    for row in snap[:100]:
        udate = by_id[row["id"]]["udate"]
        if udate is None:
            assert row["updated"] is None
        else:
            assert datetime.fromisoformat(row["updated"]) == datetime.fromisoformat(udate)
    assert httpx.get(f"{sandbox.url}/_sandbox/snapshot/deals").json() == sandbox.snapshot("deals")


def test_create_update_delete_soft_delete(sandbox, api):
    before = {r["id"]: r["updated"] for r in sandbox.snapshot("contacts")}
    old = {cid: contact(api, cid).json()["contact"] for cid in list(before)[:50]}
    t0 = datetime.now(UTC).replace(microsecond=0)
    done = sandbox.mutate("contacts", create=3, update=4, delete=2, soft_delete=2)
    assert len(done["created"]) == 3 and len(done["updated"]) == 4
    assert min(done["created"]) > max(before)  # new, higher ids
    assert not set(done["updated"]) & set(done["deleted"]) & set(done["soft_deleted"])
    after = {r["id"]: r["updated"] for r in sandbox.snapshot("contacts")}
    assert set(after) == set(before) - set(done["deleted"]) | set(done["created"])
    for cid in done["deleted"]:
        assert contact(api, cid).status_code == 404
    for cid in done["created"]:
        record = contact(api, cid).json()["contact"]
        assert datetime.fromisoformat(record["cdate"]) >= t0 and record["deleted"] == "0"
    for cid in done["updated"] + done["soft_deleted"]:
        assert datetime.fromisoformat(after[cid]) >= t0  # a wall-clock update time, for incremental syncs
    for cid in done["soft_deleted"]:
        record = contact(api, cid).json()["contact"]
        assert record["deleted"] == "1" and record["deleted_at"]
        assert cid in listed_ids(api, "contacts")  # soft-deleted contacts are still listed
    changed = [cid for cid in done["updated"] if cid in old]
    for cid in changed:
        now = contact(api, cid).json()["contact"]
        assert now["sentcnt"] != old[cid]["sentcnt"] and now["udate"] != old[cid]["udate"]


def test_updated_records_match_an_updated_after_filter_of_their_day(sandbox, api):
    done = sandbox.mutate("contacts", update=5)
    day = contact(api, done["updated"][0]).json()["contact"]["udate"][:10]  # today, account-local
    body = api.get("contacts", params={"filters[updated_after]": day, "limit": 100}).json()
    assert set(done["updated"]) <= {int(c["id"]) for c in body["contacts"]}
    assert int(body["meta"]["total"]) < 100  # only today's changes, not the seed data


def test_deal_update_moves_the_stage_within_its_pipeline(sandbox, api):
    before = {d["id"]: d for d in _all_deals(api)}
    done = sandbox.mutate("deals", update=10)
    for did in done["updated"]:
        old, new = before[str(did)], api.get(f"deals/{did}").json()["deal"]
        assert new["stage"] != old["stage"] and new["group"] == old["group"] and new["mdate"] != old["mdate"]


def _all_deals(api: httpx.Client) -> list[dict]:
    out, offset = [], 0
    while batch := api.get("deals", params={"limit": 100, "offset": offset}).json()["deals"]:
        out += batch
        offset += 100
    return out


def test_mutate_over_http_and_its_errors(sandbox):
    url = f"{sandbox.url}/_sandbox/mutate"
    done = httpx.post(url, json={"entity": "tags", "create": 1, "delete": 1}).json()
    assert done["entity"] == "tags" and len(done["created"]) == len(done["deleted"]) == 1
    assert httpx.post(url, json={"entity": "deal", "create": 1}).status_code == 400
    r = httpx.post(url, json={"entity": "deals", "soft_delete": 1})
    assert r.status_code == 400 and "soft_delete works on: contacts" in r.json()["error"]


def test_pipelines_follow_their_stages(sandbox, api):
    stage = sandbox.mutate("dealStages", create=1)["created"][0]
    group = api.get(f"dealStages/{stage}").json()["dealStage"]["group"]
    assert str(stage) in api.get(f"dealGroups/{group}").json()["dealGroup"]["stages"]


def test_offset_paging_drifts_when_records_before_the_position_go(sandbox, api):
    """Why offset paging is unsafe: deleting read records makes the next page skip unread ones."""
    page1 = api.get("deals", params={"limit": 100, "offset": 0}).json()["deals"]
    read = [int(d["id"]) for d in page1]
    deleted = sandbox.mutate("deals", delete=60)["deleted"]
    page2 = [int(d["id"]) for d in api.get("deals", params={"limit": 100, "offset": 100}).json()["deals"]]
    alive = [r["id"] for r in sandbox.snapshot("deals")]
    skipped = [i for i in alive if read[-1] < i < page2[0]]
    assert any(i in read for i in deleted) and skipped


def test_reset_restores_the_seed_data_and_zeroes_stats(sandbox, api):
    before = sandbox.snapshot("contacts")
    first = api.get("contacts/1").content
    sandbox.mutate("contacts", create=5, update=100, delete=20)
    sandbox.reset()
    assert sandbox.snapshot("contacts") == before and api.get("contacts/1").content == first
    assert sandbox.stats()["requests"] == 1 and sandbox.stats()["mutations"] == 0


def test_reset_with_other_sizes_then_back(sandbox, api):
    sandbox.reset(seed=3, sizes={"contacts": 42})
    assert len(sandbox.snapshot("contacts")) == 42
    sandbox.reset()
    assert len(sandbox.snapshot("contacts")) == 500


def test_churn_changes_records_while_clients_read(sandbox, api):
    before = {r["id"]: r["updated"] for r in sandbox.snapshot("contacts")}
    assert sandbox.set_churn("contacts=200,deals=50") == {"contacts": 200.0, "deals": 50.0}
    deadline = time.monotonic() + 10
    while sandbox.stats()["mutations"] < 40 and time.monotonic() < deadline:
        assert api.get("contacts", params={"limit": 100}).status_code == 200
    sandbox.set_churn(None)
    stats = sandbox.stats()
    kinds = {k.split(".")[1] for k in stats["mutations_by"] if k.startswith("contacts.")}
    assert stats["mutations"] >= 40 and kinds >= {"created", "updated"}
    after = {r["id"]: r["updated"] for r in sandbox.snapshot("contacts")}
    assert after != before and max(after) > max(before)
    settled = sandbox.stats()["mutations"]
    api.get("tags")
    assert sandbox.stats()["mutations"] == settled  # stopped


def test_churn_spec_errors():
    with pytest.raises(ValueError, match="unknown entity 'contact'"):
        Sandbox(churn="contact=5")
    with pytest.raises(ValueError, match="mutations/second"):
        Sandbox(churn="contacts=fast")


def test_sizes_are_kept_within_what_the_data_allows():
    sizes = resolve_sizes({"users": 0, "contacts": 10, "fields": 3, "fieldValues": 5000})
    assert sizes["users"] == 2 and sizes["fieldValues"] == 30  # one value per contact and field
    with pytest.raises(ValueError, match="unknown entity 'contact'"):
        resolve_sizes({"contact": 5})
