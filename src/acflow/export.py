"""`export`: one entity, synced into the mirror, published to one destination."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import custom_fields as cf
from . import destinations
from .account import Account
from .catalog import CATALOG, ColType, Entity
from .errors import AcflowError, ConfigError
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
    notes: list[str] = field(default_factory=list)  # custom fields deleted, renamed, values that did not fit

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


def json_columns(entity: Entity) -> frozenset[str]:
    return frozenset(n for n, t in entity.columns.items() if t is ColType.JSON)


def publish(mirror: Mirror, account_url: str, entity: Entity, dest: destinations.Destination, mode: str, *,
            raw: bool = False, options: destinations.WriteOptions | None = None,
            custom_fields: str = "columns", naming: str = "title", zone: str | None = None,
            notes: list[str] | None = None) -> int:
    """Write the mirror's entity to a destination; returns the rows written.

    replace writes the complete current table. append and merge write only what changed
    since this destination last received the entity (all of it the first time): append
    adds those rows with the time they were written, merge upserts them by id and deletes
    what is gone from the API. With `custom_fields="columns"` (and the fields' tables in the
    mirror) each custom field is a column, and a record whose values changed counts as
    changed (custom_fields.py); what is worth a word about them is added to `notes`.
    """
    plan = _custom_plan(mirror, account_url, entity, custom_fields, naming, zone)
    target = dest.key()
    source = cf.source_key(account_url, entity, "columns" if plan else "off", naming)
    upto = cf.last_seq(mirror, account_url, entity) if plan else mirror.last_seq(account_url, entity.name)
    seen = mirror.published(target, source)
    if plan is not None and notes is not None:
        notes += plan.notes
    if mode == "replace":  # everything current: afterwards the destination is up to date
        rows, removed = mirror.current(account_url, entity.name), None
    elif plan is not None:
        rows = cf.changed_rows(mirror, account_url, entity, plan, seen)
        removed = mirror.changed_since(account_url, entity.name, seen)[1]
    else:
        rows, removed = mirror.changed_since(account_url, entity.name, seen)
    if plan is not None:
        data = mirror.current(account_url, plan.fs.data)
        with mirror.cursor() as con:
            some = mode != "replace"  # changed rows only; deleted fields' columns kept, empty
            rows = f"({cf.columns_sql(con, plan, rows, data, only_parents=some, keep_gone=some)})"
            if notes is not None:
                notes += cf.bad_values(con, plan, data, entity.name)
    extracted = datetime.now().astimezone() if mode == "append" else None
    query = derived_query(entity, rows, raw=raw, extracted_at=extracted) + _order(dest)
    written = destinations.write(mirror, query, dest, mode, json_columns(entity), options,
                                 delete_ids=removed if mode == "merge" else None)
    mirror.mark_published(target, source, upto)  # after the write: a crash in between repeats, never skips
    return written


def _order(dest: destinations.Destination) -> str:
    """Rows in id order where readers see an order: a stable, readable file or sheet."""
    return " ORDER BY id" if dest.ordered else ""


def _custom_plan(mirror: Mirror, account_url: str, entity: Entity, mode: str, naming: str,
                 zone: str | None) -> cf.Plan | None:
    """The entity's custom columns, when asked for and the mirror holds its fields and values."""
    fs = cf.field_set(entity)
    if mode != "columns" or fs is None or not all(mirror.has(account_url, n) for n in (fs.meta, fs.data)):
        return None
    parent = mirror.current(account_url, entity.name)
    with mirror.cursor() as con:
        have = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {parent}").fetchall()]
        return cf.plan(con, entity, mirror.current(account_url, fs.meta), mirror.current(account_url, fs.data),
                       account=account_url, naming=naming, zone=cf.account_zone(mirror, account_url, zone),
                       parent_columns=have)


