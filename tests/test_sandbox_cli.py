"""`acflow sandbox serve`: documented flags, one-line errors, and a real server from the command line."""

from __future__ import annotations

import re
import signal
import subprocess
import sys

import httpx
import pytest
from typer.testing import CliRunner

from acflow.catalog import CATALOG
from acflow.sandbox.cli import app

runner = CliRunner()


def test_help_documents_every_flag_and_an_example():
    # wide enough that rich does not cut the longest flags (--accountcustomfieldmeta)
    result = runner.invoke(app, ["serve", "--help"], terminal_width=200, env={"COLUMNS": "250"})
    assert result.exit_code == 0
    assert "Example: acflow sandbox serve" in result.output
    for flag in ("--latency-ms", "--rate-limit", "--rate-limit-status", "--faults", "--slow-seconds",
                 "--churn", "--admin-key", "--restricted-key", "--timezone", "--seed", "--port", "--host"):
        assert flag in result.output, flag
    for name in CATALOG:  # one size flag per entity, from the catalog
        assert f"--{name.lower()}" in result.output, name
    assert "orders[id]=ASC|DESC" in result.output and "KIND=RULE[@SCOPE]" in result.output
    group = runner.invoke(app, ["--help"])
    assert "Example:" in group.output


@pytest.mark.parametrize(("args", "message"), [
    (["--faults", "503=sometimes"], "Invalid value for --faults"),
    (["--churn", "contact=5"], "unknown entity 'contact'"),
    (["--rate-limit-status", "500"], "must be 429 or 503"),
    (["--contacts", "-1"], "--contacts"),
])
def test_bad_flags_exit_2_naming_the_fix(args, message):
    result = runner.invoke(app, ["serve", *args], terminal_width=200)
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())


def test_serve_from_the_command_line():
    code = "from acflow.sandbox.cli import app; app()"
    proc = subprocess.Popen([sys.executable, "-c", code, "serve", "--port", "0", "--contacts", "120",
                             "--dealgroups", "2", "--faults", "503=every:2", "--admin-key", "k1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        banner = [proc.stdout.readline() for _ in range(3)]  # type: ignore[union-attr]
        url = re.search(r"http://127\.0\.0\.1:\d+", banner[0]).group(0)  # type: ignore[union-attr]
        assert "admin key:      k1" in banner[1] and "sandbox-restricted-key" in banner[2]
        codes = [httpx.get(f"{url}/api/3/contacts", headers={"Api-Token": "k1"}).status_code for _ in range(2)]
        assert codes == [200, 503]
        assert len(httpx.get(f"{url}/_sandbox/snapshot/contacts").json()) == 120
        assert len(httpx.get(f"{url}/_sandbox/snapshot/dealGroups").json()) == 2
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0 and "Traceback" not in err
