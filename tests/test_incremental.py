"""Incremental sync and merge: refreshes cost what changed, and the mirror stays the ground truth."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import datetime

import pytest

from acflow import catalog
from acflow import mirror as mirror_module
from acflow.account import Account
from acflow.client import Client
from acflow.mirror import DELETED_AT, SEQ, Mirror
from acflow.sync import sync_async

UPDATED = {"contacts": "udate", "deals": "mdate", "lists": "udate"}  # what the snapshot calls "updated"


def run_sync(account, mirror, names, **kw):
    entities = [catalog.CATALOG[n] for n in names]
    client = Client(account, timeout=5, backoff_max=0.05)
    return asyncio.run(sync_async(account, entities, mirror, client=client, **kw))


def current(mirror, account, entity):
    """{id: update time} of the rows the mirror says exist now."""
    rows = mirror.query(f"SELECT id, {UPDATED[entity]} FROM {mirror.current(account.url, entity)}")
    return {i: t for i, t in rows}


def truth(sandbox, entity):
    return {int(r["id"]): datetime.fromisoformat(r["updated"]) if r["updated"] else None
            for r in sandbox.snapshot(entity)}


@pytest.mark.parametrize("merge_rows", [None, 7], ids=["one-merge-step", "merged-in-id-ranges"])
def test_incremental_then_full_equals_the_ground_truth(sandbox, account, mirror, monkeypatch, merge_rows):
    if merge_rows:  # a million contacts merge in steps of 100,000 ids; 500 in steps of 7 show the steps join up
        monkeypatch.setattr(mirror_module, "MERGE_ROWS", merge_rows)
    first = run_sync(account, mirror, ["contacts", "deals"])
    assert [e.fetch for e in first.entities] == ["full", "full"]
    full_requests = {e.entity: e.requests for e in first.entities}
    done = {"contacts": sandbox.mutate("contacts", create=5, update=7, delete=3, soft_delete=2),
            "deals": sandbox.mutate("deals", create=4, update=6, delete=2)}

    second = run_sync(account, mirror, ["contacts", "deals"])
    for e in second.entities:
        assert e.fetch == "incremental" and e.since is not None
        assert e.requests < full_requests[e.entity]
        assert e.inserted == len(done[e.entity]["created"])
        assert e.updated >= len(done[e.entity]["updated"])
        assert e.removed == 0  # hard deletes are found by a full fetch
        held, real = current(mirror, account, e.entity), truth(sandbox, e.entity)
        assert {i: held[i] for i in real} == real  # every change arrived
        assert set(held) - set(real) == {int(i) for i in done[e.entity]["deleted"]}

    soft = [int(i) for i in done["contacts"]["soft_deleted"]]
    table = mirror.current(account.url, "contacts")
    assert mirror.query(f"SELECT count(*) FROM {table} WHERE deleted = 1 AND id IN ({','.join(map(str, soft))})"
                        )[0][0] == len(soft)

    third = run_sync(account, mirror, ["contacts", "deals"], full=True)
    for e in third.entities:
        assert e.fetch == "full"
        assert e.removed == len(done[e.entity]["deleted"])
        assert current(mirror, account, e.entity) == truth(sandbox, e.entity)
    deleted_ids = [int(i) for i in done["contacts"]["deleted"]]
    marked = mirror.query(f"SELECT id FROM {mirror.table(account.url, 'contacts')} WHERE {DELETED_AT} IS NOT NULL")
    assert sorted(r[0] for r in marked) == sorted(deleted_ids)  # marked, not silently kept or dropped


def test_small_entities_are_fetched_whole_and_merged(sandbox, account, mirror):
    run_sync(account, mirror, ["lists"])
    done = sandbox.mutate("lists", create=2, update=1, delete=1)
    result = run_sync(account, mirror, ["lists"]).result("lists")
    assert result.fetch == "full"
    assert (result.inserted, result.updated, result.removed) == (2, 1, 1)
    assert result.unchanged == result.fetched - 3
    assert current(mirror, account, "lists") == truth(sandbox, "lists")
    assert done["created"]


def test_nothing_changed_rewrites_nothing(sandbox, account, mirror):
    run_sync(account, mirror, ["lists", "deals"])
    table = mirror.table(account.url, "deals")
    before = mirror.query(f"SELECT id, {SEQ} FROM {table} ORDER BY id")
    again = run_sync(account, mirror, ["lists", "deals"], full=True)
    for e in again.entities:
        assert (e.inserted, e.updated, e.removed) == (0, 0, 0) and e.unchanged == e.fetched > 0
    assert mirror.query(f"SELECT id, {SEQ} FROM {table} ORDER BY id") == before


@pytest.mark.parametrize("merge_rows", [None, 7], ids=["one-merge-step", "merged-in-id-ranges"])
def test_a_stub_never_replaces_a_full_row(sandbox, mirror, monkeypatch, merge_rows):
    if merge_rows:
        monkeypatch.setattr(mirror_module, "MERGE_ROWS", merge_rows)
    admin = Account(sandbox.url, sandbox.admin_key, rate_limit=1000)
    restricted = Account(sandbox.url, sandbox.restricted_key, rate_limit=1000)
    run_sync(admin, mirror, ["deals"])
    table = mirror.current(admin.url, "deals")
    full_rows = mirror.query(f"SELECT count(*) FROM {table} WHERE value IS NOT NULL")[0][0]
    result = run_sync(restricted, mirror, ["deals"], full=True).result("deals")
    assert result.removed == 0
    assert mirror.query(f"SELECT count(*) FROM {table} WHERE value IS NOT NULL")[0][0] == full_rows
    assert mirror.query(f"SELECT count(*) FROM {table} WHERE isDisabled = 1")[0][0] == 0


def test_the_full_fetch_comes_back_after_full_every(sandbox, account, mirror):
    from datetime import timedelta

    run_sync(account, mirror, ["deals"])
    assert run_sync(account, mirror, ["deals"]).result("deals").fetch == "incremental"
    assert run_sync(account, mirror, ["deals"], full_every=timedelta(0)).result("deals").fetch == "full"


@pytest.mark.parametrize("phase", ["first", "incremental"])
def test_a_sync_killed_midway_loses_and_doubles_nothing(sandbox, account, tmp_path, phase):
    path = tmp_path / "mirror.duckdb"
    if phase == "incremental":
        with Mirror(path) as db:
            run_sync(account, db, ["contacts", "deals"])
        sandbox.mutate("contacts", create=40, update=60, delete=5)
    sandbox.set_latency(150)  # slow enough to be killed in the middle
    child = subprocess.Popen(
        [sys.executable, "-m", "acflow.cli", "sync", "contacts", "deals", "--api-url", sandbox.url,
         "--api-key", sandbox.admin_key, "--mirror", str(path), "--json", "--rate-limit", "1000"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while sandbox.stats()["requests"] < 4 and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(child.pid, signal.SIGKILL)
    assert child.wait() == -signal.SIGKILL  # killed in the middle, not finished
    sandbox.set_latency(0)
    with Mirror(path) as db:
        leftovers = db.query("SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE '\\_load%' ESCAPE '\\'")
        assert leftovers[0][0] == 0
        run_sync(account, db, ["contacts", "deals"], full=True)
        for name in ("contacts", "deals"):
            ids = [r[0] for r in db.query(f"SELECT id FROM {db.current(account.url, name)}")]
            assert len(ids) == len(set(ids))
            assert current(db, account, name) == truth(sandbox, name)


def test_an_incremental_read_asks_by_update_and_by_creation(sandbox, account, mirror):
    """New records whose update time is still null must not depend on the update filter."""
    import zoneinfo
    from datetime import timedelta

    from acflow.sync import plan_fetch

    run_sync(account, mirror, ["contacts"])
    kind, reads = plan_fetch(mirror, account.url, catalog.CATALOG["contacts"], "America/Chicago",
                             full=False, full_every=timedelta(days=7))
    table = mirror.table(account.url, "contacts")
    newest_update, newest_created = mirror.query(f"SELECT max(coalesce(udate, cdate)), max(cdate) FROM {table}")[0]
    chicago = zoneinfo.ZoneInfo("America/Chicago")
    day = lambda t: (t.astimezone(chicago).date() - timedelta(days=1)).isoformat()  # noqa: E731
    assert kind == "incremental"
    assert reads == [{"filters[updated_after]": day(newest_update)}, {"filters[created_after]": day(newest_created)}]
