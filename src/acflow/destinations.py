"""Where rows go: destination URIs (a contract) and their atomic writers.

Every write is all or nothing. Files are written beside the target and moved
over it with os.replace, so a reader sees the old complete file or the new
complete file; a DuckDB table is swapped inside one transaction. When a write
fails, what the destination held before is untouched.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import tempfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from .errors import ConfigError, DestinationError, disk_cause
from .spreadsheet import FORMULA_START, csv_timestamp_sql, protected, protected_sql  # noqa: F401
from .sqltext import quote

if TYPE_CHECKING:  # DuckDB, filelock and the mirror load when something is written: a bad --to is
    import duckdb  # refused, and the account's key checked, before they cost their 230 ms

    from .mirror import Mirror
    from .workbook import Sheet  # noqa: F401

_FROM_WORKBOOK = ("XLSX_MAX_ROWS", "Sheet", "write_workbook")  # re-exported for run.py and flows


def __getattr__(name: str) -> Any:
    if name in _FROM_WORKBOOK:
        from . import workbook
        return getattr(workbook, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

FILE_FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".parquet": "parquet", ".xlsx": "xlsx"}
MODES = ("replace", "append", "merge")
EXTRACTED_AT = "_extracted_at"  # added by append mode: when the rows were fetched
LATER = {"postgresql": "postgresql://", "postgres": "postgresql://", "mysql": "mysql://"}
SUPPORTED = ".csv, .jsonl, .parquet, .xlsx files, duckdb:///path.duckdb and sqlite:///path.db"
DATABASES = ("duckdb", "sqlite")
LOCK_TIMEOUT = 600.0  # seconds a writer waits for another writer of the same file
MARK = ".acflow-"  # in the name of every temporary file or folder acflow makes beside a target


@dataclass(frozen=True)
class Destination:
    kind: str  # csv | jsonl | parquet | xlsx | duckdb | sqlite
    path: Path
    table: str | None = None  # databases: the table; xlsx: the sheet

    def describe(self) -> str:
        if self.kind in DATABASES:
            return f"{self.kind}:///{self.path}?table={self.table}"
        return f"{self.path} (sheet {self.table})" if self.kind == "xlsx" else str(self.path)

    def modes(self) -> tuple[str, ...]:
        if self.kind == "xlsx":
            return ("replace",)
        return MODES if self.kind in DATABASES else ("replace", "append")


@dataclass(frozen=True)
class WriteOptions:
    """How text files and sheets are written (acflow export and flows both turn on the BOM and
    formula neutralisation unless told not to; see config.CsvSpec)."""

    header: bool = True
    bom: bool = False  # a UTF-8 byte order mark, so Excel reads accents right
    delimiter: str = ","
    neutralize: bool = False  # CSV: prefix ' to text a spreadsheet would run (XLSX text never runs)


def parse(uri: str, default_table: str, *, sheet: str | None = None, base: Path | None = None) -> Destination:
    """A destination URI -> Destination, or one ConfigError that says what to write instead.

    Relative paths are under `base` when given (acflow.yaml's folder)."""
    text = uri.strip()
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""

    def placed(path: str) -> Path:
        p = Path(path).expanduser()
        return base / p if base is not None and not p.is_absolute() else p

    if scheme in DATABASES:
        # As SQLAlchemy's URLs: duckdb:///relative.duckdb, duckdb:////absolute/path.duckdb
        rest = text[len(scheme) + 3:]
        if not rest.startswith("/") or not rest[1:].split("?", 1)[0]:
            ext = "duckdb" if scheme == "duckdb" else "db"
            raise ConfigError(f"destination {uri!r} names no file: write {scheme}:///path/to/file.{ext}")
        path, _, query = rest[1:].partition("?")
        table = parse_qs(query).get("table", [default_table])[0]
        return Destination(scheme, placed(path), table)
    if scheme in LATER:
        raise ConfigError(f"{LATER[scheme]} destinations are not supported yet; use {SUPPORTED}")
    if scheme:
        raise ConfigError(f"unknown destination scheme {scheme}://; use {SUPPORTED}")
    suffix = Path(text).suffix.lower()
    if suffix in FILE_FORMATS:
        kind = FILE_FORMATS[suffix]
        return Destination(kind, placed(text), (sheet or default_table) if kind == "xlsx" else None)
    raise ConfigError(f"cannot tell the format of {uri!r}: end the file name with .csv, .jsonl, "
                      ".parquet or .xlsx, or write duckdb:///path.duckdb or sqlite:///path.db")


def check_sheet(name: str) -> None:
    """Excel's rules for sheet names."""
    bad = sorted(set(name) & set("[]:*?/\\"))
    if not name or len(name) > 31 or bad or name.startswith("'") or name.endswith("'"):
        raise ConfigError(f"sheet name {name!r} is not allowed by Excel: at most 31 characters, "
                          "none of [ ] : * ? / \\, not starting or ending with '")


def check_mode(dest: Destination, mode: str) -> None:
    if mode not in dest.modes():
        raise ConfigError(f"{dest.kind} destinations take --mode {' or '.join(dest.modes())}, not {mode!r}")


def _iso(q: str, utc: bool) -> str:
    """ISO-8601 text; fractions only where there are any (AC sends whole seconds)."""
    src, z = (f"timezone('UTC', {q})", "Z") if utc else (q, "")
    return (f"CASE WHEN microsecond({q}) % 1000000 = 0 THEN strftime({src}, '%Y-%m-%dT%H:%M:%S{z}') "
            f"ELSE strftime({src}, '%Y-%m-%dT%H:%M:%S.%f{z}') END")


def _select_for(con: duckdb.DuckDBPyConnection, query: str, kind: str,
                json_columns: frozenset[str] = frozenset(), neutralize: bool = False) -> str:
    """JSONL and SQLite get ISO-8601 timestamps (UTC, with Z; a flow's local time zone, without),
    CSV `2024-01-15 10:00:00` (what spreadsheets import as a date-time; dates as 2025-08-02);
    JSONL gets JSON columns as nested JSON; SQLite decimals as doubles; CSV text and header cells a
    spreadsheet would run get a leading ' if asked (spreadsheet.py). XLSX: see workbook.py."""
    described = con.execute(f"DESCRIBE {query}").fetchall()
    cols = []
    for name, ctype, *_ in described:
        q = quote(name)
        alias = quote(protected(name)) if neutralize and kind == "csv" else q  # field names come from the API
        zoned = ctype in ("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ")
        if kind == "csv" and ctype.startswith("TIMESTAMP"):
            cols.append(f"{csv_timestamp_sql(q, zoned)} AS {alias}")
        elif kind in ("jsonl", "sqlite") and ctype.startswith("TIMESTAMP"):
            cols.append(f"{_iso(q, zoned)} AS {q}")
        elif kind == "jsonl" and name in json_columns:
            cols.append(f"CASE WHEN json_valid({q}) THEN CAST({q} AS JSON) ELSE to_json({q}) END AS {q}")
        elif kind == "sqlite" and (ctype.startswith("DECIMAL") or ctype == "HUGEINT"):
            cols.append(f"CAST({q} AS DOUBLE) AS {q}")
        elif kind == "sqlite" and ctype not in _PLAIN and not ctype.startswith("TIMESTAMP"):
            cols.append(f"CAST({q} AS VARCHAR) AS {q}")  # lists, structs, JSON, dates: as text
        elif neutralize and kind == "csv" and ctype in ("VARCHAR", "JSON"):
            cols.append(f"{protected_sql(q)} AS {alias}")
        else:
            cols.append(f"{q} AS {alias}")
    return f"SELECT {', '.join(cols)} FROM ({query})"


_PLAIN = {"VARCHAR", "BIGINT", "INTEGER", "SMALLINT", "TINYINT", "UBIGINT", "UINTEGER", "USMALLINT",
          "UTINYINT", "DOUBLE", "FLOAT", "BOOLEAN"}


def _copy_options(kind: str, header: bool = True, delimiter: str = ",") -> str:
    sep = delimiter.replace("'", "''")
    return {
        # USE_TMP_FILE false: we write to a temporary file of our own already; DuckDB's own
        # (tmp_NAME) would be left behind by a kill, under a name no cleanup knows
        "csv": f"(FORMAT CSV, HEADER {str(header).upper()}, DELIMITER '{sep}', USE_TMP_FILE false)",
        "jsonl": "(FORMAT JSON, USE_TMP_FILE false)",
        "parquet": "(FORMAT PARQUET, COMPRESSION ZSTD, USE_TMP_FILE false)",
    }[kind]


def lock_path(target: Path) -> Path:
    """The lock file writers of `target` meet at (kept: removing it would let two writers in)."""
    return target.parent / f".{target.name}{MARK}lock"


@contextlib.contextmanager
def locked(target: Path) -> Iterator[None]:
    """Only one writer of `target` at a time, across processes: an append reads the file and
    moves a longer one over it, so two at once kept only one's rows. An OS lock (flock, through
    the filelock library, which also works on Windows) dies with its process, so a kill never
    leaves the file locked. Also removes what killed writers left beside the target."""
    import filelock

    path = lock_path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        lock = filelock.FileLock(path, timeout=LOCK_TIMEOUT)
        lock.acquire()
    except filelock.Timeout:
        raise DestinationError(
            f"cannot write {target}: another acflow process has been writing it for {LOCK_TIMEOUT:g} s "
            f"(lock {path}); run again when it is done; the file is unchanged") from None
    except OSError as exc:
        raise DestinationError(f"cannot write {target}: {_why(exc)}; the destination is unchanged") from None
    try:
        remove_stale(target)
        yield
    finally:
        lock.release()


def _owner_gone(name: str, mtime: float) -> bool:
    """Whether the process named in a temporary file's name (…acflow-PID-…) has ended: the
    process is gone, or its PID now belongs to a process started after the file was written."""
    match = re.search(re.escape(MARK) + r"(\d+)-", name)
    if match is None:
        return False
    pid = int(match.group(1))
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # someone else's process
        pass
    started = _started(pid)
    return started is not None and started > mtime + 1


def _started(pid: int) -> float | None:
    """When a process started (Linux /proc), or None where that cannot be told."""
    try:
        ticks = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
        boot = next(int(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime "))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def remove_stale(target: Path) -> None:
    """Temporary files and folders a killed acflow left beside `target` (a 6.5 MB partial CSV,
    xlsxwriter's sheets of contact e-mails): ours by name, and their process gone."""
    try:
        entries = list(target.parent.glob(f".{glob_escape(target.name)}{MARK}*"))
    except OSError:
        return
    for entry in entries:
        try:
            if entry == lock_path(target) or not _owner_gone(entry.name, entry.lstat().st_mtime):
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
        except OSError:
            continue  # another writer's cleanup got there first


def glob_escape(name: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", name)


def _temp_prefix(target: Path) -> str:
    return f".{target.name}{MARK}{os.getpid()}-"


@contextlib.contextmanager
def _temp_beside(target: Path, suffix: str) -> Iterator[Path]:
    """A temporary path in the target's folder (same file system, so os.replace is atomic),
    named so that the next write removes it if this process is killed."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=_temp_prefix(target), suffix=suffix, dir=target.parent)
    except OSError as exc:
        raise DestinationError(f"cannot write {target}: {_why(exc)}; the destination is unchanged") from None
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def temp_dir_for(target: Path) -> Iterator[Path]:
    """A folder for a writer's own temporary files (xlsxwriter's `tmpdir`), beside `target`:
    never the shared /tmp, where a kill left 235 MB of contact e-mails; removed afterwards,
    and by the next writer of `target` if this process is killed."""
    remove_stale(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix=_temp_prefix(target), suffix=".d", dir=target.parent))
    except OSError as exc:
        raise DestinationError(f"cannot write {target}: {_why(exc)}; the destination is unchanged") from None
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _why(exc: BaseException) -> str:
    """The cause of a failed write in a few words: a full disk is said so, whatever the layer
    (DuckDB's IO Error text, SQLite's "database or disk is full", an OSError's errno)."""
    cause = disk_cause(exc)
    if cause is not None:
        return cause
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return re.sub(r"^[A-Za-z ]*Error: ", "", text)


def run_interruptibly(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> None:
    """Run one long statement so that Ctrl-C stops it: DuckDB's Python client does not look at
    signals while a statement runs (a COPY went on to its end, then was thrown away). Python's
    signal handler writes the signal's number to a wakeup socket at once, even while this thread
    is inside DuckDB; a watcher thread reads it and interrupts the statement."""
    import duckdb

    if threading.current_thread() is not threading.main_thread():
        con.execute(sql, params or [])  # only the main thread gets signals
        return
    reader, writer = socket.socketpair()
    writer.setblocking(False)
    try:
        previous = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    except ValueError:  # not the main interpreter
        reader.close()
        writer.close()
        con.execute(sql, params or [])
        return
    stops = {int(signal.SIGINT), int(getattr(signal, "SIGTERM", signal.SIGINT))}
    interrupted = threading.Event()

    def watch() -> None:
        while data := reader.recv(64):
            if stops & set(data):
                interrupted.set()
                con.interrupt()
                return

    watcher = threading.Thread(target=watch, name="acflow-ctrl-c", daemon=True)
    watcher.start()
    try:
        con.execute(sql, params or [])
    except duckdb.InterruptException:
        raise KeyboardInterrupt from None
    finally:
        signal.set_wakeup_fd(previous)
        writer.close()  # the watcher's recv returns b""
        watcher.join()
        reader.close()
    if interrupted.is_set():  # the signal came as the statement ended
        raise KeyboardInterrupt


def _sql_path(path: Path) -> str:
    """A path as an SQL string literal: a folder may well be called o'brien."""
    return "'" + str(path).replace("'", "''") + "'"


def _copy_mode(target: Path, tmp: Path) -> None:
    """The new file keeps the old one's permissions (or the umask's), not mkstemp's 0600."""
    if target.exists():
        shutil.copymode(target, tmp)
    else:
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o666 & ~umask)


def _csv_header(path: Path, delimiter: str = ",") -> list[str]:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        import csv
        return next(csv.reader(fh, delimiter=delimiter), [])


def write(mirror: Mirror, query: str, dest: Destination, mode: str,
          json_columns: frozenset[str] = frozenset(), options: WriteOptions | None = None,
          delete_ids: str | None = None) -> int:
    """Publish `query` (SQL over the mirror) to `dest`; returns the rows written.

    `delete_ids` (merge only): SQL over the mirror giving ids to delete from the destination,
    records gone from the API; applied in the same transaction as the upsert.
    """
    import duckdb

    from .workbook import write_workbook

    check_mode(dest, mode)
    if dest.kind == "xlsx":
        neutralize = (options or WriteOptions()).neutralize
        return write_workbook(mirror, dest.path, [(dest.table or "Sheet1", query, neutralize)], options)[0]
    options = options or WriteOptions()
    with mirror.cursor() as con:
        rows = con.execute(f"SELECT count(*) FROM ({query})").fetchone()[0]
        try:
            gone = [r[0] for r in con.execute(delete_ids).fetchall()] if delete_ids and mode == "merge" else []
            if dest.kind == "duckdb":
                _write_duckdb(con, mirror, query, dest, mode, gone)
            elif dest.kind == "sqlite":
                _write_sqlite(con, _select_for(con, query, "sqlite"), dest, mode, gone)
            else:
                select = _select_for(con, query, dest.kind, json_columns, options.neutralize)
                with locked(dest.path):  # one writer of a file at a time
                    _write_file(con, select, dest, mode, options)
        except duckdb.Error as exc:
            raise DestinationError(f"cannot write {dest.describe()}: {_why(exc)}; the destination is unchanged"
                                   ) from None
    return rows


def _write_file(con: duckdb.DuckDBPyConnection, select: str, dest: Destination, mode: str,
                options: WriteOptions | None = None) -> None:
    options = options or WriteOptions()
    target = dest.path
    appending = mode == "append" and target.exists()
    sep = options.delimiter
    with _temp_beside(target, ".tmp") as tmp:
        if appending and dest.kind == "parquet":
            run_interruptibly(
                con, f"COPY (SELECT * FROM read_parquet(?) UNION ALL BY NAME {select}) TO {_sql_path(tmp)} "
                f"{_copy_options('parquet')}", [str(target)]
            )
        elif appending:
            new_cols = [d[0] for d in con.execute(f"DESCRIBE {select}").fetchall()]
            has_header = dest.kind == "csv" and options.header
            old_cols = _csv_header(target, sep) if has_header else new_cols
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
                run_interruptibly(con, f"COPY ({select}) TO {_sql_path(part)} {_copy_options(dest.kind, False, sep)}")
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
        elif dest.kind == "csv" and options.bom:
            with _temp_beside(target, ".part") as part:
                run_interruptibly(con, f"COPY ({select}) TO {_sql_path(part)} "
                                       f"{_copy_options('csv', options.header, sep)}")
                try:
                    with tmp.open("wb") as out, part.open("rb") as src:
                        out.write(b"\xef\xbb\xbf")
                        shutil.copyfileobj(src, out)
                except OSError as exc:
                    raise DestinationError(f"cannot write {target}: {_why(exc)}; it is unchanged") from None
        elif dest.kind == "csv":
            run_interruptibly(con, f"COPY ({select}) TO {_sql_path(tmp)} {_copy_options('csv', options.header, sep)}")
        else:
            run_interruptibly(con, f"COPY ({select}) TO {_sql_path(tmp)} {_copy_options(dest.kind)}")
        _move_into_place(tmp, target)


def _move_into_place(tmp: Path, target: Path) -> None:
    try:
        _copy_mode(target, tmp)
        os.replace(tmp, target)
    except OSError as exc:
        raise DestinationError(f"cannot replace {target}: {_why(exc)}; it is unchanged") from None


_SQLITE_TYPES = {"BIGINT": "INTEGER", "INTEGER": "INTEGER", "SMALLINT": "INTEGER", "TINYINT": "INTEGER",
                 "UBIGINT": "INTEGER", "UINTEGER": "INTEGER", "USMALLINT": "INTEGER", "UTINYINT": "INTEGER",
                 "BOOLEAN": "INTEGER", "DOUBLE": "REAL", "FLOAT": "REAL"}


def _write_sqlite(con: duckdb.DuckDBPyConnection, select: str, dest: Destination, mode: str,
                  gone: Sequence[Any] = ()) -> None:
    """One SQLite transaction: the table is swapped (replace), grown (append) or merged by id."""
    import sqlite3

    described = [(r[0], r[1]) for r in con.execute(f"DESCRIBE {select}").fetchall()]
    names = [n for n, _ in described]
    table = quote(dest.table or "data")
    stage = quote(f"_acflow_new_{dest.table}")
    col_defs = ", ".join(f"{quote(n)} {_SQLITE_TYPES.get(t, 'TEXT')}" for n, t in described)
    col_list = ", ".join(quote(n) for n in names)
    marks = ", ".join("?" for _ in names)
    if mode == "merge" and "id" not in names:
        raise DestinationError(f"cannot merge into {dest.describe()}: the rows have no id column; "
                               "use mode: replace or append; it is unchanged")
    try:
        dest.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(str(dest.path), timeout=2.0, isolation_level=None)
    except (OSError, sqlite3.Error) as exc:
        why = getattr(exc, "strerror", None) or str(exc)
        raise DestinationError(f"cannot write {dest.describe()}: {why}; it is unchanged") from None
    try:
        db.execute("BEGIN IMMEDIATE")
        try:
            exists = db.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?",
                                [dest.table]).fetchone()[0]
            db.execute(f"DROP TABLE IF EXISTS {stage}")
            db.execute(f"CREATE TABLE {stage} ({col_defs})")
            cur = con.execute(select)
            while batch := cur.fetchmany(5000):
                db.executemany(f"INSERT INTO {stage} VALUES ({marks})", batch)
            if mode == "replace" or not exists:
                db.execute(f"DROP TABLE IF EXISTS {table}")
                db.execute(f"ALTER TABLE {stage} RENAME TO {table}")
            else:
                have = {r[1] for r in db.execute(f"PRAGMA table_info({table})").fetchall()}
                for n, t in described:
                    if n not in have:
                        db.execute(f"ALTER TABLE {table} ADD COLUMN {quote(n)} {_SQLITE_TYPES.get(t, 'TEXT')}")
                if mode == "merge":
                    db.execute(f"DELETE FROM {table} WHERE id IN (SELECT id FROM {stage})")
                    db.executemany(f"DELETE FROM {table} WHERE id = ?", [(i,) for i in gone])
                db.execute(f"INSERT INTO {table} ({col_list}) SELECT {col_list} FROM {stage}")
                db.execute(f"DROP TABLE {stage}")
            db.execute("COMMIT")
        except BaseException:
            # SQLite has already rolled back after some errors (a full disk): a ROLLBACK then
            # fails with "no transaction is active", which used to hide the cause
            if db.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
            raise
    except sqlite3.Error as exc:
        raise DestinationError(f"cannot write {dest.describe()}: {_why(exc)}; the destination is unchanged"
                               ) from None
    finally:
        db.close()


def _write_duckdb(con: duckdb.DuckDBPyConnection, mirror: Mirror, query: str, dest: Destination,
                  mode: str, gone: Sequence[Any] = ()) -> None:
    import duckdb

    same_file = dest.path.resolve() == mirror.path.resolve()
    alias = "main" if same_file else "acflow_dest"
    if not same_file:
        try:
            dest.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DestinationError(f"cannot write {dest.describe()}: {exc.strerror}; it is unchanged") from None
        con.execute(f"DETACH DATABASE IF EXISTS {alias}")  # left attached by a write that failed to detach
        con.execute(f"ATTACH {_sql_path(dest.path)} AS {alias}")
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
                run_interruptibly(con, f"CREATE OR REPLACE TABLE {table} AS {query}")
            else:
                for name, ctype, *_ in con.execute(f"DESCRIBE {query}").fetchall():
                    con.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {quote(name)} {ctype}")
                if mode == "merge":
                    con.execute(f"DELETE FROM {table} WHERE id IN (SELECT id FROM ({query}))")
                    if gone:
                        con.execute(f"DELETE FROM {table} WHERE id IN (SELECT unnest(?))", [list(gone)])
                run_interruptibly(con, f"INSERT INTO {table} BY NAME {query}")
            con.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(duckdb.Error):  # DuckDB may have ended it already: keep the cause
                con.execute("ROLLBACK")
            raise
    finally:
        if not same_file:
            with contextlib.suppress(duckdb.Error):  # a full disk fails its checkpoint too; the data is safe
                con.execute(f"DETACH {alias}")

