"""A full disk under each destination and the mirror: a real small file system (tmpfs, mounted as
root), one line naming the cause, and what was there before untouched."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

import duckdb
import pytest
from test_cli import acflow_cmd

from acflow import destinations
from acflow.errors import DestinationError
from acflow.mirror import Mirror

BIG = "SELECT range AS id, md5(range::VARCHAR) || md5((range + 1)::VARCHAR) AS s FROM range(1000000)"  # ~64 MB


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 16 MB file system; skipped where mounting is not allowed (not root, a container without
    CAP_SYS_ADMIN), with the reason."""
    folder = tmp_path / "disk"
    folder.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("a full disk is simulated with a 16 MB tmpfs, which only root can mount")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(folder)],
                          capture_output=True, text=True)
    if done.returncode:
        pytest.skip(f"cannot mount a 16 MB tmpfs here: {done.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def _fill(folder: Path, leave: int) -> Path:
    """Fill the file system but `leave` bytes."""
    filler = folder / "filler"
    with filler.open("wb") as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        except OSError:
            pass
    size = filler.stat().st_size
    os.truncate(filler, max(0, size - leave))
    return filler


@pytest.mark.parametrize("scheme", ["duckdb", "sqlite"])
def test_a_full_disk_under_a_database_says_so_and_keeps_the_table(mirror, small_disk, scheme):
    path = small_disk / ("d.duckdb" if scheme == "duckdb" else "d.db")
    dest = destinations.parse(f"{scheme}:///{path}?table=t", "t")
    destinations.write(mirror, "SELECT range AS id, 'old' AS s FROM range(3)", dest, "replace")
    with pytest.raises(DestinationError) as info:
        destinations.write(mirror, BIG, dest, "replace")
    assert str(info.value) == f"cannot write {dest.describe()}: no space left on device; the destination is unchanged"
    if scheme == "duckdb":
        rows = duckdb.connect(str(path)).execute("SELECT id, s FROM t ORDER BY id").fetchall()
    else:
        rows = sqlite3.connect(path).execute("SELECT id, s FROM t ORDER BY id").fetchall()
    assert rows == [(0, "old"), (1, "old"), (2, "old")]


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_a_full_disk_under_a_file_says_so_and_leaves_nothing(mirror, small_disk, kind):
    target = small_disk / f"d.{kind}"
    dest = destinations.parse(str(target), "t")
    destinations.write(mirror, "SELECT 1 AS id, 'old' AS s", dest, "replace")
    before = target.read_bytes()
    for mode in ("replace", "append"):
        with pytest.raises(DestinationError) as info:
            destinations.write(mirror, BIG, dest, mode)
        assert "no space left on device" in str(info.value) and str(info.value).endswith("unchanged")
        assert "\n" not in str(info.value)
        assert target.read_bytes() == before
        assert {p.name for p in small_disk.iterdir()} == {target.name, destinations.lock_path(target).name}


def test_a_full_disk_under_the_mirror_is_one_line_and_the_mirror_survives(sandbox, small_disk):
    path = small_disk / "m.duckdb"
    Mirror(path).close()
    filler = _fill(small_disk, 64 * 1024)
    args = ("sync", "contacts", "deals", "--mirror", str(path), "--api-url", sandbox.url,
            "--api-key", sandbox.admin_key)
    result = acflow_cmd(*args)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr, result.stderr
    assert "no space left on device" in result.stderr
    assert all(len(line) < 400 for line in result.stderr.splitlines())
    filler.unlink()
    result = acflow_cmd(*args)
    assert result.returncode == 0, result.stderr
