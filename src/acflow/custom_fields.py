"""Custom fields as columns: one column per custom field on contacts, deals and accounts.

ActiveCampaign keeps custom fields as two long tables per entity: the fields (`fields`,
`dealCustomFieldMeta`, `accountCustomFieldMeta`) and their values, one row per record and field
(`fieldValues`, `dealCustomFieldData`, `accountCustomFieldData`). Every peer hands those over as
they are and every user pivots them by hand; here the pivot is one query over the mirror, run
when a table is published, so the long tables are synced (and stay available) as entities of
their own and the parent's rows get one typed column per field.

Names (`custom_field_names: title`, the default, or `perstag`):
- From the field's title, whitespace collapsed (`"Company  Size "` -> `Company Size`), or from its
  personalisation tag in lower case (`COMPANY_SIZE` -> `company_size`, `%DEAL_BUDGET%` ->
  `deal_budget`); an empty one is `field_<id>`. Names are cut to 63 bytes (PostgreSQL's limit)
  and compared case-insensitively, as SQL databases compare column names.
- A name already taken (the entity's own columns, derived columns, lookups, `_extracted_at`,
  another field's name) gets the field's id: `Phone_12`. Fields are named in id order, so of
  two fields with one title the older keeps the plain name.
- Stable: the name a field first got is kept in the mirror (`_acflow.custom_field_names`, per
  account, entity and naming) and kept when the field is renamed in ActiveCampaign; the rename
  is noted once. Deleting the mirror (a cache) names the columns afresh. A deleted field's
  deletion is noted once; append and merge keep its column, empty (an upsert that left it out
  would keep old values), replace leaves it out; its name is free for a new field.

Types, from the field's type: date -> DATE, datetime -> TIMESTAMPTZ (a value without an offset is
read in the account's zone), number -> DOUBLE, currency -> DECIMAL(38, 3) in major units (the
value is sent in the currency's smallest unit, as deal values are), checkbox, listbox and
multiselect -> a list of text (`"||Red||Blue||"` -> `['Red', 'Blue']`), everything else (text,
textarea, dropdown, radio, hidden, types not known here) -> text as sent. A value that does not
fit its type is left empty in the column and noted; the long table keeps it as sent.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple

from . import catalog
from .catalog import Entity
from .sqltext import quote

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

    from .client import Client
    from .mirror import Mirror

MODES: tuple[str, ...] = ("columns", "long", "off")
NAMINGS: tuple[str, ...] = ("title", "perstag")
MAX_NAME_BYTES = 63  # PostgreSQL cuts longer identifiers (silently: two long titles would collide)
PINS = "custom_field_names"  # the table, in the mirror's _acflow schema, that keeps names stable


@dataclass(frozen=True)
class FieldSet:
    """Where one entity's custom fields live: the fields' table, the values' table, their columns."""

    parent: str  # contacts
    meta: str  # the fields: fields
    data: str  # the values, one row per record and field: fieldValues
    title: str  # meta: the name users see
    tag: str  # meta: the personalisation tag (%COMPANY_SIZE%)
    type: str  # meta: text, date, checkbox...
    owner: str  # data: the parent record's id
    field: str  # data: the field's id
    value: str  # data: the value, always text
    currency: str | None = None  # data: a currency value's ISO code


SETS: Mapping[str, FieldSet] = MappingProxyType({s.parent: s for s in (
    FieldSet("contacts", "fields", "fieldValues", "title", "perstag", "type", "contact", "field", "value"),
    FieldSet("deals", "dealCustomFieldMeta", "dealCustomFieldData", "fieldLabel", "personalization", "fieldType",
             "dealId", "customFieldId", "fieldValue", currency="fieldCurrency"),
    FieldSet("accounts", "accountCustomFieldMeta", "accountCustomFieldData", "fieldLabel", "personalization",
             "fieldType", "accountId", "customFieldId", "fieldValue", currency="fieldCurrency"),
)})


