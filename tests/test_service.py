"""acflow serve as its users meet it: a real process on a free port, against the sandbox.

Runs are asked for over HTTP (the way a webhook or another tool does), data URLs are read by
real HTTP clients and Python's csv module, and the process is stopped by real signals.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from acflow.sandbox import Sandbox

TOKEN = "test-service-token-0123456789abcdef"


def write_config(folder: Path, flows: str, rate_limit: float = 1000) -> Path:
    cfg = folder / "acflow.yaml"
    cfg.write_text(f"""\
version: 1
accounts:
  main:
    url_env: AC_URL
    key_env: AC_KEY
    rate_limit: {rate_limit}
flows:
{flows}""")
    return cfg


FLOWS = """\
  deals:
    source: deals
    lookups: [stage]
    select: [id, title, amount, currency, stage_name]
    sort: id
    to: out/deals.csv
    serve: [csv, json]
  lists:
    source: lists
    to: out/lists.csv
"""


class Served:
    """An `acflow serve` process; its stderr is collected as it comes."""

    def __init__(self, cfg: Path, sandbox: Sandbox, *args: str, env: dict[str, str] | None = None) -> None:
        full = {**os.environ, "AC_URL": sandbox.url, "AC_KEY": sandbox.admin_key, "ACFLOW_SERVICE_TOKEN": TOKEN,
                **(env or {})}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "acflow.cli", "serve", "--config", str(cfg), "--port", "0", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full, cwd=cfg.parent)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.url = self._wait_for(r"listening on (http://\S+)").group(1)
        self.http = httpx.Client(base_url=self.url, timeout=30)

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def _wait_for(self, pattern: str, timeout: float = 60) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if found := re.search(pattern, line):
                    return found
            if self.proc.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.05)
        raise AssertionError(f"no line matching {pattern!r}; stderr:\n" + "\n".join(self.lines))

    @property
    def log(self) -> str:
        return "\n".join(self.lines)

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {TOKEN}"}

    def run(self, flow: str) -> dict:
        answer = self.http.post(f"/flows/{flow}/run", headers=self.auth())
        assert answer.status_code == 202, answer.text
        return answer.json()

    def wait(self, run_id: str, timeout: float = 120) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            body = self.http.get(f"/runs/{run_id}", headers=self.auth()).json()
            if body["status"] not in ("queued", "running"):
                return body
            time.sleep(0.1)
        raise AssertionError(f"run {run_id} did not finish; log:\n{self.log}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout)
        finally:
            self.http.close()
        self._reader.join(5)
        return code


@pytest.fixture
def served(tmp_path: Path, sandbox: Sandbox) -> Iterator[Served]:
    server = Served(write_config(tmp_path, FLOWS), sandbox, "--no-schedules")
    try:
        yield server
    finally:
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait(10)


def test_a_run_asked_for_over_http_runs_and_is_recorded_with_its_figures(served: Served, sandbox: Sandbox,
                                                                          tmp_path: Path) -> None:
    queued = served.run("deals")
    assert queued["status"] in ("queued", "running") and queued["url"] == f"/runs/{queued['run_id']}"
    done = served.wait(queued["run_id"])
    assert done["status"] == "success", done
    assert done["trigger"] == "api"
    deals = len(sandbox.snapshot("deals"))
    assert done["rows_read"]["deals"] == deals
    assert list(done["rows_written"].values()) == [deals]
    assert done["requests"] > 0 and done["rate_limited"] == 0
    rows = list(csv.DictReader((tmp_path / "out" / "deals.csv").open(encoding="utf-8-sig")))
    assert len(rows) == deals
    assert served.stop() == 0
    # the history outlives the service: `acflow runs` reads it from the mirror
    listed = subprocess.run([sys.executable, "-m", "acflow.cli", "runs", "deals", "--json", "--config",
                             str(tmp_path / "acflow.yaml")], capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
    runs = json.loads(listed.stdout)
    assert [r["run_id"] for r in runs] == [queued["run_id"]]
    assert runs[0]["rows_written"] == done["rows_written"]


def _host_children(pid: int) -> list:
    """The service's run host, if it is up (multiprocessing's resource tracker is a child too)."""
    import psutil

    alive = []
    for child in psutil.Process(pid).children():
        try:
            if child.status() != psutil.STATUS_ZOMBIE and "resource_tracker" not in " ".join(child.cmdline()):
                alive.append(child)
        except psutil.Error:  # ended meanwhile
            continue
    return alive


def _maps_duckdb_or_arrow(pid: int) -> list[str]:
    maps = Path(f"/proc/{pid}/maps").read_text()
    return sorted({line.split()[-1] for line in maps.splitlines()
                   if "duckdb" in line.split()[-1] or "libarrow" in line.split()[-1]})


def test_runs_happen_in_a_run_host_that_ends_between_runs(tmp_path: Path, sandbox: Sandbox) -> None:
    """The service itself never loads DuckDB or Arrow (what a sync leaves behind stays in a process):
    its run host does, and ends a linger after its last request; a page asking for history starts it again."""
    server = Served(write_config(tmp_path, FLOWS), sandbox, "--no-schedules", env={"ACFLOW_HOST_LINGER": "0.5"})
    try:
        pid = server.proc.pid
        done = server.wait(server.run("deals")["run_id"])
        assert done["status"] == "success", done
        assert _maps_duckdb_or_arrow(pid) == []
        deadline = time.monotonic() + 30
        while _host_children(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _host_children(pid) == [], "the run host did not end after its linger"
        again = server.http.get(f"/runs/{done['run_id']}", headers=server.auth()).json()  # from the mirror
        assert again["status"] == "success" and again["rows_read"] == done["rows_read"]
        assert server.stop() == 0
    finally:
        if server.proc.poll() is None:
            server.proc.kill()
    assert "Traceback" not in server.log


def test_a_run_host_killed_mid_run_fails_that_run_and_the_service_goes_on(tmp_path: Path, sandbox: Sandbox) -> None:
    server = Served(write_config(tmp_path, FLOWS), sandbox, "--no-schedules")
    try:
        sandbox.set_latency(300)  # a run of a few seconds
        before = sandbox.stats()["requests"]
        first = server.run("deals")["run_id"]
        deadline = time.monotonic() + 30
        while not (hosts := _host_children(server.proc.pid)) or sandbox.stats()["requests"] < before + 2:
            assert time.monotonic() < deadline, server.log
            time.sleep(0.05)
        hosts[0].kill()  # as the kernel's OOM killer would
        failed = server.wait(first)
        assert failed["status"] == "failed" and "run host" in failed["error"] and "ended" in failed["error"]
        sandbox.set_latency(0)
        again = server.wait(server.run("deals")["run_id"])
        assert again["status"] == "success", again
        left = sorted(p.name for p in (tmp_path / "out").iterdir() if not p.name.endswith(".acflow-lock"))
        assert left == ["deals.csv"]  # no temporary file left behind
        assert server.stop() == 0
    finally:
        sandbox.set_latency(0)
        if server.proc.poll() is None:
            server.proc.kill()


def test_a_flow_asked_for_while_it_runs_is_skipped_not_run_twice(served: Served, sandbox: Sandbox) -> None:
    sandbox.set_latency(150)
    first = served.run("deals")
    again = served.http.post("/flows/deals/run", headers=served.auth())
    assert again.status_code == 409
    assert again.json()["status"] == "skipped"
    assert first["run_id"] in again.json()["error"]
    assert served.wait(first["run_id"])["status"] == "success"
    skipped = served.http.get(f"/runs/{again.json()['run_id']}", headers=served.auth()).json()
    assert skipped["status"] == "skipped"


def test_data_urls_need_the_flow_token_and_serve_the_last_complete_result(served: Served, sandbox: Sandbox,
                                                                          tmp_path: Path) -> None:
    cfg = str(tmp_path / "acflow.yaml")
    made = subprocess.run([sys.executable, "-m", "acflow.cli", "urls", "--config", cfg, "--base", served.url],
                          capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    url = re.search(r"deals\.csv: (\S+)", made.stdout).group(1)
    token = url.split("token=")[1]
    assert served.http.get(url).status_code == 404  # before the first successful run
    served.wait(served.run("deals")["run_id"])

    answer = served.http.get(url)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert len(rows) == len(sandbox.snapshot("deals"))
    assert {"id", "title", "amount", "currency", "stage_name"} == set(rows[0])
    # the token in the path, and as the Basic password (Power BI's "From Web")
    assert served.http.get(f"/data/{token}/deals.csv").content == answer.content
    assert served.http.get("/data/deals.csv", auth=("powerbi", token)).content == answer.content
    as_json = served.http.get(f"/data/deals.json?token={token}")
    assert as_json.headers["content-type"] == "application/json"
    records = as_json.json()
    assert [r["id"] for r in records] == [int(r["id"]) for r in rows]
    # unchanged data is not sent again
    again = served.http.get(url, headers={"If-None-Match": answer.headers["etag"]})
    assert again.status_code == 304 and again.content == b""

    wrong = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert served.http.get(f"/data/deals.csv?token={wrong}").status_code == 404
    assert served.http.get("/data/deals.csv").status_code == 404
    assert served.http.get(f"/data/lists.csv?token={token}").status_code == 404  # not served, not its token
    rotated = subprocess.run([sys.executable, "-m", "acflow.cli", "urls", "rotate", "deals", "--config", cfg,
                              "--base", served.url], capture_output=True, text=True, timeout=60)
    assert rotated.returncode == 0, rotated.stderr
    new_url = re.search(r"deals\.csv: (\S+)", rotated.stdout).group(1)
    assert served.http.get(url).status_code == 404  # the old token stopped working at once
    assert served.http.get(new_url).content == answer.content
    listed_again = subprocess.run([sys.executable, "-m", "acflow.cli", "urls", "--config", cfg],
                                  capture_output=True, text=True, timeout=60)
    assert new_url.split("token=")[1] not in listed_again.stdout  # shown once, when made
    stored = (tmp_path / ".acflow" / "service-tokens.json").read_text()
    assert token not in stored and new_url.split("token=")[1] not in stored and TOKEN not in stored
    assert oct((tmp_path / ".acflow" / "service-tokens.json").stat().st_mode & 0o777) == "0o600"
    assert served.stop() == 0
    assert TOKEN not in served.log and token not in served.log


def test_the_api_refuses_missing_and_wrong_tokens_and_then_the_address(served: Served) -> None:
    assert served.http.get("/health").json() == {"ok": True}
    assert served.http.post("/flows/deals/run").status_code == 401
    assert served.http.get("/runs/abc").status_code == 401
    assert served.http.post("/flows/nope/run", headers=served.auth()).status_code == 404
    refused = [served.http.post("/flows/deals/run", headers={"Authorization": "Bearer wrong"}).status_code
               for _ in range(10)]
    assert set(refused) <= {401, 429} and refused[0] == 401
    shut = served.http.post("/flows/deals/run", headers=served.auth())
    assert shut.status_code == 429 and shut.headers["retry-after"] == "60"  # even the right token, for a minute
    big = httpx.post(f"{served.url}/health", content=b"x" * 200_000)
    assert big.status_code == 413


def test_a_trigger_url_with_the_token_as_a_query_is_a_webhook_run(served: Served) -> None:
    answer = served.http.post(f"/flows/lists/run?token={TOKEN}")
    assert answer.status_code == 202
    assert served.wait(answer.json()["run_id"])["trigger"] == "webhook"


def test_two_flows_on_one_account_at_once_both_finish_without_a_429(tmp_path: Path, sandbox: Sandbox) -> None:
    sandbox.set_rate_limit(5)
    sandbox.set_latency(50)
    cfg = write_config(tmp_path, FLOWS + """\
  contacts:
    source: contacts
    to: out/contacts.csv
