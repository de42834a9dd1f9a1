"""What the Snowflake and BigQuery writers share: each column's kind (from its DuckDB type), the
rows written by DuckDB as Parquet files beside the mirror (streamed: memory flat in the rows), and
the check that a table already there still takes our columns.

Both warehouses load Parquet into a staging table, then one statement moves the rows into place;
merge's deletions travel in the same files as rows flagged `_acflow_gone`, so a single MERGE both
upserts and deletes.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import DestinationError
from ..sqltext import quote
from .base import Rows
from .local import run_interruptibly, sql_path, temp_dir_for

GONE = "_acflow_gone"  # merge: a row that only carries the id of a record gone from ActiveCampaign
FILE_BYTES = "128MB"  # per Parquet file: several files load in parallel, each one small enough to retry

_INTS = {"BIGINT", "INTEGER", "SMALLINT", "TINYINT", "UTINYINT", "USMALLINT", "UINTEGER"}
_WIDE_INTS = {"UBIGINT", "HUGEINT", "UHUGEINT"}
_DECIMAL = re.compile(r"^DECIMAL\((\d+),\s*(\d+)\)$")
_TS = {"TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS", "DATETIME"}
_NESTED = re.compile(r"(\[\d*\]$)|^(STRUCT|MAP|UNION)\(")
_PARQUET = {"int": "BIGINT", "float": "DOUBLE", "bool": "BOOLEAN", "text": "VARCHAR", "json": "VARCHAR",
            "tstz": "TIMESTAMPTZ", "ts": "TIMESTAMP", "date": "DATE", "time": "TIME", "bytes": "BLOB"}


@dataclass(frozen=True)
class Column:
    """One column as the warehouse gets it: `kind` is one of int, decimal, float, bool, text, json
    (text holding JSON, parsed by the warehouse), tstz (an instant), ts (a wall-clock time), date,
    time, bytes."""

    name: str
    kind: str
    precision: int = 38
    scale: int = 0
    nested: bool = False  # a DuckDB list/struct/map: sent as its JSON text

    def parquet(self) -> str:
        """The DuckDB type it is written to Parquet as."""
        return f"DECIMAL({self.precision}, {self.scale})" if self.kind == "decimal" else _PARQUET[self.kind]


def plan(rows: Rows) -> list[Column]:
    """Each column's kind from its DuckDB type; JSON columns by name (rows.json_columns) or type."""
    cols = []
    for name, ctype in rows.columns:
        upper = ctype.upper()
        m = _DECIMAL.match(upper)
        if upper in _INTS:
            cols.append(Column(name, "int"))
        elif upper in _WIDE_INTS:
            cols.append(Column(name, "decimal", 38, 0))
        elif m:
            cols.append(Column(name, "decimal", int(m.group(1)), int(m.group(2))))
        elif upper in ("DOUBLE", "FLOAT", "REAL"):
            cols.append(Column(name, "float"))
        elif upper == "BOOLEAN":
            cols.append(Column(name, "bool"))
        elif upper == "JSON" or (upper == "VARCHAR" and name in rows.json_columns):
            cols.append(Column(name, "json"))
        elif upper in ("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ"):
            cols.append(Column(name, "tstz"))
        elif upper in _TS:
            cols.append(Column(name, "ts"))
        elif upper in ("DATE", "TIME", "BLOB"):
            cols.append(Column(name, {"DATE": "date", "TIME": "time", "BLOB": "bytes"}[upper]))
        elif _NESTED.search(upper):
            cols.append(Column(name, "json", nested=True))
        else:  # VARCHAR, UUID, INTERVAL, ENUM, BIT...: their text
            cols.append(Column(name, "text"))
    return cols


def refuse_case_twins(cols: Sequence[Column], where: str) -> None:
    """Both warehouses match Parquet columns to table columns without regard to case (BigQuery's
    column names are case-insensitive): two names that differ only in case would collide."""
    seen: dict[str, str] = {}
    for col in cols:
        other = seen.setdefault(col.name.lower(), col.name)
        if other != col.name:
            raise DestinationError(f"cannot write {where}: the columns {other!r} and {col.name!r} differ only in "
                                   "case, which the warehouse does not tell apart; rename one in the flow; "
                                   "the table is unchanged")


def field(i: int) -> str:
    """The name of the i-th column in the Parquet files and the staging table: positional, so that
    names with spaces or quotes (custom fields: "Company Size") never meet a loader's naming rules."""
    return f"c{i}"


def _select(rows: Rows, cols: Sequence[Column], merge: bool) -> str:
    exprs = []
    for i, col in enumerate(cols):
        q = quote(col.name)
        source = f"to_json({q})" if col.nested else q
        exprs.append(f"CAST({source} AS {col.parquet()}) AS {field(i)}")
    select = f"SELECT {', '.join(exprs)}"
    if not merge:
        return f"{select} FROM ({rows.query})"
    at = next(i for i, c in enumerate(cols) if c.name == "id")
    return (f"{select}, false AS {GONE} FROM ({rows.query}) UNION ALL BY NAME "
            f"SELECT CAST(id AS {cols[at].parquet()}) AS {field(at)}, true AS {GONE} FROM acflow_gone_ids")


@contextlib.contextmanager
def parquet_files(rows: Rows, cols: Sequence[Column], *, merge: bool) -> Iterator[list[Path]]:
    """The rows (and, for merge, the ids to delete, flagged `_acflow_gone`) as Parquet files of at
    most FILE_BYTES each, in a folder beside the mirror (its disk holds the data already; a killed
    run's folder is removed by the next write), deleted afterwards. DuckDB streams the query into
    the files, so memory stays flat in the number of rows."""
    import pyarrow as pa

    with temp_dir_for(rows.mirror.path) as folder:
        target = folder / "rows"
        if merge:
            ids = pa.array(list(rows.gone)) if rows.gone else pa.array([], pa.int64())
            rows.con.register("acflow_gone_ids", pa.table({"id": ids}))
        try:
            run_interruptibly(rows.con, f"COPY ({_select(rows, cols, merge)}) TO {sql_path(target)} "
                                        f"(FORMAT parquet, FILE_SIZE_BYTES '{FILE_BYTES}', ROW_GROUP_SIZE 100000)")
        finally:
            if merge:
                rows.con.unregister("acflow_gone_ids")
        yield sorted(target.glob("*.parquet"))


def parquet_rows(files: Sequence[Path]) -> int:
    """Rows in the files, from their footers: no second run of the query over the mirror."""
    import pyarrow.parquet as pq

    return sum(pq.read_metadata(f).num_rows for f in files)


def check_types(where: str, have: Mapping[str, str], want: Mapping[str, str], *, fold: bool = False,
                same: Callable[[str, str], bool] = str.__eq__) -> list[str]:
    """Compare a table's columns (name -> type, as the warehouse names it) with ours; returns the
    names of ours it lacks (to add), or raises one DestinationError for a column whose type
    changed: casting it would lose data, and changing it is the user's decision. `fold`: names
    match whatever their case (BigQuery)."""
    if fold:
        have = {k.lower(): v for k, v in have.items()}
    missing = []
    for name, wanted in want.items():
        found = have.get(name.lower() if fold else name)
        if found is None:
            missing.append(name)
        elif not same(found, wanted):
            raise DestinationError(
                f"cannot write {where}: column {name!r} is {found} in the table and {wanted} in the rows; "
                "change the table's column, drop the table or write once with mode: replace; the table is unchanged")
    return missing


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0].strip() if text else type(exc).__name__