def check(mode: str, naming: str) -> None:
    """A ConfigError for a choice that is not one (what the CLI and the Python API pass through)."""
    from .errors import ConfigError

    for option, value, allowed in (("custom_fields", mode, MODES), ("custom_field_names", naming, NAMINGS)):
        if value not in allowed:
            raise ConfigError(f"{option} takes {' | '.join(allowed)}, not {value!r}")


def field_set(entity: Entity | str) -> FieldSet | None:
    """The entity's custom fields, if it has any the catalog can read."""
    name = entity if isinstance(entity, str) else entity.name
    found = SETS.get(name)
    if found is None or found.meta not in catalog.CATALOG or found.data not in catalog.CATALOG:
        return None
    return found


def companions(entity: Entity, mode: str) -> list[Entity]:
    """The entities to sync with `entity` so its custom fields can be published as `mode` says
    (columns, or long: the values written beside the records by acflow export)."""
    fs = field_set(entity)
    if fs is None or mode == "off":
        return []
    return [catalog.CATALOG[fs.meta], catalog.CATALOG[fs.data]]


class Kind(StrEnum):
    TEXT = "VARCHAR"
    DATE = "DATE"
    DATETIME = "TIMESTAMPTZ"
    NUMBER = "DOUBLE"
    CURRENCY = "DECIMAL(38, 3)"
    LIST = "VARCHAR[]"


_KINDS = {"date": Kind.DATE, "datetime": Kind.DATETIME, "number": Kind.NUMBER, "currency": Kind.CURRENCY,
          "checkbox": Kind.LIST, "listbox": Kind.LIST, "multiselect": Kind.LIST}


def kind_of(field_type: str | None) -> Kind:
    """A field's column type; types not known here are text, as sent."""
    return _KINDS.get((field_type or "").strip().lower(), Kind.TEXT)


@dataclass(frozen=True)
class Field:
    id: str
    title: str
    tag: str
    type: str
    name: str  # the column
    kind: Kind


@dataclass
class Plan:
    """One account's custom columns for one entity, as the mirror holds its fields now."""

    fs: FieldSet
    fields: list[Field]
    zone: str = "UTC"  # the account's, for datetime values without an offset
    numeric_ids: bool = True  # field ids are numbers in the values' table (literals unquoted)
    notes: list[str] = field(default_factory=list)
    renamed: list[str] = field(default_factory=list)  # ids whose column name changed (republish their rows)
    gone: list[Field] = field(default_factory=list)  # deleted fields whose columns append and merge keep empty


# ---- names -----------------------------------------------------------------------------------------
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _fit(name: str, room: int = MAX_NAME_BYTES) -> str:
    data = name.encode()
    if len(data) <= room:
        return name
    return data[:room].decode(errors="ignore").rstrip()


def base_name(title: str | None, tag: str | None, field_id: str, naming: str) -> str:
    """The name a field asks for, before collisions: see the module's docstring."""
    raw = tag.strip().strip("%").lower() if naming == "perstag" and tag else (title or "")  # deals': %DEAL_X%
    text = " ".join(_CONTROL.sub(" ", raw).split())
    return _fit(text) if text else f"field_{field_id}"


def unique_name(base: str, field_id: str, taken: set[str]) -> str:
    """`base`, or `base_<id>` (then `base_<id>_2`...) when a column of that name exists."""
    if base.lower() not in taken:
        return base
    suffix = f"_{field_id}"
    n = 1
    while True:
        candidate = _fit(base, MAX_NAME_BYTES - len(suffix.encode())) + suffix
        if candidate.lower() not in taken:
            return candidate
        n += 1
        suffix = f"_{field_id}_{n}"


def reserved(entity: Entity, have: Iterable[str] = ()) -> set[str]:
    """Column names a field may not take (lower case): the entity's own, derived and lookup
    columns, what append adds, and the columns the mirror's table has (`have`)."""
    from .columns import EXTRA_FIELDS
    from .destinations.base import EXTRACTED_AT

    names = {*entity.columns, *entity.derived, *(lk.name for lk in entity.lookups.values()), *have,
             EXTRACTED_AT, EXTRA_FIELDS, "id", "_acflow_key"}
    return {n.lower() for n in names}


