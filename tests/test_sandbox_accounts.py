"""Many accounts in one sandbox process: each with its own data, keys, rate limit and stats."""

from __future__ import annotations

import httpx
import pytest

from acflow.sandbox import Sandbox


@pytest.fixture(scope="module")
def many():
    with Sandbox(accounts=3, sizes={"contacts": 40, "deals": 10}, rate_limit=5) as sb:
        yield sb


@pytest.fixture
def sb(many):
    many.reset()
    return many


def get(url: str, key: str, path: str = "contacts", **params) -> httpx.Response:
    return httpx.get(f"{url}/api/3/{path}", params=params, headers={"Api-Token": key})


def test_each_account_has_its_own_url_data_and_key(sb):
    assert sb.accounts == ["acct01", "acct02", "acct03"]
    assert sb.account_url("acct02") == f"{sb.url}/acct/acct02"
    first = get(sb.account_url("acct01"), sb.key_of("acct01"), limit=100).json()["contacts"]
    second = get(sb.account_url("acct02"), sb.key_of("acct02"), limit=100).json()["contacts"]
    assert len(first) == len(second) == 40
    assert [c["email"] for c in first] != [c["email"] for c in second]  # seeded apart
    assert get(sb.account_url("acct02"), sb.key_of("acct01")).status_code == 403  # another account's key
    assert get(sb.account_url("acct02"), sb.admin_key).status_code == 403  # the first account's key
    assert get(sb.url, sb.admin_key).status_code == 200  # the first account as before
    links = first[0]["links"]
    assert all(v.startswith(sb.account_url("acct01")) for v in links.values())


def test_snapshots_and_mutations_are_per_account(sb):
    before = sb.snapshot("contacts", account="acct03")
    sb.mutate("contacts", create=5, account="acct03")
    assert len(sb.snapshot("contacts", account="acct03")) == len(before) + 5
    assert len(sb.snapshot("contacts", account="acct02")) == 40
    over_http = httpx.get(f"{sb.account_url('acct03')}/_sandbox/snapshot/contacts").json()
    assert len(over_http) == 45
    assert sb.stats(account="acct03")["mutations"] == 5
    assert sb.stats()["mutations"] == 0


def test_rate_limit_and_stats_are_per_account(sb):
    url, key = sb.account_url("acct01"), sb.key_of("acct01")
    statuses = [get(url, key, limit=1).status_code for _ in range(8)]
    assert statuses.count(429) >= 1  # 8 at once against 5/s
    other = [get(sb.account_url("acct02"), sb.key_of("acct02"), limit=1).status_code for _ in range(5)]
    assert other == [200] * 5  # acct01's requests do not use acct02's window
    one = sb.stats(account="acct01")
    assert one["rate_limited"] == statuses.count(429)
    assert one["requests"] == statuses.count(200)
    assert one["max_in_any_second"] == 8
    assert sb.stats(account="acct02")["requests"] == 5
    assert sb.stats()["requests"] == 0  # the first account saw none of it
    summary = httpx.get(f"{sb.url}/_sandbox/stats").json()["accounts"]
    assert summary["acct02"] == {"requests": 5, "rate_limited": 0, "max_in_any_second": 5}
    own = httpx.get(f"{sb.account_url('acct01')}/_sandbox/stats").json()
    assert own["rate_limited"] == one["rate_limited"] and "accounts" not in own


def test_reset_zeroes_every_account(sb):
    get(sb.account_url("acct02"), sb.key_of("acct02"))
    sb.mutate("contacts", delete=3, account="acct02")
    sb.reset()
    assert sb.stats(account="acct02")["requests"] == 0
    assert len(sb.snapshot("contacts", account="acct02")) == 40


def test_an_unknown_account_is_a_404_naming_it(sb):
    response = get(f"{sb.url}/acct/nobody", "any")
    assert response.status_code == 404
    assert response.json() == {"message": "No sandbox account 'nobody'"}
    with pytest.raises(ValueError, match="no sandbox account 'nobody'; accounts: acct01, acct02, acct03"):
        sb.stats(account="nobody")


def test_a_single_account_sandbox_has_no_prefix_routes():
    with Sandbox(sizes={"contacts": 5}, rate_limit=0) as single:
        assert single.accounts == []
        assert "accounts" not in single.stats()
        assert get(f"{single.url}/acct/acct01", single.admin_key).status_code == 404


def test_cli_has_a_more_accounts_flag():
    from typer.testing import CliRunner

    from acflow.cli import app

    result = CliRunner().invoke(app, ["sandbox", "serve", "--help"])
    assert result.exit_code == 0
    assert "--more-accounts" in result.output


def test_the_cli_serves_more_accounts_beside_the_size_flag_of_the_accounts_entity():
    import sys

    sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent.parent / "benchmarks"))
    from _sandbox_process import sandbox_process

    with sandbox_process("--more-accounts", "2", "--accounts", "3", "--contacts", "5") as url:
        first = get(url, "sandbox-admin-key", "accounts").json()
        other = get(f"{url}/acct/acct02", "acct02-admin-key", "accounts")
        assert other.status_code == 200
        assert len(first["accounts"]) == len(other.json()["accounts"]) == 3
        assert httpx.get(f"{url}/_sandbox/stats").json()["accounts"]["acct02"]["requests"] == 1
