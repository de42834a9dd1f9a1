"""The account check comes first: sent with only aiohttp and the client loaded, before the mirror exists.

`acflow` runs in a subprocess whose Client.check notes, as it starts, which of pyarrow, DuckDB and
numpy are loaded and whether the mirror file exists. No timings here: benchmarks/startup.py has them.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys

import pytest
from test_startup import _loaded_after as loaded_after

import acflow
from acflow.account import Account
from acflow.errors import KeyRefused

HEAVY = ("pyarrow", "duckdb", "numpy")

PROBE = f"""
import json, os, sys
from acflow import client

seen, check, mirror = [], client.Client.check, sys.argv[1]

async def noting_check(self):
    seen.append({{"heavy": [m for m in {HEAVY!r} if m in sys.modules], "mirror": os.path.exists(mirror)}})
    return await check(self)

client.Client.check = noting_check
sys.argv = ["acflow", *sys.argv[2:]]
from acflow.cli import main
try:
    main()
finally:
    with open(os.environ["ACFLOW_SEEN"], "w") as f:
        json.dump(seen, f)
"""


def _run_noting_check(tmp_path, key: str, *args: str) -> tuple[subprocess.CompletedProcess, list[dict]]:
    mirror, seen = tmp_path / "m" / "mirror.duckdb", tmp_path / "seen.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACTIVECAMPAIGN_")}
    env.update(ACTIVECAMPAIGN_API_KEY=key, ACFLOW_SEEN=str(seen), COLUMNS="200")
    result = subprocess.run([sys.executable, "-c", PROBE, str(mirror), *args, "--mirror", str(mirror)],
                            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    return result, json.loads(seen.read_text())


def _loaded_after(statement: str) -> list[str]:
    return loaded_after(statement, HEAVY)


def test_what_the_check_needs_loads_no_pyarrow_duckdb_or_numpy():
    assert _loaded_after("import acflow.client, acflow.account, acflow.ratelimit, acflow.errors, acflow.paging, "
                         "acflow.catalog, acflow.sync") == []


def test_sync_checks_the_account_before_loading_pyarrow_or_duckdb_or_opening_the_mirror(sandbox, tmp_path):
    result, seen = _run_noting_check(tmp_path, sandbox.admin_key, "sync", "lists", "--api-url", sandbox.url,
                                     "--rate-limit", "1000")
    assert result.returncode == 0, result.stderr
    assert seen == [{"heavy": [], "mirror": False}]
    assert (tmp_path / "m" / "mirror.duckdb").exists()


def test_export_checks_the_account_before_opening_the_mirror(sandbox, tmp_path):
    result, seen = _run_noting_check(tmp_path, sandbox.admin_key, "export", "lists", "--to", "lists.csv",
                                     "--api-url", sandbox.url, "--rate-limit", "1000")
    assert result.returncode == 0, result.stderr
    assert [s["mirror"] for s in seen] == [False]
    assert (tmp_path / "lists.csv").exists()


def test_export_checks_the_account_before_loading_pyarrow_or_duckdb(sandbox, tmp_path):
    result, seen = _run_noting_check(tmp_path, sandbox.admin_key, "export", "lists", "--to", "lists.csv",
                                     "--api-url", sandbox.url, "--rate-limit", "1000")
    assert result.returncode == 0, result.stderr
    assert [s["heavy"] for s in seen] == [[]]


@pytest.mark.parametrize("command", [["sync", "lists"], ["export", "lists", "--to", "lists.csv"]])
def test_a_refused_key_creates_no_mirror_and_no_destination(sandbox, tmp_path, command):
    result, seen = _run_noting_check(tmp_path, "nope", *command, "--api-url", sandbox.url)
    assert result.returncode == 3
    assert result.stderr == (f"Error: ActiveCampaign refused the API key for {sandbox.url} (403). "
                             "Check ACTIVECAMPAIGN_API_KEY or --api-key.\n")
    assert len(seen) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seen.json"]  # no mirror folder, no lists.csv


def test_the_python_api_opens_a_mirror_path_only_for_a_proven_key(sandbox, tmp_path):
    path = tmp_path / "m" / "mirror.duckdb"
    with pytest.raises(KeyRefused):
        acflow.sync(["lists"], account=Account(sandbox.url, "nope", rate_limit=1000), mirror=path)
    with pytest.raises(KeyRefused):
        acflow.export("lists", str(tmp_path / "lists.csv"), account=Account(sandbox.url, "nope", rate_limit=1000),
                      mirror=path)
    assert list(tmp_path.iterdir()) == []
    summary = acflow.sync(["lists"], account=Account(sandbox.url, sandbox.admin_key, rate_limit=1000), mirror=path)
    assert summary.ok and summary.mirror == str(path)


def test_the_default_mirror_path_is_the_mirrors():
    """sync.py repeats mirror.DEFAULT_PATH so that the check needs no DuckDB."""
    from acflow import mirror

    assert importlib.import_module("acflow.sync").DEFAULT_PATH == mirror.DEFAULT_PATH  # acflow.sync is the function