""", rate_limit=5)
    server = Served(cfg, sandbox, "--no-schedules")
    try:
        a, b = server.run("deals"), server.run("contacts")
        first, second = server.wait(a["run_id"]), server.wait(b["run_id"])
        assert first["status"] == second["status"] == "success"
        stats = sandbox.stats()
        assert stats["rate_limited"] == 0 and stats["max_in_any_second"] <= 5
        # asked for together, they go together (one read of the account at a time); else one waits
        assert first["started"] == second["started"] or first["waited"] > 0 or second["waited"] > 0
        assert re.search(r"runs with|waits: account main is busy", server.log), server.log
    finally:
        server.stop()


def test_sigterm_during_a_load_leaves_every_destination_old_or_new(tmp_path: Path, sandbox: Sandbox) -> None:
    cfg = write_config(tmp_path, FLOWS)
    server = Served(cfg, sandbox, "--no-schedules", "--grace", "0")
    target = tmp_path / "out" / "deals.csv"
    try:
        server.wait(server.run("deals")["run_id"])
        before = target.read_bytes()
        sandbox.mutate("deals", update=50)
        sandbox.set_latency(300)  # the next run is still reading when the signal comes
        run = server.run("deals")
        time.sleep(1.0)
        assert server.stop(signal.SIGTERM) == 0
    finally:
        if server.proc.poll() is None:
            server.proc.kill()
    assert target.read_bytes() == before  # the old file, whole
    left = [p.name for p in target.parent.iterdir() if p.name != "deals.csv" and not p.name.endswith("-lock")]
    assert not left  # no temporary file
    sandbox.set_latency(0)
    listed = subprocess.run([sys.executable, "-m", "acflow.cli", "runs", "--json", "--config", str(cfg)],
                            capture_output=True, text=True, timeout=60)
    runs = {r["run_id"]: r for r in json.loads(listed.stdout)}
    assert runs[run["run_id"]]["status"] == "failed"
    assert "stopped" in runs[run["run_id"]]["error"]


def test_a_failing_flow_does_not_stop_the_others(tmp_path: Path, sandbox: Sandbox) -> None:
    (tmp_path / "blocked").write_text("a file where a folder should be")
    cfg = write_config(tmp_path, FLOWS + """\
  broken:
    source: lists
    to: blocked/lists.csv
