"""A mirror of another layout, a corrupt one, one another process holds, and DuckDB's spill files:
each a clean outcome or one line, never a traceback or a silent wipe."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import textwrap
import time

import duckdb
import pytest
from test_cli import acflow_cmd

import acflow
from acflow import mirror as mirror_module
from acflow.errors import ConfigError
from acflow.mirror import FORMAT, META, Mirror


def _synced(sandbox, account, path):
    acflow.sync(["lists"], account=account, mirror=path)
    with Mirror(path) as db:  # a DuckDB destination inside the mirror file itself: the user's, kept
        db.con.execute("CREATE TABLE main.my_lists AS SELECT 1 AS id")


@pytest.mark.parametrize("layout", ["format below", "first layout, without mirror_id"])
def test_an_older_mirror_is_rebuilt_once_and_syncs(sandbox, account, tmp_path, caplog, layout):
    path = tmp_path / "m.duckdb"
    _synced(sandbox, account, path)
    con = duckdb.connect(str(path))
    if layout == "format below":
        con.execute(f"UPDATE {META}.about SET format = {FORMAT - 1}")
    else:
        con.execute(f"DROP TABLE {META}.about")
        con.execute(f"CREATE TABLE {META}.about (format INTEGER)")
        con.execute(f"INSERT INTO {META}.about VALUES (1)")
    con.close()
    with caplog.at_level(logging.WARNING, logger="acflow"), Mirror(path) as db:
        assert db.query(f"SELECT format FROM {META}.about") == [(FORMAT,)]
        assert db.state(account.url, "lists") is None  # the cache went: the next sync fetches in full
    assert [r.getMessage() for r in caplog.records] == [
        f"mirror {path} has an older layout; rebuilding it (the next sync fetches in full)"]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="acflow"), Mirror(path) as db:  # once, not on every run
        assert db.query("SELECT count(*) FROM main.my_lists") == [(1,)]
    assert caplog.records == []
    summary = acflow.sync(["lists"], account=account, mirror=path)
    assert summary.ok and summary.result("lists").rows == len(sandbox.snapshot("lists"))


def test_a_mirror_of_a_newer_acflow_is_refused_and_kept(sandbox, account, tmp_path):
    path = tmp_path / "m.duckdb"
    _synced(sandbox, account, path)
    con = duckdb.connect(str(path))
    con.execute(f"UPDATE {META}.about SET format = {FORMAT + 1}")
    con.close()
    with pytest.raises(ConfigError) as info:
        Mirror(path)
    assert str(info.value) == (
        f"mirror {path} was written by a newer acflow (layout {FORMAT + 1}; this one reads layout {FORMAT}): "
        "upgrade acflow, or give this one another --mirror")
    result = acflow_cmd("sync", "lists", "--mirror", str(path), "--api-url", sandbox.url,
                        "--api-key", sandbox.admin_key)
    assert result.returncode == 2 and result.stderr == f"Error: {info.value}\n"
    con = duckdb.connect(str(path))  # nothing wiped
    assert con.execute(f"SELECT format FROM {META}.about").fetchall() == [(FORMAT + 1,)]
    assert con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'lists'").fetchone()[0] == 1


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_a_corrupt_mirror_is_one_line_saying_it_is_a_cache(sandbox, account, tmp_path, damage):
    path = tmp_path / "m.duckdb"
    _synced(sandbox, account, path)
    data = path.read_bytes()
    path.write_bytes({"garbage": b"not a database " * 1000, "truncated": data[: len(data) // 2],
                      "empty": b""}[damage])
    result = acflow_cmd("sync", "lists", "--mirror", str(path), "--api-url", sandbox.url,
                        "--api-key", sandbox.admin_key)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"Error: mirror {path} is damaged (")
    assert result.stderr.endswith(f"it is only a cache of the API's data: delete {path} "
                                  "and the next sync fetches everything again\n")


def test_duckdb_spills_beside_the_mirror_and_a_killed_run_s_spill_goes(tmp_path):
    path = tmp_path / "m.duckdb"
    with Mirror(path) as db:
        spill = db.query("SELECT current_setting('temp_directory')")[0][0]
    assert spill.startswith(str(tmp_path) + "/")
    ready = tmp_path / "ready"
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import pathlib, time
        from acflow.mirror import Mirror
        db = Mirror({str(path)!r})
        db.con.execute("SET memory_limit = '100MB'; SET threads = 1")
        def stall(x: str) -> str:  # called once the sort has spilled, as the sorted rows are read
            pathlib.Path({str(ready)!r}).touch()
            time.sleep(600)
            return x
        db.con.create_function("stall", stall, ["VARCHAR"], "VARCHAR", side_effects=True)
        db.con.execute("SELECT stall(s) FROM (SELECT md5(range::VARCHAR) || repeat('x', 100) AS s "
                       "FROM range(3000000) ORDER BY s)").fetchall()
    """)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while not ready.exists():
        assert child.poll() is None, child.communicate()
        time.sleep(0.05)
    spilled = [p for p in tmp_path.rglob("*") if p.is_file() and str(p).startswith(spill)]
    assert spilled  # the sort spilled, into the mirror's folder
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert all(p.exists() for p in spilled)  # what a kill leaves
    with Mirror(path):
        assert not any(p.exists() for p in spilled)


def test_mirror_busy_names_the_other_process(tmp_path):
    path = tmp_path / "m.duckdb"
    holder = subprocess.Popen([sys.executable, "-c", f"import duckdb, sys; c = duckdb.connect({str(path)!r}); "
                               "print('held', flush=True); sys.stdin.read()"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(mirror_module.MirrorBusy) as info:
            Mirror(path)
        assert str(info.value) == (f"mirror {path} is in use by another acflow process (PID {holder.pid}): "
                                   "wait for it to finish, or give this one another --mirror")
        assert info.value.exit_code == 1
    finally:
        holder.kill()
        holder.wait()
