"""What every `acflow` command pays before it does anything: `--help`, imports, the first request.

Prints the median (and range) of several runs of:
- `acflow --help` end to end (target: under 0.3 s);
- `import acflow.cli`, as `python -X importtime` reports it, and its five costliest imports;
- the time from starting `acflow export lists` (and `acflow sync lists`) to the sandbox seeing
  its first request, the account check (target: 0.5 s). The sandbox runs in a process of its
  own and is polled every 5 ms.

    .venv/bin/python benchmarks/startup.py [--runs 7]

RESULTS (2 cores, shared with other work: load 1.3-2.5, so medians move by 0.1 s between runs;
the three trees below were measured interleaved, run by run, under the same load):

    first request of         export             sync
    before (6a3bb98)         0.82 s / 0.69 s    0.79 s / 0.72 s    (11 / 9 runs)
    check first              0.68 s / 0.59 s    0.43 s / 0.37 s
    now (destinations light) 0.41 s / 0.37 s    0.44 s / 0.38 s
    now, alone (load ~1)     0.40 s             0.33 s             (7 runs; --help 0.18 s)

    At load 0.2 (quiet): before 0.66 s (export); now 0.53 s export, 0.34 s sync (11 runs).
    `acflow --help` 0.18-0.21 s; `import acflow.cli` 0.07 s (typer 24-39 ms, rich.console 17-26 ms).

The check is now a sync's first request: sync.py imports only the client (aiohttp) before
it; columns, zones and mirror (pyarrow, DuckDB) load in a thread while the check is in
flight, and the mirror is opened once the key is proven. Against an API 250 ms away that
overlap shortens a whole `acflow sync lists` by 0.19 s (1.46 -> 1.27 s); on loopback it
neither helps nor delays the first request.

Where an export's 0.6 s went before its first request, before destinations.py was made light
(import costs, medians of 9, in order):
Python itself ~25 ms; acflow.cli (typer, rich) 83 ms; typer 0.29's pydantic, which it loads
to coerce a command's parameters (typer._adapters) 72 ms; asyncio 16 ms; destinations.py,
which export needs first to refuse a bad --to before any request, imports DuckDB 56 ms,
filelock 11 ms and mirror.py's pyarrow (with numpy) 160 ms; aiohttp 143 ms, of which about
25 ms is the two SSL contexts aiohttp.connector makes at import; tenacity, orjson, simdjson
and acflow's own modules ~20 ms; then the event loop, the session and the connection.
destinations.py now imports DuckDB, filelock, the mirror and the xlsx writer in its write path
only, so parsing --to costs none of that ~230 ms (tests/test_startup_order.py holds it).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from _sandbox_process import sandbox_process

ACFLOW = [sys.executable, "-m", "acflow.cli"]


def figure(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} s (range {min(values):.3f} to {max(values):.3f}, {len(values)} runs)"


def help_seconds() -> float:
    started = time.perf_counter()
    subprocess.run([*ACFLOW, "--help"], capture_output=True, check=True)
    return time.perf_counter() - started


def import_profile() -> tuple[float, list[tuple[int, str]]]:
    """(seconds of `import acflow.cli`, [(microseconds, module)] of its costliest direct imports)."""
    result = subprocess.run([sys.executable, "-X", "importtime", "-c", "import acflow.cli"], capture_output=True,
                            text=True, check=True)
    rows = []
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line[len("import time:"):].split("|")
        rows.append((int(cumulative), name[1:].rstrip()))  # the name's indent is its depth
    total = next(us for us, name in rows if name == "acflow.cli")
    top = sorted(((us, name.strip()) for us, name in rows if name.startswith("  ") and name[2] != " "),
                 reverse=True)[:5]
    return total / 1e6, top


def first_request_seconds(url: str, folder: Path, command: str = "export") -> float:
    """From Popen of `acflow export` (or `sync`) to the sandbox counting its first API request."""
    env = {**os.environ, "ACTIVECAMPAIGN_API_URL": url, "ACTIVECAMPAIGN_API_KEY": "sandbox-admin-key"}
    args = ["lists", "--to", str(folder / "lists.csv")] if command == "export" else ["lists"]
    with httpx.Client(base_url=url) as http:
        before = http.get("/_sandbox/stats").json()["requests"]
        started = time.perf_counter()
        proc = subprocess.Popen([*ACFLOW, command, *args, "--mirror", str(folder / "m.duckdb")],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=folder)
        try:
            while http.get("/_sandbox/stats").json()["requests"] == before:
                if proc.poll() is not None:
                    raise SystemExit("acflow export ended before any request")
                time.sleep(0.005)
            return time.perf_counter() - started
        finally:
            proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    helps = [help_seconds() for _ in range(args.runs)]
    profiles = [import_profile() for _ in range(args.runs)]
    print(f"acflow --help:           {figure(helps)}")
    print(f"import acflow.cli:       {figure([p[0] for p in profiles])} (python -X importtime)")
    for us, name in profiles[len(profiles) // 2][1]:
        print(f"    {us / 1000:7.1f} ms  {name}")
    with sandbox_process("--rate-limit", "0") as url, tempfile.TemporaryDirectory() as tmp:
        firsts = {c: [first_request_seconds(url, Path(tmp), c) for _ in range(args.runs)] for c in ("export", "sync")}
    for command, seconds in firsts.items():
        print(f"first request of {command + ':':7} {figure(seconds)}")


if __name__ == "__main__":
    main()