""")
    server = Served(cfg, sandbox, "--no-schedules")
    try:
        bad = server.wait(server.run("broken")["run_id"])
        good = server.wait(server.run("lists")["run_id"])
        assert bad["status"] == "failed" and "blocked" in bad["error"]
        assert good["status"] == "success"
        assert server.proc.poll() is None
    finally:
        server.stop()


# -- schedules, catch-up and alerts, with the service in this process (its scheduler driven through its own API)

def _service(tmp_path: Path, sandbox: Sandbox, flows: str, monkeypatch: pytest.MonkeyPatch, **kw: object):
    from acflow.service.core import Service

    monkeypatch.setenv("AC_URL", sandbox.url)
    monkeypatch.setenv("AC_KEY", sandbox.admin_key)
    return Service(write_config(tmp_path, flows, rate_limit=5), **kw)


def _wait_runs(service, count: int, timeout: float = 120, **where: str) -> list:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = [r for r in service.runs(**where) if r.done]
        if len(runs) >= count:
            return runs
        time.sleep(0.1)
    raise AssertionError(f"{count} runs did not finish: {service.runs()}")


SCHEDULED = """\
  deals:
    source: deals
    to: out/deals.csv
    schedule: {every: 1h}
  contacts:
    source: contacts
    to: out/contacts.csv
    schedule: {every: 1h}
