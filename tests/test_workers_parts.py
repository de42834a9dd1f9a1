"""The workers' parts, each for real: the Redis limiter (its log, shared pauses, two CLI processes, a Redis
restart), the account lease, the accounts file, per-account flows and a second delivery, RabbitMQ."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from test_workers import REDIS, reachable_redis, snapshot_ids, wait_for

from acflow.errors import ConfigError
from acflow.sandbox import Sandbox


@pytest.fixture
def redis_env(monkeypatch):
    r = reachable_redis()
    prefix = f"acflow-p{os.getpid()}-{time.monotonic_ns()}:"
    monkeypatch.setenv("ACFLOW_REDIS_URL", REDIS)
    monkeypatch.setenv("ACFLOW_REDIS_PREFIX", prefix)
    yield r
    for key in r.scan_iter(f"{prefix}*"):
        r.delete(key)


# ---- the limiter -------------------------------------------------------------------------------

SLOTS = """
import asyncio, json, sys
from acflow.workers.limiter import RedisRateLimiter
lim = RedisRateLimiter(sys.argv[1], "http://127.0.0.1:1/acct/x", 5.0)
lim.slots = []
async def main():
    for _ in range(int(sys.argv[2])):
        await lim.acquire()
asyncio.run(main())
print(json.dumps(lim.slots))
"""


def test_two_processes_share_one_sliding_window(redis_env):
    """The guarantee of ratelimit.RateLimiter, across processes: never 6 slots within 5/5*1.03 s."""
    procs = [subprocess.Popen([sys.executable, "-c", SLOTS, REDIS, "9"], env=os.environ.copy(),
                              stdout=subprocess.PIPE, text=True) for _ in range(2)]
    slots = sorted(t for p in procs for t in json.loads(p.communicate(timeout=60)[0]))
    assert len(slots) == 18
    window = 1.03e6
    assert min(slots[i] - slots[i - 5] for i in range(5, len(slots))) >= window


def test_a_429_seen_by_one_process_pauses_the_others(redis_env):
    from acflow.workers.limiter import RedisRateLimiter

    mine, theirs = (RedisRateLimiter(REDIS, "http://127.0.0.1:1/acct/y", 5.0) for _ in range(2))
    assert mine.keys == theirs.keys and mine._member != theirs._member  # as two processes would have
    mine.pause(3.0)
    assert 2.5 < theirs._take("t:1") <= 3.0


def test_the_in_process_limiter_stays_the_default_and_redis_is_imported_only_when_asked():
    code = ("import sys; from acflow.ratelimit import limiter_for; "
            "print(type(limiter_for('https://a.api-us1.com')).__name__, 'redis' in sys.modules)")
    env = {k: v for k, v in os.environ.items() if k != "ACFLOW_REDIS_URL"}
    plain = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert plain.stdout.split() == ["RateLimiter", "False"]
    shared = subprocess.run([sys.executable, "-c", code], env={**env, "ACFLOW_REDIS_URL": REDIS},
                            capture_output=True, text=True, timeout=60)
    assert shared.stdout.split() == ["RedisRateLimiter", "True"]


def test_two_cli_processes_on_one_account_keep_its_limit_together(redis_env, tmp_path, monkeypatch):
    monkeypatch.setenv("ACFLOW_RATE_MARGIN", "0.10")  # see test_workers: this machine's timing noise
    with Sandbox(sizes={"contacts": 700}, rate_limit=5, latency_ms=30) as sb:
        env = {**os.environ, "ACTIVECAMPAIGN_API_URL": sb.url, "ACTIVECAMPAIGN_API_KEY": sb.admin_key}
        procs = [subprocess.Popen(["nice", "-n", "10", sys.executable, "-m", "acflow.cli", "sync", "contacts",
                                   "--mirror", str(tmp_path / f"m{i}.duckdb")], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for i in range(2)]
        for p in procs:
            _, stderr = p.communicate(timeout=120)
            assert p.returncode == 0, stderr
        stats = sb.stats()
    assert stats["requests"] >= 2 * 8
    assert stats["rate_limited"] == 0
    assert stats["max_in_any_second"] <= 5


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def own_redis(tmp_path):
    """A redis-server of this test's own on a free port: restarting the shared one would disturb others."""
    if shutil.which("redis-server") is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is not installed under CI")
        pytest.skip("redis-server is not installed")
    port = free_port()
    cmd = ["redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "--port", str(port), "--save", "",
           "--appendonly", "no", "--dir", str(tmp_path), "--logfile", str(tmp_path / "redis.log")]

    def start() -> None:
        subprocess.run(cmd, check=True, timeout=30)
        wait_for(lambda: subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True,
                                        text=True).stdout.strip() == "PONG", 20, "redis-server to start")

    def stop() -> None:
        subprocess.run(["redis-cli", "-p", str(port), "shutdown", "nosave"], capture_output=True, timeout=30)

    start()
    yield port, start, stop
    stop()


