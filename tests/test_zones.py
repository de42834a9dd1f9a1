"""Naive timestamps are read in the account's zone, learnt from its own ISO dates, never in the
API user's `localZoneid` (reference 8.1: a real account's user is in Europe/Berlin while every
date is at -05:00/-06:00)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from acflow.account import Account
from acflow.catalog import find
from acflow.columns import BatchBuilder
from acflow.errors import ConfigError
from acflow.mirror import Mirror
from acflow.sandbox import Sandbox
from acflow.sandbox.faults import Latency
from acflow.sync import sync
from acflow.zones import AccountZone

# A DST change inside each account's data: Chicago springs forward on 2024-03-10 at 02:00,
# Berlin on 2024-03-31, Adelaide falls back on 2024-04-07 (+10:30 -> +09:30).
INSTANTS = [datetime(2024, 1, 5, 15, 30, tzinfo=UTC) + timedelta(days=d, hours=h)
            for d in (0, 60, 64, 65, 66, 85, 86, 93, 94, 95, 180, 300) for h in (0, 7, 13)]
ZONES = ["America/Chicago", "Europe/Berlin", "Australia/Adelaide", "UTC"]
USER_ZONES = {"America/Chicago": "Europe/Berlin", "Europe/Berlin": "America/New_York",
              "Australia/Adelaide": "Asia/Tokyo", "UTC": "Australia/Sydney"}


def records_in(zone: str) -> list[dict[str, str]]:
    """Contacts as ActiveCampaign writes them for an account in `zone`."""
    out = []
    for i, when in enumerate(INSTANTS, 1):
        local = when.astimezone(ZoneInfo(zone))
        out.append({"id": str(i), "cdate": local.isoformat(), "udate": local.isoformat(),
                    "created_timestamp": local.strftime("%Y-%m-%d %H:%M:%S"),
                    "updated_utc_timestamp": local.strftime("%Y-%m-%d %H:%M:%S"),
                    "bounced_date": local.strftime("%Y-%m-%d"), "gravatar": "3"})
    return out


@pytest.mark.parametrize("zone", ZONES)
def test_the_zone_is_learnt_from_the_offsets_not_from_the_user(zone):
    found = AccountZone(user_zone=USER_ZONES[zone])
    rows = BatchBuilder(find("contacts"), found).build(records_in(zone)).to_pylist()
    assert found.zone == zone
    assert found.source == "learnt"
    for row, when in zip(rows, INSTANTS, strict=True):
        assert row["cdate"] == when
        assert row["created_timestamp"] == when  # the naive twin: the same instant
        assert row["updated_utc_timestamp"] == when  # local despite its name
        assert row["bounced_date"] == when.astimezone(ZoneInfo(zone)).date()  # the account's day


def test_adelaide_half_hour_offsets_across_its_dst_change():
    found = AccountZone(user_zone="Europe/Berlin")
    BatchBuilder(find("contacts"), found).build(records_in("Australia/Adelaide"))
    assert found.report()["offsets"] == ["+09:30", "+10:30"]
    assert found.confidence() == "sure"
    assert "Europe/Berlin is not the account's" in found.note()


def test_one_offset_only_is_likely_not_sure_and_says_so():
    found = AccountZone(user_zone="Europe/Berlin")
    BatchBuilder(find("contacts"), found).build([{"id": "1", "cdate": "2024-01-10T10:00:00-06:00"}])
    assert found.zone == "America/Chicago"
    assert found.confidence() == "likely"
    assert "also fit" in found.note()


def test_the_users_zone_is_preferred_where_the_dates_allow_it():
    # -06:00 in January fits Chicago and Winnipeg alike: the user's own zone decides
    found = AccountZone(user_zone="America/Winnipeg")
    found.observe(["2024-01-10T10:00:00-06:00", "2024-07-10T10:00:00-05:00"])
    assert found.zone == "America/Winnipeg"


def test_an_override_wins_and_disagreeing_dates_are_reported():
    found = AccountZone(override="Europe/Berlin", user_zone="Europe/Berlin")
    row = BatchBuilder(find("contacts"), found).build(records_in("America/Chicago")[:1]).to_pylist()[0]
    assert found.zone == "Europe/Berlin" and found.source == "set"
    # Chicago's 09:30 on the clock, read as Berlin's 09:30, as the user asked
    assert row["created_timestamp"] == datetime(2024, 1, 5, 9, 30, tzinfo=ZoneInfo("Europe/Berlin"))
    assert "America/Chicago" in found.note() and "does not have" in found.note()


def test_no_dates_yet_is_a_guess_that_says_so():
    found = AccountZone(user_zone="Europe/Berlin")
    BatchBuilder(find("segments"), found).build([{"id": "1", "created_timestamp": "2024-01-10 10:00:00"}])
    assert (found.zone, found.confidence()) == ("Europe/Berlin", "guess")
    assert "guess" in found.note()


def test_a_zone_name_that_is_not_one_is_refused():
    with pytest.raises(ConfigError, match="unknown time zone 'Mars/Olympus'"):
        Account("https://x.api-us1.com", "k", timezone="Mars/Olympus")


def test_date_only_values_are_dates_whatever_the_zone():
    for zone in ("Pacific/Kiritimati", "Pacific/Pago_Pago"):  # +14:00 and -11:00
        row = BatchBuilder(find("contacts"), zone).build(
            [{"id": "1", "bounced_date": "2025-08-02", "rating_tstamp": "2019-06-14"}]).to_pylist()[0]
        assert row["bounced_date"].isoformat() == "2025-08-02"
        assert row["rating_tstamp"].isoformat() == "2019-06-14"


# ---- against the sandbox, whose admin user lives in Europe/Berlin and its account elsewhere ----

def snapshot(sandbox: Sandbox, entity: str) -> dict[int, datetime | None]:
    rows = httpx.get(f"{sandbox.url}/_sandbox/snapshot/{entity}").json()
    return {r["id"]: r["updated"] and datetime.fromisoformat(r["updated"]) for r in rows}


@pytest.mark.parametrize("zone", ["America/Chicago", "Australia/Adelaide"])
def test_a_sync_reads_naive_times_in_the_accounts_zone(tmp_path, zone):
    with Sandbox(seed=3, rate_limit=0, timezone=zone, sizes={"contacts": 300, "segments": 12}) as box:
        me = httpx.get(f"{box.url}/api/3/users/me", headers={"Api-Token": box.admin_key}).json()["user"]
        assert me["localZoneid"] == "Europe/Berlin"  # the trap: the user's zone is not the account's
        with Mirror(tmp_path / "m.duckdb") as db:
            # segments alone on a fresh account: only naive times, so the zone comes from a probe
            summary = sync(["segments"], account=Account(box.url, box.admin_key), mirror=db)
            assert (summary.zone, summary.zone_source) == (zone, "learnt")
            truth = snapshot(box, "segments")
            rows = db.query(f"SELECT id, updated_timestamp FROM {db.current(box.url, 'segments')}")
            assert rows and all(ts == truth[i] for i, ts in rows if truth[i] is not None)
            summary = sync(["contacts"], account=Account(box.url, box.admin_key), mirror=db)
            assert summary.zone == zone and summary.to_dict()["zone_confidence"] in ("sure", "likely")
            bad = db.query(f"SELECT count(*) FROM {db.current(box.url, 'contacts')} "
                           "WHERE created_timestamp <> cdate OR created_utc_timestamp <> cdate")
            assert bad == [(0,)]
            assert db.zone(box.url)[0] == zone  # kept for the next sync


def test_the_zone_probe_goes_with_the_first_pages_and_their_typing_waits_for_it(tmp_path):
    """A fresh account's probe (two /contacts requests) held 2 s by the server: segments' page is
    asked for meanwhile, yet typed only once the probe says the zone (Berlin's user zone is wrong)."""
    zone = "Australia/Adelaide"
    arrived: list[tuple[str, float]] = []

    def note(request):  # a fault that never fails: the order and time requests reached the server
        arrived.append((request.path, time.monotonic()))

    with Sandbox(seed=3, rate_limit=0, timezone=zone, sizes={"contacts": 300, "segments": 12},
                 faults=[note, Latency(2000, "contacts")]) as box, Mirror(tmp_path / "m.duckdb") as db:
        summary = sync(["segments"], account=Account(box.url, box.admin_key), mirror=db)
        assert (summary.zone, summary.zone_source) == (zone, "learnt")
        probe = next(t for path, t in arrived if path == "/api/3/contacts")
        page = next(t for path, t in arrived if path == "/api/3/segments")
        assert page < probe + 2.0  # not after the probe's answer: the two went together
        truth = snapshot(box, "segments")
        rows = db.query(f"SELECT id, updated_timestamp FROM {db.current(box.url, 'segments')}")
        assert rows and all(ts == truth[i] for i, ts in rows if truth[i] is not None)


def test_the_zone_kept_in_the_mirror_needs_no_probe_next_time(tmp_path):
    with Sandbox(seed=4, rate_limit=0, sizes={"contacts": 150}) as box, Mirror(tmp_path / "m.duckdb") as db:
        sync(["lists"], account=Account(box.url, box.admin_key), mirror=db)
        before = box.stats()["by_path"].get("/api/3/contacts", 0)
        summary = sync(["lists"], account=Account(box.url, box.admin_key), mirror=db)
        assert box.stats()["by_path"].get("/api/3/contacts", 0) == before  # no probe: the mirror knew
        assert summary.zone == "America/Chicago"


def test_an_account_timezone_overrides_and_the_summary_says_the_dates_disagree(tmp_path):
    with Sandbox(seed=5, rate_limit=0, sizes={"contacts": 120}) as box, Mirror(tmp_path / "m.duckdb") as db:
        summary = sync(["contacts"], account=Account(box.url, box.admin_key, timezone="Asia/Tokyo"), mirror=db)
        assert (summary.zone, summary.zone_source, summary.zone_confidence) == ("Asia/Tokyo", "set", "set")
        assert any("Asia/Tokyo does not have" in note for note in summary.advice())
        row = db.query(f"SELECT cdate, created_timestamp FROM {db.current(box.url, 'contacts')} LIMIT 1")[0]
        assert row[1] - row[0] == timedelta(hours=-15) or row[1] - row[0] == timedelta(hours=-14)


def test_acflow_yaml_and_the_cli_take_the_accounts_zone(tmp_path, monkeypatch, sandbox):
    import json
    import os
    import subprocess
    import sys

    from acflow.config import load

    path = tmp_path / "acflow.yaml"
    path.write_text("accounts:\n  main:\n    url: https://acme.api-us1.com\n    key_env: K\n"
                    "    timezone: Australia/Adelaide\n"
                    "flows:\n  c:\n    source: {entity: contacts}\n    to: c.csv\n")
    monkeypatch.setenv("K", "key")
    assert load(path).account("main").timezone == "Australia/Adelaide"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACTIVECAMPAIGN_")}
    done = subprocess.run(
        [sys.executable, "-m", "acflow.cli", "sync", "lists", "--json", "--account-timezone", "Asia/Tokyo",
         "--api-url", sandbox.url, "--mirror", str(tmp_path / "m.duckdb"), "--rate-limit", "1000"],
        capture_output=True, text=True, env={**env, "ACTIVECAMPAIGN_API_KEY": sandbox.admin_key}, timeout=120)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["zone"], summary["zone_source"]) == ("Asia/Tokyo", "set")


def test_preview_reads_naive_times_in_the_accounts_zone_too(sandbox):
    from acflow.preview import preview

    account = Account(sandbox.url, sandbox.admin_key, rate_limit=1000)
    rows = preview("contacts", account=account, limit=20).to_pylist()
    assert rows and all(r["created_timestamp"] == r["cdate"] for r in rows)
    truth = snapshot(sandbox, "segments")
    rows = preview("segments", account=account, limit=20).to_pylist()  # naive times only: probed
    assert rows and all(r["updated_timestamp"] == truth[r["id"]] for r in rows if truth[r["id"]])