"""


def test_two_flows_due_at_the_same_minute_run_together_within_the_limit(tmp_path: Path, sandbox: Sandbox,
                                                                         monkeypatch: pytest.MonkeyPatch,
                                                                         caplog: pytest.LogCaptureFixture) -> None:
    from datetime import UTC, datetime

    sandbox.set_rate_limit(5)
    service = _service(tmp_path, sandbox, SCHEDULED, monkeypatch)
    caplog.set_level("INFO", logger="acflow.service")
    service.start()
    try:
        jobs = {job.id: job for job in service._scheduler.get_jobs()}
        assert set(jobs) == {"deals", "contacts"}
        states = {f.name: f for f in service.flows()}
        assert states["deals"].schedule == "every hour (UTC)"
        assert jobs["deals"].next_run_time == states["deals"].next_run  # what the pages say is what will happen
        moment = datetime.now(UTC)
        for job in jobs.values():  # the minute comes for both
            job.modify(next_run_time=moment)
        runs = _wait_runs(service, 2)
    finally:
        service.stop(30)
    assert {r.flow: r.status for r in runs} == {"deals": "success", "contacts": "success"}
    assert {r.trigger for r in runs} == {"schedule"}
    assert sandbox.stats()["rate_limited"] == 0
    assert sandbox.stats()["max_in_any_second"] <= 5
    said = "\n".join(r.getMessage() for r in caplog.records)
    # together in one batch, or (fired a moment apart) one waiting for the other: never side by side
    assert re.search(r"flow (deals|contacts) (runs with (contacts|deals)|waits: account main is busy)", said), said


def test_a_flow_that_missed_its_times_while_down_runs_once_at_start(tmp_path: Path, sandbox: Sandbox,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from acflow.mirror import Mirror
    from acflow.service.history import TABLE

    service = _service(tmp_path, sandbox, SCHEDULED, monkeypatch)
    service.trigger("deals")
    _wait_runs(service, 1)
    service.stop(30)
    time.sleep(0.2)
    with Mirror(tmp_path / ".acflow" / "mirror.duckdb") as db:  # the service was down for three hours
        db.query(f"UPDATE {TABLE} SET queued = queued - INTERVAL 3 HOUR, started = started - INTERVAL 3 HOUR, "
                 "ended = ended - INTERVAL 3 HOUR")
    again = _service(tmp_path, sandbox, SCHEDULED, monkeypatch)
    again.start()
    try:
        runs = _wait_runs(again, 2, flow="deals")
        time.sleep(1.0)  # no second catch-up comes
        runs = again.runs(flow="deals")
    finally:
        again.stop(30)
    assert [r.trigger for r in runs] == ["catch-up", "manual"]
    assert runs[0].status == "success"
    assert runs[0].scheduled is not None and runs[0].scheduled.minute == 0  # the latest missed hour
    assert not again.runs(flow="contacts")  # never ran before: nothing to catch up


def test_a_failed_run_sends_a_signed_webhook_and_an_email(tmp_path: Path, sandbox: Sandbox,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import base64
    import secrets
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from aiosmtpd.controller import Controller
    from standardwebhooks import Webhook

    got: list[tuple[bytes, dict[str, str]]] = []
    mails: list[object] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            got.append((body, {k.lower(): v for k, v in self.headers.items()}))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    class Mailbox:
        async def handle_DATA(self, server, session, envelope):
            mails.append(envelope)
            return "250 OK"

    receiver = HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    with socket.socket() as probe:  # aiosmtpd's Controller needs a port number of its own
        probe.bind(("127.0.0.1", 0))
        smtp_port = probe.getsockname()[1]
    smtp = Controller(Mailbox(), hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    monkeypatch.setenv("HOOK_SECRET", secret)
    (tmp_path / "blocked").write_text("a file where a folder should be")
    flows = f"""\
  broken:
    source: lists
    to: blocked/lists.csv
    alerts:
      email: {{to: [ops@example.com], from: acflow@example.com,
              smtp: {{host: 127.0.0.1, port: {smtp_port}, security: none}}}}
      webhook: {{url: "http://127.0.0.1:{receiver.server_port}/hook", secret_env: HOOK_SECRET}}
