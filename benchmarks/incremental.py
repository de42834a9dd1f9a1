"""What a refresh costs after 1% of the contacts changed: incremental against full.

Coupler.io re-downloads everything on every run (its ActiveCampaign source has no
date filter): for 100,000 contacts that is 1,000 requests, 200 seconds of an
account's whole rate limit. acflow asks only for what changed since its mirror's
newest record (from the day before, as the API compares days) and merges by id.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import httpx
from _sandbox_process import sandbox_process

from acflow.account import Account
from acflow.catalog import CATALOG
from acflow.mirror import Mirror
from acflow.sync import sync_async

API_LIMIT = 5.0  # requests per second of a real account


def sync(account: Account, mirror: Mirror) -> tuple[int, float, str, int]:
    started = time.perf_counter()
    summary = asyncio.run(sync_async(account, [CATALOG["contacts"]], mirror))
    result = summary.result("contacts")
    assert summary.ok, summary.to_dict()
    return result.requests, time.perf_counter() - started, result.fetch, result.inserted + result.updated


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--changed", type=float, default=0.01, help="share of contacts updated between syncs")
    args = parser.parse_args()
    changed = int(args.contacts * args.changed)
    with sandbox_process("--contacts", str(args.contacts), "--rate-limit", "0") as url, \
            tempfile.TemporaryDirectory() as tmp, Mirror(Path(tmp) / "m.duckdb") as mirror:
        account = Account(url, "sandbox-admin-key", rate_limit=10_000)
        full = sync(account, mirror)
        httpx.post(f"{url}/_sandbox/mutate", json={"entity": "contacts", "update": changed}, timeout=60)
        incremental = sync(account, mirror)
    print(f"{args.contacts:,} contacts, {changed:,} updated between the two syncs (no latency, no limit)\n")
    print(f"{'sync':<14}{'fetch':<13}{'requests':>9}{'seconds':>9}{'rows changed':>14}{'at 5 req/s':>12}")
    for label, (requests, seconds, kind, rows) in (("first", full), ("refresh", incremental)):
        print(f"{label:<14}{kind:<13}{requests:>9,}{seconds:>9.2f}{rows:>14,}{requests / API_LIMIT:>11.0f}s")
    print(f"\nrefresh / full requests: {incremental[0] / full[0]:.2%} (target: at most 2%)")


if __name__ == "__main__":
    main()
