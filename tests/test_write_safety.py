"""Writes that other writers, kills, Ctrl-C and full disks cannot spoil: real processes, real signals,
a real small file system."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from acflow import destinations
from acflow.errors import DestinationError
from acflow.mirror import Mirror

# A child process that owns a mirror with a table `src` of N rows tagged with its name.
_CHILD = textwrap.dedent("""
    import pathlib, sys, time
    from acflow import destinations
    from acflow.mirror import Mirror

    def mirror_with_rows(path, tag, rows):
        db = Mirror(path)
        db.con.execute(f"CREATE OR REPLACE TABLE main.src AS "
                       f"SELECT '{tag}' AS who, range AS n, repeat('x', 200) AS s FROM range({rows})")
        return db

    def wait_for(path):
        while not pathlib.Path(path).exists():
            time.sleep(0.01)
""")


def _child(tmp_path: Path, body: str, *args: str) -> subprocess.Popen[str]:
    script = tmp_path / f"child_{abs(hash(body))}.py"
    script.write_text(_CHILD + textwrap.dedent(body))
    return subprocess.Popen([sys.executable, str(script), *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=tmp_path)


def _wait_for(path: Path, proc: subprocess.Popen[str]) -> None:
    """Until the child reports a point of its work (or dies, which fails the test)."""
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)


def _rows(path: Path, kind: str) -> list[dict]:
    if kind == "parquet":
        return pq.read_table(path).to_pylist()
    if kind == "jsonl":
        return [json.loads(line) for line in path.read_text().splitlines()]
    con = duckdb.connect()
    cur = con.execute("SELECT * FROM read_csv(?, header = true, all_varchar = true)", [str(path)])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def _leftovers(folder: Path, keep: set[str]) -> set[str]:
    """Files beside a target other than those we expect (the lock file stays: it is how writers meet)."""
    return {p.name for p in folder.iterdir()} - keep - {p.name for p in folder.glob("*.acflow-lock")}


# 1. concurrent appends -------------------------------------------------------------------------
_APPENDER = """
    mirror, target, ready, go, tag = sys.argv[1:]
    db = mirror_with_rows(mirror, tag, 20)
    dest = destinations.parse(target, "t")
    pathlib.Path(ready).touch()
    wait_for(go)
    total = 0
    for i in range(25):
        total += destinations.write(db, f"SELECT who, n, {i} AS loop FROM main.src", dest, "append")
    print(total)
"""


@pytest.mark.parametrize("kind", ["csv", "jsonl", "parquet"])
def test_concurrent_appends_keep_every_row(tmp_path, kind):
    target = tmp_path / "out" / f"all.{kind}"
    go = tmp_path / "go"
    procs = [_child(tmp_path, _APPENDER, str(tmp_path / f"m{i}.duckdb"), str(target), str(tmp_path / f"ready{i}"),
                    str(go), f"p{i}") for i in range(2)]
    for i, proc in enumerate(procs):
        _wait_for(tmp_path / f"ready{i}", proc)
    go.write_text("go")  # both at once
    outputs = [p.communicate(timeout=240) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    rows = _rows(target, kind)
    for i, (stdout, _) in enumerate(outputs):
        mine = [r for r in rows if r["who"] == f"p{i}"]
        assert len(mine) == int(stdout) == 25 * 20  # every row each process says it wrote is there


def test_a_writer_waits_for_the_lock_then_says_so_in_one_line(tmp_path, monkeypatch, sandbox, account):
    """A destination another writer holds: one line after the timeout, and nothing marked delivered,
    so the next run sends the same rows."""
    from acflow.catalog import CATALOG
    from acflow.export import publish
    from acflow.sync import sync

    target = tmp_path / "lists.csv"
    holder = _child(tmp_path, """
        from filelock import FileLock
        with FileLock(sys.argv[1]):
            pathlib.Path(sys.argv[2]).write_text("held")
            sys.stdin.read()
    """, str(destinations.lock_path(target)), str(tmp_path / "held"))
    _wait_for(tmp_path / "held", holder)
    monkeypatch.setattr("acflow.destinations.local.LOCK_TIMEOUT", 0.3)
    sync(["lists"], account=account, mirror=tmp_path / "m.duckdb")
    with Mirror(tmp_path / "m.duckdb") as db:
        dest = destinations.parse(str(target), "lists")
        with pytest.raises(DestinationError) as info:
            publish(db, account.url, CATALOG["lists"], dest, "append")
        assert str(info.value) == (
            f"cannot write {target}: another acflow process has been writing it for 0.3 s "
            f"(lock {destinations.lock_path(target)}); run again when it is done; the file is unchanged")
        assert db.query("SELECT count(*) FROM _acflow.published") == [(0,)]
        assert not target.exists()
        holder.kill()
        holder.wait()
        written = publish(db, account.url, CATALOG["lists"], dest, "append")
        assert written == len(sandbox.snapshot("lists")) == len(_rows(target, "csv"))


# 2. no blank line on append --------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["csv", "jsonl"])
def test_append_adds_no_blank_line(mirror, tmp_path, kind):
    target = tmp_path / f"out.{kind}"
    dest = destinations.parse(str(target), "t")
    for _ in range(3):
        destinations.write(mirror, "SELECT 1 AS a, 'x' AS b", dest, "append")
    lines = target.read_bytes().split(b"\n")
    assert lines[-1] == b"" and b"" not in lines[:-1]
    assert len(lines) - 1 == (4 if kind == "csv" else 3)
    target.write_bytes(target.read_bytes().rstrip(b"\n"))  # a file saved without a final line break
    destinations.write(mirror, "SELECT 2 AS a, 'y' AS b", dest, "append")
    lines = target.read_bytes().split(b"\n")
    assert lines[-1] == b"" and b"" not in lines[:-1] and len(lines) - 1 == (5 if kind == "csv" else 4)


# 4. leftovers after a kill ---------------------------------------------------------------------
_STALLED_WRITE = """
    mirror, target, ready, mode = sys.argv[1:]
    db = mirror_with_rows(mirror, "k", 100_000)
    db.con.execute("SET threads = 1")  # the UDF in one thread, which DuckDB can stop between its calls
    def stall(x: int) -> int:  # the COPY is well under way when the test is told
        if x >= 5000:
            pathlib.Path(ready).touch()
            time.sleep(0.001)
        return x
    db.con.create_function("stall", stall, ["BIGINT"], "BIGINT", side_effects=True)
    dest = destinations.parse(target, "t")
    destinations.write(db, "SELECT who, stall(n) AS n, s FROM main.src", dest, mode)
    print("finished")
