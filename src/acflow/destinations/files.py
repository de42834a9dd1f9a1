"""CSV, JSON Lines and Parquet files, written by DuckDB's COPY beside the target and moved over
it with os.replace: a reader sees the old complete file or the new complete file, never a part."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import DestinationError
from ..spreadsheet import csv_timestamp_sql, protected, protected_sql
from ..sqltext import quote
from .base import EXTRACTED_AT, Destination, Rows, WriteOptions
from .base import why as _why
from .local import locked, move_into_place, run_interruptibly, sql_path, temp_beside

if TYPE_CHECKING:
    import duckdb

MODES = ("replace", "append")
EXTRA = None


def placed(text: str, base: Path | None) -> Path:
    """A destination's path; relative ones are under `base` when given (acflow.yaml's folder)."""
    p = Path(text).expanduser()
    return base / p if base is not None and not p.is_absolute() else p


def parse(text: str, default_table: str, *, sheet: str | None = None, base: Path | None = None) -> Destination:
    from .registry import SUFFIXES

    kind = SUFFIXES[Path(text).suffix.lower()][1]
    return Destination(kind, placed(text, base))


def describe(dest: Destination) -> str:
    return str(dest.path)


def iso_sql(q: str, utc: bool) -> str:
    """ISO-8601 text; fractions only where there are any (AC sends whole seconds)."""
    src, z = (f"timezone('UTC', {q})", "Z") if utc else (q, "")
    return (f"CASE WHEN microsecond({q}) % 1000000 = 0 THEN strftime({src}, '%Y-%m-%dT%H:%M:%S{z}') "
            f"ELSE strftime({src}, '%Y-%m-%dT%H:%M:%S.%f{z}') END")


def select_for(rows: Rows, kind: str, neutralize: bool = False) -> str:
    """JSONL gets ISO-8601 timestamps (UTC, with Z; a flow's local time zone, without), CSV
    `2024-01-15 10:00:00` (what spreadsheets import as a date-time; dates as 2025-08-02); JSONL gets
    JSON columns as nested JSON; CSV text and header cells a spreadsheet would run get a leading '
    if asked (spreadsheet.py). XLSX: see workbook.py."""
    cols = []
    for name, ctype in rows.columns:
        q = quote(name)
        alias = quote(protected(name)) if neutralize and kind == "csv" else q  # field names come from the API
        zoned = ctype in ("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ")
        if kind == "csv" and ctype.startswith("TIMESTAMP"):
            cols.append(f"{csv_timestamp_sql(q, zoned)} AS {alias}")
        elif kind == "jsonl" and ctype.startswith("TIMESTAMP"):
            cols.append(f"{iso_sql(q, zoned)} AS {q}")
        elif kind == "jsonl" and name in rows.json_columns:
            cols.append(f"CASE WHEN json_valid({q}) THEN CAST({q} AS JSON) ELSE to_json({q}) END AS {q}")
        elif neutralize and kind == "csv" and ctype in ("VARCHAR", "JSON"):
            cols.append(f"{protected_sql(q)} AS {alias}")
        else:
            cols.append(f"{q} AS {alias}")
    return f"SELECT {', '.join(cols)} FROM ({rows.query})"


def _copy_options(kind: str, header: bool = True, delimiter: str = ",") -> str:
    sep = delimiter.replace("'", "''")
    return {
        # USE_TMP_FILE false: we write to a temporary file of our own already; DuckDB's own
        # (tmp_NAME) would be left behind by a kill, under a name no cleanup knows
        "csv": f"(FORMAT CSV, HEADER {str(header).upper()}, DELIMITER '{sep}', USE_TMP_FILE false)",
        "jsonl": "(FORMAT JSON, USE_TMP_FILE false)",
        "parquet": "(FORMAT PARQUET, COMPRESSION ZSTD, USE_TMP_FILE false)",
    }[kind]


def _csv_header(path: Path, delimiter: str = ",") -> list[str]:
    import csv

    with path.open(newline="", encoding="utf-8-sig") as fh:
        return next(csv.reader(fh, delimiter=delimiter), [])


def _with_old_rows(target: Path, select: str, names: list[str], sep: str) -> str:
    old = (f"SELECT * FROM read_csv({sql_path(target)}, all_varchar = true, header = true, "
           f"delim = '{sep.replace(chr(39), chr(39) * 2)}', quote = '\"', escape = '\"')")
    cols = ", ".join(f"CAST({quote(n)} AS VARCHAR) AS {quote(n)}" for n in names)
    return f"SELECT {cols} FROM ({old} UNION ALL BY NAME SELECT * FROM ({select}))"


def write(rows: Rows, dest: Destination, mode: str, options: WriteOptions) -> int:
    assert dest.path is not None
    select = select_for(rows, dest.kind, options.neutralize)
    with locked(dest.path):  # one writer of a file at a time
        _write_file(rows.con, select, dest.kind, dest.path, mode, options)
    return rows.count()


def _write_file(con: duckdb.DuckDBPyConnection, select: str, kind: str, target: Path, mode: str,
                options: WriteOptions) -> None:
    appending = mode == "append" and target.exists()
    sep = options.delimiter
    with temp_beside(target, ".tmp") as tmp:
        if appending and kind == "parquet":
            run_interruptibly(
                con, f"COPY (SELECT * FROM read_parquet(?) UNION ALL BY NAME {select}) TO {sql_path(tmp)} "
                f"{_copy_options('parquet')}", [str(target)]
            )
        elif appending:
            new_cols = [d[0] for d in con.execute(f"DESCRIBE {select}").fetchall()]
            has_header = kind == "csv" and options.header
            old_cols = _csv_header(target, sep) if has_header else new_cols
            added = [c for c in new_cols if c not in old_cols]
            missing = [c for c in old_cols if c not in new_cols]
            if has_header and added and not missing and EXTRACTED_AT not in added:  # not a replace's file
                # a new field (a custom field made in ActiveCampaign): the file is rewritten with the
                # column added at the right, empty in the old rows, which are read back as they are (text)
                _write_file(con, _with_old_rows(target, select, old_cols + added, sep), kind, target, "replace",
                            options)
                return
            if old_cols != new_cols:
                what = "; ".join(p for p in (f"new: {', '.join(added)}" if added else "",
                                             f"gone: {', '.join(missing)}" if missing else "",
                                             "same names, other order" if not added and not missing else "") if p)
                raise DestinationError(
                    f"cannot append to {target}: its columns differ from the new rows' ({what}); "
                    "write to a new file or use --mode replace; the file is unchanged"
                )
            with temp_beside(target, ".part") as part:
                run_interruptibly(con, f"COPY ({select}) TO {sql_path(part)} {_copy_options(kind, False, sep)}")
                try:
                    shutil.copyfile(target, tmp)
                    with tmp.open("rb+") as out, part.open("rb") as src:
                        if out.seek(0, os.SEEK_END):
                            out.seek(-1, os.SEEK_END)
                            if out.read(1) != b"\n":
                                out.write(b"\n")  # a file saved without a final line break
                        shutil.copyfileobj(src, out)
                except OSError as exc:
                    raise DestinationError(f"cannot append to {target}: {_why(exc)}; it is unchanged") from None
        elif kind == "csv" and options.bom:
            with temp_beside(target, ".part") as part:
                run_interruptibly(con, f"COPY ({select}) TO {sql_path(part)} "
                                       f"{_copy_options('csv', options.header, sep)}")
                try:
                    with tmp.open("wb") as out, part.open("rb") as src:
                        out.write(b"\xef\xbb\xbf")
                        shutil.copyfileobj(src, out)
                except OSError as exc:
                    raise DestinationError(f"cannot write {target}: {_why(exc)}; it is unchanged") from None
        elif kind == "csv":
            run_interruptibly(con, f"COPY ({select}) TO {sql_path(tmp)} {_copy_options('csv', options.header, sep)}")
        else:
            run_interruptibly(con, f"COPY ({select}) TO {sql_path(tmp)} {_copy_options(kind)}")
        move_into_place(tmp, target)