def _sort_key(field_id: str) -> tuple[int, int, str]:
    return (0, int(field_id), "") if field_id.isdigit() else (1, 0, field_id)


def assign(fields: list[tuple[str, str, str, str]], naming: str, taken: set[str],
           pins: Mapping[str, tuple[str, str]]) -> tuple[dict[str, str], list[str]]:
    """{field id: column name} for (id, title, tag, type) fields, and the ids whose pinned name
    could not be kept (another column took it). Pinned names first, then new fields, in id order."""
    used = set(taken)
    names: dict[str, str] = {}
    moved: list[str] = []
    ordered = sorted(fields, key=lambda f: _sort_key(f[0]))
    for fid, *_ in ordered:
        pinned = pins.get(fid)
        if pinned is not None and pinned[0].lower() not in used:
            names[fid] = pinned[0]
            used.add(pinned[0].lower())
    for fid, title, tag, _ in ordered:
        if fid in names:
            continue
        names[fid] = unique_name(base_name(title, tag, fid, naming), fid, used)
        used.add(names[fid].lower())
        if fid in pins:
            moved.append(fid)
    return names, moved


# ---- reading the fields and keeping their names ----------------------------------------------------
MIRROR_SCHEMA = '"_acflow"'  # where a mirror keeps its own tables (mirror.META), as SQL


class Pin(NamedTuple):
    name: str  # the column
    title: str  # the field's title when it was last seen
    kind: str  # its column type
    deleted: bool  # the field is gone from ActiveCampaign; the name is kept for append and merge


def ensure_pins(con: duckdb.DuckDBPyConnection, schema: str = MIRROR_SCHEMA) -> None:
    con.execute(f"CREATE TABLE IF NOT EXISTS {schema}.{PINS} (account VARCHAR, entity VARCHAR, "
                "naming VARCHAR, field VARCHAR, name VARCHAR, title VARCHAR, kind VARCHAR, deleted BOOLEAN, "
                "PRIMARY KEY (account, entity, naming, field))")


def _read_pins(con: duckdb.DuckDBPyConnection, pins_at: str | None, account: str, entity: str,
               naming: str) -> dict[str, Pin]:
    """{field id: Pin}; none where the schema has no such table (a new mirror, or validate's
    tables without one)."""
    import duckdb

    if pins_at is None:
        return {}
    try:
        rows = con.execute(f"SELECT field, name, title, kind, deleted FROM {pins_at}.{PINS} WHERE account = ? "
                           "AND entity = ? AND naming = ?", [account, entity, naming]).fetchall()
    except duckdb.CatalogException:
        return {}
    return {r[0]: Pin(r[1], r[2] or "", r[3] or Kind.TEXT.value, bool(r[4])) for r in rows}


def _kind(text: str) -> Kind:
    try:
        return Kind(text)
    except ValueError:
        return Kind.TEXT


def _columns_of(con: duckdb.DuckDBPyConnection, sql: str) -> dict[str, str]:
    return {r[0]: r[1] for r in con.execute(f"DESCRIBE SELECT * FROM {sql}").fetchall()}


def _text(column: str, have: Mapping[str, str]) -> str:
    return f"CAST({quote(column)} AS VARCHAR)" if column in have else "CAST(NULL AS VARCHAR)"