"""
    service = _service(tmp_path, sandbox, flows, monkeypatch)
    service.start()
    try:
        record = service.trigger("broken")
        _wait_runs(service, 1)
        deadline = time.monotonic() + 30
        while (not got or not mails) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        service.stop(30)
        receiver.shutdown()
        smtp.stop()
    body, headers = got[0]
    payload = Webhook(secret).verify(body, headers)
    assert payload["flow"] == "broken" and payload["status"] == "failed" and payload["run_id"] == record.run_id
    assert "blocked" in payload["error"]
    message = mails[0].content.decode()
    assert mails[0].rcpt_tos == ["ops@example.com"]
    assert "acflow: flow broken failed" in message
    assert secret not in message and sandbox.admin_key not in message


def test_a_csv_client_reading_while_runs_replace_the_data_never_sees_a_partial_file(served: Served,
                                                                                   sandbox: Sandbox) -> None:
    served.wait(served.run("deals")["run_id"])
    url = f"/data/{TOKEN}/deals.csv"  # the service's own token opens every data URL
    sizes: set[int] = set()
    stop = threading.Event()
    problems: list[str] = []

    def read() -> None:
        with httpx.Client(base_url=served.url, timeout=30) as client:
            while not stop.is_set():
                text = client.get(url).content.decode("utf-8-sig")
                rows = list(csv.DictReader(io.StringIO(text)))
                if not text.endswith("\n") or any(None in r.values() or None in r for r in rows):
                    problems.append(text[-200:])
                sizes.add(len(rows))

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for _ in range(3):
            sandbox.mutate("deals", create=40)
            served.wait(served.run("deals")["run_id"])
    finally:
        stop.set()
        reader.join(30)
    assert not problems
    total = len(sandbox.snapshot("deals"))
    assert sizes <= {total - 120, total - 80, total - 40, total}  # only ever a whole result, old or new
    assert total in sizes or len(sizes) >= 2


def test_the_mcp_endpoint_is_served_at_slash_mcp_behind_its_token(tmp_path: Path, sandbox: Sandbox) -> None:
    pytest.importorskip("mcp")
    from test_mcp_transports import _ask

    mcp_token = "mcp-token-0123456789abcdef0123"
    flows = FLOWS + "  contacts_too:\n    source: contacts\n    to: out/contacts.csv\n"
    server = Served(write_config(tmp_path, flows), sandbox, "--no-schedules", "--mcp",
                    env={"ACFLOW_MCP_TOKEN": mcp_token})
    try:
        server.wait(server.run("contacts_too")["run_id"])
        time.sleep(6)  # the service lets go of the mirror when idle; MCP reads it read-only
        answer = _ask(f"{server.url}/mcp", mcp_token)
        assert str(len(sandbox.snapshot("contacts"))) in answer.content[0].text  # the contacts the mirror holds
        assert httpx.post(f"{server.url}/mcp", json={}).status_code == 401
    finally:
        server.stop()
    assert mcp_token not in server.log


def test_the_report_is_emailed_on_its_schedule_with_the_page_attached(tmp_path: Path, sandbox: Sandbox,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import UTC, datetime
    from email import message_from_bytes

    from aiosmtpd.controller import Controller

    mails: list[object] = []

    class Mailbox:
        async def handle_DATA(self, server, session, envelope):
            mails.append(envelope)
            return "250 OK"

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    smtp = Controller(Mailbox(), hostname="127.0.0.1", port=port)
    smtp.start()
    monkeypatch.setenv("ACFLOW_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("ACFLOW_SMTP_PORT", str(port))
    monkeypatch.setenv("ACFLOW_SMTP_SECURITY", "none")
    monkeypatch.setenv("ACFLOW_SMTP_FROM", "acflow@example.com")
    service = _service(tmp_path, sandbox, FLOWS, monkeypatch)
    (tmp_path / "acflow.yaml").write_text((tmp_path / "acflow.yaml").read_text().replace(
        "flows:\n", 'report: {every: 1w, days: [mon], at: "07:00", to: [boss@example.com], since: all}\nflows:\n'))
    service.reload()
    service.start()
    try:
        service.trigger("deals")
        _wait_runs(service, 1)
        job = service._scheduler.get_job("*report*")
        assert job is not None
        job.modify(next_run_time=datetime.now(UTC))  # Monday 07:00 comes
        deadline = time.monotonic() + 60
        while not mails and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        service.stop(30)
        smtp.stop()
    assert mails and mails[0].rcpt_tos == ["boss@example.com"]
    message = message_from_bytes(mails[0].content)
    parts = {p.get_content_type(): p for p in message.walk()}
    assert "image/png" in parts and parts["image/png"].get_payload(decode=True)[:8] == b"\x89PNG\r\n\x1a\n"
    attached = next(p for p in message.walk() if p.get_filename() and p.get_filename().endswith(".html"))
    page = attached.get_payload(decode=True).decode()
    assert "Pipeline" in page and "<script" not in page.lower()
    assert sandbox.admin_key not in mails[0].content.decode(errors="replace")


def test_account_urls_are_shown_without_credentials_and_a_key_pasted_as_the_url_never(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from acflow.service.core import Service

    pasted = "abcdefghijklmnopqrstuvwxyz0123456789"
    monkeypatch.setenv("PASTED_URL", pasted)
    (tmp_path / "acflow.yaml").write_text("""\