"""


@pytest.mark.parametrize("kind, mode", [("csv", "replace"), ("csv", "append"), ("parquet", "replace")])
def test_files_left_by_a_killed_write_go_with_the_next_write(tmp_path, mirror, kind, mode):
    folder = tmp_path / "out"
    folder.mkdir()
    target = folder / f"data.{kind}"
    dest = destinations.parse(str(target), "t")
    destinations.write(mirror, "SELECT 'old' AS who, 1 AS n, 'x' AS s", dest, "replace")
    before = target.read_bytes()
    child = _child(tmp_path, _STALLED_WRITE, str(tmp_path / "m.duckdb"), str(target), str(tmp_path / "ready"), mode)
    _wait_for(tmp_path / "ready", child)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert target.read_bytes() == before  # all or nothing
    assert _leftovers(folder, {target.name})  # what a kill leaves: files of ours beside the target
    destinations.write(mirror, "SELECT 'new' AS who, 2 AS n, 'y' AS s", dest, mode)
    assert _leftovers(folder, {target.name}) == set()
    assert [r["who"] for r in _rows(target, kind)] == (["old", "new"] if mode == "append" else ["new"])


_LONG_COPY = """
    import signal
    def stop(signum, frame):  # as acflow's CLI does: SIGTERM stops a command as Ctrl-C does
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, stop)
    mirror, target = sys.argv[1:]
    db = mirror_with_rows(mirror, "k", 1_000_000)
    dest = destinations.parse(target, "t")
    # minutes of work per copy, in DuckDB alone (counting the rows skips it)
    heavy = "list_max(list_transform(range(20000), lambda x: hash(x + n)))"
    destinations.write(db, f"SELECT who, n, {heavy} AS heavy FROM main.src", dest, "replace")
    print("finished")
"""


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_during_copy_leaves_the_destination_and_no_temporary_files(tmp_path, signum):
    folder = tmp_path / "out"
    folder.mkdir()
    target = folder / "data.csv"
    target.write_text("who,n,s\nold,1,x\n")
    child = _child(tmp_path, _LONG_COPY, str(tmp_path / "m.duckdb"), str(target))
    while not any(p.stat().st_size for p in folder.glob("*data.csv.*")):  # the copy has begun writing
        assert child.poll() is None, child.communicate()
        time.sleep(0.02)
    child.send_signal(signum)
    try:
        stdout, stderr = child.communicate(timeout=60)
    finally:
        child.kill()
    assert "finished" not in stdout  # stopped in the middle, not after the copy ran to its end
    assert stderr.rstrip().splitlines()[-1] == "KeyboardInterrupt", stderr
    assert target.read_text() == "who,n,s\nold,1,x\n"
    assert _leftovers(folder, {target.name}) == set()


def test_temp_dir_for_a_target_is_beside_it_and_outlives_no_killed_run(tmp_path):
    """What the XLSX writer gives xlsxwriter as `tmpdir`: never the shared /tmp."""
    target = tmp_path / "book.xlsx"
    child = _child(tmp_path, """
        with destinations.temp_dir_for(pathlib.Path(sys.argv[1])) as folder:
            (folder / "sheet1.xml").write_text("e-mails")
            pathlib.Path(sys.argv[2]).write_text(str(folder))
            time.sleep(600)
    """, str(target), str(tmp_path / "ready"))
    _wait_for(tmp_path / "ready", child)
    killed = Path((tmp_path / "ready").read_text())
    assert killed.parent == tmp_path and (killed / "sheet1.xml").exists()
    child.send_signal(signal.SIGKILL)
    child.wait()
    with destinations.temp_dir_for(target) as folder:
        assert folder.parent == tmp_path and folder.is_dir()
        assert not killed.exists()  # a killed run's folder went with the next one
    assert not folder.exists()
