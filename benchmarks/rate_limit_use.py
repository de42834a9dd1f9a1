"""How much of the API's rate limit acflow uses when every answer takes 250 ms.

The sandbox enforces 5 requests/s (sliding second) and answers after 250 ms,
like a real account far away. A client that waits for each answer before the
next request can make at most 4 requests/s; acflow keeps several in flight.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from acflow.account import Account
from acflow.catalog import CATALOG, SEED_ENTITIES
from acflow.mirror import Mirror
from acflow.sandbox import Sandbox
from acflow.sync import run_coroutine, sync_async


def measure(sequential: bool, contacts: int, latency_ms: int, limit: float) -> dict[str, float]:
    """acflow as it runs, or the peers' way: one entity after another, one request at a time."""
    sizes = {"contacts": contacts, "deals": contacts // 5}
    with Sandbox(port=0, seed=7, sizes=sizes, latency_ms=latency_ms, rate_limit=limit) as sandbox, \
            tempfile.TemporaryDirectory() as tmp, Mirror(Path(tmp) / "m.duckdb") as mirror:
        account = Account(sandbox.url, sandbox.admin_key, rate_limit=limit)
        entities = [CATALOG[n] for n in SEED_ENTITIES]
        started = time.monotonic()
        if sequential:
            summaries = [run_coroutine(sync_async(account, [e], mirror, concurrency=1)) for e in entities]
        else:
            summaries = [run_coroutine(sync_async(account, entities, mirror))]
        seconds = time.monotonic() - started
        stats = sandbox.stats()
    assert all(s.ok for s in summaries), [s.to_dict() for s in summaries]
    requests = stats["requests"]
    return {
        "requests": requests, "seconds": seconds, "rps": requests / seconds, "use": requests / seconds / limit,
        "rows": sum(e.rows for s in summaries for e in s.entities),
        "429s": sum(e.rate_limited for s in summaries for e in s.entities),
        "max_in_any_second": stats.get("max_in_any_second", 0),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contacts", type=int, default=10_000)
    parser.add_argument("--latency-ms", type=int, default=250)
    parser.add_argument("--limit", type=float, default=5.0)
    args = parser.parse_args()
    print(f"sandbox: {args.contacts:,} contacts, {args.contacts // 5:,} deals, {args.latency_ms} ms latency, "
          f"limit {args.limit:g} requests/s\n")
    print(f"{'client':<28}{'requests':>9}{'seconds':>9}{'req/s':>8}{'use of limit':>14}{'429s':>6}"
          f"{'max/any 1 s':>13}{'rows/s':>9}")
    for label, sequential in (("acflow", False), ("one request at a time", True)):
        r = measure(sequential, args.contacts, args.latency_ms, args.limit)
        print(f"{label:<28}{r['requests']:>9}{r['seconds']:>9.1f}{r['rps']:>8.2f}{r['use']:>14.3f}"
              f"{r['429s']:>6}{r['max_in_any_second']:>13}{r['rows'] / r['seconds']:>9.0f}")


if __name__ == "__main__":
    main()
