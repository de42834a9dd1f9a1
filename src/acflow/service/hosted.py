"""What the service asks of its run host (host.py): each function takes the open mirror first and
runs in the host process, with picklable arguments and results. The service imports this module
only to name them: what they need (DuckDB, Arrow, the run machinery) is imported inside, so it
loads only in the host."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import AcflowError
from . import history, served

if TYPE_CHECKING:
    from ..account import Account
    from ..config import Config
    from ..mirror import Mirror
    from ..summary import RunSummary
    from .host import Emit

PREVIEW_ROWS = 100  # the UI's preview of a flow


def begin(db: Mirror, keep: timedelta, now: datetime) -> int:
    """The history table made, runs a killed service left unfinished marked failed (their count),
    old runs pruned."""
    history.setup(db)
    stale = history.abandoned(db, now)
    history.prune(db, keep, now)
    return stale


def execute(db: Mirror, cfg: Config, flows: list[str], accounts: Mapping[str, Account], state_dir: str,
            emit: Emit) -> tuple[RunSummary, dict[str, list[str]]]:
    """One batch: `acflow run` of these flows, then the copies served at their data URLs. Returns the
    summary and the entities each flow needs (its share of the figures)."""
    from ..flows import needs
    from ..run import run

    def progress(entity: str, page: Any, stats: Any) -> None:
        emit("rows", (entity, page.rows))

    summary = run(flows, config=cfg, accounts=accounts, mirror=db, on_progress=progress,
                  on_synced=lambda: emit("synced", None))  # the flows' other accounts: keys read as acflow run does
    for result in summary.flows:
        formats = served.formats(cfg, result.flow)
        if formats and result.status in ("ok", "unchanged") and result.flow in flows:
            try:
                mine = {a: accounts.get(a) or cfg.account(a) for a in cfg.account_names(result.flow)}
                served.publish(cfg, result.flow, formats, mine, db, Path(state_dir))
            except AcflowError as exc:
                result.status, result.error = "failed", f"the copy served at its data URL: {exc}"
    wanted: dict[str, list[str]] = {}
    for name in flows:
        try:
            wanted[name] = sorted({e for _, e in needs(cfg, name)})
        except AcflowError:
            continue
    return summary, wanted


def preview(db: Mirror, cfg: Config, name: str, accounts: Mapping[str, Account]
            ) -> tuple[list[tuple[str, str]], list[tuple[Any, ...]], str]:
    """The flow's first rows over the mirror; an entity the mirror lacks is synced first."""
    from ..run import _Prepared

    note = ""
    prep = _Prepared(cfg, [name], dict(accounts), db)
    missing = {(a, e) for a, e in prep.pairs if not db.has(accounts[a].url, e)}
    if missing:
        prep.pairs = missing
        prep.sync(timeout=60.0, concurrency=4, attempts=8, on_progress=None)
        note = ("Read from ActiveCampaign now: " + ", ".join(sorted(e for _, e in missing))
                + " (the mirror did not hold it yet).")
    compiled = prep.compile(name)
    with db.cursor() as con:
        rel = con.sql(f"SELECT * FROM ({compiled.sql}) LIMIT {PREVIEW_ROWS}")
        cols = list(zip(rel.columns, [str(t) for t in rel.types], strict=True))
        rows = rel.fetchall()
    return cols, rows, note


def report_page(db: Mirror, url: str | None, since: str) -> str:
    """acflow report's HTML for the account at `url` (the mirror's one account when None)."""
    from ..report import render_html

    return render_html(_report(db, url, since))


def report_mail(db: Mirror, url: str | None, since: str) -> dict[str, Any]:
    """What the scheduled e-mail needs: the page, its headline picture, and the words around them."""
    from ..report import render_html, summary_png

    made = _report(db, url, since)
    return {"account": made.account, "since": made.window.since, "generated_at": made.generated_at,
            "html": render_html(made), "png": summary_png(made)}


def _report(db: Mirror, url: str | None, since: str) -> Any:
    from ..report import _only_account
    from ..report import build as build_report

    return build_report(url or _only_account(db), db, since=since)
