"""Many accounts on 1, 2 and 4 worker processes: does throughput grow until the accounts' limits bind?

One sandbox process serves 40 accounts (`--more-accounts 40`), each answering after 250 ms and allowing
5 requests/s; `acflow worker` processes (10 runs at a time each, niced: the sandbox stands for a
server on other machines) sync contacts and deals of every account, queued by `enqueue_runs`.
Per row: wall time, records/s, the share of the 40 accounts' summed limit used (over the whole run,
and while every account is running), each account's use of its own limit while its run lasts, 429s,
the most requests any account saw in one second, and the workers' CPU seconds per million records.

    .venv/bin/python benchmarks/scale_out.py [--workers 1 2 4] [--contacts 4000] [--margin 0.03]

Needs Redis (ACFLOW_REDIS_URL, default redis://127.0.0.1:6379/9 here).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil
from _sandbox_process import sandbox_process

ACCOUNTS = 40
LIMIT = 5.0
PER_WORKER = 10


def get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


def row(url: str, workers: int, env: dict[str, str], tmp: Path, names: list[str]) -> dict[str, float]:
    from acflow.workers.app import get_app
    from acflow.workers.enqueue import enqueue_runs, results

    urllib.request.urlopen(urllib.request.Request(f"{url}/_sandbox/reset", data=b"{}", method="POST"), timeout=600)
    root = tmp / f"mirrors-{workers}"
    env = {**env, "ACFLOW_MIRROR_ROOT": str(root)}
    os.environ.update(env)
    procs = [subprocess.Popen(["nice", "-n", "10", sys.executable, "-m", "acflow.cli", "worker", "-c", str(PER_WORKER),
                               "-n", f"bench{workers}-{i}@scale"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL) for i in range(workers)]
    try:
        deadline = time.monotonic() + 120
        while len([n for r in get_app().control.ping(timeout=0.5) for n in r]) < workers:
            if time.monotonic() > deadline:
                raise SystemExit("the workers did not start")
        cpu0 = sum(sum(psutil.Process(p.pid).cpu_times()[:2]) for p in procs)
        started = time.monotonic()
        ids = enqueue_runs(None, accounts_file=tmp / "accounts.csv", entities=["contacts", "deals"])
        done = results(ids, timeout=3600)
        wall = time.monotonic() - started
        cpu = sum(sum(psutil.Process(p.pid).cpu_times()[:2]) for p in procs) - cpu0
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait()
    failed = [d for d in done if d.get("status") != "ok"]
    if failed:
        raise SystemExit(f"{len(failed)} runs failed: {failed[0].get('error')}")
    stats = {n: get(f"{url}/acct/{n}/_sandbox/stats") for n in names}
    records = sum(d["rows"] for d in done)
    requests = sum(s["requests"] for s in stats.values())
    use = [d["requests"] / d["seconds"] / LIMIT for d in done]  # while each account's run lasted
    # while all 40 ran at once: the requests of the window between the last start and the first end
    return {"workers": workers, "wall": wall, "records": records, "records_per_s": records / wall,
            "limit_share": requests / wall / (LIMIT * len(names)),
            "account_use_median": statistics.median(use), "account_use_min": min(use),
            "rate_limited": sum(s["rate_limited"] for s in stats.values()),
            "max_in_any_second": max(s["max_in_any_second"] for s in stats.values()),
            "cpu_per_million": cpu / records * 1e6, "concurrent": min(workers * PER_WORKER, len(names))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--contacts", type=int, default=4000)
    parser.add_argument("--latency-ms", type=int, default=250)
    parser.add_argument("--margin", type=float, default=None, help="ACFLOW_RATE_MARGIN (default: the limiter's 3%%)")
    args = parser.parse_args()
    tag = f"bench{os.getpid()}"
    env = {**os.environ, "ACFLOW_REDIS_URL": os.environ.get("ACFLOW_REDIS_URL", "redis://127.0.0.1:6379/9"),
           "ACFLOW_REDIS_PREFIX": f"acflow-{tag}:", "ACFLOW_QUEUE": f"acflow-{tag}"}
    if args.margin is not None:
        env["ACFLOW_RATE_MARGIN"] = str(args.margin)
    names = [f"acct{i:02d}" for i in range(1, ACCOUNTS + 1)]
    flags = ["--more-accounts", str(ACCOUNTS), "--latency-ms", str(args.latency_ms), "--rate-limit", str(LIMIT),
             "--contacts", str(args.contacts), "--deals", str(args.contacts // 5)]
    with sandbox_process(*flags) as url, tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        with (tmp / "accounts.csv").open("w") as f:
            f.write("name,url,key_env\n")
            for n in names:
                f.write(f"{n},{url}/acct/{n},{n.upper()}_KEY\n")
                env[f"{n.upper()}_KEY"] = f"{n}-admin-key"
        rows = [row(url, w, env, tmp, names) for w in args.workers]
    print(f"{ACCOUNTS} accounts x ({args.contacts} contacts + {args.contacts // 5} deals), {args.latency_ms} ms "
          f"latency, {LIMIT:g} requests/s each (sum {ACCOUNTS * LIMIT:g}/s), {PER_WORKER} runs per worker, "
          f"margin {env.get('ACFLOW_RATE_MARGIN', '0.03')}; {os.cpu_count()} cores")
    print("| workers | accounts at once | wall s | records/s | share of summed limit | account's own limit "
          "used (median / min) | 429s | max in any second | CPU s per 1M records |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['workers']} | {r['concurrent']} | {r['wall']:.1f} | {r['records_per_s']:,.0f} | "
              f"{r['limit_share']:.2f} | {r['account_use_median']:.2f} / {r['account_use_min']:.2f} | "
              f"{r['rate_limited']} | {r['max_in_any_second']} | {r['cpu_per_million']:.0f} |")


if __name__ == "__main__":
    main()
