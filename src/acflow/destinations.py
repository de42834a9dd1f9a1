"""Where rows go: destination URIs (a contract) and their atomic writers.

Every write is all or nothing. Files are written beside the target and moved
over it with os.replace, so a reader sees the old complete file or the new
complete file; a DuckDB table is swapped inside one transaction. When a write
fails, what the destination held before is untouched.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs

import duckdb

from .errors import ConfigError, DestinationError
from .mirror import Mirror, quote

FILE_FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".parquet": "parquet"}
MODES = ("replace", "append", "merge")
EXTRACTED_AT = "_extracted_at"  # added by append mode: when the rows were fetched
LATER = {".xlsx": "Excel .xlsx", "sqlite": "sqlite://", "postgresql": "postgresql://",
         "postgres": "postgresql://", "mysql": "mysql://"}
SUPPORTED = ".csv, .jsonl, .parquet files and duckdb:///path.duckdb"


@dataclass(frozen=True)
class Destination:
    kind: str  # csv | jsonl | parquet | duckdb
    path: Path
    table: str | None = None  # duckdb only

    def describe(self) -> str:
        return f"duckdb:///{self.path}?table={self.table}" if self.kind == "duckdb" else str(self.path)

    def modes(self) -> tuple[str, ...]:
        return MODES if self.kind == "duckdb" else ("replace", "append")


def parse(uri: str, default_table: str) -> Destination:
    """A destination URI -> Destination, or one ConfigError that says what to write instead."""
    text = uri.strip()
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    if scheme == "duckdb":
        # As SQLAlchemy's URLs: duckdb:///relative.duckdb, duckdb:////absolute/path.duckdb
        rest = text[len("duckdb://"):]
        if not rest.startswith("/") or not rest[1:].split("?", 1)[0]:
            raise ConfigError(f"destination {uri!r} names no file: write duckdb:///path/to/file.duckdb")
        path, _, query = rest[1:].partition("?")
        table = parse_qs(query).get("table", [default_table])[0]
        return Destination("duckdb", Path(path), table)
    if scheme in LATER:
        raise ConfigError(f"{LATER[scheme]} destinations are not supported yet; use {SUPPORTED}")
    if scheme:
        raise ConfigError(f"unknown destination scheme {scheme}://; use {SUPPORTED}")
    suffix = Path(text).suffix.lower()
    if suffix in FILE_FORMATS:
        return Destination(FILE_FORMATS[suffix], Path(text))
    if suffix in LATER:
        raise ConfigError(f"{LATER[suffix]} destinations are not supported yet; use {SUPPORTED}")
    raise ConfigError(f"cannot tell the format of {uri!r}: end the file name with .csv, .jsonl "
                      "or .parquet, or write duckdb:///path.duckdb")


def check_mode(dest: Destination, mode: str) -> None:
    if mode not in dest.modes():
        raise ConfigError(f"{dest.kind} destinations take --mode {' or '.join(dest.modes())}, not {mode!r}")


def _select_for(con: duckdb.DuckDBPyConnection, query: str, kind: str,
                json_columns: frozenset[str] = frozenset()) -> str:
    """Text formats get ISO-8601 UTC timestamps; JSONL gets JSON columns as nested JSON."""
    described = con.execute(f"DESCRIBE {query}").fetchall()
    cols = []
    for name, ctype, *_ in described:
        q = quote(name)
        if kind in ("csv", "jsonl") and ctype.startswith("TIMESTAMP"):
            utc = f"timezone('UTC', {q})"  # fractions only where there are any (AC sends whole seconds)
            cols.append(f"CASE WHEN microsecond({q}) % 1000000 = 0 THEN strftime({utc}, '%Y-%m-%dT%H:%M:%SZ') "
                        f"ELSE strftime({utc}, '%Y-%m-%dT%H:%M:%S.%fZ') END AS {q}")
        elif kind == "jsonl" and name in json_columns:
            cols.append(f"CASE WHEN json_valid({q}) THEN CAST({q} AS JSON) ELSE to_json({q}) END AS {q}")
        else:
            cols.append(q)
    return f"SELECT {', '.join(cols)} FROM ({query})"


def _copy_options(kind: str, header: bool = True) -> str:
    return {
        "csv": f"(FORMAT CSV, HEADER {str(header).upper()})",
        "jsonl": "(FORMAT JSON)",
        "parquet": "(FORMAT PARQUET, COMPRESSION ZSTD)",
    }[kind]


@contextlib.contextmanager
def _temp_beside(target: Path, suffix: str):
    """A temporary path in the target's folder (same file system, so os.replace is atomic)."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix, dir=target.parent)
    except OSError as exc:
        raise DestinationError(f"cannot write {target}: {exc.strerror}; the destination is unchanged") from None
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
    finally:
        tmp.unlink(missing_ok=True)