def _syncing(sb, tmp_path):
    """A sync of the sandbox's contacts under way in a thread; its summary lands in out["s"]."""
    from acflow import Account
    from acflow.sync import sync

    account = Account(sb.url, sb.admin_key)
    out: dict = {}
    runner = threading.Thread(target=lambda: out.update(s=sync(["contacts"], account=account,
                                                               mirror=tmp_path / "m.duckdb")))
    runner.start()
    return account, runner, out


def test_redis_restarted_during_a_sync_it_resumes_within_the_limit(own_redis, tmp_path, monkeypatch):
    from acflow.mirror import Mirror

    port, start, stop = own_redis
    monkeypatch.setenv("ACFLOW_REDIS_URL", f"redis://127.0.0.1:{port}/0")
    monkeypatch.setenv("ACFLOW_RATE_MARGIN", "0.10")
    with Sandbox(sizes={"contacts": 1500}, rate_limit=5, latency_ms=50) as sb:
        account, runner, out = _syncing(sb, tmp_path)
        wait_for(lambda: sb.stats()["requests"] >= 5, 60, "the sync to be under way")
        stop()  # redis-cli shutdown nosave: the limiter's log is gone
        time.sleep(1.5)
        start()
        runner.join(timeout=120)
        summary = out["s"]
        assert summary.ok, summary.to_dict()
        stats = sb.stats()
        assert stats["rate_limited"] == 0 and stats["max_in_any_second"] <= 5
        with Mirror(tmp_path / "m.duckdb") as db:
            ids = [r[0] for r in db.query(f"SELECT id FROM {db.current(account.url, 'contacts')} ORDER BY id")]
        assert ids == snapshot_ids(sb, "contacts", None)


def test_redis_gone_for_good_the_sync_fails_cleanly_naming_it(own_redis, tmp_path, monkeypatch):
    from acflow.mirror import Mirror

    port, _, stop = own_redis
    monkeypatch.setenv("ACFLOW_REDIS_URL", f"redis://127.0.0.1:{port}/0")
    monkeypatch.setenv("ACFLOW_REDIS_OUTAGE_SECONDS", "1")
    with Sandbox(sizes={"contacts": 1500}, rate_limit=5, latency_ms=50) as sb:
        account, runner, out = _syncing(sb, tmp_path)
        wait_for(lambda: sb.stats()["requests"] >= 4, 60, "the sync to be under way")
        stop()
        runner.join(timeout=120)
        stats = sb.stats()
    result = out["s"].result("contacts")
    assert result.status == "failed"
    assert f"the rate limiter's Redis at redis://127.0.0.1:{port}/0 did not answer for 1 s" in result.error
    assert stats["rate_limited"] == 0 and stats["max_in_any_second"] <= 5
    with Mirror(tmp_path / "m.duckdb") as db:
        assert not db.has(account.url, "contacts")  # the load was rolled back: nothing half-written


# ---- the lease -----------------------------------------------------------------------------------

HOLD = """
import sys, time
from acflow.workers import settings
from acflow.workers.lease import AccountLease
with AccountLease(settings.client(), "acct-k", ttl=1.5, wait=0):
    print("held", flush=True)
    time.sleep(60)
"""