def export(entity: str, to: str, *, mode: str = "replace", account: Account | None = None,
           api_url: str | None = None, api_key: str | None = None, raw: bool = False,
           mirror: str | Path = DEFAULT_PATH, timeout: float = 60.0, concurrency: int = 4,
           attempts: int = 8, full: bool = False, full_every: timedelta | None = DEFAULT_FULL_EVERY,
           bom: bool = True, neutralize: bool = True, custom_fields: str = "columns",
           custom_field_names: str = "title", on_progress: ProgressCallback | None = None) -> ExportSummary:
    """Sync `entity` and write it to `to`; the CLI's `acflow export`. Checks the destination first.

    CSV gets a UTF-8 byte order mark (Excel then reads accents right) and, in CSV and XLSX,
    text that a spreadsheet would run as a formula (=, +, -, @ first) is prefixed with ';
    contact names and form fields come from the public. `bom` and `neutralize` turn them off.
    Contacts, deals and accounts get a column per custom field (`custom_fields="columns"`,
    named by `custom_field_names`: title or perstag); "long" writes their values to a second
    table or file beside `to` instead (`contacts_custom_fields`: one row per record and field,
    with the field's title and type), "off" leaves them out (they stay entities of their own:
    fieldValues...).
    """
    chosen = resolve_entities([entity])[0]
    dest = destinations.parse(to, chosen.name)
    destinations.check_mode(dest, mode)
    cf.check(custom_fields, custom_field_names)
    long = _beside(dest) if custom_fields == "long" and cf.field_set(chosen) else None
    check = getattr(dest.writer, "check", None)
    if check is not None:  # a database server: a wrong password is said before minutes of syncing
        check(dest)
    account = account or Account.resolve(api_url, api_key)
    extra = cf.companions(chosen, custom_fields)
    with MirrorAt(mirror) as at:  # opened once the account check has proven the key
        summary = run_coroutine(sync_async(account, [chosen, *extra], at, timeout=timeout, concurrency=concurrency,
                                           attempts=attempts, full=full, full_every=full_every,
                                           on_progress=on_progress))
        assert at.db is not None  # a sync that returned opened it
        result = summary.result(chosen.name)
        if result.status != "ok":
            raise AcflowError(f"{chosen.name}: {result.error}; {dest.describe()} was not touched")
        notes = []
        failed = [e for e in extra if summary.result(e.name).status != "ok"]
        if failed:  # the records still go out, without their custom fields this time
            notes.append(f"{chosen.name}: custom fields left out: {failed[0].name} did not sync "
                         f"({summary.result(failed[0].name).error})")
        options = destinations.WriteOptions(bom=bom, neutralize=neutralize)
        rows = publish(at.db, account.url, chosen, dest, mode, raw=raw, options=options,
                       custom_fields="columns" if custom_fields == "columns" and not failed else "off",
                       naming=custom_field_names, zone=account.timezone, notes=notes)
        if long is not None and not failed:
            values = _publish_long(at.db, account.url, chosen, long, mode, options)
            notes.append(f"{chosen.name}: {values:,} custom field values written to {long.describe()}")
    return ExportSummary(chosen.name, dest.describe(), mode, rows, summary, notes)


def _beside(dest: destinations.Destination) -> destinations.Destination:
    """Where `custom_fields="long"` writes the values: `contacts_custom_fields` beside `contacts`."""
    from dataclasses import replace

    if dest.kind == "xlsx":
        raise ConfigError("custom_fields long writes a second table, which .xlsx exports do not: "
                          "use custom_fields columns or off, or another format")
    if dest.is_file and dest.path is not None:
        return replace(dest, path=dest.path.with_name(f"{dest.path.stem}_custom_fields{dest.path.suffix}"))
    return replace(dest, table=f"{dest.table or 'data'}_custom_fields")


def _publish_long(mirror: Mirror, account_url: str, entity: Entity, dest: destinations.Destination, mode: str,
                  options: destinations.WriteOptions) -> int:
    """The entity's custom field values, one row per record and field (custom_fields.long_rows), as
    incremental as the entity: append and merge take the values changed since this destination's last."""
    fs = cf.field_set(entity)
    assert fs is not None
    data = CATALOG[fs.data]
    source = f"{account_url}/{fs.data}#long"
    upto = max(mirror.last_seq(account_url, fs.meta), mirror.last_seq(account_url, fs.data))
    seen = None if mode == "replace" else mirror.published(dest.key(), source)
    rows, removed = cf.long_rows(mirror, account_url, entity, seen)
    extracted = datetime.now().astimezone() if mode == "append" else None
    query = derived_query(data, rows, raw=True, extracted_at=extracted) + _order(dest)
    written = destinations.write(mirror, query, dest, mode, json_columns(data), options,
                                 delete_ids=removed if mode == "merge" else None)
    mirror.mark_published(dest.key(), source, upto)
    return written