def plan(con: duckdb.DuckDBPyConnection, entity: Entity, meta_sql: str, data_sql: str, *, account: str,
         naming: str = "title", zone: str | None = None, parent_columns: Iterable[str] = (),
         pins_at: str | None = MIRROR_SCHEMA, keep: bool = True) -> Plan | None:
    """The custom columns of `entity` for one account: its current fields (from `meta_sql`),
    named (pins read from the `pins_at` schema, as SQL; kept there too when `keep`) and typed.
    A pinned field that is gone was deleted in ActiveCampaign: noted once, its name free for a
    new field, and its column listed in `gone` (append and merge keep it, empty).
    None when the entity has no custom fields."""
    fs = field_set(entity)
    if fs is None:
        return None
    meta_cols = _columns_of(con, meta_sql)
    rows = con.execute(f"SELECT CAST(id AS VARCHAR), {_text(fs.title, meta_cols)}, {_text(fs.tag, meta_cols)}, "
                       f"{_text(fs.type, meta_cols)} FROM {meta_sql} WHERE id IS NOT NULL").fetchall()
    fields = [(r[0], r[1] or "", r[2] or "", r[3] or "") for r in rows]
    pins = _read_pins(con, pins_at, account, entity.name, naming)
    taken = reserved(entity, parent_columns)
    names, moved = assign(fields, naming, taken, {k: (p.name, p.title) for k, p in pins.items() if not p.deleted})
    out = Plan(fs, [], zone or "UTC")
    data_cols = _columns_of(con, data_sql)
    out.numeric_ids = _is_number(data_cols.get(fs.field, "VARCHAR"))
    for fid, title, tag, ftype in sorted(fields, key=lambda f: _sort_key(f[0])):
        out.fields.append(Field(fid, title, tag, ftype, names[fid], kind_of(ftype)))
        pinned = pins.get(fid)
        if pinned is None:
            continue
        if fid in moved:
            out.renamed.append(fid)
            out.notes.append(f"{entity.name}: the column {pinned.name!r} of custom field {fid} is now "
                             f"{names[fid]!r}: another column took its name")
        elif pinned.title != title:
            out.notes.append(f"{entity.name}: custom field {fid} was renamed {pinned.title!r} -> {title!r} in "
                             f"ActiveCampaign; its column keeps the name {names[fid]!r}")
    used = {n.lower() for n in names.values()} | taken
    for fid, pin in sorted(pins.items(), key=lambda kv: _sort_key(kv[0])):
        if fid in names:
            continue
        if not pin.deleted:
            out.notes.append(f"{entity.name}: custom field {fid} ({pin.title!r}) was deleted in ActiveCampaign: "
                             f"its column {pin.name!r} is no longer filled")
        if pin.name.lower() not in used:  # else a new field took the name, and fills the column
            out.gone.append(Field(fid, pin.title, "", "", pin.name, _kind(pin.kind)))
            used.add(pin.name.lower())
    if keep and pins_at is not None and (pins or out.fields):
        ensure_pins(con, pins_at)
        con.execute(f"DELETE FROM {pins_at}.{PINS} WHERE account = ? AND entity = ? AND naming = ?",
                    [account, entity.name, naming])
        con.executemany(f"INSERT INTO {pins_at}.{PINS} VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        [[account, entity.name, naming, f.id, f.name, f.title, f.kind.value, gone]
                         for gone, fs_ in ((False, out.fields), (True, out.gone)) for f in fs_])
    return out


def _is_number(duck_type: str) -> bool:
    return duck_type.upper() in ("BIGINT", "INTEGER", "SMALLINT", "TINYINT", "HUGEINT", "UBIGINT", "UINTEGER")


def _literal(value: str, numeric: bool) -> str:
    return value if numeric and value.lstrip("-").isdigit() else "'" + value.replace("'", "''") + "'"


# ---- the pivot ---------------------------------------------------------------------------------------
def _currency_factor(code: str) -> str:
    by_digits: dict[int, list[str]] = {}
    for cur, digits in catalog.MINOR_UNITS.items():
        by_digits.setdefault(digits, []).append(f"'{cur}'")
    whens = " ".join(f"WHEN lower({code}) IN ({', '.join(codes)}) THEN {1 / 10 ** digits:.{digits}f}"
                     for digits, codes in sorted(by_digits.items()))
    return f"CASE {whens} ELSE 0.01 END"


_OFFSET = r"(Z|[+-]\d\d:?\d\d)$"


