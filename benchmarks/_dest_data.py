"""Mirrors of N sandbox contacts for benchmarks/destinations.py, built once and kept.

A mirror is what acflow publishes from, so it is made the way users make one: `acflow sync
contacts` against the sandbox (in a process of its own). It is cached under benchmarks/.cache/
(which ignores itself in git) with a note of the account URL its schema is named after.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from _sandbox_process import free_port, sandbox_process

CACHE = Path(__file__).resolve().parent / ".cache"
SEED = "12"


def _cache_dir() -> Path:
    CACHE.mkdir(exist_ok=True)
    ignore = CACHE / ".gitignore"
    if not ignore.exists():
        ignore.write_text("*\n")  # the folder ignores itself: no line in the repo's .gitignore needed
    return CACHE


def mirror(contacts: int, *, echo: bool = True) -> tuple[Path, str]:
    """The path of a mirror holding `contacts` contacts and the account URL they were synced from."""
    folder = _cache_dir()
    path, note = folder / f"contacts-{contacts}.duckdb", folder / f"contacts-{contacts}.json"
    if path.exists() and note.exists():
        return path, json.loads(note.read_text())["account_url"]
    building = folder / f"contacts-{contacts}.building"
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir()
    started = time.monotonic()
    port = free_port()
    with sandbox_process("--contacts", str(contacts), "--seed", SEED, "--rate-limit", "0", port=port) as url:
        done = subprocess.run([sys.executable, "-m", "acflow.cli", "sync", "contacts", "--api-url", url,
                               "--api-key", "sandbox-admin-key", "--mirror", str(building / "m.duckdb"),
                               "--rate-limit", "10000", "--json"], stdout=subprocess.DEVNULL,
                              env={**os.environ, "ACTIVECAMPAIGN_API_KEY": ""})
    if done.returncode != 0:
        raise SystemExit(f"acflow sync of {contacts:,} sandbox contacts failed (exit {done.returncode})")
    os.replace(building / "m.duckdb", path)
    shutil.rmtree(building, ignore_errors=True)
    note.write_text(json.dumps({"account_url": url, "contacts": contacts, "seed": SEED}))
    if echo:
        print(f"built the mirror of {contacts:,} contacts in {time.monotonic() - started:.0f} s: {path}",
              file=sys.stderr)
    return path, url
