"""Records per second end to end, with the API out of the way (no latency, no limit).

acflow: `acflow.export("contacts", to="contacts.csv")`, what `acflow export`
runs: the account check, contacts from the sandbox into the mirror (HTTP, JSON,
typing, DuckDB), then from the mirror to CSV as users get it (byte order mark,
formulas neutralised). The floor: the same records, already in memory, turned
into an Arrow table and inserted into DuckDB, the least any tool must do.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import duckdb
import pyarrow as pa
from _sandbox_process import sandbox_process

import acflow
from acflow.account import Account
from acflow.catalog import CATALOG
from acflow.client import Client
from acflow.paging import pages


async def count_all(account: Account) -> int:
    count = 0
    async with Client(account) as client:
        async for page in pages(client, CATALOG["contacts"], concurrency=4):
            count += len(page)
    return count


async def fetch_all(account: Account) -> list[dict]:
    out: list[dict] = []
    async with Client(account) as client:
        async for page in pages(client, CATALOG["contacts"], concurrency=4):
            out.extend(page.records())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contacts", type=int, default=200_000)
    args = parser.parse_args()
    cache = str(args.contacts * 3 // 1000 + 64)  # MB: every rendered contact stays cached
    with sandbox_process("--seed", "3", "--contacts", str(args.contacts), "--rate-limit", "0",
                         "--cache-mb", cache) as url, \
            tempfile.TemporaryDirectory() as tmp:
        account = Account(url, "sandbox-admin-key", rate_limit=10_000)
        # warm the sandbox (it renders each record once, then serves from its cache) so the
        # figures are acflow's, not the sandbox's first pass; this pass is fetch only
        started = time.perf_counter()
        fetched = asyncio.run(count_all(account))
        print(f"sandbox warm-up (fetch only, cold sandbox): {fetched / (time.perf_counter() - started):,.0f} records/s")
        started = time.perf_counter()
        fetched = asyncio.run(count_all(account))
        print(f"fetch only (HTTP + ids, no typing):         {fetched / (time.perf_counter() - started):,.0f} records/s")
        started = time.perf_counter()
        exported = acflow.export("contacts", str(Path(tmp) / "contacts.csv"), account=account,
                                 mirror=Path(tmp) / "m.duckdb")
        total_seconds = time.perf_counter() - started
        result = exported.sync.result("contacts")
        assert exported.rows == result.rows == args.contacts, exported
        # the floor, on the same records
        records = asyncio.run(fetch_all(account))
        started = time.perf_counter()
        table = pa.Table.from_pylist(records)
        con = duckdb.connect(str(Path(tmp) / "floor.duckdb"))
        con.register("t", table)
        con.execute("CREATE TABLE contacts AS SELECT * FROM t")
        floor_seconds = time.perf_counter() - started
    sync_rate = result.rows / result.seconds
    csv_seconds = total_seconds - result.seconds
    total_rate = result.rows / total_seconds
    floor_rate = len(records) / floor_seconds
    print(f"contacts: {result.rows:,} in {result.requests} requests ({result.rows / result.requests:.0f} per request)")
    print(f"sync into the mirror:      {result.seconds:7.2f} s  {sync_rate:>10,.0f} records/s")
    print(f"check + mirror -> CSV:     {csv_seconds:7.2f} s  {result.rows / csv_seconds:>10,.0f} records/s")
    print(f"end to end (export):       {total_seconds:7.2f} s  {total_rate:>10,.0f} records/s")
    print(f"floor (Arrow + DuckDB):    {floor_seconds:7.2f} s  {floor_rate:>10,.0f} records/s "
          f"(records already in memory as dicts: pa.Table.from_pylist, untyped, then a DuckDB insert)")
    print(f"end to end / floor:        {total_rate / floor_rate:.2f}")


if __name__ == "__main__":
    main()