def typed(kind: Kind, value: str, zone: str, currency: str | None = None) -> str:
    """SQL turning the text `value` into the column's type; NULL where it does not fit."""
    if kind is Kind.DATE:
        return f"TRY_CAST({value} AS DATE)"
    if kind is Kind.DATETIME:
        z = zone.replace("'", "''")
        return (f"CASE WHEN regexp_matches({value}, '{_OFFSET}') THEN TRY_CAST({value} AS TIMESTAMPTZ) "
                f"ELSE timezone('{z}', TRY_CAST({value} AS TIMESTAMP)) END")
    if kind is Kind.NUMBER:
        return f"TRY_CAST({value} AS DOUBLE)"
    if kind is Kind.CURRENCY:
        if currency is None:  # no currency code beside the value: taken as written
            return f"TRY_CAST({value} AS DECIMAL(38, 3))"
        return (f"CAST(TRY_CAST({value} AS DECIMAL(38, 3)) * {_currency_factor(currency)} AS DECIMAL(38, 3))")
    if kind is Kind.LIST:
        return (f"CASE WHEN {value} IS NULL OR {value} = '' THEN NULL "
                f"ELSE list_filter(string_split({value}, '||'), lambda x: x <> '') END")
    return value


def _key_types(con: duckdb.DuckDBPyConnection, parent_sql: str, data_sql: str, fs: FieldSet) -> tuple[str, str]:
    """How to compare the parent's id with the values' owner: as they are, or both as text."""
    left = _columns_of(con, parent_sql).get("id", "VARCHAR")
    right = _columns_of(con, data_sql).get(fs.owner, "VARCHAR")
    if left == right or (_is_number(left) and _is_number(right)):
        return "p.id", "v._acflow_key"
    return "CAST(p.id AS VARCHAR)", "CAST(v._acflow_key AS VARCHAR)"


def columns_sql(con: duckdb.DuckDBPyConnection, p: Plan, parent_sql: str, data_sql: str, *,
                only_parents: bool = False, keep_gone: bool = False) -> str:
    """`parent_sql` with one column per field of the plan: the values aggregated once, per
    record (the newest value row wins should the API ever send two), typed, left-joined by id.
    `only_parents`: read the values of the parent's rows only (a few changed rows of many).
    `keep_gone`: deleted fields' columns too, empty (append and merge: the destination has them,
    and an upsert that left them out would keep their old values).
    Writers read their query twice (a count, then the rows); DuckDB prunes the count's reading of
    the values to their keys, so computing them once into a table first was slower (measured)."""
    empty = "".join(f", CAST(NULL AS {f.kind.value}) AS {quote(f.name)}" for f in p.gone) if keep_gone else ""
    if not p.fields:
        return f"SELECT *{empty} FROM {parent_sql}"
    fs = p.fields
    s = p.fs
    ids = ", ".join(_literal(f.id, p.numeric_ids) for f in fs)
    cur = f", {quote(s.currency)} AS _acflow_cur" if s.currency and any(f.kind is Kind.CURRENCY for f in fs) else ""
    within = f" AND {quote(s.owner)} IN (SELECT id FROM {parent_sql})" if only_parents else ""
    aggs = []
    for i, f in enumerate(fs):
        when = f"FILTER (WHERE _acflow_f = {_literal(f.id, p.numeric_ids)})"
        aggs.append(f"arg_max(_acflow_v, _acflow_i) {when} AS _acflow_{i}")
        if f.kind is Kind.CURRENCY and cur:
            aggs.append(f"arg_max(_acflow_cur, _acflow_i) {when} AS _acflow_{i}_cur")
    values = (f"SELECT {quote(s.owner)} AS _acflow_key, {', '.join(aggs)} FROM (SELECT {quote(s.owner)}, "
              f"{quote(s.field)} AS _acflow_f, CAST({quote(s.value)} AS VARCHAR) AS _acflow_v, id AS _acflow_i{cur} "
              f"FROM {data_sql} WHERE {quote(s.field)} IN ({ids}){within}) GROUP BY ALL")
    left, right = _key_types(con, parent_sql, data_sql, s)
    cols = ", ".join(
        f"{typed(f.kind, f'v._acflow_{i}', p.zone, f'v._acflow_{i}_cur' if f.kind is Kind.CURRENCY and cur else None)}"
        f"::{f.kind.value} AS {quote(f.name)}" for i, f in enumerate(fs))
    return f"SELECT p.*, {cols}{empty} FROM {parent_sql} p LEFT JOIN ({values}) v ON {left} = {right}"


