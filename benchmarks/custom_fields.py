"""What custom fields as columns cost when publishing: the pivot over fieldValues against no pivot.

The sandbox (its own process, no limit) serves 100,000 contacts, 20 custom fields and a value for
every contact and field (2,000,000 values); they are synced into a mirror once, then contacts are
published with `custom_fields="off"` and `"columns"` to Parquet and to a DuckDB table, and merged
after 1% of the values changed. Also timed on their own: the plan (reading the fields, naming
them), the check for values that do not fit their type, and the pivot query alone.
Fetching is not the point here (see incremental.py); its requests are printed for the record.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from _sandbox_process import sandbox_process

from acflow import custom_fields as cf
from acflow import destinations
from acflow.account import Account
from acflow.catalog import CATALOG
from acflow.export import publish
from acflow.mirror import Mirror
from acflow.sync import sync_async

API_LIMIT = 5.0


CPU: list[tuple[str, float]] = []  # (what, CPU seconds of the process's threads): steadier on a busy machine


def timed(fn: Callable[[], object], runs: int, label: str = "") -> tuple[float, object]:
    """The median of `runs` timings (wall seconds), and the last result; the least CPU time goes to CPU."""
    seconds, cpu, result = [], [], None
    for _ in range(runs):
        started, used = time.perf_counter(), time.process_time()
        result = fn()
        seconds.append(time.perf_counter() - started)
        cpu.append(time.process_time() - used)
    if label:
        CPU.append((label, min(cpu)))
    return statistics.median(seconds), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--fields", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    values = args.contacts * args.fields
    contacts = CATALOG["contacts"]
    with sandbox_process("--contacts", str(args.contacts), "--fields", str(args.fields), "--fieldvalues",
                         str(values), "--rate-limit", "0") as url, tempfile.TemporaryDirectory() as tmp:
        account = Account(url, "sandbox-admin-key", rate_limit=10_000)
        with Mirror(Path(tmp) / "m.duckdb") as mirror:
            started = time.perf_counter()
            summary = asyncio.run(sync_async(account, [contacts, CATALOG["fields"], CATALOG["fieldValues"]], mirror))
            assert summary.ok, summary.to_dict()
            fetched = time.perf_counter() - started
            requests = {e.entity: e.requests for e in summary.entities}
            print(f"{args.contacts:,} contacts, {args.fields} custom fields, {values:,} values; synced in "
                  f"{fetched:.0f} s: requests {requests} (at 5 req/s: "
                  f"{sum(requests.values()) / API_LIMIT / 60:.0f} min, of which fieldValues "
                  f"{requests['fieldValues'] / API_LIMIT / 60:.0f} min)\n")

            rows: list[tuple[str, float, float]] = []

            def both(label: str, make: Callable[[str], Callable[[], object]]) -> None:
                off, _ = timed(make("off"), args.runs, f"{label} off")
                on, _ = timed(make("columns"), args.runs, f"{label} columns")
                rows.append((label, off, on))

            def to(target: str, mode: str = "replace") -> Callable[[str], Callable[[], object]]:
                def make(custom: str) -> Callable[[], object]:
                    def run() -> object:
                        dest = destinations.parse(target.format(tmp=tmp, custom=custom), "contacts")
                        return publish(mirror, account.url, contacts, dest, mode, custom_fields=custom, notes=[])
                    return run
                return make

            both("replace -> parquet", to("{tmp}/contacts_{custom}.parquet"))
            both("replace -> duckdb", to("duckdb:///{tmp}/out_{custom}.duckdb"))
            both("replace -> csv", to("{tmp}/contacts_{custom}.csv"))

            # the pieces, on their own
            base = mirror.current(account.url, "contacts")
            meta, data = (mirror.current(account.url, n) for n in ("fields", "fieldValues"))
            with mirror.cursor() as con:
                have = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {base}").fetchall()]
                plan_s, plan = timed(lambda: cf.plan(con, contacts, meta, data, account=account.url,
                                                     parent_columns=have, keep=False), args.runs)
                assert isinstance(plan, cf.Plan)
                check_s, _ = timed(lambda: cf.bad_values(con, plan, data, "contacts"), args.runs)
                pivot = cf.columns_sql(con, plan, base, data)
                pivot_s, _ = timed(lambda: con.execute(f"SELECT count(*), sum(hash(t)) FROM ({pivot}) t").fetchall(),
                                   args.runs, "pivot query alone")
                plain_s, _ = timed(lambda: con.execute(f"SELECT count(*), sum(hash(t)) FROM {base} t").fetchall(),
                                   args.runs, "the contacts alone")

            # merge: everything, then after 1% of the values changed
            merged = Path(tmp) / "merge.duckdb"
            dest = destinations.parse(f"duckdb:///{merged}", "contacts")
            first_s, first = timed(lambda: publish(mirror, account.url, contacts, dest, "merge", notes=[]), 1)
            changed = values // 100
            httpx.post(f"{url}/_sandbox/mutate", json={"entity": "fieldValues", "update": changed}, timeout=120)
            summary = asyncio.run(sync_async(account, [contacts, CATALOG["fields"], CATALOG["fieldValues"]], mirror))
            assert summary.ok
            again_s, again = timed(lambda: publish(mirror, account.url, contacts, dest, "merge", notes=[]), 1)

    print(f"{'publish':<22}{'off s':>8}{'columns s':>11}{'extra':>9}")
    for label, off, on in rows:
        print(f"{label:<22}{off:>8.2f}{on:>11.2f}{on / off - 1:>+9.0%}")
    print(f"\npieces (median of {args.runs}): plan {plan_s * 1000:.0f} ms, type check {check_s * 1000:.0f} ms, "
          f"pivot query alone {pivot_s:.2f} s (the contacts alone {plain_s:.2f} s)")
    print(f"merge -> duckdb: first {first_s:.2f} s ({first:,} rows); after {changed:,} values changed "
          f"{again_s:.2f} s ({again:,} contacts written)")
    print("\nCPU seconds (least of the runs, all threads): " + ", ".join(f"{w} {s:.2f}" for w, s in CPU))


if __name__ == "__main__":
    main()