def test_a_killed_holders_lease_expires_and_the_next_run_proceeds(redis_env):
    from acflow.workers import settings
    from acflow.workers.lease import AccountBusy, AccountLease
    from acflow.workers.tasks import run_job

    holder = subprocess.Popen([sys.executable, "-c", HOLD], env=os.environ.copy(), stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    time.sleep(2.0)  # past its time to live: still held, renewed by the living holder
    with pytest.raises(AccountBusy), AccountLease(settings.client(), "acct-k", ttl=1.5, wait=0):
        pass
    skipped = run_job("task-skip", {"account": "acct-k", "busy": "skip", "mirror_root": "/nonexistent"})
    assert skipped["status"] == "skipped" and "busy" in skipped["error"]
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    with AccountLease(settings.client(), "acct-k", ttl=1.5, wait=10) as lease:  # waits out the expiry
        assert not lease.lost


# ---- accounts at scale ----------------------------------------------------------------------------

def test_the_accounts_file_as_csv_and_yaml(tmp_path):
    from acflow.workers.accounts import read

    csv = tmp_path / "a.csv"
    csv.write_text("name,url,key_env,tags,rate_limit\nacme,https://acme.api-us1.com,ACME_KEY,eu retail,\n"
                   "\nglobex,https://globex.api-us1.com,GLOBEX_KEY,us,10\n")
    assert read(csv) == {"acme": {"url": "https://acme.api-us1.com", "key_env": "ACME_KEY", "tags": ["eu", "retail"]},
                         "globex": {"url": "https://globex.api-us1.com", "key_env": "GLOBEX_KEY", "tags": ["us"],
                                    "rate_limit": 10.0}}
    mapping = tmp_path / "a.yaml"
    mapping.write_text("acme:\n  url: https://acme.api-us1.com\n  key_env: ACME_KEY\n  tags: [eu]\n")
    listed = tmp_path / "b.yml"
    listed.write_text("- name: acme\n  url: https://acme.api-us1.com\n  key_env: ACME_KEY\n  tags: eu\n")
    assert read(mapping) == read(listed) == {"acme": {"url": "https://acme.api-us1.com", "key_env": "ACME_KEY",
                                                      "tags": ["eu"]}}


@pytest.mark.parametrize(("text", "message"), [
    ("name,url\nacme,https://a.api-us1.com\n",
     "{p}:1: the header must name name, url (or url_env) and key_env, and may add tags, rate_limit, timezone"),
    ("name,url,key_env,key\nacme,https://a.api-us1.com,K,secret\n",
     "{p}:1: the header must name name, url (or url_env) and key_env, and may add tags, rate_limit, timezone; "
     "unknown: key"),
    ("name,url,key_env\nacme,https://a.api-us1.com,K\nacme,https://b.api-us1.com,K2\n",
     "{p}:3: two accounts are named 'acme' (lines 2 and 3): rename or remove one"),
    ("name,url,key_env\nacme,https://a.api-us1.com,\n", "{p}:2: acme.key_env: this field is required"),
    ("name,url,key_env\n9x,https://a.api-us1.com,K\n",
     "{p}:2: account name '9x' must be letters, digits, _ or -, starting with a letter"),
])
def test_the_accounts_file_names_the_line_of_each_mistake(tmp_path, text, message):
    from acflow.workers.accounts import read

    path = tmp_path / "accounts.csv"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        read(path)
    assert str(caught.value) == message.format(p=path)


FLOWS = """
accounts_file: accounts.csv
flows:
  deals_out:
    source: {entity: deals, accounts: all}
    to: out/{account}/deals.csv
  contacts_log:
    source: {entity: contacts, accounts: "tag:eu"}
    to: out/{account}/contacts_log.csv
    mode: append
"""


def test_flows_for_every_account_run_once_per_account_and_a_second_delivery_adds_nothing(redis_env, tmp_path):
    from acflow.config import load
    from acflow.workers.enqueue import plan
    from acflow.workers.status import Records
    from acflow.workers.tasks import run_job

    with Sandbox(accounts=3, sizes={"contacts": 60, "deals": 25}, rate_limit=0) as sb:
        rows = [f"{n},{sb.account_url(n)},{n.upper()}_KEY,{'eu' if n != 'acct03' else 'us'}" for n in sb.accounts]
        (tmp_path / "accounts.csv").write_text("name,url,key_env,tags\n" + "\n".join(rows) + "\n")
        (tmp_path / "acflow.yaml").write_text(FLOWS)
        for n in sb.accounts:
            os.environ[f"{n.upper()}_KEY"] = sb.key_of(n)
        try:
            cfg = load(tmp_path / "acflow.yaml")
            assert cfg.account_names("contacts_log") == ["acct01", "acct02"]
            jobs = plan(tmp_path / "acflow.yaml", mirror_root_dir=tmp_path / "mirrors")
            assert {j.account: j.flows for j in jobs} == {"acct01": ["deals_out", "contacts_log"],
                                                          "acct02": ["deals_out", "contacts_log"],
                                                          "acct03": ["deals_out"]}
            done = [run_job(f"task-{j.account}", j.to_dict()) for j in jobs]
            assert [d["status"] for d in done] == ["ok"] * 3, done
            for n in sb.accounts:
                lines = (tmp_path / "out" / n / "deals.csv").read_text(encoding="utf-8-sig").splitlines()
                assert len(lines) - 1 == len(sb.snapshot("deals", account=n))
            log = tmp_path / "out" / "acct01" / "contacts_log.csv"
            before = log.read_text(encoding="utf-8-sig")
            assert len(before.splitlines()) - 1 == 60
            # the worker died after the writes, before its result was recorded: the task comes again
            records = Records(redis_env)
            redis_env.delete(f"{records.p}task:task-acct01:result")
            again = run_job("task-acct01", jobs[0].to_dict())
            assert again["status"] == "ok" and again["skipped_flows"] == ["contacts_log"]
            assert log.read_text(encoding="utf-8-sig") == before  # the append was not made twice
            # a recorded result is returned as it was, nothing run
            assert run_job("task-acct01", jobs[0].to_dict()) == again
        finally:
            for n in sb.accounts:
                os.environ.pop(f"{n.upper()}_KEY", None)


def test_a_flow_appending_several_accounts_into_one_place_is_refused_with_the_fix(tmp_path):
    from acflow.workers.enqueue import plan

    (tmp_path / "accounts.csv").write_text("name,url,key_env\na1,https://a1.api-us1.com,K1\n"
                                           "a2,https://a2.api-us1.com,K2\n")
    (tmp_path / "acflow.yaml").write_text("accounts_file: accounts.csv\nflows:\n  all_deals:\n"
                                          "    source: {entity: deals, accounts: all}\n    to: deals.csv\n")
    with pytest.raises(ConfigError) as caught:
        plan(tmp_path / "acflow.yaml")
    assert str(caught.value) == (
        f"{tmp_path / 'acflow.yaml'}:5: flows.all_deals.to: this flow appends 2 accounts into one destination, "
        "which workers cannot split by account: write {account} in to: (one destination per account, e.g. "
        "exports/{account}/all_deals.csv), or run it with acflow run")


# ---- RabbitMQ as the broker -----------------------------------------------------------------------------

def test_rabbitmq_as_broker(redis_env, tmp_path, monkeypatch):
    try:
        socket.create_connection(("127.0.0.1", 5672), timeout=2).close()
    except OSError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"RabbitMQ at 127.0.0.1:5672 is not reachable under CI: {exc}")
        pytest.skip(f"RabbitMQ at 127.0.0.1:5672 is not reachable: {exc}")
    from acflow.workers.app import get_app
    from acflow.workers.enqueue import enqueue_runs, results

    queue = f"acflow-rmq-{os.getpid()}"
    monkeypatch.setenv("ACFLOW_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")
    monkeypatch.setenv("ACFLOW_QUEUE", queue)
    monkeypatch.setenv("ACFLOW_MIRROR_ROOT", str(tmp_path / "mirrors"))
    with Sandbox(accounts=2, sizes={"contacts": 80, "deals": 20}, rate_limit=5) as sb:
        (tmp_path / "a.csv").write_text("name,url,key_env\n" + "".join(
            f"{n},{sb.account_url(n)},{n.upper()}_KEY\n" for n in sb.accounts))
        for n in sb.accounts:
            monkeypatch.setenv(f"{n.upper()}_KEY", sb.key_of(n))
        worker = subprocess.Popen([sys.executable, "-m", "acflow.cli", "worker", "-c", "2", "-n", f"rmq@{queue}"],
                                  env=os.environ.copy(), stdout=(tmp_path / "w.log").open("w"),
                                  stderr=subprocess.STDOUT)
        try:
            ids = enqueue_runs(None, accounts_file=tmp_path / "a.csv", entities=["contacts"])
            done = results(ids, timeout=90)
            assert [d["status"] for d in done] == ["ok", "ok"], done
            assert sorted(d["entities"]["contacts"] for d in done) == [80, 80]
        finally:
            worker.send_signal(signal.SIGTERM)
            assert worker.wait(timeout=60) == 0
            with get_app().connection_for_write() as conn:
                conn.default_channel.queue_delete(queue)