def bad_values(con: duckdb.DuckDBPyConnection, p: Plan, data_sql: str, entity: str) -> list[str]:
    """Notes on values that do not fit their field's type (left empty in the column), per field."""
    checked = [f for f in p.fields if f.kind in (Kind.DATE, Kind.DATETIME, Kind.NUMBER, Kind.CURRENCY)]
    if not checked:
        return []
    s = p.fs
    whens = " ".join(f"WHEN {_literal(f.id, p.numeric_ids)} THEN {typed(f.kind, 'v', p.zone)} IS NULL"
                     for f in checked)
    ids = ", ".join(_literal(f.id, p.numeric_ids) for f in checked)
    rows = con.execute(
        f"SELECT CAST(f AS VARCHAR), count(*), min(v) FROM (SELECT {quote(s.field)} AS f, "
        f"trim(CAST({quote(s.value)} AS VARCHAR)) AS v FROM {data_sql} WHERE {quote(s.field)} IN ({ids})) "
        f"WHERE v <> '' AND NOT starts_with(v, '0000-00-00') AND (CASE f {whens} END) GROUP BY ALL ORDER BY 1"
    ).fetchall()
    by_id = {f.id: f for f in checked}
    out = []
    for fid, count, example in rows:
        f = by_id[fid]
        what = {"DATE": "dates", "TIMESTAMPTZ": "date-times", "DOUBLE": "numbers"}.get(f.kind.value, "amounts")
        out.append(f"{entity}: {count:,} values of custom field {f.name!r} ({f.type}) are not {what}, e.g. "
                   f"{example[:40]!r}: left empty in the column (the long table {s.data} keeps them)")
    return out


# ---- what changed since a destination last published ------------------------------------------------
def changed_rows(mirror: Mirror, account_url: str, entity: Entity, p: Plan, seq: int) -> str:
    """SQL for the parent's current rows changed since load `seq`, counting as changed a record
    whose custom field values changed (a value's update touches the value row, not the record),
    or whose field changed (renamed, retyped, deleted: the field's row), or whose field's column
    was renamed here (`p.renamed`)."""
    from .mirror import DELETED_AT, INTERNAL, SEQ

    s = p.fs
    parent = mirror.table(account_url, entity.name)
    data = mirror.table(account_url, s.data)
    meta = mirror.table(account_url, s.meta)
    owner, fkey = quote(s.owner), quote(s.field)
    touched = [f"SELECT {owner} AS k FROM {data} WHERE {SEQ} > {int(seq)}",
               f"SELECT d.{owner} FROM {data} d JOIN {meta} m ON d.{fkey} = m.id WHERE m.{SEQ} > {int(seq)}"]
    if p.renamed:
        ids = ", ".join(_literal(i, p.numeric_ids) for i in p.renamed)
        touched.append(f"SELECT {owner} FROM {data} WHERE {fkey} IN ({ids}) AND {DELETED_AT} IS NULL")
    with mirror.cursor() as con:
        id_type = _columns_of(con, parent).get("id", "VARCHAR")
        owner_type = _columns_of(con, data).get(s.owner, "VARCHAR")
    same = id_type == owner_type or (_is_number(id_type) and _is_number(owner_type))
    key = "id" if same else "CAST(id AS VARCHAR)"
    keys = " UNION ".join(touched) if same else " UNION ".join(f"SELECT CAST(k AS VARCHAR) FROM ({t}) t(k)"
                                                                  for t in touched)
    return (f"(SELECT * EXCLUDE ({', '.join(INTERNAL)}) FROM {parent} WHERE {DELETED_AT} IS NULL "
            f"AND ({SEQ} > {int(seq)} OR {key} IN ({keys})))")


def last_seq(mirror: Mirror, account_url: str, entity: Entity) -> int:
    """The newest load of the entity or of its custom fields' tables: what a publish has seen."""
    fs = field_set(entity)
    names = [entity.name] + ([fs.meta, fs.data] if fs else [])
    return max(mirror.last_seq(account_url, n) for n in names if mirror.has(account_url, n))


