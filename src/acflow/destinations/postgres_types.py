"""PostgreSQL's types for the mirror's columns, and the rows as Arrow batches in those types
(postgres.py's docstring says why each type)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..sqltext import quote
from .base import Rows

if TYPE_CHECKING:
    import pyarrow as pa



@dataclass(frozen=True)
class Column:
    """One column as PostgreSQL gets it: its type as PostgreSQL names it (`atttypid::regtype`),
    and the DuckDB expression whose Arrow type the binary COPY of that type takes."""

    name: str
    pg: str
    expr: str
    json: bool = False


_SAME = {"BIGINT": "bigint", "INTEGER": "integer", "SMALLINT": "smallint", "DOUBLE": "double precision",
         "FLOAT": "real", "BOOLEAN": "boolean", "DATE": "date", "TIME": "time without time zone",
         "TIMESTAMP": "timestamp without time zone", "TIMESTAMP WITH TIME ZONE": "timestamp with time zone",
         "INTERVAL": "interval", "BLOB": "bytea"}
# DuckDB types PostgreSQL lacks -> (the DuckDB type to cast to, the PostgreSQL type)
_CAST = {"TINYINT": ("SMALLINT", "smallint"), "UTINYINT": ("SMALLINT", "smallint"),
         "USMALLINT": ("INTEGER", "integer"), "UINTEGER": ("BIGINT", "bigint"),
         "UBIGINT": ("DECIMAL(20,0)", "numeric"), "HUGEINT": ("DECIMAL(38,0)", "numeric"),
         "TIMESTAMP_S": ("TIMESTAMP", "timestamp without time zone"),
         "TIMESTAMP_MS": ("TIMESTAMP", "timestamp without time zone"),
         "TIMESTAMP_NS": ("TIMESTAMP", "timestamp without time zone")}
# JSON DuckDB accepts and PostgreSQL refuses: NaN/Infinity, trailing commas, \u0000. A false alarm
# (the same characters inside a string) only stores that value as a JSON string.
_LAX_JSON = r"\\u0000|,\s*[\]}]|(^|[\[,:])\s*[-+]?(?i:nan|inf|infinity)\s*($|[\],}])"
_NUL = "chr(0)"


def _text(expr: str) -> str:
    return f"replace({expr}, {_NUL}, '\ufffd')"


def _json(expr: str) -> str:
    """JSON text PostgreSQL's jsonb takes: the value itself when it is JSON to PostgreSQL too,
    else the text as a JSON string (nothing lost, no failed load)."""
    text = _text(expr)
    return (f"CASE WHEN {expr} IS NULL THEN NULL WHEN json_valid({text}) AND NOT regexp_matches({text}, "
            f"'{_LAX_JSON}') THEN {text} ELSE to_json({text})::VARCHAR END")


def column(name: str, ctype: str, json: bool) -> Column:
    q = quote(name)
    if json or ctype == "JSON":
        return Column(name, "jsonb", _json(f"CAST({q} AS VARCHAR)"), json=True)
    if ctype in _SAME:
        return Column(name, _SAME[ctype], q)
    if ctype in _CAST:
        cast, pg = _CAST[ctype]
        return Column(name, pg, f"CAST({q} AS {cast})")
    if ctype.startswith("DECIMAL"):
        return Column(name, "numeric", q)
    if ctype.endswith("]") or ctype.startswith(("STRUCT", "MAP", "UNION")):
        return Column(name, "jsonb", _json(f"to_json({q})::VARCHAR"), json=True)
    if ctype == "VARCHAR":
        return Column(name, "text", _text(q))
    return Column(name, "text", _text(f"CAST({q} AS VARCHAR)"))  # UUID, ENUM, TIME WITH TIME ZONE, BIT...


def columns(rows: Rows) -> list[Column]:
    return [column(name, ctype, name in rows.json_columns) for name, ctype in rows.columns]


@contextlib.contextmanager
def arrow_stream(rows: Rows, cols: Sequence[Column], query: str | None = None) -> Iterator[pa.RecordBatchReader]:
    """The rows shaped for COPY, batch by batch (memory flat in the rows); JSON columns carry
    Arrow's JSON extension type, which ADBC writes as jsonb."""
    import pyarrow as pa

    select = (f"SELECT {', '.join(f'{c.expr} AS {quote(c.name)}' for c in cols)} "
              f"FROM ({query or rows.query})")
    reader = rows.batches(query=select)
    try:
        json_at = {i for i, c in enumerate(cols) if c.json}
        if not json_at:
            yield reader
            return
        fields = [f.with_type(pa.json_(f.type)) if i in json_at else f for i, f in enumerate(reader.schema)]
        schema = pa.schema(fields)

        def tagged() -> Iterator[pa.RecordBatch]:
            for batch in reader:
                yield pa.RecordBatch.from_arrays(
                    [pa.ExtensionArray.from_storage(schema.field(i).type, a) if i in json_at else a
                     for i, a in enumerate(batch.columns)], schema=schema)

        yield pa.RecordBatchReader.from_batches(schema, tagged())
    finally:
        reader.close()


def column_defs(cols: Sequence[Column]) -> str:
    return ", ".join(f"{quote(c.name)} {c.pg}" for c in cols)
