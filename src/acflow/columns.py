"""Raw API records -> typed Arrow record batches, following the catalog's types.

Conversion is vectorised over a buffer of records (thousands at a time), not
per value, so typing never becomes the bottleneck. Nothing is ever dropped:
a field the catalog does not know becomes a text column, and a column whose
values do not fit its declared type (a "1.5" in an id column) is kept as text
for the rest of the run, with a warning, rather than losing the value.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from .catalog import ColType, Entity

log = logging.getLogger("acflow")

DROPPED = frozenset({"links"})

ARROW_TYPES: dict[ColType, pa.DataType] = {
    ColType.ID: pa.int64(),
    ColType.INT: pa.int64(),
    ColType.FLAG: pa.int8(),
    ColType.TEXT: pa.string(),
    ColType.TIMESTAMP: pa.timestamp("us", tz="UTC"),
    ColType.JSON: pa.string(),
}

# The last but one is real: a recorded contact had "2022-03-2411:23:40".
_NAIVE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d%H:%M:%S", "%Y-%m-%d")


class Unconvertible(ValueError):
    """A column's values do not fit its declared type."""


def _as_text(values: Sequence[Any]) -> pa.Array:
    """Any JSON values as text: strings as they are, everything else as JSON."""
    out = [v if v is None or isinstance(v, str) else orjson.dumps(v).decode() for v in values]
    return pa.array(out, type=pa.string())


def _blank_to_null(arr: pa.Array) -> pa.Array:
    return pc.if_else(pc.equal(arr, ""), pa.scalar(None, arr.type), arr)


def _to_int(values: Sequence[Any], target: pa.DataType) -> pa.Array:
    try:
        arr = pa.array(values)
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


def _to_timestamp(values: Sequence[Any], naive_zone: str) -> pa.Array:
    target = ARROW_TYPES[ColType.TIMESTAMP]
    try:
        arr = pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise Unconvertible(str(exc)) from exc
    if pa.types.is_null(arr.type):
        return pa.nulls(len(arr), target)
    if not pa.types.is_string(arr.type):
        raise Unconvertible(f"expected date strings, got {arr.type}")
    # Zero dates ("0000-00-00", "0000-00-00 00:00:00") mean "never": null.
    arr = _blank_to_null(arr)
    arr = pc.if_else(pc.starts_with(arr, "0000-00-00"), pa.scalar(None, pa.string()), arr)
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
        bad = next(v for v, p in zip(arr.to_pylist(), parsed.to_pylist(), strict=True)
                   if v is not None and p is None)
        raise Unconvertible(f"unrecognised date {bad!r}")
    return parsed


def convert(values: Sequence[Any], kind: ColType, zone: str) -> pa.Array:
    """One column of raw values -> its typed Arrow array (raises Unconvertible)."""
    if kind in (ColType.ID, ColType.INT, ColType.FLAG):
        return _to_int(values, ARROW_TYPES[kind])
    if kind is ColType.TIMESTAMP:
        return _to_timestamp(values, zone)
    if kind is ColType.JSON:
        return pa.array([v if v is None or isinstance(v, str) else orjson.dumps(v).decode()
                         for v in values], type=pa.string())
    return _as_text(values)


class BatchBuilder:
    """Types the records of one entity, keeping one schema for the whole run.

    `zone` is the account's time zone, used for naive local timestamps.
    """

    def __init__(self, entity: Entity, zone: str = "UTC") -> None:
        self.entity = entity
        self.zone = zone
        self.types: dict[str, ColType] = dict(entity.columns)
        self.degraded: dict[str, str] = {}  # column -> why it is kept as text

    def schema(self) -> pa.Schema:
        return pa.schema([(name, ARROW_TYPES[kind]) for name, kind in self.types.items()])

    def build(self, records: Sequence[dict[str, Any]]) -> pa.RecordBatch:
        for record in records:  # unknown fields are kept, as text, in order of appearance
            for name in record:
                if name not in self.types and name not in DROPPED:
                    self.types[name] = ColType.TEXT
        arrays = []
        for name, kind in self.types.items():
            values = [r.get(name) for r in records]
            try:
                arrays.append(convert(values, kind, self.zone))
            except Unconvertible as exc:
                log.warning("%s.%s: kept as text: %s", self.entity.name, name, exc)
                self.types[name] = ColType.TEXT
                self.degraded[name] = str(exc)
                arrays.append(_as_text(values))
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema())