def source_key(account_url: str, entity: Entity, mode: str, naming: str) -> str:
    """What the mirror remembers publishing: a change of mode or naming publishes everything again."""
    base = f"{account_url}/{entity.name}"
    return f"{base}#custom_fields={naming}" if mode == "columns" and field_set(entity) else base


def account_zone(mirror: Mirror, account_url: str, override: str | None = None) -> str:
    """The zone datetime values without an offset are read in: the account's, as for its other dates."""
    if override:
        return override
    zone, _ = mirror.zone(account_url)
    return zone or "UTC"


# ---- preview: a page of records with their custom fields, from the API --------------------------------
async def fetch_for_preview(client: Client, entity: Entity, ids: list[Any]) -> tuple[list[dict[str, Any]],
                                                                                       list[dict[str, Any]]]:
    """The entity's fields (100 a request) and the values of the records `ids`, one request each
    (`/contacts/{id}/fieldValues`, as the records' `links` name them): what a preview shows."""
    import asyncio

    from .paging import Page

    fs = field_set(entity)
    assert fs is not None
    meta, data = catalog.CATALOG[fs.meta], catalog.CATALOG[fs.data]
    fields: list[dict[str, Any]] = []
    while True:
        page = Page(await client.get_page(meta.path, meta.key, {"limit": 100, "offset": len(fields)})).records()
        fields += page
        if len(page) < 100:
            break
    pages = await asyncio.gather(*(client.get_page(f"{entity.path}/{i}/{data.path}", data.key, {"limit": 100})
                                   for i in ids))
    return fields, [r for p in pages for r in Page(p).records()]


def preview_sql(con: duckdb.DuckDBPyConnection, entity: Entity, rows: str, fields: pa.Table, values: pa.Table, *,
                account: str, naming: str, zone: str) -> tuple[str, list[str]]:
    """SQL over the registered table `rows` with the custom field columns (names as a new mirror
    would give them: a preview keeps none), and the notes."""
    con.register("_acflow_fields", fields)
    con.register("_acflow_values", values)
    have = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {rows}").fetchall()]
    p = plan(con, entity, "_acflow_fields", "_acflow_values", account=account, naming=naming, zone=zone,
             parent_columns=have, pins_at=None, keep=False)
    assert p is not None
    return f"({columns_sql(con, p, rows, '_acflow_values')})", bad_values(con, p, "_acflow_values", entity.name)


# ---- long: the values as rows, with their field's title and type ------------------------------------
def long_rows(mirror: Mirror, account_url: str, entity: Entity, seq: int | None) -> tuple[str, str | None]:
    """SQL for the entity's custom field values, one row per record and field, with the field's
    `field_title`, `field_tag` and `field_type` (all current rows; with `seq`, those changed since
    that load, counting a field's rename), and SQL for the ids of values gone since (None: all)."""
    from .mirror import DELETED_AT, INTERNAL, SEQ

    fs = field_set(entity)
    assert fs is not None
    data, meta = mirror.table(account_url, fs.data), mirror.table(account_url, fs.meta)
    with mirror.cursor() as con:
        have = _columns_of(con, meta)
    if seq is None:
        rows, removed = mirror.current(account_url, fs.data), None
    else:
        rows = (f"(SELECT * EXCLUDE ({', '.join(INTERNAL)}) FROM {data} WHERE {DELETED_AT} IS NULL AND ({SEQ} > "
                f"{int(seq)} OR {quote(fs.field)} IN (SELECT id FROM {meta} WHERE {SEQ} > {int(seq)})))")
        removed = f"SELECT id FROM {data} WHERE {DELETED_AT} IS NOT NULL AND {SEQ} > {int(seq)}"
    named = ", ".join(f"CAST({f'm.{quote(col)}' if col in have else 'NULL'} AS VARCHAR) AS {alias}"
                      for col, alias in ((fs.title, "field_title"), (fs.tag, "field_tag"), (fs.type, "field_type")))
    return (f"(SELECT d.*, {named} FROM {rows} d LEFT JOIN {mirror.current(account_url, fs.meta)} m "
            f"ON d.{quote(fs.field)} = m.id)"), removed
