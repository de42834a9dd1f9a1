"""The CLI as users meet it: help, exit codes, one-line errors, and no secret anywhere."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys

import duckdb
import openpyxl
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import acflow
from acflow.cli import app

runner = CliRunner()


def acflow_cmd(*args, env=None, cwd=None):
    full_env = {**os.environ, "COLUMNS": "200", **(env or {})}
    full_env.pop("ACTIVECAMPAIGN_API_URL", None)
    full_env.pop("ACTIVECAMPAIGN_API_KEY", None)
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "acflow.cli", *args], capture_output=True, text=True,
                          env=full_env, cwd=cwd, timeout=240)


def commands(typer_app, prefix=()):
    for info in typer_app.registered_commands:
        yield (*prefix, info.name or info.callback.__name__)
    for group in typer_app.registered_groups:
        yield from commands(group.typer_instance, (*prefix, group.name))
    if typer_app is app:  # mounted lazily (its server's imports are heavy), so not a registered group
        from acflow.sandbox.cli import app as sandbox_app

        yield ("sandbox",)
        yield from commands(sandbox_app, ("sandbox",))


def test_help_lists_the_commands():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for name in ("demo", "sandbox", "export", "sync", "preview", "entities", "init", "validate", "run", "flows"):
        assert name in result.output


@pytest.mark.parametrize("command", list(commands(app)), ids=" ".join)
def test_every_command_has_help_with_an_example(command):
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0
    assert "Example:" in result.output


def test_the_clis_copies_of_library_defaults_are_equal():
    """cli.py repeats a few constants so that `acflow --help` imports no data library."""
    from acflow import account, cli, config, mirror

    assert (cli.URL_ENV, cli.KEY_ENV) == (account.URL_ENV, account.KEY_ENV)
    assert cli.DEFAULT_MIRROR == mirror.DEFAULT_PATH
    assert cli.DEFAULT_CONFIG == config.DEFAULT_CONFIG


def test_python_api_names():
    assert sorted(acflow.__all__) == [
        "Account", "AcflowError", "ApiError", "ConfigError", "DestinationError", "ExportSummary",
        "KeyRefused", "NotActiveCampaign", "PagingStuck", "RunSummary", "SyncSummary", "export", "preview", "report",
        "run", "sync", "validate",
    ]


def test_unknown_entity(sandbox):
    result = acflow_cmd("export", "deal", "--to", "x.csv", "--api-url", sandbox.url, "--api-key", "k")
    assert result.returncode == 2
    assert result.stderr == "Error: unknown entity 'deal'. Did you mean 'deals'?\n"
    assert sandbox.stats()["requests"] == 0  # checked before any request


def test_plain_http_is_refused():
    result = acflow_cmd("sync", "--api-url", "http://acme.api-us1.com", "--api-key", "k")
    assert result.returncode == 2
    assert result.stderr == ("Error: refusing plain http:// for acme.api-us1.com: the API key would travel "
                             "unencrypted; use https://\n")


def test_refused_key_exits_3(sandbox):
    result = acflow_cmd("sync", "contacts", env={"ACTIVECAMPAIGN_API_URL": sandbox.url,
                                                "ACTIVECAMPAIGN_API_KEY": "nope"})
    assert result.returncode == 3
    assert result.stderr == (f"Error: ActiveCampaign refused the API key for {sandbox.url} (403). "
                             "Check ACTIVECAMPAIGN_API_KEY or --api-key.\n")


def test_bad_destination_is_caught_before_any_request(sandbox, tmp_path):
    result = acflow_cmd("export", "deals", "--to", str(tmp_path / "d.csv"), "--mode", "merge",
                        "--api-url", sandbox.url, "--api-key", sandbox.admin_key)
    assert result.returncode == 2
    assert result.stderr == "Error: csv destinations take --mode replace or append, not 'merge'\n"
    assert sandbox.stats()["requests"] == 0


def test_export_json_summary(sandbox, tmp_path):
    out = tmp_path / "deals.csv"
    result = acflow_cmd("export", "deals", "--to", str(out), "--json", "--mirror", str(tmp_path / "m.duckdb"),
                        "--api-url", sandbox.url, "--api-key", sandbox.admin_key, "--rate-limit", "1000")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["ok"] is True and summary["rows"] == len(sandbox.snapshot("deals"))
    assert summary["sync"]["entities"][0]["requests"] >= 1
    assert pacsv.read_csv(out).num_rows == summary["rows"]


def test_the_key_appears_nowhere(sandbox, tmp_path):
    """A failing verbose run: the key is in no output, log, file or mirror row."""
    sandbox.set_faults("500=1.0@lists")
    key = sandbox.admin_key
    mirror = tmp_path / "m.duckdb"
    result = acflow_cmd("export", "lists", "--to", str(tmp_path / "l.csv"), "--verbose", "--mirror", str(mirror),
                        "--api-url", sandbox.url, "--api-key", key, "--rate-limit", "1000", "--attempts", "2",
                        cwd=tmp_path)
    sandbox.set_faults(None)
    assert result.returncode == 1
    assert "gave up after" in result.stderr
    assert "GET lists" in result.stderr  # verbose logs the requests...
    assert key not in result.stdout and key not in result.stderr  # ...never the key
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert key.encode() not in path.read_bytes(), path
    # DuckDB may compress what it stores: ask the mirror itself, every text column of every table
    import duckdb
    con = duckdb.connect(str(mirror), read_only=True)
    tables = con.execute("SELECT schema_name, table_name FROM duckdb_tables()").fetchall()
    assert ("_acflow", "runs") in tables
    for schema, table in tables:
        texts = [c for c, t in con.execute(f'SELECT column_name, column_type FROM (DESCRIBE "{schema}"."{table}")'
                                           ).fetchall() if t == "VARCHAR"]
        for column in texts:
            hits = con.execute(f'SELECT count(*) FROM "{schema}"."{table}" WHERE contains("{column}", ?)',
                               [key]).fetchone()[0]
            assert hits == 0, (schema, table, column)


def test_demo(tmp_path):
    """The demo runs the starter flows: every destination kind, read back."""
    result = acflow_cmd("demo", "--dir", str(tmp_path / "demo"), "--contacts", "300", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = tmp_path / "demo" / "out"
    assert pacsv.read_csv(out / "campaign_performance.csv").num_rows > 0
    assert pq.read_table(out / "active_contacts.parquet").num_rows > 0
    assert (out / "forms.jsonl").read_text().count("\n") > 0
    assert openpyxl.load_workbook(out / "acflow.xlsx").sheetnames == ["Deals pipeline", "Lists", "Segments"]
    with sqlite3.connect(out / "acflow.db") as db:
        assert db.execute("SELECT count(*) FROM deals_by_stage").fetchone()[0] > 0
    with duckdb.connect(str(out / "acflow.duckdb"), read_only=True) as db:
        assert db.execute("SELECT count(*) FROM deals_with_contacts").fetchone()[0] == 300 // 4
    assert (tmp_path / "demo" / "acflow.yaml").exists()
    use = float(re.search(r"Rate-limit use: ([0-9.]+) of", result.stdout).group(1))
    assert 0 < use <= 1.0  # a share of what the limit allowed: never above it, whatever the sync's length
