"""Raw API records -> typed Arrow record batches, following the catalog's types.

Conversion is vectorised over a buffer of records (thousands at a time), not
per value, so typing never becomes the bottleneck. Nothing is ever dropped:
a field the catalog does not know becomes a text column, and a column whose
values do not fit its declared type (a "1.5" in an id column) is kept as text
for the rest of the run, with a warning, rather than losing the value.

Unknown fields become columns up to MAX_NEW_COLUMNS per entity; past that (a
server sending thousands of keys) the rest of each record is kept as one JSON
object in EXTRA_FIELDS, up to EXTRA_BYTES of it per record. Thousands of columns
would cost memory in every layer (Arrow's reader, DuckDB's merges, xlsx) and
break databases (PostgreSQL takes 1,600 columns), while real entities have about
100 fields; and DuckDB keeps longer strings out of line, where checkpointing
thousands of them needs memory in proportion (6,000 values of 35 KB failed at a
64 MB limit, 600,000 of 350 bytes did not). Fields past that are counted, named
in the summary, and left out.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from .catalog import ColType, Entity
from .zones import AccountZone

if TYPE_CHECKING:
    from .paging import Page

log = logging.getLogger("acflow")

DROPPED = frozenset({"links"})
MAX_NEW_COLUMNS = 200  # unknown fields kept as columns of their own, per entity
EXTRA_FIELDS = "_extra_fields"  # the unknown fields past that, as one JSON object per record
EXTRA_BYTES = 3_000  # at most this much of it per record (see above)

ARROW_TYPES: dict[ColType, pa.DataType] = {
    ColType.ID: pa.int64(),
    ColType.INT: pa.int64(),
    ColType.FLAG: pa.int8(),
    ColType.TEXT: pa.string(),
    ColType.TIMESTAMP: pa.timestamp("us", tz="UTC"),
    ColType.DATE: pa.date32(),
    ColType.JSON: pa.string(),
}

# The last but one is real: a recorded contact had "2022-03-2411:23:40".
_NAIVE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d%H:%M:%S", "%Y-%m-%d")


class Unconvertible(ValueError):
    """A column's values do not fit its declared type."""


Values = Sequence[Any] | pa.Array  # Python values (from dicts) or an Arrow array (from the JSON reader)


def _python(values: Values) -> Sequence[Any]:
    return values.to_pylist() if isinstance(values, pa.Array) else values


def _arrow(values: Values) -> pa.Array:
    return values if isinstance(values, pa.Array) else pa.array(values)


@functools.cache
def _scalar(value: str | None, t: pa.DataType) -> pa.Scalar:
    """Made once: Arrow tries a failing import (dateutil) for every Python value it converts."""
    return pa.scalar(value, t)


def dump_json(value: Any) -> str:
    """JSON text of any parsed value; orjson stops at 255 levels, the standard library goes
    deeper, and past Python's own limit the value is kept as its repr rather than lost."""
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:
        import json
        try:
            return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        except (RecursionError, ValueError, TypeError):
            return repr(value)


def _as_text(values: Values) -> pa.Array:
    """Any JSON values as text: strings as they are, everything else as JSON."""
    if isinstance(values, pa.Array) and (pa.types.is_string(values.type) or pa.types.is_null(values.type)):
        return values.cast(pa.string())
    if (isinstance(values, pa.Array) and pa.types.is_list(values.type)
            and not pc.max(pc.list_value_length(values)).as_py()):
        # only empty lists (scoreValues, accountContacts): "[]" without a Python object per value
        return pc.if_else(pc.is_null(values), _scalar(None, pa.string()), _scalar("[]", pa.string()))
    out = [v if v is None or isinstance(v, str) else dump_json(v) for v in _python(values)]
    return pa.array(out, type=pa.string())


def _as_json(values: Values) -> pa.Array:
    """JSON fields: nested values as JSON text; "" (sent for an empty additional_data) is null."""
    return _blank_to_null(_as_text(values))


def _blank_to_null(arr: pa.Array) -> pa.Array:
    return pc.if_else(pc.equal(arr, _scalar("", arr.type)), _scalar(None, arr.type), arr)


