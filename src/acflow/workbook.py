"""The XLSX writer: typed cells that read well, written in constant memory and atomically.

Text is always a string cell (never a formula, so no ' prefix is needed: spreadsheets do not
evaluate string cells); timestamps are date cells in the sheet's time zone with the zone in the
number format (the header stays the API's field name, a contract); dates are date cells; `amount`
shows its currency's own decimals, row by row; `*_rate` columns are percentages. The header row is
frozen and filtered, and column widths come from the first rows, decided before any row is
written, because xlsxwriter's constant_memory mode streams rows to disk and keeps none.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import duckdb

from .catalog import MINOR_UNITS
from .errors import DestinationError
from .mirror import Mirror, quote

if TYPE_CHECKING:
    from .destinations import WriteOptions

XLSX_MAX_ROWS = 1_048_576
BATCH = 5000  # rows fetched from DuckDB at a time
SAMPLE = 1000  # rows that decide the column widths
MAX_WIDTH = 60
DATE_FORMAT = "yyyy-mm-dd"
TIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
PERCENT_FORMAT = "0.00%"
_ZONED = ("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ")
_PLAIN = {"VARCHAR", "BIGINT", "INTEGER", "SMALLINT", "TINYINT", "UBIGINT", "UINTEGER", "USMALLINT",
          "UTINYINT", "DOUBLE", "FLOAT", "BOOLEAN", "DATE"}
_NUMERIC = ("DECIMAL", "DOUBLE", "FLOAT", "HUGEINT", "BIGINT", "INTEGER", "SMALLINT", "TINYINT", "U")


class Sheet(NamedTuple):
    """One sheet of a workbook. `neutralize` is kept for callers' sake: string cells never run.
    `zone` is the flow's time zone (naive timestamps are local times in it); None means UTC."""

    name: str
    query: str
    neutralize: bool = True
    zone: str | None = None


def amount_format(digits: int) -> str:
    return "#,##0" + ("." + "0" * digits if digits else "")


def time_format(zone: str) -> str:
    return f'{TIME_FORMAT} "{zone}"'


class _Column:
    """How one column is selected, formatted and measured."""

    def __init__(self, name: str, ctype: str, zone: str | None, currency: bool) -> None:
        self.name, self.ctype = name, ctype
        numeric = ctype.startswith(_NUMERIC)
        self.kind = ("time" if ctype.startswith("TIMESTAMP") else "date" if ctype == "DATE"
                     else "amount" if numeric and currency and _is_amount(name)
                     else "rate" if numeric and (name == "rate" or name.endswith("_rate")) else "plain")
        zoned = ctype in _ZONED
        self.label = (zone or "UTC") if zoned or zone else None  # naive times without a zone: unknown
        q = quote(name)
        if zoned:
            self.sql = f"timezone('{(zone or 'UTC').replace(chr(39), '')}', {q})"
        elif self.kind == "time":
            self.sql = f"CAST({q} AS TIMESTAMP)"
        elif ctype.startswith("DECIMAL") or ctype == "HUGEINT":
            self.sql = f"CAST({q} AS DOUBLE)"
        elif ctype not in _PLAIN:
            self.sql = f"CAST({q} AS VARCHAR)"  # JSON, lists, structs, times: as text
        else:
            self.sql = q
        self.width = len(name) + 3  # room for the filter button

    def measure(self, value: Any, digits: int) -> None:
        if value is None:
            return
        if isinstance(value, str):
            shown = max((len(line) for line in value.splitlines()), default=0)
        elif self.kind == "time":
            shown = len(TIME_FORMAT) + (len(self.label) + 1 if self.label else 0)
        elif self.kind == "date":
            shown = len(DATE_FORMAT)
        elif self.kind == "amount":
            shown = len(f"{value:,.{digits}f}")
        elif self.kind == "rate":
            shown = len(f"{value:.2%}")
        else:
            shown = min(len(str(value)), 12)
        self.width = max(self.width, min(shown + 1, MAX_WIDTH))


def _is_amount(name: str) -> bool:
    return name == "amount" or name.endswith("_amount")


def _digits(currency: Any) -> int:
    return MINOR_UNITS.get(currency.lower(), 2) if isinstance(currency, str) else 2


