"""`acflow demo`: the whole path, offline: sandbox -> sync -> the starter flows (acflow init's)
into CSV, Parquet, JSONL, an Excel workbook, SQLite and DuckDB, and the HTML report of the
sandbox's account (`acflow report`), listed with the flows as one more output."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .account import Account
from .run import FlowResult, RunSummary, run
from .sandbox import Sandbox
from .starter import STARTER
from .sync import ProgressCallback, SyncSummary

DEMO_RATE_LIMIT = 5.0  # the real API's limit, so the demo shows how acflow paces itself
DEMO_LATENCY_MS = 60


@dataclass
class DemoResult:
    sync: SyncSummary
    run: RunSummary
    config: str = ""
    kept_config: bool = False  # the user's edited acflow.yaml was used, not rewritten
    files: dict[str, int] = field(default_factory=dict)  # destination -> rows
    rate_limit: float = DEMO_RATE_LIMIT
    rate_limited: int = 0

    @property
    def ok(self) -> bool:
        return self.run.ok

    @property
    def rate_use(self) -> float:
        """The share of the requests the limit allowed in the sync's time: a sliding window lets the
        first second's requests go at once, so `rate x seconds` alone would read above 1 on a short sync."""
        import math

        allowed = self.rate_limit * max(self.sync.seconds, 1e-6) + max(1, math.floor(self.rate_limit))
        return self.sync.requests / allowed

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["sync"] = self.sync.to_dict()
        out["run"] = self.run.to_dict()
        out["rate_use"] = round(self.rate_use, 3)
        return out


def run_demo(directory: Path, *, contacts: int = 2000,
             on_progress: ProgressCallback | None = None) -> DemoResult:
    """Run the flows of `directory`/acflow.yaml against the sandbox, writing the starter file first.

    A file the user edited is kept and run as it is: `acflow demo` again is how to try an edit.
    """
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "acflow.yaml"
    kept = config.exists() and config.read_bytes() != STARTER.encode("utf-8")
    if not kept:
        config.write_text(STARTER, encoding="utf-8")
    mirror_path = directory / ".acflow" / "mirror.duckdb"
    mirror_path.unlink(missing_ok=True)  # the sandbox's port differs each run: start clean
    sizes = {"contacts": contacts, "deals": max(1, contacts // 4)}
    with Sandbox(host="127.0.0.1", port=0, seed=1, sizes=sizes, rate_limit=DEMO_RATE_LIMIT,
                 latency_ms=DEMO_LATENCY_MS) as sandbox:
        account = Account(sandbox.url, sandbox.admin_key, DEMO_RATE_LIMIT)
        summary = run(config=config, accounts={"main": account}, mirror=mirror_path, on_progress=on_progress)
        summary.flows.append(_report(account, directory, mirror_path))
        result = DemoResult(summary.syncs[0], summary, str(config), kept,
                            rate_limited=int(sandbox.stats().get("rate_limited", 0)))
    for f in summary.flows:
        result.files[f.destination] = f.rows
    return result


def _report(account: Account, directory: Path, mirror: Path) -> FlowResult:
    """The report of the sandbox's account over all its (generated) history, shown as the flows' last row.

    It syncs what the flows did not read (list memberships, users...) while the sandbox runs."""
    import time

    from .errors import AcflowError
    from .report import report

    path = directory / "report.html"
    started = time.monotonic()
    try:
        made = report(account, to=path, since="all", mirror=mirror, sync=True)
    except AcflowError as exc:
        return FlowResult("report", str(path), "replace", status="failed", error=str(exc),
                          seconds=time.monotonic() - started)
    figures = sum(1 for f in made.figures.values() if not f.empty)
    return FlowResult("report", str(path), "replace", rows=figures, seconds=time.monotonic() - started,
                      notes=[f"{figures} of {len(made.figures)} figures with data; open {path} in a browser"])
