"""acflow beside its peers, on the same sandbox data, in one run; prints one table per scenario.

    .venv/bin/python benchmarks/peers/run.py [--scenario realistic|unthrottled|both] [--quick]

Peers (installed on first use into benchmarks/peers/.venv and .venv-singer, never into the
project's venv; tap-activecampaign's pins conflict with dlt's, hence two):
- singer-io tap-activecampaign 1.3.1 (singer_launcher.py), Singer messages to a file;
- dlt's generic rest_api source (dlt_pipeline.py) into DuckDB;
- a plain sequential httpx loop, limit=100 (naive.py), JSON files;
- acflow sync (the project's venv) into its DuckDB mirror.

One sandbox (`acflow sandbox serve`, its own process) per scenario; before each tool
POST /_sandbox/reset restores the data and zeroes the stats, so every tool reads the same
records from a cold sandbox. Wall time around the subprocess, CPU seconds and peak RSS
from os.wait4, requests and 429s from GET /_sandbox/stats. Agreement: each peer's ids per
entity equal acflow's, and deal value / 100 (usd, eur), / 1 (jpy), / 1000 (kwd) equals
acflow's exported `amount`. Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import duckdb
import httpx

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE.parent))
from _sandbox_process import sandbox_process  # noqa: E402

ACFLOW = REPO / ".venv" / "bin" / "acflow"
VENVS = {  # venv -> pinned requirements
    HERE / ".venv": ["dlt[duckdb]==1.31.0", "duckdb==2.0.0", "httpx==0.28.1"],
    HERE / ".venv-singer": ["tap-activecampaign==1.3.1"],
}
PEER_PY = HERE / ".venv" / "bin" / "python"
SINGER_PY = HERE / ".venv-singer" / "bin" / "python"
KEY = "sandbox-admin-key"
ENTITIES = ["campaigns", "contacts", "lists", "deals", "segments", "forms"]
DEFAULT_SIZES = {"campaigns": 40, "contacts": 500, "lists": 8, "deals": 200, "segments": 12, "forms": 6}
SCENARIOS = {  # contacts (full, --quick), latency ms, rate limit (0 = off), per-tool timeout s
    "realistic": {"contacts": (20_000, 1_000), "latency_ms": 250, "limit": 5, "timeout": 900},
    "unthrottled": {"contacts": (200_000, 5_000), "latency_ms": 0, "limit": 0, "timeout": 1200},
}
SEED = 6
MINOR_UNITS = {"usd": 100, "eur": 100, "jpy": 1, "kwd": 1000}
TOOLS = ["acflow", "singer", "dlt", "naive"]


def ensure_venvs() -> None:
    for venv, requirements in VENVS.items():
        marker = venv / "installed.json"
        if marker.exists() and json.loads(marker.read_text()) == requirements:
            continue
        print(f"installing {' '.join(requirements)} into {venv.relative_to(REPO)} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", *requirements], check=True)
        marker.write_text(json.dumps(requirements))


def sizes_for(contacts: int) -> dict[str, int]:
    """The sandbox's default proportions, scaled to this many contacts."""
    return {e: max(1, n * contacts // DEFAULT_SIZES["contacts"]) for e, n in DEFAULT_SIZES.items()}


def singer_catalog(url: str, work: Path) -> Path:
    """Discover (untimed), then select our six streams."""
    config = work / "singer-config.json"
    config.write_text(json.dumps({"api_url": url, "api_token": KEY, "start_date": "2000-01-01T00:00:00Z",
                                  "user_agent": "acflow-benchmark", "request_timeout": 300}))
    found = subprocess.run([str(SINGER_PY), str(HERE / "singer_launcher.py"), "--config", str(config), "--discover"],
                           check=True, capture_output=True, text=True).stdout
    catalog = json.loads(found)
    catalog["streams"] = [s for s in catalog["streams"] if s["tap_stream_id"] in ENTITIES]
    for stream in catalog["streams"]:
        for m in stream["metadata"]:
            if m["breadcrumb"] == []:
                m["metadata"]["selected"] = True
    path = work / "singer-catalog.json"
    path.write_text(json.dumps(catalog))
    return path


def command(tool: str, url: str, work: Path, limit: float) -> list[str]:
    if tool == "acflow":  # it is told the account's limit; off means "as fast as it goes"
        return [str(ACFLOW), "sync", "--api-url", url, "--api-key", KEY, "--mirror", str(work / "mirror.duckdb"),
                "--rate-limit", str(limit or 10_000)]
    if tool == "singer":
        return [str(SINGER_PY), str(HERE / "singer_launcher.py"), "--config", str(work.parent / "singer-config.json"),
                "--catalog", str(work.parent / "singer-catalog.json")]
    if tool == "dlt":
        return [str(PEER_PY), str(HERE / "dlt_pipeline.py"), url, KEY, str(work / "dlt.duckdb"),
                str(work / "pipelines")]
    return [str(PEER_PY), str(HERE / "naive.py"), url, KEY, str(work / "json")]


def measure(cmd: list[str], work: Path, timeout: float) -> dict:
    """Run one tool; wall seconds, CPU seconds and peak RSS of it (and its children) from wait4."""
    # unbuffered so stderr can be followed while a tool runs; singer flushes every message itself anyway
    env = {**os.environ, "RUNTIME__DLTHUB_TELEMETRY": "false", "PYTHONUNBUFFERED": "1"}
    with open(work / "stdout", "wb") as out, open(work / "stderr", "wb") as err:
        started = time.monotonic()
        proc = subprocess.Popen(cmd, cwd=work, stdout=out, stderr=err, env=env, start_new_session=True)
        timed_out = False
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - started > timeout:
                timed_out = True
                os.killpg(proc.pid, signal.SIGKILL)
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.02)
        seconds = time.monotonic() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {"seconds": seconds, "cpu": usage.ru_utime + usage.ru_stime, "rss_mb": usage.ru_maxrss / 1024,
            "exit": proc.returncode, "timed_out": timed_out}


# ---- what each tool wrote: ids per entity, and deals as {id: (value, currency)} / {id: amount} ----

def read_acflow(work: Path, url: str) -> tuple[dict[str, set[int]], dict[int, Decimal]]:
    # the derived `amount` is an export column, not a mirror one: export deals (untimed, after the stats)
    subprocess.run([str(ACFLOW), "export", "deals", "--to", f"duckdb:///{work / 'deals.duckdb'}", "--api-url", url,
                    "--api-key", KEY, "--mirror", str(work / "mirror.duckdb"), "--rate-limit", "10000"],
                   cwd=work, check=True, capture_output=True)
    with duckdb.connect(str(work / "mirror.duckdb"), read_only=True) as con:
        schema = con.execute("SELECT table_schema FROM information_schema.tables WHERE table_name = 'deals' "
                             "AND table_schema <> '_acflow'").fetchone()[0]
        ids = {e: {r[0] for r in con.execute(
            f'SELECT id FROM "{schema}"."{e}" WHERE _acflow_deleted_at IS NULL').fetchall()} for e in ENTITIES}
    with duckdb.connect(str(work / "deals.duckdb"), read_only=True) as con:
        amounts = dict(con.execute("SELECT id, amount FROM deals").fetchall())
    return ids, amounts


def read_singer(work: Path) -> tuple[dict[str, set[int]], dict[int, tuple]]:
    ids: dict[str, set[int]] = {e: set() for e in ENTITIES}
    deals = {}
    with open(work / "stdout", "rb") as lines:
        for line in lines:
            message = json.loads(line)
            if message["type"] != "RECORD":
                continue
            record = message["record"]
            ids[message["stream"]].add(int(record["id"]))
            if message["stream"] == "deals":
                deals[int(record["id"])] = (record.get("value"), record.get("currency"))
    return ids, deals


def read_dlt(work: Path) -> tuple[dict[str, set[int]], dict[int, tuple]]:
    with duckdb.connect(str(work / "dlt.duckdb"), read_only=True) as con:
        ids = {e: {int(r[0]) for r in con.execute(f"SELECT id FROM activecampaign.{e}").fetchall()} for e in ENTITIES}
        rows = con.execute("SELECT id, value, currency FROM activecampaign.deals").fetchall()
    deals = {int(i): (v, c) for i, v, c in rows}
    return ids, deals


def read_naive(work: Path) -> tuple[dict[str, set[int]], dict[int, tuple]]:
    records = {e: json.loads((work / "json" / f"{e}.json").read_text()) for e in ENTITIES}
    ids = {e: {int(r["id"]) for r in rs} for e, rs in records.items()}
    return ids, {int(r["id"]): (r.get("value"), r.get("currency")) for r in records["deals"]}


def agreement(ids: dict[str, set[int]], deals: dict[int, tuple], ref_ids: dict[str, set[int]],
              ref_amounts: dict[int, Decimal]) -> str:
    problems = []
    for e in ENTITIES:
        missing, extra = len(ref_ids[e] - ids[e]), len(ids[e] - ref_ids[e])
        if missing or extra:
            problems.append(f"{e} -{missing} +{extra} ids")
    wrong = sum(1 for i, (value, currency) in deals.items() if i in ref_amounts and value is not None
                and Decimal(str(value)) / MINOR_UNITS[currency] != ref_amounts[i])
    if wrong:
        problems.append(f"{wrong} deal values")
    return "yes" if not problems else "no: " + ", ".join(problems)


READERS = {"singer": read_singer, "dlt": read_dlt, "naive": read_naive}


def run_scenario(name: str, quick: bool, tools: list[str], timeout: float | None) -> dict:
    spec = SCENARIOS[name]
    contacts = spec["contacts"][1 if quick else 0]
    sizes = sizes_for(contacts)
    limit, timeout = spec["limit"], timeout or spec["timeout"]
    root = HERE / "out" / name
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    flags = ["--seed", str(SEED), "--latency-ms", str(spec["latency_ms"]), "--rate-limit", str(limit),
             "--cache-mb", str(contacts * 3 // 1000 + 64)]
    for e, n in sizes.items():
        flags += [f"--{e}", str(n)]
    rows_out, ref = [], None
    with sandbox_process(*flags) as url, httpx.Client(base_url=url, timeout=600) as control:
        if "singer" in tools:
            singer_catalog(url, root)
        for tool in tools:
            work = root / tool
            work.mkdir()
            control.post("/_sandbox/reset").raise_for_status()
            print(f"[{name}] {tool} ...", flush=True)
            m = measure(command(tool, url, work, limit), work, timeout)
            stats = control.get("/_sandbox/stats").json()
            m.update(tool=tool, requests=stats["requests"], r429=stats["rate_limited"],
                     max_in_any_second=stats["max_in_any_second"])
            if m["timed_out"] or m["exit"] != 0:
                m["rows"], m["agree"] = {}, f"timed out after {timeout:.0f} s" if m["timed_out"] else \
                    f"failed (exit {m['exit']}, see out/{name}/{tool}/stderr)"
            elif tool == "acflow":
                ref = read_acflow(work, url)
                m["rows"], m["agree"] = {e: len(ref[0][e]) for e in ENTITIES}, "(reference)"
            else:
                ids, deals = READERS[tool](work)
                m["rows"] = {e: len(ids[e]) for e in ENTITIES}
                m["agree"] = agreement(ids, deals, *ref) if ref else "n/a (no acflow run)"
            print(f"  {m['seconds']:.1f} s, {m['requests']} requests, {m['r429']} 429s, {m['agree']}", flush=True)
            rows_out.append(m)
    return {"scenario": name, "quick": quick, "sizes": sizes, "latency_ms": spec["latency_ms"], "limit": limit,
            "seed": SEED, "results": rows_out}


def table(result: dict) -> str:
    limit = result["limit"]
    head = ["tool", "wall s", "requests", "429s", *ENTITIES, "rate-limit use" if limit else "req/s",
            "CPU s", "peak RSS MB", "agrees with acflow"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for m in result["results"]:
        rps = m["requests"] / m["seconds"]
        cells = [m["tool"], f"{m['seconds']:.1f}", str(m["requests"]), str(m["r429"]),
                 *(f"{m['rows'][e]:,}" if e in m["rows"] else "-" for e in ENTITIES),
                 f"{rps / limit:.2f}" if limit else f"{rps:.1f}", f"{m['cpu']:.1f}", f"{m['rss_mb']:.0f}", m["agree"]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def describe(result: dict) -> str:
    s = result["sizes"]
    limit = f"{result['limit']} requests/s" if result["limit"] else "no rate limit"
    return (f"**{result['scenario']}**{' (--quick)' if result['quick'] else ''}: seed {result['seed']}, "
            f"{result['latency_ms']} ms latency, {limit}; " + ", ".join(f"{s[e]:,} {e}" for e in ENTITIES))


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError, StopIteration), open("/proc/cpuinfo") as info:
        cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    return f"{platform.system()} {platform.release()}, {cpu}, {os.cpu_count()} CPUs, Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", choices=["realistic", "unthrottled", "both"], default="both")
    parser.add_argument("--quick", action="store_true", help="1,000 / 5,000 contacts instead of 20,000 / 200,000")
    parser.add_argument("--tools", default=",".join(TOOLS), help="comma-separated subset of " + ",".join(TOOLS))
    parser.add_argument("--timeout", type=float, help="seconds per tool (default 900 realistic, 1200 unthrottled)")
    args = parser.parse_args()
    tools = [t for t in TOOLS if t in args.tools.split(",")]
    ensure_venvs()
    names = ["realistic", "unthrottled"] if args.scenario == "both" else [args.scenario]
    results = [run_scenario(n, args.quick, tools, args.timeout) for n in names]
    print(f"\nmachine: {machine()}\n")
    for r in results:
        print(describe(r) + "\n\n" + table(r) + "\n")
    (HERE / "out" / "results.json").write_text(json.dumps({"machine": machine(), "results": results}, indent=1))


if __name__ == "__main__":
    main()
