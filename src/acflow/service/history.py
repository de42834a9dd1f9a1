"""Run history: one row per run of a flow, whoever started it, kept in the mirror.

The mirror is where `acflow flows` already finds each flow's last write, so the history sits
beside it (`_acflow.run_history`) and `acflow runs` reads it with or without the service. A run
is written when it is queued and updated as it starts and ends, so a run the service was
killed in the middle of shows as `running` with no end; the next start marks it failed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..mirror import Mirror

META = "_acflow"  # mirror.META, not imported: the service's process never loads DuckDB (host.py)
TABLE = f"{META}.run_history"
TRIGGERS = ("schedule", "manual", "webhook", "api", "catch-up")
STATUSES = ("queued", "running", "success", "failed", "skipped", "unchanged")
DONE = ("success", "failed", "skipped", "unchanged")
_SETUP = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    run_id VARCHAR PRIMARY KEY, flow VARCHAR, trigger VARCHAR, scheduled TIMESTAMPTZ, queued TIMESTAMPTZ,
    started TIMESTAMPTZ, ended TIMESTAMPTZ, status VARCHAR, rows_read JSON, rows_written JSON,
    requests BIGINT, rate_limited BIGINT, waited DOUBLE, error VARCHAR);
ALTER TABLE {TABLE} ADD COLUMN IF NOT EXISTS synced TIMESTAMPTZ
"""
_COLUMNS = ("run_id", "flow", "trigger", "scheduled", "queued", "started", "ended", "status", "rows_read",
            "rows_written", "requests", "rate_limited", "waited", "error", "synced")


@dataclass
class RunRecord:
    run_id: str
    flow: str
    trigger: str
    queued: datetime
    scheduled: datetime | None = None
    started: datetime | None = None
    ended: datetime | None = None
    status: str = "queued"
    rows_read: dict[str, int] = field(default_factory=dict)  # entity -> rows this run's sync read
    rows_written: dict[str, int] = field(default_factory=dict)  # destination -> rows written
    requests: int = 0
    rate_limited: int = 0  # 429 answers the run's sync received (and waited out)
    waited: float = 0.0  # seconds queued behind another run of the same account
    error: str | None = None
    synced: datetime | None = None  # when its reads were done (the writes followed): the account was free

    @property
    def seconds(self) -> float | None:
        if self.started is None or self.ended is None:
            return None
        return round((self.ended - self.started).total_seconds(), 3)

    @property
    def done(self) -> bool:
        return self.status in DONE

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("queued", "scheduled", "started", "ended", "synced"):
            out[key] = out[key].isoformat() if out[key] is not None else None
        out["seconds"] = self.seconds
        return out


def setup(db: Mirror) -> None:
    with db.cursor() as con:
        con.execute(_SETUP)


def save(db: Mirror, record: RunRecord) -> None:
    """Insert or update the run's row (its id is the key)."""
    save_all(db, [record])


def save_all(db: Mirror, records: list[RunRecord]) -> None:
    """Insert or update these runs' rows, in one call (one round trip to the run host, one lock)."""
    rows = []
    for record in records:
        values = [getattr(record, c) for c in _COLUMNS]
        values[_COLUMNS.index("rows_read")] = json.dumps(record.rows_read)
        values[_COLUMNS.index("rows_written")] = json.dumps(record.rows_written)
        rows.append(values)
    marks = ", ".join("?" for _ in _COLUMNS)
    updates = ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS[1:])
    with db.cursor() as con:
        con.executemany(f"INSERT INTO {TABLE} ({', '.join(_COLUMNS)}) VALUES ({marks}) "
                        f"ON CONFLICT (run_id) DO UPDATE SET {updates}", rows)


def _record(row: Iterable[Any]) -> RunRecord:
    data = dict(zip(_COLUMNS, row, strict=True))
    for key in ("rows_read", "rows_written"):
        data[key] = json.loads(data[key]) if data[key] else {}
    for key in ("scheduled", "queued", "started", "ended", "synced"):
        if data[key] is not None:
            data[key] = data[key].astimezone()
    data["requests"] = data["requests"] or 0
    data["rate_limited"] = data["rate_limited"] or 0
    data["waited"] = data["waited"] or 0.0
    return RunRecord(**data)


