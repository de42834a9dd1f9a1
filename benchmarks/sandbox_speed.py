"""How fast the sandbox serves, so that it is never what another benchmark measures.

1. Pages per second: 100-record contact pages with no latency and no rate limit, the server in
   its own process (`acflow sandbox serve`), the load from this one. With `wrk` installed
   (Debian: apt-get install wrk) it drives the load, since a Python client tops out near the
   server's own speed; an aiohttp client is measured too. Warm: pages cycle over the first
   10,000 contacts, whose rendered bytes are cached.
2. A million contacts: seconds until the first page is served, memory after start, then one
   full keyset pass over every page (cold: each record rendered once), its pages/s and the
   server's peak memory (RSS).

    .venv/bin/python benchmarks/sandbox_speed.py [--big 1000000] [--seconds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import httpx
import orjson

KEY = "sandbox-admin-key"
HEADERS = {"Api-Token": KEY}


def start_server(*args: str) -> tuple[subprocess.Popen, str, float]:
    """`acflow sandbox serve` on a free port; returns it, its URL and seconds until a page is served."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", "from acflow.sandbox.cli import app; app()", "serve",
                             "--port", "0", "--rate-limit", "0", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()  # type: ignore[union-attr]
    match = re.search(r"http://[\d.]+:\d+", line)
    if not match:
        proc.kill()
        raise SystemExit(f"the sandbox did not start: {line}{proc.stderr.read()}")  # type: ignore[union-attr]
    url = match.group(0)
    while httpx.get(f"{url}/api/3/contacts?limit=100", headers=HEADERS).status_code != 200:
        time.sleep(0.05)
    return proc, url, time.perf_counter() - t0


def memory_mb(pid: int) -> tuple[float, float]:
    """(current, peak) resident memory of a process, in MiB (Linux /proc)."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def wrk_pages_per_second(url: str, seconds: int, connections: int) -> float | None:
    if not shutil.which("wrk"):
        return None
    script = f"""wrk.headers["Api-Token"] = "{KEY}"
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", "/api/3/contacts?limit=100&offset=" .. ((i * 100) % 10000))
end
"""
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as f:
        f.write(script)
        f.flush()
        out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", f.name, url],
                             capture_output=True, text=True, check=True).stdout
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]


async def python_pages_per_second(url: str, seconds: float, concurrency: int) -> float:
    done = 0
    stop = time.perf_counter() + seconds

    async def worker(session: aiohttp.ClientSession, k: int) -> None:
        nonlocal done
        i = k
        while time.perf_counter() < stop:
            params = {"limit": "100", "offset": str(i * 100 % 10_000)}
            async with session.get(f"{url}/api/3/contacts", params=params, headers=HEADERS) as r:
                await r.read()
            done += 1
            i += concurrency

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(session, k) for k in range(concurrency)))
        return done / (time.perf_counter() - t0)


async def keyset_pass(url: str) -> tuple[int, int, float]:
    """Every contact page by id keyset, one after another: (pages, records, seconds)."""
    pages = records = 0
    last = 0
    t0 = time.perf_counter()
    async with aiohttp.ClientSession() as session:
        while True:
            params = {"orders[id]": "ASC", "id_greater": str(last), "limit": "100"}
            async with session.get(f"{url}/api/3/contacts", params=params, headers=HEADERS) as r:
                body = orjson.loads(await r.read())
            batch = body["contacts"]
            if not batch:
                return pages, records, time.perf_counter() - t0
            pages += 1
            records += len(batch)
            last = int(batch[-1]["id"])


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--big", type=int, default=1_000_000, help="contacts for the memory run (0 skips it)")
    parser.add_argument("--seconds", type=int, default=5, help="length of each throughput run")
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()

    proc, url, ready = start_server("--contacts", "20000")
    try:
        print(f"sandbox with 20,000 contacts ready in {ready:.2f} s at {url}")
        print("warm 100-record contact pages, no latency, no rate limit:")
        rate = wrk_pages_per_second(url, args.seconds, args.connections)
        if rate is None:
            print("  wrk: not installed (apt-get install wrk); skipped")
        else:
            print(f"  wrk, {args.connections} connections:            {rate:8,.0f} pages/s "
                  f"({rate * 100:,.0f} records/s)")
        rate = asyncio.run(python_pages_per_second(url, args.seconds, args.connections))
        print(f"  aiohttp client, {args.connections} connections: {rate:8,.0f} pages/s "
              "(the client process may be the limit here)")
    finally:
        stop(proc)

    if args.big:
        proc, url, ready = start_server("--contacts", str(args.big))
        try:
            rss, _ = memory_mb(proc.pid)
            print(f"\n{args.big:,} contacts: first page served {ready:.2f} s after launch "
                  f"(Python start included); RSS {rss:,.0f} MiB")
            pages, records, seconds = asyncio.run(keyset_pass(url))
            rss, peak = memory_mb(proc.pid)
            print(f"  full keyset pass: {pages:,} pages, {records:,} records in {seconds:.1f} s "
                  f"({pages / seconds:,.0f} pages/s cold, one request at a time)")
            print(f"  server RSS after the pass {rss:,.0f} MiB, peak {peak:,.0f} MiB")
        finally:
            stop(proc)


if __name__ == "__main__":
    main()
