"""What every `acflow` command pays before it does anything: `--help`, imports, the first request.

Prints the median (and range) of several runs of:
- `acflow --help` end to end (target: under 0.3 s);
- `import acflow.cli`, as `python -X importtime` reports it, and its five costliest imports;
- the time from starting `acflow export contacts` to the sandbox seeing its first request
  (target: 0.5 s). The sandbox runs in a process of its own and is polled every 5 ms.

    .venv/bin/python benchmarks/startup.py [--runs 7]
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


def first_request_seconds(url: str, folder: Path) -> float:
    """From Popen of `acflow export` to the sandbox counting its first API request."""
    env = {**os.environ, "ACTIVECAMPAIGN_API_URL": url, "ACTIVECAMPAIGN_API_KEY": "sandbox-admin-key"}
    with httpx.Client(base_url=url) as http:
        before = http.get("/_sandbox/stats").json()["requests"]
        started = time.perf_counter()
        proc = subprocess.Popen([*ACFLOW, "export", "lists", "--to", str(folder / "lists.csv"), "--mirror",
                                 str(folder / "m.duckdb")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env=env, cwd=folder)
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
        firsts = [first_request_seconds(url, Path(tmp)) for _ in range(args.runs)]
    print(f"first request of export: {figure(firsts)}")


if __name__ == "__main__":
    main()