def runs(db: Mirror, flow: str | None = None, status: str | None = None, limit: int = 200) -> list[RunRecord]:
    """Newest first."""
    where, params = [], []
    if flow is not None:
        where.append("flow = ?")
        params.append(flow)
    if status is not None:
        where.append("status = ?")
        params.append(status)
    sql = (f"SELECT {', '.join(_COLUMNS)} FROM {TABLE}" + (f" WHERE {' AND '.join(where)}" if where else "")
           + f" ORDER BY queued DESC, run_id DESC LIMIT {int(limit)}")
    return [_record(r) for r in db.query(sql, params)]


def get(db: Mirror, run_id: str) -> RunRecord | None:
    rows = db.query(f"SELECT {', '.join(_COLUMNS)} FROM {TABLE} WHERE run_id = ?", [run_id])
    return _record(rows[0]) if rows else None


def last_finished(db: Mirror) -> dict[str, RunRecord]:
    """Each flow's latest run that ended (success, failed, unchanged; skipped ones are not runs of it)."""
    rows = db.query(f"SELECT {', '.join(_COLUMNS)} FROM {TABLE} WHERE status IN ('success', 'failed', 'unchanged') "
                    "QUALIFY row_number() OVER (PARTITION BY flow ORDER BY ended DESC, run_id DESC) = 1")
    return {r.flow: r for r in map(_record, rows)}


def previous_status(db: Mirror, flow: str, run_id: str) -> str | None:
    """The status of the flow's run before this one that was not skipped (what "recovered" compares to)."""
    rows = db.query(f"SELECT status FROM {TABLE} WHERE flow = ? AND run_id <> ? AND status IN ('success', "
                    "'failed', 'unchanged') AND queued <= (SELECT queued FROM " + TABLE + " WHERE run_id = ?) "
                    "ORDER BY queued DESC LIMIT 1", [flow, run_id, run_id])
    return rows[0][0] if rows else None


def last_due(db: Mirror) -> dict[str, datetime]:
    """Each flow's latest scheduled time that was taken up (run or skipped): where catch-up counts from."""
    rows = db.query(f"SELECT flow, max(coalesce(scheduled, queued)) FROM {TABLE} GROUP BY flow")
    return {flow: when.astimezone() for flow, when in rows if when is not None}


def abandoned(db: Mirror, now: datetime) -> int:
    """Runs left queued or running by a service that stopped without finishing them: failed."""
    with db.cursor() as con:
        found = con.execute(f"SELECT count(*) FROM {TABLE} WHERE status IN ('queued', 'running')").fetchone()
        con.execute(f"UPDATE {TABLE} SET status = 'failed', ended = coalesce(ended, ?), error = coalesce(error, "
                    "'the service stopped before this run finished; nothing half-written was kept') "
                    "WHERE status IN ('queued', 'running')", [now])
    return int(found[0]) if found else 0


def prune(db: Mirror, keep: timedelta, now: datetime) -> int:
    """Runs older than `keep` go; each flow's latest finished run stays whatever its age."""
    with db.cursor() as con:
        found = con.execute(
            f"SELECT count(*) FROM {TABLE} WHERE queued < ? AND status IN ('success', 'failed', 'skipped', "
            f"'unchanged') AND run_id NOT IN (SELECT run_id FROM {TABLE} WHERE status <> 'skipped' QUALIFY "
            "row_number() OVER (PARTITION BY flow ORDER BY queued DESC) = 1)", [now - keep]).fetchone()
        con.execute(
            f"DELETE FROM {TABLE} WHERE queued < ? AND status IN ('success', 'failed', 'skipped', 'unchanged') "
            f"AND run_id NOT IN (SELECT run_id FROM {TABLE} WHERE status <> 'skipped' QUALIFY "
            "row_number() OVER (PARTITION BY flow ORDER BY queued DESC) = 1)", [now - keep])
    return int(found[0]) if found else 0
