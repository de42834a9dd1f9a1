"""A hostile or broken server, through the real sandbox: acflow stops, says what happened, keeps
to the rate limit and keeps every record it can (see the hostile kinds in sandbox/faults.py)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys

import pytest
from test_sync import fast_client

from acflow import catalog
from acflow.account import Account
from acflow.client import Client
from acflow.errors import AcflowError, KeyRefused, NotActiveCampaign
from acflow.sync import sync_async


def run_sync(account, mirror, names, client=None):
    """A sync with a guard: a pager that loops must not hang the test run."""
    entities = [catalog.CATALOG[n] for n in names]
    coro = sync_async(account, entities, mirror, client=client or fast_client(account), full=True)
    return asyncio.run(asyncio.wait_for(coro, timeout=60))


def truth(sandbox, entity):
    return sorted(int(r["id"]) for r in sandbox.snapshot(entity))


def mirror_ids(mirror, account, entity):
    return sorted(r[0] for r in mirror.query(f"SELECT id FROM {mirror.table(account.url, entity)}"))


# ---- 1. paging that never ends -------------------------------------------------------------------

@pytest.mark.parametrize("entity", ["deals", "contacts"])
def test_a_server_repeating_one_page_is_an_incomplete_read(sandbox, account, mirror, entity):
    """Offset (deals) and id keyset (contacts): the same page for every request stops at once,
    the result says records may be missing, and the mirror keeps what it had."""
    run_sync(account, mirror, [entity])
    before = mirror_ids(mirror, account, entity)
    sandbox.reset()
    sandbox.set_faults(f"same-page=1@{entity}")
    summary = run_sync(account, mirror, [entity])
    result = summary.result(entity)
    assert not summary.ok
    assert result.status == "incomplete"
    assert result.incomplete and "may be missing" in result.incomplete
    assert any(note.startswith(f"{entity}: ") and "may be missing" in note for note in summary.advice())
    assert summary.to_dict()["entities"][0]["incomplete"] == result.incomplete
    assert sandbox.stats()["by_path"][f"/api/3/{entity}"] <= 12  # stopped, not looping
    assert mirror_ids(mirror, account, entity) == before == truth(sandbox, entity)
    assert [r["status"] for r in mirror.runs()] == ["ok", "incomplete"]


def acflow_cmd(*args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACTIVECAMPAIGN_")}
    return subprocess.run([sys.executable, "-m", "acflow.cli", *args], capture_output=True, text=True,
                          env={**env, "COLUMNS": "200"}, timeout=120)


def test_an_incomplete_read_exits_non_zero_and_shows_in_json(sandbox, tmp_path):
    sandbox.set_faults("same-page=1@contacts")
    result = acflow_cmd("sync", "contacts", "--json", "--api-url", sandbox.url, "--api-key", sandbox.admin_key,
                        "--mirror", str(tmp_path / "m.duckdb"), "--rate-limit", "1000")
    assert result.returncode == 1, result.stderr
    out = json.loads(result.stdout)
    assert out["ok"] is False
    [contacts] = out["entities"]
    assert contacts["status"] == "incomplete" and "may be missing" in contacts["incomplete"]
    assert any("may be missing" in note for note in out["advice"])


# ---- 2 and 9. odd but valid pages ------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["total-huge", "total-int", "total-absent", "deep"])
def test_odd_but_valid_pages_are_read_whole(sandbox, account, mirror, kind):
    """meta.total as an integer, 10^30 or absent, and a record nested 500 deep: every record arrives."""
    sandbox.set_faults(f"{kind}=1@contacts,{kind}=1@deals,{kind}=1@lists")
    names = ["contacts", "deals", "lists"]
    summary = run_sync(account, mirror, names)
    assert summary.ok, summary.to_dict()
    assert sandbox.stats()["faults"][kind] > 0
    for name in names:
        assert mirror_ids(mirror, account, name) == truth(sandbox, name), name


# ---- 3. the rate limit under connection resets ----------------------------------------------------

def test_resent_requests_pass_the_limiter(sandbox, mirror):
    """With a fifth of the connections reset, the server still never sees more than 5 in a second."""
    sandbox.set_rate_limit(5)
    sandbox.set_latency(30)
    sandbox.set_faults("reset=0.2")
    account = Account(sandbox.url, sandbox.admin_key, rate_limit=5)
    summary = run_sync(account, mirror, ["contacts", "deals", "lists", "campaigns", "tags"],
                       client=Client(account, timeout=10, backoff_max=0.05))
    stats = sandbox.stats()
    assert summary.ok, summary.to_dict()
    assert stats["faults"]["reset"] >= 3
    assert stats["max_in_any_second"] <= 5
    assert stats["rate_limited"] == 0


# ---- 4. a 403 on the very first request ------------------------------------------------------------

def test_a_403_on_the_first_request_is_asked_again(sandbox, account, mirror):
    sandbox.set_faults("403-any=next:1")
    summary = run_sync(account, mirror, ["lists"])
    assert summary.ok and mirror_ids(mirror, account, "lists") == truth(sandbox, "lists")
    assert sandbox.stats()["faults"] == {"403-any": 1}


def test_a_refused_key_is_still_refused_after_one_more_try(sandbox, mirror):
    account = Account(sandbox.url, "wrong-key", rate_limit=1000)
    with pytest.raises(KeyRefused) as info:
        run_sync(account, mirror, ["lists"])
    assert info.value.exit_code == 3
    assert sandbox.stats()["requests"] == 2


# ---- 5. bytes that are not JSON ---------------------------------------------------------------------

@pytest.mark.parametrize(("kind", "what"), [("bad-utf8", "bytes that are not valid UTF-8"),
                                            ("nul", "a raw control character (NUL)")])
def test_bytes_that_are_not_json_are_named_as_such(sandbox, account, mirror, kind, what):
    sandbox.set_faults(f"{kind}=1@deals")
    summary = run_sync(account, mirror, ["deals", "lists"])
    deals = summary.result("deals")
    assert summary.result("lists").status == "ok"
    assert deals.status == "failed"
    assert deals.error.startswith(f"{sandbox.url}/api/3/deals: the server sent {what} at byte ")
    assert deals.error.endswith("which is not valid JSON; asked twice, the same came back: "
                                "report it to ActiveCampaign support")
    assert "overloaded" not in deals.error and "\n" not in deals.error
    assert sandbox.stats()["by_path"]["/api/3/deals"] == 2  # asked once more, not 25 times


# ---- 6. a host that never answers -------------------------------------------------------------------

def test_no_answer_is_said_at_each_timeout_and_the_request_gives_up(sandbox, account, mirror, caplog):
    sandbox.set_faults("slow=1@lists", slow_seconds=30)
    client = Client(account, timeout=0.3, max_attempts=3, backoff_max=0.05)
    with caplog.at_level(logging.WARNING, logger="acflow"):
        summary = run_sync(account, mirror, ["lists"], client=client)
    host = account.host
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [f"no answer from {host} in 0.3 s, retrying 2/3",
                        f"no answer from {host} in 0.3 s, retrying 3/3"]
    assert summary.result("lists").status == "failed"
    assert summary.result("lists").error.endswith(
        "gave up after 3 attempts (last: no answer within 0.3 s); the server takes requests but does not "
        "answer: check the API URL, or try again later")
    assert client.give_up_after == pytest.approx(3 * 0.3 + 2 * 0.05)


def test_timeout_help_states_the_bound():
    from typer.testing import CliRunner

    from acflow.cli import app
    from acflow.client import give_up_after

    minutes = round(give_up_after(60.0, 8) / 60)
    output = CliRunner().invoke(app, ["export", "--help"], env={"COLUMNS": "400"}).output
    assert f"about {minutes} min with the defaults" in " ".join(output.split())


# ---- 7. not an ActiveCampaign URL --------------------------------------------------------------------

def test_a_404_for_users_me_is_not_an_activecampaign_url(sandbox, mirror):
    account = Account(sandbox.url + "/crm", sandbox.admin_key, rate_limit=1000)
    with pytest.raises(NotActiveCampaign) as info:
        run_sync(account, mirror, ["lists"])
    assert info.value.exit_code == 2
    assert str(info.value) == (f"{sandbox.url}/crm is not an ActiveCampaign API URL: /api/3/users/me "
                               "answered 404 (copy the URL from Settings > Developer in ActiveCampaign)")
    assert mirror.query("SELECT count(*) FROM _acflow.runs")[0][0] == 0


# ---- 8. secrets in URLs ---------------------------------------------------------------------------------

def test_credentials_in_the_url_are_dropped_before_anything_is_stored(sandbox, mirror, caplog):
    with caplog.at_level(logging.WARNING, logger="acflow"):
        account = Account(sandbox.url.replace("http://", "http://someone:hunter2-pw@"), sandbox.admin_key,
                          rate_limit=1000)
    assert account.url == sandbox.url
    assert [r.getMessage() for r in caplog.records] == [
        "the API URL held a user name and password; they were dropped (ActiveCampaign takes only the "
        "API key)"]
    summary = run_sync(account, mirror, ["lists"])
    assert summary.ok
    stored = json.dumps([mirror.query("SELECT * FROM _acflow.runs"), mirror.query("SELECT * FROM _acflow.state"),
                         mirror.query("SELECT schema_name FROM duckdb_schemas()")], default=str)
    assert sandbox.url in stored  # the account is there, by its URL without credentials
    assert "hunter2" not in stored and "someone" not in stored
    assert "hunter2" not in json.dumps(summary.to_dict(), default=str)


@pytest.mark.parametrize("pasted", ["9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08aa1f2b3c",
                                    "  a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6 "])
def test_a_key_pasted_as_the_url_is_not_echoed(pasted):
    with pytest.raises(AcflowError) as info:
        Account(pasted, "k")
    assert info.value.exit_code == 2
    assert pasted.strip() not in str(info.value) and pasted.strip()[:12] not in str(info.value)
    assert str(info.value) == ("the API URL is not a URL, and looks like an API key (not shown): pass the URL "
                               "from Settings > Developer as --api-url and the key as --api-key")


def test_api_key_help_points_to_the_environment_variable():
    from typer.testing import CliRunner

    from acflow.cli import app

    output = " ".join(CliRunner().invoke(app, ["sync", "--help"], env={"COLUMNS": "400"}).output.split())
    assert "ACTIVECAMPAIGN_API_KEY keeps the key out of the process list" in output



# ---- the sandbox's hostile kinds answer as documented -------------------------------------------------

def test_hostile_kinds_answer_as_documented(sandbox):
    import httpx

    def get(spec, **params):
        sandbox.reset()
        sandbox.set_faults(spec)
        return httpx.get(f"{sandbox.url}/api/3/deals", params={"limit": 100, **params},
                         headers={"Api-Token": sandbox.admin_key}).content

    assert get("same-page=1", offset=200) == get(None, offset=0)
    assert get("total-huge=1").endswith(b'"total":' + b"1" + b"0" * 30 + b"}}")
    assert b'"meta"' not in get("total-absent=1")
    assert get("deep=1").count(b'{"level":') == 500
    assert b'"hostile":"caf\xe9"' in get("bad-utf8=1")
    assert b'"hostile":"a\x00b"' in get("nul=1")
    sandbox.reset()
    sandbox.set_faults("403-any=next:1")
    assert httpx.get(f"{sandbox.url}/api/3/tags", headers={"Api-Token": sandbox.admin_key}).status_code == 403
