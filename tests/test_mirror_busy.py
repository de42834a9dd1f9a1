"""A mirror another process holds: one clean line and exit 1 (a run that could not start, not bad usage)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from test_cli import acflow_cmd


@pytest.fixture
def held_mirror(tmp_path):
    path = tmp_path / "m.duckdb"
    holder = subprocess.Popen([sys.executable, "-c", f"import duckdb, sys, time; c = duckdb.connect({str(path)!r}); "
                               "print('held', flush=True); time.sleep(120)"], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    yield path
    holder.kill()
    holder.wait()


def test_a_mirror_held_by_another_process_exits_1_with_one_line(sandbox, held_mirror):
    result = acflow_cmd("sync", "lists", "--mirror", str(held_mirror), "--api-url", sandbox.url, "--api-key",
                        sandbox.admin_key)
    assert result.returncode == 1
    assert result.stderr.startswith(f"Error: mirror {held_mirror} is in use by another acflow process")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr

