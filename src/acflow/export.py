"""`export`: one entity, synced into the mirror, published to one destination."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import destinations
from .account import Account
from .catalog import ColType, Entity
from .errors import AcflowError
from .sync import (
    DEFAULT_FULL_EVERY,
    DEFAULT_PATH,
    MirrorAt,
    ProgressCallback,
    SyncSummary,
    resolve_entities,
    run_coroutine,
    sync_async,
)

if TYPE_CHECKING:  # a type only: the mirror is opened after the account check (sync.MirrorAt)
    from .mirror import Mirror


@dataclass
class ExportSummary:
    entity: str
    destination: str
    mode: str
    rows: int
    sync: SyncSummary

    @property
    def ok(self) -> bool:
        return self.sync.ok

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["sync"] = self.sync.to_dict()
        out["ok"] = self.ok
        return out


def derived_query(entity: Entity, source: str, *, raw: bool = False,
                  extracted_at: datetime | None = None) -> str:
    """`source` plus the derived columns (amount, status_label, rates) unless raw."""
    from .mirror import quote

    parts = ["*"]
    if not raw:
        parts += [f"{sql} AS {quote(name)}" for name, sql in entity.derived.items()]
    if extracted_at is not None:
        parts.append(f"TIMESTAMPTZ '{extracted_at.isoformat()}' AS {destinations.EXTRACTED_AT}")
    return f"SELECT {', '.join(parts)} FROM {source}"


def publish_query(mirror: Mirror, account_url: str, entity: Entity, *, raw: bool = False,
                  extracted_at: datetime | None = None) -> str:
    return derived_query(entity, mirror.current(account_url, entity.name), raw=raw,
                         extracted_at=extracted_at)


def json_columns(entity: Entity) -> frozenset[str]:
    return frozenset(n for n, t in entity.columns.items() if t is ColType.JSON)


def publish(mirror: Mirror, account_url: str, entity: Entity, dest: destinations.Destination, mode: str, *,
            raw: bool = False, options: destinations.WriteOptions | None = None) -> int:
    """Write the mirror's entity to a destination; returns the rows written.

    replace writes the complete current table. append and merge write only what changed
    since this destination last received the entity (all of it the first time): append
    adds those rows with the time they were written, merge upserts them by id and deletes
    what is gone from the API.
    """
    target, source = dest.key(), f"{account_url}/{entity.name}"
    upto = mirror.last_seq(account_url, entity.name)
    if mode == "replace":  # everything current: afterwards the destination is up to date
        query = publish_query(mirror, account_url, entity, raw=raw) + " ORDER BY id"  # a stable, readable order
        written = destinations.write(mirror, query, dest, mode, json_columns(entity), options)
        mirror.mark_published(target, source, upto)
        return written
    rows, removed = mirror.changed_since(account_url, entity.name, mirror.published(target, source))
    extracted = datetime.now().astimezone() if mode == "append" else None
    query = derived_query(entity, rows, raw=raw, extracted_at=extracted) + " ORDER BY id"
    written = destinations.write(mirror, query, dest, mode, json_columns(entity), options,
                                 delete_ids=removed if mode == "merge" else None)
    mirror.mark_published(target, source, upto)  # after the write: a crash in between repeats, never skips
    return written


def export(entity: str, to: str, *, mode: str = "replace", account: Account | None = None,
           api_url: str | None = None, api_key: str | None = None, raw: bool = False,
           mirror: str | Path = DEFAULT_PATH, timeout: float = 60.0, concurrency: int = 4,
           attempts: int = 8, full: bool = False, full_every: timedelta | None = DEFAULT_FULL_EVERY,
           bom: bool = True, neutralize: bool = True,
           on_progress: ProgressCallback | None = None) -> ExportSummary:
    """Sync `entity` and write it to `to`; the CLI's `acflow export`. Checks the destination first.

    CSV gets a UTF-8 byte order mark (Excel then reads accents right) and, in CSV and XLSX,
    text that a spreadsheet would run as a formula (=, +, -, @ first) is prefixed with ';
    contact names and form fields come from the public. `bom` and `neutralize` turn them off.
    """
    chosen = resolve_entities([entity])[0]
    dest = destinations.parse(to, chosen.name)
    destinations.check_mode(dest, mode)
    check = getattr(dest.writer, "check", None)
    if check is not None:  # a database server: a wrong password is said before minutes of syncing
        check(dest)
    account = account or Account.resolve(api_url, api_key)
    with MirrorAt(mirror) as at:  # opened once the account check has proven the key
        summary = run_coroutine(sync_async(account, [chosen], at, timeout=timeout, concurrency=concurrency,
                                           attempts=attempts, full=full, full_every=full_every,
                                           on_progress=on_progress))
        assert at.db is not None  # a sync that returned opened it
        result = summary.result(chosen.name)
        if result.status != "ok":
            raise AcflowError(f"{chosen.name}: {result.error}; {dest.describe()} was not touched")
        options = destinations.WriteOptions(bom=bom, neutralize=neutralize)
        rows = publish(at.db, account.url, chosen, dest, mode, raw=raw, options=options)
    return ExportSummary(chosen.name, dest.describe(), mode, rows, summary)
