"""Peak memory of `acflow sync contacts` as the account grows (it should not grow with it),
for the first sync and for a full one over it in which every record changed.

The sandbox runs in its own process so only acflow's memory is measured
(os.wait4 gives the peak resident set of exactly that child).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
from _sandbox_process import free_port, sandbox_process

ACFLOW = [sys.executable, "-m", "acflow.cli"]


def sync(url: str, mirror: Path, *flags: str) -> tuple[float, float]:
    """One `acflow sync contacts` in a child process: (its peak RSS in MB, seconds)."""
    started = time.monotonic()
    child = subprocess.Popen([*ACFLOW, "sync", "contacts", "--api-url", url, "--api-key", "sandbox-admin-key",
                              "--mirror", str(mirror), "--json", "--rate-limit", "10000", *flags],
                             stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    if status != 0:
        raise SystemExit(f"acflow sync {' '.join(flags)} failed (status {status})")
    return usage.ru_maxrss / 1024, time.monotonic() - started


def run(contacts: int) -> tuple[float, float, float, int]:
    """The first sync, then a full one where every record changed (another seed at the same
    URL): the worst merge, every row compared, replaced and written again."""
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        mirror = Path(tmp) / "m.duckdb"
        with sandbox_process("--contacts", str(contacts), "--rate-limit", "0", "--seed", "1", port=port) as url:
            peak, seconds = sync(url, mirror)
        with sandbox_process("--contacts", str(contacts), "--rate-limit", "0", "--seed", "2", port=port) as url:
            again, _ = sync(url, mirror, "--full")
        con = duckdb.connect(str(mirror), read_only=True)
        rows, updated = con.execute("SELECT rows, updated FROM _acflow.runs ORDER BY started DESC LIMIT 1").fetchone()
        con.close()
    if updated < rows * 0.9:
        raise SystemExit(f"the second sync changed {updated:,} of {rows:,} rows: not the worst case")
    return peak, again, seconds, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="250000,500000,1000000")
    args = parser.parse_args()
    print(f"{'contacts':>10}{'rows in mirror':>16}{'peak RSS MB':>13}{'all changed MB':>16}{'seconds':>9}"
          f"{'records/s':>11}")
    for size in (int(s) for s in args.sizes.split(",")):
        peak, again, seconds, rows = run(size)
        print(f"{size:>10,}{rows:>16,}{peak:>13.0f}{again:>16.0f}{seconds:>9.1f}{rows / seconds:>11,.0f}")


if __name__ == "__main__":
    main()