version: 1
accounts:
  a: {url: "https://bob:hunter2@acme.api-us1.com", key_env: NOT_SET_KEY}
  b: {url_env: PASTED_URL, key_env: NOT_SET_KEY}
flows:
  x: {source: {entity: deals, account: a}, to: x.csv}
""")
    service = Service(tmp_path / "acflow.yaml")
    try:
        health = service.accounts_health()
        states = service.flows()
    finally:
        service.stop(1)
    assert [h["url"] for h in health] == ["https://acme.api-us1.com", "$PASTED_URL"]
    shown = repr(health) + repr([s.to_dict() for s in states])
    assert "hunter2" not in shown and pasted not in shown


def test_the_readmes_serve_example_is_a_valid_acflow_yaml(tmp_path: Path) -> None:
    """The README's acflow serve example, as written there, passes `acflow validate` and means what it says."""
    from acflow.config import load
    from acflow.run import check, list_flows

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme[readme.index("## Keeping data fresh"):]
    block = section[section.index("```yaml\n") + 8:section.index("```\n", section.index("```yaml\n") + 8)]
    (tmp_path / "acflow.yaml").write_text("version: 1\naccounts:\n  main: {url: https://acme.api-us1.com, "
                                          "key_env: AC_KEY}\n" + block)
    cfg = load(tmp_path / "acflow.yaml")
    assert set(check(cfg)) == {"deals_pipeline", "contacts", "lists"}
    listed = {f["flow"]: f for f in list_flows(cfg)}
    assert listed["deals_pipeline"]["schedule"] == "every 30 minutes, Mon–Fri, 08:00–18:00 (Europe/Berlin)"
    assert listed["lists"]["schedule"] is None  # schedule: off turns the default off
    assert listed["contacts"]["schedule"].startswith("cron 0 2 * * *")
    assert cfg.flows["deals_pipeline"].serve is not None and cfg.spec.service.keep_runs == "90d"