def _to_int(values: Values, target: pa.DataType) -> pa.Array:
    try:
        arr = _arrow(values)
    except OverflowError as exc:  # an integer beyond 64 bits: kept as text by the caller
        raise Unconvertible(str(exc)) from exc
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed "1" and 1 in one column
        arr = pa.array([None if v is None else str(int(v)) if isinstance(v, bool) else str(v)
                        for v in values], type=pa.string())
    if pa.types.is_null(arr.type):
        return pa.nulls(len(arr), target)
    if pa.types.is_string(arr.type):
        arr = _blank_to_null(pc.utf8_trim_whitespace(arr))
    try:
        return pc.cast(arr, target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise Unconvertible(str(exc)) from exc


def _date_texts(values: Values) -> pa.Array | None:
    """Date strings with "" and zero dates ("0000-00-00", "0000-00-00 00:00:00": "never") as null;
    None where every value is null."""
    try:
        arr = _arrow(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise Unconvertible(str(exc)) from exc
    if pa.types.is_null(arr.type):
        return None
    if not pa.types.is_string(arr.type):
        raise Unconvertible(f"expected date strings, got {arr.type}")
    arr = _blank_to_null(pc.utf8_trim_whitespace(arr))
    return pc.if_else(pc.starts_with(arr, "0000-00-00"), _scalar(None, pa.string()), arr)


def _first_unparsed(arr: pa.Array, parsed: pa.Array) -> Unconvertible:
    bad = next(v for v, p in zip(arr.to_pylist(), parsed.to_pylist(), strict=True) if v is not None and p is None)
    return Unconvertible(f"unrecognised date {bad!r}")


def _to_timestamp(values: Values, naive_zone: str) -> pa.Array:
    target = ARROW_TYPES[ColType.TIMESTAMP]
    arr = _date_texts(values)
    if arr is None:
        return pa.nulls(len(values), target)
    parsed = pc.cast(
        pc.strptime(arr, format="%Y-%m-%dT%H:%M:%S%z", unit="us", error_is_null=True), target
    )
    for fmt in _NAIVE_FORMATS:
        if parsed.null_count == arr.null_count:
            break
        naive = pc.strptime(arr, format=fmt, unit="us", error_is_null=True)
        local = pc.assume_timezone(naive, naive_zone, ambiguous="earliest", nonexistent="earliest")
        parsed = pc.coalesce(parsed, pc.cast(local, target))
    if parsed.null_count != arr.null_count:
        raise _first_unparsed(arr, parsed)
    return parsed


def _to_date(values: Values) -> pa.Array:
    """Calendar days: the first ten characters, as sent ("2025-08-02", or the local day of a
    date with a time); never an instant, so no zone can shift it into another day."""
    target = ARROW_TYPES[ColType.DATE]
    arr = _date_texts(values)
    if arr is None:
        return pa.nulls(len(values), target)
    parsed = pc.strptime(pc.utf8_slice_codeunits(arr, 0, 10), format="%Y-%m-%d", unit="s", error_is_null=True)
    if parsed.null_count != arr.null_count:
        raise _first_unparsed(arr, parsed)
    return pc.cast(parsed, target)


def convert(values: Values, kind: ColType, zone: str) -> pa.Array:
    """One column of raw values -> its typed Arrow array (raises Unconvertible)."""
    if kind in (ColType.ID, ColType.INT, ColType.FLAG):
        return _to_int(values, ARROW_TYPES[kind])
    if kind is ColType.TIMESTAMP:
        return _to_timestamp(values, zone)
    if kind is ColType.DATE:
        return _to_date(values)
    if kind is ColType.JSON:
        return _as_json(values)
    return _as_text(values)  # TEXT: strings as sent, anything else as JSON


class BatchBuilder:
    """Types the records of one entity, keeping one schema for the whole run.

    `zone` says how naive local timestamps are read: an AccountZone (shared by the entities of
    one account, learning the zone from the dates it sees), or a zone name to read them in.
    """

    def __init__(self, entity: Entity, zone: str | AccountZone | None = None) -> None:
        self.entity = entity
        self.zone = zone if isinstance(zone, AccountZone) else AccountZone(override=zone)
        self.types: dict[str, ColType] = dict(entity.columns)
        self.degraded: dict[str, str] = {}  # column -> why it is kept as text
        self.omit: set[str] = set()  # columns left empty: side-load id arrays a full read has not (sync.SideLoad)
        self.fallbacks = 0  # batches Arrow could not read exactly, typed from dicts instead
        self.overflow: set[str] = set()  # unknown fields past MAX_NEW_COLUMNS, kept in EXTRA_FIELDS
        self.left_out = 0  # values of those past EXTRA_BYTES in their record, not kept

    def schema(self) -> pa.Schema:
        return pa.schema([(name, ARROW_TYPES[kind]) for name, kind in self.types.items()])

    def _new_columns(self) -> int:
        return sum(1 for n in self.types if n not in self.entity.columns and n != EXTRA_FIELDS)

    def _too_many(self, names: Iterable[str]) -> bool:
        """Whether these fields would take the unknown ones past MAX_NEW_COLUMNS."""
        unknown = sum(1 for name in names if name not in self.types and name not in DROPPED)
        return unknown + self._new_columns() > MAX_NEW_COLUMNS

    def _admit(self, name: str) -> None:
        """An unknown field gets a column of its own, or past MAX_NEW_COLUMNS goes to EXTRA_FIELDS."""
        if name in self.types or name in DROPPED:
            return
        if name in self.overflow or self._new_columns() >= MAX_NEW_COLUMNS:
            self.overflow.add(name)
            self.types.setdefault(EXTRA_FIELDS, ColType.JSON)
        else:
            self.types[name] = ColType.TEXT

    def _extra(self, record: dict[str, Any]) -> str | None:
        """The record's fields past MAX_NEW_COLUMNS as one JSON object of at most EXTRA_BYTES."""
        parts: list[str] = []
        size = 2
        for name, value in record.items():
            if name not in self.overflow:
                continue
            part = f"{dump_json(name)}:{dump_json(value)}"
            if size + len(part) + 1 > EXTRA_BYTES:
                self.left_out += 1
                continue
            parts.append(part)
            size += len(part) + 1
        return "{" + ",".join(parts) + "}" if parts else None

    def build(self, records: Sequence[dict[str, Any]]) -> pa.RecordBatch:
        """Records as dicts -> a typed batch (the exact path; build_pages is the fast one)."""
        for record in records:  # unknown fields are kept, as text, in order of appearance
            for name in record:
                self._admit(name)
        columns: dict[str, Values] = {name: [r.get(name) for r in records]
                                      for name in self.types if name != EXTRA_FIELDS}
        if self.overflow:
            columns[EXTRA_FIELDS] = [self._extra(r) for r in records]
        return self._typed(columns, len(records))

    def build_pages(self, pages: Sequence[Page]) -> pa.RecordBatch:
        """Raw pages -> a typed batch, parsed by Arrow's JSON reader without making Python
        objects of the records; where Arrow cannot read them exactly as build() would, build()."""
        try:
            if self.overflow or self._too_wide(pages[0]):
                raise _NotExact()  # Arrow would build a column for each of thousands of fields first
            columns, rows = self._read_pages(pages)
        except (pa.ArrowInvalid, pa.ArrowTypeError, _NotExact):
            self.fallbacks += 1
            return self.build([r for page in pages for r in page.records()])
        batch = self._typed(columns, rows)
        del columns
        pa.default_memory_pool().release_unused()  # else the parser's threads keep their memory
        return batch

    def _too_wide(self, page: Page) -> bool:
        """Whether the page's first record brings more unknown fields than may become columns."""
        import simdjson
        try:
            records = simdjson.Parser().parse(page.raw.body).get(self.entity.key)
            first = records[0] if isinstance(records, simdjson.Array) and len(records) else None
        except (ValueError, RuntimeError, IndexError, AttributeError):
            return False
        return isinstance(first, simdjson.Object) and self._too_many(first)

    def _read_pages(self, pages: Sequence[Page]) -> tuple[dict[str, pa.Array], int]:
        declared = [(n, pa.string()) for n, k in self.types.items() if k in (ColType.TEXT, ColType.TIMESTAMP)]
        key = self.entity.key
        schema = pa.schema([(key, pa.list_(pa.struct(declared)))])
        table = pajson.read_json(
            pa.BufferReader(b"\n".join(p.raw.body for p in pages)),  # read in place, not copied
            read_options=pajson.ReadOptions(block_size=1 << 24),  # one block: the other core fetches and writes
            parse_options=pajson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="infer"),
        )
        if table.num_rows != len(pages):  # a body that spans lines, or is not one object
            raise _NotExact()
        records = pc.list_flatten(table.column(key)).combine_chunks()
        if records.null_count or not pa.types.is_struct(records.type):
            raise _NotExact()
        keep, start = [], 0
        for page in pages:
            count = len(page.raw.ids)
            keep.extend(range(start, start + count) if page.keep is None else (start + i for i in page.keep))
            start += count
        if start != len(records):
            raise _NotExact()
        if len(keep) != len(records):
            records = records.take(pa.array(keep, type=pa.int64()))
        names = [records.type.field(i).name for i in range(records.type.num_fields)]
        if self._too_many(names):  # a later record wider than the first: build() keeps the rest as JSON
            raise _NotExact()
        fields = {name: records.field(i) for i, name in enumerate(names)}
        for name, array in fields.items():
            if name in DROPPED:
                continue
            if name not in self.types:
                self.types[name] = ColType.TEXT
            if not _renders_exactly(array.type):
                raise _NotExact()
        return fields, len(records)

    def _typed(self, columns: dict[str, Values], rows: int) -> pa.RecordBatch:
        # The dates of this batch say what the account's zone is before its naive times are read.
        self.zone.observe(*(values for name, kind in self.types.items()
                            if kind is ColType.TIMESTAMP and (values := columns.get(name)) is not None))
        zone = self.zone.zone
        arrays = []
        for name, kind in self.types.items():
            values = None if name in self.omit else columns.get(name)
            if values is None:
                arrays.append(pa.nulls(rows, ARROW_TYPES[kind]))
                continue
            try:
                arrays.append(convert(values, kind, zone))
            except Unconvertible as exc:
                log.warning("%s.%s: kept as text: %s", self.entity.name, name, exc)
                self.types[name] = ColType.TEXT
                self.degraded[name] = str(exc)
                arrays.append(_as_text(values))
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema())


class _NotExact(Exception):
    """Arrow's reading of these pages would not be what build() makes of them."""


def _renders_exactly(t: pa.DataType) -> bool:
    """Types Arrow infers from JSON that turn back into the values orjson would give. Not
    timestamps (Arrow reads ISO strings as instants), nor objects (Arrow gives every object
    the keys of all, so the JSON would change): strings, bools, integers and lists of them."""
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return _renders_exactly(t.value_type)
    # not floats either: Arrow widens 2 to 2.0 in a column that also holds 1.5
    return pa.types.is_string(t) or pa.types.is_null(t) or pa.types.is_boolean(t) or pa.types.is_integer(t)