def _copy_mode(target: Path, tmp: Path) -> None:
    """The new file keeps the old one's permissions (or the umask's), not mkstemp's 0600."""
    if target.exists():
        shutil.copymode(target, tmp)
    else:
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o666 & ~umask)


def _csv_header(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8") as fh:
        import csv
        return next(csv.reader(fh), [])


def write(mirror: Mirror, query: str, dest: Destination, mode: str,
          json_columns: frozenset[str] = frozenset()) -> int:
    """Publish `query` (SQL over the mirror) to `dest`; returns the rows written."""
    check_mode(dest, mode)
    with mirror.cursor() as con:
        rows = con.execute(f"SELECT count(*) FROM ({query})").fetchone()[0]
        try:
            if dest.kind == "duckdb":
                _write_duckdb(con, mirror, query, dest, mode)
            else:
                _write_file(con, _select_for(con, query, dest.kind, json_columns), dest, mode)
        except duckdb.Error as exc:
            raise DestinationError(
                f"cannot write {dest.describe()}: {str(exc).splitlines()[0]}; the destination is unchanged"
            ) from None
    return rows


def _write_file(con: duckdb.DuckDBPyConnection, select: str, dest: Destination, mode: str) -> None:
    target = dest.path
    appending = mode == "append" and target.exists()
    with _temp_beside(target, ".tmp") as tmp:
        if appending and dest.kind == "parquet":
            con.execute(
                f"COPY (SELECT * FROM read_parquet(?) UNION ALL BY NAME {select}) TO '{tmp}' "
                f"{_copy_options('parquet')}", [str(target)]
            )
        elif appending:
            new_cols = [d[0] for d in con.execute(f"DESCRIBE {select}").fetchall()]
            old_cols = _csv_header(target) if dest.kind == "csv" else new_cols
            if old_cols != new_cols:
                added = [c for c in new_cols if c not in old_cols]
                missing = [c for c in old_cols if c not in new_cols]
                what = "; ".join(p for p in (f"new: {', '.join(added)}" if added else "",
                                             f"gone: {', '.join(missing)}" if missing else "",
                                             "same names, other order" if not added and not missing else "") if p)
                raise DestinationError(
                    f"cannot append to {target}: its columns differ from the new rows' ({what}); "
                    "write to a new file or use --mode replace; the file is unchanged"
                )
            with _temp_beside(target, ".part") as part:
                con.execute(f"COPY ({select}) TO '{part}' {_copy_options(dest.kind, header=False)}")
                try:
                    shutil.copyfile(target, tmp)
                    with tmp.open("ab") as out, part.open("rb") as src:
                        shutil.copyfileobj(src, out)
                except OSError as exc:
                    raise DestinationError(f"cannot append to {target}: {exc.strerror}; it is unchanged") from None
        else:
            con.execute(f"COPY ({select}) TO '{tmp}' {_copy_options(dest.kind)}")
        try:
            _copy_mode(target, tmp)
            os.replace(tmp, target)
        except OSError as exc:
            raise DestinationError(f"cannot replace {target}: {exc.strerror}; it is unchanged") from None


def _write_duckdb(con: duckdb.DuckDBPyConnection, mirror: Mirror, query: str, dest: Destination,
                  mode: str) -> None:
    same_file = dest.path.resolve() == mirror.path.resolve()
    alias = "main" if same_file else "acflow_dest"
    if not same_file:
        dest.path.parent.mkdir(parents=True, exist_ok=True)
        con.execute(f"ATTACH '{dest.path}' AS {alias}")
    table = f"{alias if not same_file else 'main'}.{quote(dest.table or 'data')}"
    try:
        database = con.execute("SELECT current_database()").fetchone()[0] if same_file else alias
        exists = con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND schema_name = 'main' "
            "AND table_name = ?", [database, dest.table],
        ).fetchone()[0]
        con.execute("BEGIN TRANSACTION")
        try:
            if mode == "replace" or not exists:
                con.execute(f"CREATE OR REPLACE TABLE {table} AS {query}")
            else:
                for name, ctype, *_ in con.execute(f"DESCRIBE {query}").fetchall():
                    con.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {quote(name)} {ctype}")
                if mode == "merge":
                    con.execute(f"DELETE FROM {table} WHERE id IN (SELECT id FROM ({query}))")
                con.execute(f"INSERT INTO {table} BY NAME {query}")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    finally:
        if not same_file:
            con.execute(f"DETACH {alias}")