# ---- the commands ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("command", [["worker"], ["enqueue"], ["workers", "status"]])
def test_each_command_has_help_with_an_example(command):
    result = subprocess.run([sys.executable, "-m", "acflow.cli", *command, "--help"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0 and "Example:" in result.stdout


def test_enqueue_with_nothing_to_run_says_what_to_pass(tmp_path):
    result = subprocess.run([sys.executable, "-m", "acflow.cli", "enqueue"], capture_output=True, text=True,
                            timeout=60, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == ("Error: nothing to run: pass --config acflow.yaml, or --accounts FILE to "
                                     "sync every account")


def test_status_without_redis_is_one_line(tmp_path):
    env = {**os.environ, "ACFLOW_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}
    result = subprocess.run([sys.executable, "-m", "acflow.cli", "workers", "status"], capture_output=True,
                            text=True, timeout=60, env=env)
    assert result.returncode == 1
    assert result.stderr.startswith("Error: cannot read the cluster's state from Redis at redis://127.0.0.1:")
    assert len(result.stderr.strip().splitlines()) == 1


def test_mirror_root_is_one_file_per_account(tmp_path, monkeypatch):
    from acflow.workers.plan import Job, mirror_root

    monkeypatch.setenv("ACFLOW_MIRROR_ROOT", str(tmp_path / "shared"))
    assert mirror_root(None, Path("/x/acflow.yaml")) == tmp_path / "shared"
    monkeypatch.delenv("ACFLOW_MIRROR_ROOT")
    assert mirror_root(None, tmp_path / "acflow.yaml") == tmp_path / ".acflow" / "accounts"
    assert Job("acme", mirror_root=str(tmp_path)).mirror_path() == tmp_path / "acme.duckdb"
