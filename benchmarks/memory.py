"""Peak memory of `acflow sync contacts` as the account grows (it should not grow with it).

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
from _sandbox_process import sandbox_process

ACFLOW = [sys.executable, "-m", "acflow.cli"]


def run(contacts: int) -> tuple[float, float, int]:
    with sandbox_process("--contacts", str(contacts), "--rate-limit", "0") as url:
        with tempfile.TemporaryDirectory() as tmp:
            started = time.monotonic()
            child = subprocess.Popen([*ACFLOW, "sync", "contacts", "--api-url", url,
                                      "--api-key", "sandbox-admin-key", "--mirror", str(Path(tmp) / "m.duckdb"),
                                      "--json", "--rate-limit", "10000"], stdout=subprocess.DEVNULL)
            _, status, usage = os.wait4(child.pid, 0)
            seconds = time.monotonic() - started
            if status != 0:
                raise SystemExit(f"acflow sync failed for {contacts:,} contacts (status {status})")
            con = duckdb.connect(str(Path(tmp) / "m.duckdb"), read_only=True)
            rows = con.execute("SELECT sum(rows) FROM _acflow.state WHERE entity = 'contacts'").fetchone()[0]
            con.close()
        return usage.ru_maxrss / 1024, seconds, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="250000,500000,1000000")
    args = parser.parse_args()
    print(f"{'contacts':>10}{'rows in mirror':>16}{'peak RSS MB':>13}{'seconds':>9}{'records/s':>11}")
    for size in (int(s) for s in args.sizes.split(",")):
        peak, seconds, rows = run(size)
        print(f"{size:>10,}{rows:>16,}{peak:>13.0f}{seconds:>9.1f}{rows / seconds:>11,.0f}")


if __name__ == "__main__":
    main()
