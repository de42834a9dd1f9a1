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
        assert second["waited"] > 0 or first["waited"] > 0 or "contacts" in first["rows_read"]
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
