"""acflow serve under a burst: 20 flows over 3 accounts, all asked for at the same moment.

Three sandboxes run in processes of their own (3 accounts), each at 5 requests/s with 250 ms
latency. `acflow serve` runs in another; all 20 flows are triggered at
once over HTTP (as a shared schedule minute would). For each account the figure that matters is
how much of its limit the burst used: its requests / (limit x the time its runs took), target
>= 0.95, with 0 429s and never more than the limit in any second. Then the service idles between
runs: its memory (RSS, with its child processes: the run host while it lingers, multiprocessing's
resource tracker) and CPU over 20 s, targets under 150 MB and under 1% of a core.

    .venv/bin/python benchmarks/service.py [--contacts 2000]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).parent))
from _sandbox_process import sandbox_process

TOKEN = "benchmark-token-0123456789abcdef"
LIMIT = 5.0
ENTITIES = ["deals", "contacts", "lists", "campaigns", "segments", "forms", "dealStages", "dealGroups", "users",
            "tags"]


def config(folder: Path, accounts: list[str], count: int) -> Path:
    lines = ["version: 1", "accounts:"]
    for i, name in enumerate(accounts):
        lines += [f"  {name}:", f"    url_env: URL_{i}", f"    key_env: KEY_{i}", f"    rate_limit: {LIMIT}"]
    lines.append("flows:")
    for n in range(count):  # 7, 7 and 6 flows per account (of 20 over 3), over different entities
        account = accounts[n % len(accounts)]
        entity = ENTITIES[(n // len(accounts)) % len(ENTITIES)]
        lines += [f"  f{n:02d}_{entity}:", f"    source: {{entity: {entity}, account: {account}}}",
                  f"    to: out/{account}/f{n:02d}_{entity}.csv"]
    path = folder / "acflow.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--contacts", type=int, default=2000)
    ap.add_argument("--deals", type=int, default=1000)
    ap.add_argument("--idle-seconds", type=float, default=20.0)
    ap.add_argument("--accounts", type=int, default=3)
    ap.add_argument("--flows", type=int, default=20)
    args = ap.parse_args()
    names = ["main", *(f"acct{i:02d}" for i in range(1, args.accounts))]
    from acflow.sandbox.server import ADMIN_KEY

    flags = ["--latency-ms", "250", "--rate-limit", str(LIMIT), "--contacts", str(args.contacts),
             "--deals", str(args.deals)]
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        urls = [stack.enter_context(sandbox_process(*flags, "--seed", str(i + 1))) for i in range(len(names))]
        folder = Path(tmp)
        cfg = config(folder, names, args.flows)
        env = {**os.environ, "ACFLOW_SERVICE_TOKEN": TOKEN}
        for i, u in enumerate(urls):
            env[f"URL_{i}"], env[f"KEY_{i}"] = u, ADMIN_KEY
        proc = subprocess.Popen([sys.executable, "-m", "acflow.cli", "serve", "--config", str(cfg), "--port", "0",
                                 "--no-schedules", "--no-ui", "--parallel", "3"], env=env, cwd=folder,
                                stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        lines: list[str] = []
        threading.Thread(target=lambda: lines.extend(line.rstrip() for line in proc.stderr), daemon=True).start()
        try:
            deadline = time.monotonic() + 60
            while not (found := [m for x in list(lines) if (m := re.search(r"listening on (\S+)", x))]):
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise SystemExit("the service did not start:\n" + "\n".join(lines))
                time.sleep(0.05)
            api = httpx.Client(base_url=found[0].group(1), headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)
            flows = [f"f{n:02d}_{ENTITIES[(n // len(names)) % len(ENTITIES)]}" for n in range(args.flows)]
            clock = time.monotonic()
            ids = [api.post(f"/flows/{f}/run").json()["run_id"] for f in flows]
            runs = {}
            while len(runs) < len(ids):
                for run_id in ids:
                    if run_id not in runs:
                        body = api.get(f"/runs/{run_id}").json()
                        if body["status"] not in ("queued", "running"):
                            runs[run_id] = body
                time.sleep(0.2)
            wall = time.monotonic() - clock
            stats = [httpx.get(f"{u}/_sandbox/stats").json() for u in urls]
            print(f"{args.flows} flows over {len(names)} accounts at {LIMIT:g} requests/s, 250 ms latency: "
                  f"all done in {wall:.1f} s; "
                  f"statuses: {statistics.multimode([r['status'] for r in runs.values()])}")
            print("| account | flows | requests | reading for (s) | use of its limit | 429s | max in any second |")
            print("|---|---|---|---|---|---|---|")
            for i, name in enumerate(names):
                mine = [runs[r] for r, f in zip(ids, flows, strict=True) if int(f[1:3]) % len(names) == i]
                start = min(_t(r["started"]) for r in mine)
                end = max(_t(r["synced"]) for r in mine)  # its last request: the writes follow, account free
                s = stats[i]
                busy = end - start
                use = s["requests"] / (LIMIT * busy) if busy else 0
                print(f"| {name} | {len(mine)} | {s['requests']} | {busy:.1f} | {use:.2f} | {s['rate_limited']} | "
                      f"{s['max_in_any_second']} |")
            waited = [r["waited"] for r in runs.values() if r["waited"] > 0.5]
            print(f"runs that waited for their account: {len(waited)} "
                  f"(median {statistics.median(waited or [0]):.1f} s)")
            for r in runs.values():
                if r["error"]:
                    print(f"  {r['flow']}: {r['status']}: {r['error']}")
            ps = psutil.Process(proc.pid)
            clock = time.monotonic()  # the run host ends a linger (5 s) after its last request: idle starts then
            while _run_host(ps):
                if time.monotonic() - clock > 60:
                    raise SystemExit("the run host did not end within 60 s of the burst")
                time.sleep(0.1)
            linger = time.monotonic() - clock
            family = [ps, *ps.children(recursive=True)]  # multiprocessing's resource tracker
            cpu0 = sum(sum(p.cpu_times()[:2]) for p in family)
            time.sleep(args.idle_seconds)
            cpu = (sum(sum(p.cpu_times()[:2]) for p in family) - cpu0) / args.idle_seconds * 100
            full = [p.memory_full_info() for p in family]
            rss, uss = sum(f.rss for f in full) / 2**20, sum(f.uss for f in full) / 2**20
            if os.environ.get("SHOW_LOG"):
                print("\n".join(lines))
            print(f"the run host ended {linger:.1f} s after the burst; then idle for {args.idle_seconds:g} s, the "
                  f"service and its {len(family) - 1} child process(es): {rss:.0f} MB resident ({uss:.0f} MB "
                  f"their own), {cpu:.2f}% of a core")
        finally:
            proc.terminate()
            proc.wait(60)


def _run_host(ps: psutil.Process) -> bool:
    """Whether the service's run host is up (multiprocessing's resource tracker is a child too)."""
    for child in ps.children():
        try:
            if child.status() != psutil.STATUS_ZOMBIE and "resource_tracker" not in " ".join(child.cmdline()):
                return True
        except psutil.Error:
            continue
    return False


def _t(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text).timestamp()


if __name__ == "__main__":
    main()