def write_workbook(mirror: Mirror, path: Path, sheets: Sequence[Sheet | tuple[Any, ...]],
                   options: WriteOptions | None = None) -> list[int]:
    """Several queries into the sheets of one .xlsx workbook, written beside it and moved over it.

    `sheets`: Sheet(name, query, neutralize, zone) or a plain tuple of those; returns rows per sheet."""
    import xlsxwriter

    from .destinations.base import WriteOptions
    from .destinations.base import why as _why
    from .destinations.local import locked, move_into_place, temp_beside, temp_dir_for
    from .destinations.xlsx import check_sheet

    options = options or WriteOptions()
    counts: list[int] = []
    # one writer of the file at a time; xlsxwriter's own temporary files beside it, not in /tmp
    with locked(path), temp_dir_for(path) as scratch, temp_beside(path, ".xlsx") as tmp, mirror.publishing() as con:
        book = xlsxwriter.Workbook(str(tmp), {
            "constant_memory": True, "strings_to_formulas": False, "strings_to_urls": False,
            "strings_to_numbers": False, "nan_inf_to_errors": True, "tmpdir": str(scratch),
        })
        formats: dict[str, Any] = {}

        def fmt(spec: str) -> Any:
            if spec not in formats:
                formats[spec] = book.add_format({"num_format": spec})
            return formats[spec]

        try:
            for sheet in sheets:
                name, query, _, zone = Sheet(*sheet)
                check_sheet(name)
                counts.append(_write_sheet(con, book.add_worksheet(name), fmt, query, zone, options.header,
                                           f"{path} (sheet {name})"))
            book.close()
        except (duckdb.Error, OSError) as exc:
            raise DestinationError(f"cannot write {path}: {_why(exc)}; it is unchanged") from None
        move_into_place(tmp, path)
    return counts


def _write_sheet(con: duckdb.DuckDBPyConnection, ws: Any, fmt: Any, query: str, zone: str | None,
                 header: bool, where: str) -> int:
    """One sheet, streamed in batches; widths from the first batch, set before its rows are written."""
    described = [(r[0], r[1]) for r in con.execute(f"DESCRIBE {query}").fetchall()]
    has_currency = any(n == "currency" for n, _ in described)
    cols = [_Column(n, t, zone, has_currency) for n, t in described]
    currency = next((i for i, (n, _) in enumerate(described) if n == "currency"), None)
    cur = con.execute(f"SELECT {', '.join(f'{c.sql} AS {quote(c.name)}' for c in cols)} FROM ({query})")
    fixed = [fmt(time_format(c.label) if c.label else TIME_FORMAT) if c.kind == "time"
             else fmt(DATE_FORMAT) if c.kind == "date"
             else fmt(PERCENT_FORMAT) if c.kind == "rate" else None for c in cols]
    amounts = {i for i, c in enumerate(cols) if c.kind == "amount"}
    batch = cur.fetchmany(BATCH)
    for values in batch[:SAMPLE]:
        digits = _digits(values[currency]) if currency is not None else 2
        for c, value in zip(cols, values, strict=True):
            c.measure(value, digits)
    for i, c in enumerate(cols):
        ws.set_column(i, i, c.width)
    row = 0
    if header:
        ws.freeze_panes(1, 0)
        for i, c in enumerate(cols):
            ws.write_string(row, i, c.name)
        row += 1
    written = 0
    while batch:
        if row + len(batch) > XLSX_MAX_ROWS:
            raise DestinationError(
                f"cannot write {where}: more than {XLSX_MAX_ROWS:,} rows, Excel's limit; filter or "
                "aggregate the flow, or write .csv or .parquet; it is unchanged")
        for values in batch:
            for i, value in enumerate(values):
                if value is None:
                    continue
                if isinstance(value, str):
                    ws.write_string(row, i, value)  # a string cell: shown, never evaluated
                elif isinstance(value, dt.date):  # datetime too
                    ws.write_datetime(row, i, value, fixed[i])
                elif i in amounts:
                    ws.write_number(row, i, value, fmt(amount_format(_digits(values[currency]))))
                else:
                    ws.write(row, i, value, fixed[i])
            row += 1
        written += len(batch)
        batch = cur.fetchmany(BATCH)
    if header and cols:
        ws.autofilter(0, 0, max(row - 1, 1), len(cols) - 1)
    return written