def test_an_account_without_its_key_fails_only_its_own_flows(tmp_path: Path, sandbox: Sandbox,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "acflow.yaml").write_text(f"""\
version: 1
accounts:
  main: {{url: "{sandbox.url}", key_env: AC_KEY, rate_limit: 1000}}
  other: {{url: "https://other.api-us1.com", key_env: OTHER_KEY_NOT_SET}}
flows:
  lists: {{source: {{entity: lists, account: main}}, to: out/lists.csv}}
  elsewhere: {{source: {{entity: lists, account: other}}, to: out/other.csv}}
""")
    monkeypatch.setenv("AC_KEY", sandbox.admin_key)
    monkeypatch.delenv("OTHER_KEY_NOT_SET", raising=False)
    from acflow.service.core import Service

    service = Service(tmp_path / "acflow.yaml")
    try:
        good, bad = service.trigger("lists"), service.trigger("elsewhere")
        runs = {r.run_id: r for r in _wait_runs(service, 2)}
    finally:
        service.stop(30)
    assert runs[good.run_id].status == "success"
    assert runs[bad.run_id].status == "failed" and "OTHER_KEY_NOT_SET" in runs[bad.run_id].error


def test_the_history_names_the_mirrors_metadata_schema() -> None:
    """history.py writes META down rather than import the mirror (DuckDB) into the service's process."""
    from acflow.mirror import META
    from acflow.service.history import META as HISTORY_META

    assert HISTORY_META == META


def test_errors_from_the_run_host_keep_their_words_and_exit_code_and_load_no_library() -> None:
    from acflow.errors import ConfigErrors, KeyRefused
    from acflow.service.host import _pack, _unpack

    refused = _unpack(_pack(KeyRefused("ActiveCampaign refused the API key")))
    assert type(refused) is KeyRefused and refused.exit_code == 3
    several = _unpack(_pack(ConfigErrors(["flows.a.to: bad", "flows.b.mode: worse"])))
    assert str(several) == "flows.a.to: bad\nflows.b.mode: worse" and several.exit_code == 2
    kind, data = _pack(OSError(28, "No space left on device"))  # as a driver's error would come
    assert kind == "text" and str(_unpack((kind, data))) == "OSError: [Errno 28] No space left on device"
