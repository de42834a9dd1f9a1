"""`acflow demo`: the whole path, offline: sandbox -> sync -> files and a database."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import destinations
from .account import Account
from .catalog import CATALOG, SEED_ENTITIES
from .export import json_columns, publish_query
from .mirror import Mirror
from .sandbox import Sandbox
from .sync import ProgressCallback, SyncSummary, run_coroutine, sync_async

DEMO_RATE_LIMIT = 5.0  # the real API's limit, so the demo shows how acflow paces itself
DEMO_LATENCY_MS = 60


@dataclass
class DemoResult:
    sync: SyncSummary
    files: dict[str, int] = field(default_factory=dict)
    rate_limit: float = DEMO_RATE_LIMIT
    rate_limited: int = 0

    @property
    def rate_use(self) -> float:
        seconds = max(self.sync.seconds, 1e-6)
        return self.sync.requests / seconds / self.rate_limit

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["sync"] = self.sync.to_dict()
        out["rate_use"] = round(self.rate_use, 3)
        return out


def run_demo(directory: Path, *, contacts: int = 2000,
             on_progress: ProgressCallback | None = None) -> DemoResult:
    directory.mkdir(parents=True, exist_ok=True)
    mirror_path = directory / ".acflow" / "mirror.duckdb"
    mirror_path.unlink(missing_ok=True)  # the sandbox's port differs each run: start clean
    sizes = {"contacts": contacts, "deals": max(1, contacts // 4)}
    with Sandbox(host="127.0.0.1", port=0, seed=1, sizes=sizes, rate_limit=DEMO_RATE_LIMIT,
                 latency_ms=DEMO_LATENCY_MS) as sandbox:
        account = Account(sandbox.url, sandbox.admin_key, DEMO_RATE_LIMIT)
        entities = [CATALOG[name] for name in SEED_ENTITIES]
        with Mirror(mirror_path) as mirror:
            summary = run_coroutine(sync_async(account, entities, mirror, on_progress=on_progress))
            result = DemoResult(summary, rate_limited=int(sandbox.stats().get("rate_limited", 0)))
            database = destinations.parse(f"duckdb:///{directory / 'acflow-demo.duckdb'}", "")
            for entity in entities:
                if summary.result(entity.name).status != "ok":
                    continue
                query = publish_query(mirror, account.url, entity)
                csv = destinations.parse(str(directory / f"{entity.name}.csv"), entity.name)
                result.files[str(csv.path)] = destinations.write(mirror, query, csv, "replace",
                                                                 json_columns(entity))
                table = destinations.Destination("duckdb", database.path, entity.name)
                destinations.write(mirror, query, table, "replace")
            result.files[f"{database.path} (one table per entity)"] = sum(
                summary.result(e.name).rows for e in entities)
    return result
