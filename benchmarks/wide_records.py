"""Peak memory of a sync whose records carry thousands of unknown fields.

A hostile or broken server once drove an export to 22 GB with 10,000 unknown fields per record.
Unknown fields past columns.MAX_NEW_COLUMNS now share one JSON column and a batch is also bounded
by sync.BATCH_BYTES, so the peak should stay near a batch's worth whatever the width.

    python benchmarks/wide_records.py [--fields 10000] [--records 2000]

Each size syncs in a fresh process (peak RSS is per process), against a server in another
process, so the figure is acflow's alone; prints one line per size.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson
from aiohttp import web


def serve(fields: int, records: int) -> None:
    """The wide server: prints its port, then serves until killed."""
    body_cache: dict[int, bytes] = {}

    async def handler(request: web.Request) -> web.Response:
        if request.path.endswith("/users/me"):
            return web.json_response({"user": {"id": "1"}})
        offset, limit = int(request.query.get("offset", 0)), int(request.query.get("limit", 20))
        if offset not in body_cache:
            page = [{"id": str(i), "name": f"L{i}", "cdate": "2024-01-05T10:00:00-06:00",
                     **{f"f{k}": f"value {k}" for k in range(fields)}}
                    for i in range(offset + 1, min(offset + limit, records) + 1)]
            body_cache.clear()
            body_cache[offset] = orjson.dumps({"lists": page, "meta": {"total": str(records)}})
        return web.Response(body=body_cache[offset], content_type="application/json")

    async def go() -> None:
        app = web.Application()
        app.router.add_get("/{tail:.*}", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        print(site._server.sockets[0].getsockname()[1], flush=True)  # type: ignore[union-attr]
        await asyncio.Event().wait()

    asyncio.run(go())


def child(fields: int, records: int, port: int) -> None:
    from acflow import catalog
    from acflow.account import Account
    from acflow.mirror import Mirror
    from acflow.sync import sync_async

    async def go() -> None:
        with tempfile.TemporaryDirectory() as tmp, Mirror(Path(tmp) / "m.duckdb") as db:
            clock = time.monotonic()
            summary = await sync_async(Account(f"http://127.0.0.1:{port}", "k", rate_limit=1000),
                                       [catalog.CATALOG["lists"]], db)
            seconds = time.monotonic() - clock
            r = summary.result("lists")
            if r.status != "ok":
                raise SystemExit(f"{fields} fields: {r.status}: {r.error or r.incomplete}")
            columns = len(db.query(f"DESCRIBE {db.current(summary.account, 'lists')}"))
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"{fields:>6,} fields x {records:>5,} records: {r.status}, {r.rows:,} rows, {columns} columns "
              f"({r.extra_fields:,} fields in _extra_fields), {seconds:.1f} s, peak {peak:,.0f} MB")

    asyncio.run(go())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fields", type=int, nargs="*", default=[100, 1_000, 10_000])
    parser.add_argument("--records", type=int, default=2_000)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)  # the server's port
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.fields[0], args.records)
        return
    if args.child:
        child(args.fields[0], args.records, args.child)
        return
    for fields in args.fields:
        size = ["--fields", str(fields), "--records", str(args.records)]
        server = subprocess.Popen([sys.executable, __file__, "--serve", *size], stdout=subprocess.PIPE, text=True)
        try:
            port = server.stdout.readline().strip()  # type: ignore[union-attr]
            subprocess.run([sys.executable, __file__, "--child", port, *size], check=True)
        finally:
            server.kill()
            server.wait()


if __name__ == "__main__":
    main()
