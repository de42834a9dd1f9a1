"""Google Sheets writes: requests used and wall time for 10,000 and 100,000 deals, per mode.

The sandbox (ActiveCampaign) and the Sheets API stand-in (tests/sheets_api) each run in a process
of their own, both on loopback with no latency, so the wall time is acflow's own work plus the
stand-in's (its share is printed apart). Google's own processing time is not modelled: what carries
over to Google is the number and size of the requests, and the floor Google's quota sets, 60 write
requests a minute per user (printed as "quota floor"). The deals are synced once; each write is
what `acflow export deals --to gsheets://...` writes after its sync (the deals with their derived
columns, in id order), through `destinations.write`.

    .venv/bin/python benchmarks/gsheets.py [--rows 10000 100000]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from _sandbox_process import sandbox_process

import acflow
from acflow import destinations
from acflow.account import Account
from acflow.catalog import CATALOG
from acflow.export import derived_query
from acflow.mirror import Mirror

TESTS = Path(__file__).resolve().parents[1] / "tests"


def stand_in() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-m", "sheets_api"], cwd=TESTS, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000])
    args = parser.parse_args()
    largest = max(args.rows)
    proc, url = stand_in()
    try:
        with tempfile.TemporaryDirectory() as tmp, sandbox_process("--seed", "3", "--deals", str(largest),
                                                                    "--rate-limit", "0") as ac:
            http = httpx.Client(base_url=url)
            runs = [(rows, label, mode) for rows in sorted(args.rows) for label, mode in (
                ("replace (new sheet)", "replace"), ("replace (over the last)", "replace"),
                ("merge (every row)", "merge"))]
            keys = []  # a service account per run: each starts with Google's quota unused, as a run a minute later
            for i in range(len(runs)):
                key = http.post("/_standin/service_account", json={"email": f"bench{i}@standin.iam.example.com"})
                keys.append(Path(tmp) / f"sa{i}.json")
                keys[-1].write_text(json.dumps(key.json()))
            editors = [json.loads(k.read_text())["client_email"] for k in keys]
            os.environ["ACFLOW_SHEETS_ENDPOINT"] = url
            account = Account(ac, "sandbox-admin-key", rate_limit=1000)
            started = time.monotonic()
            acflow.sync(["deals"], account=account, mirror=Path(tmp) / "m.duckdb")
            print(f"synced {largest:,} deals in {time.monotonic() - started:.1f} s (not counted below)\n")
            print(f"{'rows':>8}  {'mode':<24} {'reads':>5} {'writes':>6} {'MB sent':>8} {'max MB':>6} "
                  f"{'wall s':>7} {'stand-in s':>10} {'quota floor s':>13}")
            books: dict[int, str] = {}
            with Mirror(Path(tmp) / "m.duckdb") as db:
                for (rows, label, mode), key_file in zip(runs, keys, strict=True):
                    if rows not in books:
                        books[rows] = http.post("/_standin/spreadsheets", json={"editors": editors}).json()["id"]
                    os.environ["GOOGLE_APPLICATION_CREDENTIALS"] = str(key_file)
                    dest = destinations.parse(f"gsheets://{books[rows]}?sheet=Deals", "deals")
                    deals = derived_query(CATALOG["deals"], db.current(account.url, "deals"))
                    query = f"SELECT * FROM ({deals}) ORDER BY id LIMIT {rows}"
                    run(db, query, dest, mode, label, rows, http)
    finally:
        proc.terminate()
        proc.wait()


def run(db: Mirror, query: str, dest: destinations.Destination, mode: str, label: str, rows: int,
        http: httpx.Client) -> None:
    before = http.get("/_standin/stats").json()
    started = time.monotonic()
    written = destinations.write(db, query, dest, mode)
    wall = time.monotonic() - started
    after = http.get("/_standin/stats").json()
    reads, writes = after["reads"] - before["reads"], after["writes"] - before["writes"]
    sent = (after["body_bytes"] - before["body_bytes"]) / 1e6
    server = after["server_seconds"] - before["server_seconds"]
    floor = (math.ceil(writes / 60) - 1) * 60  # Google lets 60 writes a minute through per user
    assert written == rows
    print(f"{rows:>8,}  {label:<24} {reads:>5} {writes:>6} {sent:>8.1f} {after['max_body'] / 1e6:>6.2f} "
          f"{wall:>7.2f} {server:>10.2f} {floor:>13.0f}")


if __name__ == "__main__":
    main()
