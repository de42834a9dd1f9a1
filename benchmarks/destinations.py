"""Rows per second and peak memory of acflow's database writers, beside the raw bulk path and dlt.

For each local database (this machine's PostgreSQL and MariaDB, a DuckDB file and a SQLite file)
and N contacts synced from the sandbox into a mirror (built once, cached in benchmarks/.cache/):

- acflow: `acflow.destinations.write(mirror, query, dest, "replace")`, the complete table, and a
  merge of 10% changed rows plus 1% gone (what `acflow export --mode merge` hands the writer); the
  query as export builds it (sorted by id only where the destination is `ordered`).
- the raw bulk path, the floor: the same query's Arrow batches straight through the client library's
  bulk path, no staging table, no swap, no key: the least any tool does. PostgreSQL: ADBC's
  adbc_ingest (into a table with acflow's column types, and in create mode), psycopg's COPY (CSV
  from DuckDB or pyarrow, and binary write_row); MariaDB: DuckDB writing a CSV, then LOAD DATA
  LOCAL INFILE into `CREATE TABLE ... LIKE` acflow's table.
- dlt (postgres; sqlalchemy for MySQL and SQLite; duckdb), in a child process, given the same Arrow
  batches or the rows as Python dicts; its defaults but for naming (see DLT_ENV).
- peak memory (the RSS high-water mark of a child process per case) of an acflow replace at each
  of --memory-sizes, and of the mirror read alone.

Every timed case reads the mirror in its timing, so the ratios compare writers, not readers.
Cases run round-robin (the order reversed every other round), medians of --runs, each after the
server has settled. The servers get a database of this run's own (acflow_bench_PID), dropped at
the end. Noisy on a shared machine: every run's seconds are printed.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import inspect
import io
import json
import logging
import os
import pstats
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _dest_data import mirror as cached_mirror

PG = "postgresql://postgres@127.0.0.1:5432"
MY = "mysql://root@127.0.0.1:3306"
BATCH = 100_000
KINDS = ("postgresql", "mysql", "duckdb", "sqlite")
TABLE = "contacts"
HERE = Path(__file__).resolve().parent


# ---------------------------------------------------------------- the rows -------------------

def queries(mirror_path: Path, account_url: str, ordered: bool) -> tuple[str, str, str, frozenset[str]]:
    """(replace query, merge query: 10% changed, ids gone: 1%, JSON columns), as export builds them:
    sorted by id only where readers see an order (files, embedded databases; not a server's table)."""
    from acflow.catalog import CATALOG
    from acflow.export import derived_query, json_columns
    from acflow.mirror import Mirror

    entity = CATALOG["contacts"]
    with Mirror(mirror_path) as m:
        base = derived_query(entity, m.current(account_url, entity.name))
    order = " ORDER BY id" if ordered else ""
    replace = base + order
    changed = (f"SELECT * REPLACE (concat(firstName, ' (b)') AS firstName, udate + INTERVAL 1 DAY AS udate, "
               f"sentcnt + 1 AS sentcnt) FROM ({base}) WHERE id % 10 = 3{order}")
    gone = f"SELECT id FROM ({base}) WHERE id % 100 = 7"
    return replace, changed, gone, json_columns(entity)


def ordered(kind: str) -> bool:
    """Whether export sorts the rows for this kind of destination (Destination.ordered)."""
    from acflow import destinations

    return bool(getattr(destinations.parse(uri(kind, "x", Path("x")), TABLE), "ordered", True))


def uri(kind: str, db: str, folder: Path) -> str:
    return {"postgresql": f"{PG}/{db}?table={TABLE}", "mysql": f"{MY}/{db}?table={TABLE}",
            "duckdb": f"duckdb:///{folder / 'dest.duckdb'}?table={TABLE}",
            "sqlite": f"sqlite:///{folder / 'dest.db'}?table={TABLE}"}[kind]


# ---------------------------------------------------------------- the servers ----------------

def pg_admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(f"{PG}/postgres", autocommit=True) as con:
        con.execute(sql)


def my_connect(db: str | None = None, **kw: Any) -> Any:
    import pymysql

    return pymysql.connect(host="127.0.0.1", port=3306, user="root", database=db, charset="utf8mb4", **kw)


def my_admin(sql: str) -> None:
    con = my_connect()
    try:
        with con.cursor() as cur:
            cur.execute(sql)
    finally:
        con.close()


@contextlib.contextmanager
def databases(name: str, kinds: list[str]) -> Iterator[None]:
    """A database of this run's own on each server, dropped afterwards (dlt's MySQL one too)."""
    made: list[str] = []
    try:
        if "postgresql" in kinds:
            pg_admin(f'CREATE DATABASE "{name}"')
            made.append("postgresql")
        if "mysql" in kinds:
            my_admin(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
            made.append("mysql")
        yield
    finally:
        if "postgresql" in made:
            pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if "mysql" in made:
            my_admin(f"DROP DATABASE IF EXISTS `{name}`")
            for data in DLT_INPUTS:
                my_admin(f"DROP DATABASE IF EXISTS `{name}_dlt_{data}`")


# ---------------------------------------------------------------- acflow ---------------------

def acflow_write(mirror_path: Path, query: str, dest_uri: str, mode: str, json_cols: frozenset[str],
                 gone: str | None = None) -> tuple[int, float]:
    """One acflow write: (rows written, seconds). The mirror is opened outside the timing."""
    from acflow import destinations
    from acflow.mirror import Mirror

    dest = destinations.parse(dest_uri, TABLE)
    with Mirror(mirror_path) as m:
        started = time.perf_counter()
        written = destinations.write(m, query, dest, mode, json_cols, delete_ids=gone)
        return written, time.perf_counter() - started


def writer_landed(kind: str) -> bool:
    from acflow.destinations.registry import KINDS as WRITERS

    return (HERE.parent / "src" / "acflow" / "destinations" / f"{WRITERS[kind]}.py").exists()


# ---------------------------------------------------------------- raw bulk paths -------------

_PG_TYPES = {"BIGINT": "bigint", "INTEGER": "integer", "SMALLINT": "smallint", "TINYINT": "smallint",
             "DOUBLE": "double precision", "BOOLEAN": "boolean", "DATE": "date",
             "TIMESTAMP WITH TIME ZONE": "timestamptz", "VARCHAR": "text"}
_MY_TYPES = {"BIGINT": "BIGINT", "INTEGER": "INT", "SMALLINT": "SMALLINT", "TINYINT": "TINYINT",
             "DOUBLE": "DOUBLE", "BOOLEAN": "TINYINT(1)", "DATE": "DATE",
             "TIMESTAMP WITH TIME ZONE": "DATETIME(6)", "VARCHAR": "LONGTEXT"}


def columns(mirror_path: Path, query: str) -> list[tuple[str, str]]:
    import duckdb

    con = duckdb.connect(str(mirror_path), read_only=True)
    try:
        return [(r[0], r[1]) for r in con.execute(f"DESCRIBE {query}").fetchall()]
    finally:
        con.close()


def pg_table_like(cur: Any, name: str, cols: list[tuple[str, str]], json_cols: frozenset[str]) -> None:
    """A fresh table with the column types of acflow's (LIKE copies the columns, not the key: a
    floor loads into a bare table), or typed by hand (jsonb for JSON) while there is none."""
    cur.execute(f'DROP TABLE IF EXISTS "{name}"')
    cur.execute(f"SELECT to_regclass('public.{TABLE}') IS NOT NULL")
    if cur.fetchone()[0]:
        cur.execute(f'CREATE TABLE "{name}" (LIKE "{TABLE}")')
    else:
        defs = ", ".join(f'"{n}" {"jsonb" if n in json_cols else _PG_TYPES.get(t, "text")}' for n, t in cols)
        cur.execute(f'CREATE TABLE "{name}" ({defs})')


class MirrorReader:
    """The mirror, opened before the timing as acflow_write opens its Mirror; `.batches(query)`:
    an Arrow RecordBatchReader over it, the batches a writer streams (con.sql, not con.execute,
    whose reader would first fetch every row)."""

    def __init__(self, mirror_path: Path) -> None:
        import duckdb

        self.con = duckdb.connect(str(mirror_path), read_only=True)

    def batches(self, query: str) -> Any:
        return self.con.sql(query).to_arrow_reader(BATCH)

    def close(self) -> None:
        self.con.close()


def raw_read(mirror_path: Path, query: str, **_: Any) -> tuple[int, float]:
    """The mirror read alone (query -> Arrow batches, discarded): the part every path shares."""
    con = MirrorReader(mirror_path)
    started = time.perf_counter()
    batches = con.batches(query)
    count = sum(b.num_rows for b in batches)
    seconds = time.perf_counter() - started
    con.close()
    return count, seconds


def pg_select(cols: list[tuple[str, str]], query: str) -> str:
    """TINYINT (the mirror's flags) as SMALLINT: PostgreSQL has no one-byte integer."""
    parts = [f'CAST("{n}" AS SMALLINT) AS "{n}"' if t == "TINYINT" else f'"{n}"' for n, t in cols]
    return f"SELECT {', '.join(parts)} FROM ({query})"


def json_tagged(batches: Any, json_cols: frozenset[str]) -> Any:
    """The batches with JSON columns as Arrow's JSON extension type, which ADBC sends as jsonb."""
    import pyarrow as pa

    schema = pa.schema([f.with_type(pa.json_(f.type)) if f.name in json_cols else f for f in batches.schema])

    def tagged() -> Iterator[Any]:
        for batch in batches:
            yield pa.RecordBatch.from_arrays(
                [pa.ExtensionArray.from_storage(schema.field(i).type, a) if schema.field(i).name in json_cols else a
                 for i, a in enumerate(batch.columns)], schema=schema)

    return pa.RecordBatchReader.from_batches(schema, tagged())


def raw_adbc_like(mirror_path: Path, query: str, db: str, cols: list[tuple[str, str]],
                  json_cols: frozenset[str], **_: Any) -> tuple[int, float]:
    """ADBC's PostgreSQL driver, adbc_ingest(mode="append"): binary COPY from Arrow in C++, into a
    table with acflow's column types (jsonb for JSON), no key: the floor."""
    import adbc_driver_postgresql.dbapi as adbc

    with adbc.connect(f"{PG}/{db}") as conn, conn.cursor() as cur:
        pg_table_like(cur, "raw_adbc", cols, json_cols)
        conn.commit()
        con = MirrorReader(mirror_path)
        started = time.perf_counter()
        batches = con.batches(pg_select(cols, query))
        count = cur.adbc_ingest("raw_adbc", json_tagged(batches, json_cols), mode="append")
        conn.commit()
        seconds = time.perf_counter() - started
        con.close()
    return count, seconds


def raw_adbc_create(mirror_path: Path, query: str, db: str, **_: Any) -> tuple[int, float]:
    """ADBC adbc_ingest(mode="create"): the driver's own table (JSON as text, no key, no index)."""
    import adbc_driver_postgresql.dbapi as adbc

    with adbc.connect(f"{PG}/{db}") as conn, conn.cursor() as cur:
        cur.execute('DROP TABLE IF EXISTS "raw_adbc_create"')
        conn.commit()
        con = MirrorReader(mirror_path)
        started = time.perf_counter()
        batches = con.batches(query)
        count = cur.adbc_ingest("raw_adbc_create", batches, mode="create")
        conn.commit()
        seconds = time.perf_counter() - started
        con.close()
    return count, seconds


def raw_copy_duckdb_csv(mirror_path: Path, query: str, db: str, cols: list[tuple[str, str]],
                        json_cols: frozenset[str], **_: Any) -> tuple[int, float]:
    """DuckDB writes the rows as a CSV file, psycopg 3 sends it with COPY FROM STDIN (FORMAT csv)."""
    import duckdb
    import psycopg

    folder = Path(tempfile.mkdtemp(prefix="acflow-bench-"))
    try:
        with psycopg.connect(f"{PG}/{db}") as conn:
            with conn.cursor() as cur:
                pg_table_like(cur, "raw_copy_duckdb", cols, json_cols)
            conn.commit()
            csv = folder / "rows.csv"
            duck = duckdb.connect(str(mirror_path), read_only=True)
            started = time.perf_counter()
            count = duck.execute(f"COPY ({query}) TO '{csv}' (FORMAT csv, HEADER false)").fetchone()[0]
            duck.close()
            with conn.cursor() as cur, cur.copy('COPY "raw_copy_duckdb" FROM STDIN (FORMAT csv)') as copy, \
                    csv.open("rb") as f:
                while chunk := f.read(1 << 20):
                    copy.write(chunk)
            conn.commit()
            seconds = time.perf_counter() - started
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return count, seconds


def raw_copy_csv(mirror_path: Path, query: str, db: str, cols: list[tuple[str, str]],
                 json_cols: frozenset[str], **_: Any) -> tuple[int, float]:
    """psycopg 3 COPY FROM STDIN (FORMAT csv), each Arrow batch written as CSV by pyarrow's C++
    writer, into a table shaped like acflow's."""
    import psycopg
    import pyarrow.csv as pacsv

    options = pacsv.WriteOptions(include_header=False, batch_size=8192)
    with psycopg.connect(f"{PG}/{db}") as conn:
        with conn.cursor() as cur:
            pg_table_like(cur, "raw_copy_csv", cols, json_cols)
        conn.commit()
        con = MirrorReader(mirror_path)
        started = time.perf_counter()
        batches = con.batches(query)
        count = 0
        with conn.cursor() as cur, cur.copy('COPY "raw_copy_csv" FROM STDIN (FORMAT csv)') as copy:
            for batch in batches:
                sink = io.BytesIO()
                pacsv.write_csv(batch, sink, options)
                copy.write(sink.getbuffer())
                count += batch.num_rows
        conn.commit()
        seconds = time.perf_counter() - started
        con.close()
    return count, seconds


def raw_copy_binary(mirror_path: Path, query: str, db: str, cols: list[tuple[str, str]],
                    json_cols: frozenset[str], **_: Any) -> tuple[int, float]:
    """psycopg 3 binary COPY with write_row(): Arrow -> Python values -> psycopg's C dumpers
    (JSON columns sent as jsonb)."""
    import psycopg
    from psycopg.types.json import Jsonb

    with psycopg.connect(f"{PG}/{db}") as conn:
        with conn.cursor() as cur:
            pg_table_like(cur, "raw_copy_binary", cols, json_cols)
            cur.execute("SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
                        "WHERE a.attrelid = 'raw_copy_binary'::regclass AND a.attnum > 0 AND NOT a.attisdropped "
                        "ORDER BY a.attnum")
            types = dict(cur.fetchall())
        conn.commit()
        names = [n for n, _ in cols]
        jsonb = [i for i, n in enumerate(names) if types[n] == "jsonb"]
        con = MirrorReader(mirror_path)
        started = time.perf_counter()
        batches = con.batches(query)
        count = 0
        cols_sql = ", ".join(f'"{n}"' for n in names)
        with conn.cursor() as cur, cur.copy(f'COPY "raw_copy_binary" ({cols_sql}) FROM STDIN (FORMAT binary)'
                                            ) as copy:
            copy.set_types([types[n] for n in names])
            for batch in batches:
                values = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
                for i in jsonb:
                    values[i] = [None if v is None else Jsonb(v, dumps=lambda s: s) for v in values[i]]
                for row in zip(*values, strict=True):
                    copy.write_row(row)
                count += batch.num_rows
        conn.commit()
        seconds = time.perf_counter() - started
        con.close()
    return count, seconds


def mysql_select(cols: list[tuple[str, str]], query: str) -> str:
    """Timestamps as UTC wall-clock time, what DATETIME(6) takes."""
    parts = [f"timezone('UTC', \"{n}\") AS \"{n}\"" if t == "TIMESTAMP WITH TIME ZONE" else f'"{n}"'
             for n, t in cols]
    return f"SELECT {', '.join(parts)} FROM ({query})"


def raw_load_data(mirror_path: Path, query: str, db: str, cols: list[tuple[str, str]],
                  json_cols: frozenset[str], **_: Any) -> tuple[int, float]:
    """DuckDB writes the rows as CSV (text quoted, NULL bare), then LOAD DATA LOCAL INFILE into a
    table shaped like acflow's (CREATE TABLE ... LIKE), one transaction."""
    import duckdb

    con = my_connect(db, local_infile=True, autocommit=False)
    folder = Path(tempfile.mkdtemp(prefix="acflow-bench-"))
    try:
        with con.cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS `raw_load_data`")
            cur.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = %s AND table_name = %s",
                        (db, TABLE))
            if cur.fetchone()[0]:
                cur.execute(f"CREATE TABLE `raw_load_data` LIKE `{TABLE}`")
            else:
                defs = ", ".join(f"`{n}` {'JSON' if n in json_cols else _MY_TYPES.get(t, 'LONGTEXT')}"
                                 + (" PRIMARY KEY" if n == "id" else "") for n, t in cols)
                cur.execute(f"CREATE TABLE `raw_load_data` ({defs}) CHARACTER SET utf8mb4")
        con.commit()
        text_cols = ", ".join(f'"{n}"' for n, t in cols if t == "VARCHAR")
        csv = folder / "rows.csv"
        duck = duckdb.connect(str(mirror_path), read_only=True)
        duck.execute("SET TimeZone = 'UTC'")
        started = time.perf_counter()
        duck.execute(f"COPY ({mysql_select(cols, query)}) TO '{csv}' (FORMAT csv, HEADER false, NULLSTR 'NULL', "
                     f"FORCE_QUOTE ({text_cols}))")
        duck.close()
        with con.cursor() as cur:
            count = cur.execute(f"LOAD DATA LOCAL INFILE '{csv}' INTO TABLE `raw_load_data` CHARACTER SET utf8mb4 "
                                "FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' ESCAPED BY '' "
                                "LINES TERMINATED BY '\\n'")
        con.commit()
        seconds = time.perf_counter() - started
    finally:
        con.close()
        shutil.rmtree(folder, ignore_errors=True)
    return count, seconds


RAW: dict[str, list[tuple[str, Callable[..., tuple[int, float]]]]] = {
    "postgresql": [("ADBC adbc_ingest, acflow's column types", raw_adbc_like),
                   ("ADBC adbc_ingest create (JSON as text, no key)", raw_adbc_create),
                   ("DuckDB CSV file + psycopg COPY csv", raw_copy_duckdb_csv),
                   ("pyarrow CSV + psycopg COPY csv", raw_copy_csv),
                   ("psycopg COPY binary (write_row)", raw_copy_binary)],
    "mysql": [("DuckDB CSV + LOAD DATA LOCAL INFILE", raw_load_data)],
}


# ---------------------------------------------------------------- children -------------------

def peak_mb() -> float:
    """This process's RSS high-water mark in MB. Its own (VmHWM): ru_maxrss, as os.wait4 gives it,
    would also count the parent's RSS at fork time, which Linux carries into the child across exec."""
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024
    except OSError:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


DLT_SCRIPT = inspect.getsource(peak_mb) + r"""
import json, sys, time
import duckdb, dlt
spec = json.loads(sys.argv[1])
con = duckdb.connect(spec["mirror"], read_only=True)
kind, where = spec["kind"], spec["where"]
if kind == "postgresql":
    dest = dlt.destinations.postgres(credentials=where)
elif kind == "duckdb":
    dest = dlt.destinations.duckdb(credentials=where)
else:
    dest = dlt.destinations.sqlalchemy(credentials=where)
pipeline = dlt.pipeline(pipeline_name="acflow_bench_" + spec["input"], destination=dest, dataset_name=spec["dataset"],
                        pipelines_dir=spec["dir"])
if spec["input"] == "dicts":  # what a dlt source such as rest_api yields; made before the timing
    data = [row for batch in con.sql(spec["query"]).to_arrow_reader(100_000) for row in batch.to_pylist()]
    started = time.perf_counter()
else:  # Arrow batches read from the mirror in the timing, as acflow's are
    started = time.perf_counter()
    data = con.sql(spec["query"]).to_arrow_reader(100_000)
info = pipeline.run(data, table_name="contacts", write_disposition="replace")
seconds = time.perf_counter() - started
with pipeline.sql_client() as client:
    rows = client.execute_sql(f"SELECT count(*) FROM {client.make_qualified_table_name('contacts')}")[0][0]
print(json.dumps({"seconds": seconds, "rows": rows, "peak_mb": peak_mb()}))
"""


def child(argv: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run a child process; the JSON of its last line (its peak memory included)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.run(argv, stdout=out, stderr=err, env=env, cwd=tempfile.gettempdir(), check=False)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            lines = err.read().decode(errors="replace").strip().splitlines()
            said = [ln for ln in lines if not ln.startswith(" ") and ("Error" in ln or "Exception" in ln)]
            raise RuntimeError(" | ".join(said[-2:] or lines[-2:]) or f"exit status {proc.returncode}")
        return json.loads(out.read().decode().strip().splitlines()[-1])  # type: ignore[no-any-return]


DLT_INPUTS = ("arrow", "dicts")
# dlt's one setting changed: its default naming (snake_case) maps contacts' `emailDomain` and
# `email_domain` (ActiveCampaign sends both) to one name and refuses the table; `direct` keeps names
DLT_ENV = {"RUNTIME__DLTHUB_TELEMETRY": "false", "SCHEMA__NAMING": "direct"}


def dlt_run(kind: str, data: str, mirror_path: Path, query: str, db: str, folder: Path) -> tuple[int, float, float]:
    """dlt in a child process, its default settings but for DLT_ENV: (rows, seconds, peak MB)."""
    where = {"postgresql": f"postgresql://postgres:unused@127.0.0.1:5432/{db}",  # dlt insists on a password
             "mysql": f"mysql+pymysql://root@127.0.0.1:3306/{db}",
             "duckdb": str(folder / f"dlt-{data}.duckdb"), "sqlite": f"sqlite:///{folder / f'dlt-{data}.db'}"}[kind]
    dataset = f"{db}_dlt_{data}" if kind == "mysql" else f"dlt_{data}"  # MySQL: a dataset is a database
    pipelines = folder / "dlt-pipelines"
    shutil.rmtree(pipelines, ignore_errors=True)
    spec = {"kind": kind, "where": where, "mirror": str(mirror_path), "query": query, "dataset": dataset,
            "dir": str(pipelines), "input": data}
    env = {**os.environ, **DLT_ENV, "DLT_DATA_DIR": str(folder / "dlt-data")}
    got = child([sys.executable, "-c", DLT_SCRIPT, json.dumps(spec)], env)
    return int(got["rows"]), float(got["seconds"]), float(got["peak_mb"])


def memory_case(kind: str, mirror_path: Path, account_url: str, db: str, folder: Path, sort: bool | None = None
                ) -> tuple[float, float, int]:
    """An acflow replace in a child process, or (kind "read") the mirror read alone, sorted or not:
    (peak RSS MB, RSS MB before the write, rows)."""
    spec = {"kind": kind, "mirror": str(mirror_path), "account_url": account_url,
            "uri": uri(kind, db, folder) if kind in KINDS else None,
            "ordered": ordered(kind) if sort is None else sort}
    got = child([sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)])
    return float(got["peak_mb"]), float(got["baseline_mb"]), int(got["rows"])


def run_child(spec_text: str) -> None:
    """The memory child: open the mirror, note the RSS, write the complete table once."""
    import psutil

    from acflow import destinations  # noqa: F401  (imported before the baseline, as a run has it)
    from acflow.mirror import Mirror  # noqa: F401

    spec = json.loads(spec_text)
    replace, _, _, json_cols = queries(Path(spec["mirror"]), spec["account_url"], spec["ordered"])
    baseline = psutil.Process().memory_info().rss / 2**20
    if spec["kind"] == "read":
        rows, seconds = raw_read(Path(spec["mirror"]), replace)
    else:
        rows, seconds = acflow_write(Path(spec["mirror"]), replace, spec["uri"], "replace", json_cols)
    print(json.dumps({"rows": rows, "seconds": seconds, "baseline_mb": baseline, "peak_mb": peak_mb()}))


# ---------------------------------------------------------------- the run --------------------

@dataclass
class Figures:
    kind: str
    replace: list[float] = field(default_factory=list)  # seconds
    merge: list[float] = field(default_factory=list)
    raw: dict[str, list[float]] = field(default_factory=dict)
    dlt: dict[str, tuple[float, float]] = field(default_factory=dict)  # input -> (seconds, peak MB)
    dlt_error: dict[str, str] = field(default_factory=dict)
    memory: dict[int, tuple[float, float]] = field(default_factory=dict)  # rows -> (peak, baseline)
    missing: str | None = None
    errors: dict[str, str] = field(default_factory=dict)  # case -> what went wrong (the run goes on)
    thrown_away: int = 0  # MariaDB runs during which local_infile was turned off by someone else


def say(text: str) -> None:
    """Progress, on stderr as each figure comes: a long run that fails late still told its figures."""
    print(time.strftime("%H:%M:%S"), text, file=sys.stderr, flush=True)


def med(values: list[float]) -> float:
    return statistics.median(values)


def rate(rows: int, seconds: float) -> str:
    return f"{rows / seconds:,.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=200_000)
    parser.add_argument("--memory-sizes", default="200000,1000000", help="comma-separated; empty: skip")
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each acflow and raw case (median)")
    parser.add_argument("--kinds", default=",".join(KINDS), help=f"some of {','.join(KINDS)}")
    parser.add_argument("--dlt", default=",".join(DLT_INPUTS),
                        help="what dlt is given: arrow (the same batches), dicts (rows as a source yields "
                             "them), both (default) or none")
    parser.add_argument("--profile", choices=KINDS, help="instead: cProfile one acflow replace into KIND")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child(args.child)
        return
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a kill still drops the run's databases
    kinds = [k for k in args.kinds.split(",") if k]
    mirror_path, account_url = cached_mirror(args.contacts)
    cols = columns(mirror_path, queries(mirror_path, account_url, False)[0])
    n_changed = len(range(3, args.contacts + 1, 10))  # ids 1..N: id % 10 = 3
    db = f"acflow_bench_{os.getpid()}"
    folder = Path(tempfile.mkdtemp(prefix="acflow-bench-dest-"))
    figures = {k: Figures(k) for k in kinds}
    read_memory: dict[tuple[bool, int], tuple[float, float]] = {}  # (sorted, rows) -> (peak, baseline)
    try:
        with databases(db, kinds):
            if args.profile:
                replace, _, _, json_cols = queries(mirror_path, account_url, ordered(args.profile))
                profile(args.profile, mirror_path, replace, json_cols, db, folder)
                return
            for kind in kinds:
                replace, changed, gone, json_cols = queries(mirror_path, account_url, ordered(kind))
                measure(figures[kind], args, mirror_path, replace, changed, gone, json_cols, cols, db, folder)
            sizes = [int(s) for s in args.memory_sizes.split(",") if s]
            for size in sizes:
                path, url = cached_mirror(size)
                for sort in (False, True):
                    peak, baseline, rows = memory_case("read", path, url, db, folder, sort)
                    read_memory[sort, size] = (peak, baseline)
                    say(f"mirror read alone{' sorted' if sort else ''}: memory at {size:,} rows: peak {peak:.0f} MB")
                for kind in kinds:
                    if figures[kind].missing is None:
                        settle(kind, db)
                        try:
                            peak, baseline, rows = memory_case(kind, path, url, db, folder)
                            if infile_was_off(kind, figures[kind]):  # the INSERT path: once more
                                settle(kind, db)
                                peak, baseline, rows = memory_case(kind, path, url, db, folder)
                            assert rows == size, (kind, rows, size)
                            figures[kind].memory[size] = (peak, baseline)
                            say(f"{kind}: memory at {size:,} rows: peak {peak:.0f} MB (before {baseline:.0f})")
                        except Exception as exc:  # one failed case is reported, the others still measured
                            figures[kind].errors[f"memory {size:,}"] = str(exc)[:300]
                            say(f"{kind}: memory at {size:,} rows failed: {exc}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    report(figures, read_memory, args, n_changed, sizes)


def measure(fig: Figures, args: argparse.Namespace, mirror_path: Path, replace: str, changed: str, gone: str,
            json_cols: frozenset[str], cols: list[tuple[str, str]], db: str, folder: Path) -> None:
    kind = fig.kind
    say(f"{kind}: ...")
    dest_uri = uri(kind, db, folder)
    landed = writer_landed(kind)
    if not landed:
        fig.missing = f"src/acflow/destinations/{'postgres' if kind == 'postgresql' else kind}.py has not landed"
    else:
        try:
            written, _ = acflow_write(mirror_path, replace, dest_uri, "replace", json_cols)  # warm-up; the table
            assert written == args.contacts, (kind, written)
        except Exception as exc:
            fig.missing = f"acflow's first write failed: {exc}"[:300]
            landed = False
    def acflow_replace() -> None:
        written, seconds = acflow_write(mirror_path, replace, dest_uri, "replace", json_cols)
        assert written == args.contacts, (kind, written)
        fig.replace.append(seconds)

    def acflow_merge() -> None:
        acflow_write(mirror_path, replace, dest_uri, "replace", json_cols)  # each merge starts from the same table
        settle(kind, db)
        _, seconds = acflow_write(mirror_path, changed, dest_uri, "merge", json_cols, gone)
        fig.merge.append(seconds)

    def raw(name: str, fn: Callable[..., tuple[int, float]]) -> Callable[[], None]:
        def case() -> None:
            count, seconds = fn(mirror_path, replace, db=db, cols=cols, json_cols=json_cols)
            assert count == args.contacts, (name, count)
            fig.raw.setdefault(name, []).append(seconds)
        return case

    cases = [("acflow replace", acflow_replace, fig.replace), ("acflow merge", acflow_merge, fig.merge)
             ] if landed else []
    cases += [(name, raw(name, fn), fig.raw.setdefault(name, []))
              for name, fn in [("DuckDB read alone (query -> Arrow)", raw_read), *RAW.get(kind, [])]]
    for round_ in range(args.runs * 2):  # extra rounds stand in for runs thrown away
        todo = [c for c in cases if len(c[2]) < args.runs and c[0] not in fig.errors]
        if not todo:
            break
        for name, case, values in todo if round_ % 2 == 0 else todo[::-1]:  # neither side always goes first
            settle(kind, db)
            SLOW_PATH.reset()
            had = len(values)
            try:
                case()
            except Exception as exc:  # one failed case is reported, the others still measured
                if infile_was_off(kind, fig):
                    continue
                fig.errors[name] = str(exc)[:300]
                say(f"{kind}: {name} failed: {exc}")
            if infile_was_off(kind, fig):
                del values[had:]
        say(f"{kind}: round {round_ + 1}: " + ", ".join(
            f"{name} {values[-1]:.2f} s" for name, _, values in cases if values))
    if landed and kind in ("postgresql", "mysql") and not fig.errors:
        check_merge(kind, db, args.contacts)
    for data in [d for d in args.dlt.split(",") if d in DLT_INPUTS]:
        say(f"{kind}: dlt ({data}) ...")
        settle(kind, db)
        try:
            rows, seconds, peak = dlt_run(kind, data, mirror_path, replace, db, folder)
            assert rows == args.contacts, ("dlt", rows)
            fig.dlt[data] = (seconds, peak)
            say(f"{kind}: dlt ({data}) {seconds:.2f} s, peak {peak:.0f} MB")
        except Exception as exc:  # a peer failing is a figure too: say it, go on
            fig.dlt_error[data] = str(exc)[:300]


class SlowPathWatch(logging.Handler):
    """Catches the MySQL writer's warning that it took the INSERT path (local_infile off); the
    writer says it once per process, so its note of servers told is emptied before each case."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.seen = False
        logging.getLogger("acflow").addHandler(self)

    def emit(self, record: logging.LogRecord) -> None:
        self.seen = self.seen or "local_infile" in record.getMessage()

    def reset(self) -> None:
        self.seen = False
        told = getattr(sys.modules.get("acflow.destinations.mysql"), "_told", None)
        if isinstance(told, set):
            told.clear()


SLOW_PATH = SlowPathWatch()


def infile_on() -> bool:
    con = my_connect()
    try:
        with con.cursor() as cur:
            cur.execute("SELECT @@GLOBAL.local_infile")
            return bool(cur.fetchone()[0])
    finally:
        con.close()


def infile_was_off(kind: str, fig: Figures) -> bool:
    """MariaDB: whether local_infile is off now (another process's test turns it off at times:
    the MySQL writer then takes its INSERT path, and the raw path fails). A run it may have
    touched is thrown away and counted."""
    if kind != "mysql" or (infile_on() and not SLOW_PATH.seen):
        return False
    fig.thrown_away += 1
    say("mysql: local_infile was off (another process): the run is thrown away")
    return True


def settle(kind: str, db: str, wait: float = 20.0) -> None:
    """Let the server finish the last case's writing before the next is timed: PostgreSQL
    checkpoints; MariaDB is waited for while InnoDB is flushing dirty pages or purging."""
    if kind == "postgresql":
        pg_admin("CHECKPOINT")
    elif kind == "mysql":
        deadline = time.monotonic() + 120
        while not infile_on() and time.monotonic() < deadline:  # another process turned it off for a while
            time.sleep(1)
        con = my_connect()
        try:
            deadline, before = time.monotonic() + wait, None
            with con.cursor() as cur:
                while time.monotonic() < deadline:
                    cur.execute("SHOW GLOBAL STATUS WHERE Variable_name IN "
                                "('Innodb_buffer_pool_pages_dirty', 'Innodb_history_list_length')")
                    now = sum(int(v) for _, v in cur.fetchall())  # 16 KB pages to flush, records to purge
                    if now < 1000 or (before is not None and now >= before):  # clean, or not flushing
                        break
                    before = now
                    time.sleep(0.5)
        finally:
            con.close()
    time.sleep(0.5)


def check_merge(kind: str, db: str, contacts: int) -> None:
    """After a merge the table holds every contact but the 1% gone, and the changed ones changed."""
    expected_rows = contacts - len(range(7, contacts + 1, 100))
    if kind == "postgresql":
        import psycopg

        with psycopg.connect(f"{PG}/{db}") as con:
            got = con.execute(f'SELECT count(*), count(*) FILTER (WHERE "firstName" LIKE \'% (b)\') FROM "{TABLE}"'
                              ).fetchone()
    else:
        con = my_connect(db)
        with con.cursor() as cur:
            cur.execute(f"SELECT count(*), sum(firstName LIKE '%% (b)') FROM `{TABLE}`")
            got = cur.fetchone()
        con.close()
    assert got[0] == expected_rows and int(got[1]) > 0, (kind, got, expected_rows)


def profile(kind: str, mirror_path: Path, replace: str, json_cols: frozenset[str], db: str, folder: Path) -> None:
    """Where an acflow replace spends its time (the writer's Python side; server time shows as the
    client library's waits)."""
    dest_uri = uri(kind, db, folder)
    acflow_write(mirror_path, replace, dest_uri, "replace", json_cols)  # warm-up
    prof = cProfile.Profile()
    prof.enable()
    rows, seconds = acflow_write(mirror_path, replace, dest_uri, "replace", json_cols)
    prof.disable()
    print(f"acflow replace into {kind}: {rows:,} rows in {seconds:.2f} s ({rows / seconds:,.0f} rows/s)")
    stats = pstats.Stats(prof)
    stats.sort_stats("tottime").print_stats(20)
    stats.sort_stats("cumulative").print_stats(25)


def report(figures: dict[str, Figures], read_memory: dict[tuple[bool, int], tuple[float, float]],
           args: argparse.Namespace,
           n_changed: int, sizes: list[int]) -> None:
    n = args.contacts
    inputs = [d for d in DLT_INPUTS if any(d in f.dlt or d in f.dlt_error for f in figures.values())]
    print(f"\n{n:,} contacts; rows/s, medians of {args.runs} runs (dlt: one run); merge: {n_changed:,} changed "
          f"rows and 1% gone\n")
    heads = ["database", "acflow replace", "acflow merge", "raw floor", "acflow / raw"]
    for d in inputs:
        heads += [f"dlt ({d})", f"acflow / dlt ({d})"]
    print("| " + " | ".join(heads) + " |\n" + "|---" * len(heads) + "|")
    for fig in figures.values():
        acf = n / med(fig.replace) if fig.replace else None
        raws = {k: n / med(v) for k, v in fig.raw.items() if not k.startswith("DuckDB read")}
        best = max(raws.items(), key=lambda kv: kv[1]) if raws else None
        cells = [fig.kind, f"{acf:,.0f}" if acf else ("writer missing" if fig.missing else "failed"),
                 f"{n_changed / med(fig.merge):,.0f}" if fig.merge else "-",
                 f"{best[1]:,.0f} ({best[0]})" if best else "-",
                 f"{acf / best[1]:.2f}" if acf and best else "-"]
        for d in inputs:
            dlt_rate = n / fig.dlt[d][0] if d in fig.dlt else None
            cells += [f"{dlt_rate:,.0f}" if dlt_rate else ("failed" if d in fig.dlt_error else "-"),
                      f"{acf / dlt_rate:.1f}x" if acf and dlt_rate else "-"]
        print("| " + " | ".join(cells) + " |")
    print(f"\nRows sorted by id (as export sorts them: Destination.ordered) for: "
          f"{', '.join(k for k in figures if ordered(k)) or 'none'}; the others unsorted.")
    if sizes:
        print("\nPeak memory (MB, the child process's RSS high-water mark; in brackets its RSS before the write:")
        print("Python, acflow, DuckDB, pyarrow and the open mirror)\n")
        heads = ["database", *(f"acflow replace, {s:,} rows" for s in sizes),
                 *(f"dlt ({d}), {n:,} rows" for d in inputs)]
        print("| " + " | ".join(heads) + " |\n" + "|---" * len(heads) + "|")
        for fig in figures.values():
            cells = [fig.kind, *(f"{fig.memory[s][0]:.0f} ({fig.memory[s][1]:.0f})" if s in fig.memory else "-"
                                 for s in sizes),
                     *(f"{fig.dlt[d][1]:.0f}" if d in fig.dlt else "-" for d in inputs)]
            print("| " + " | ".join(cells) + " |")
        for sort in (False, True):
            cells = [f"(the mirror read alone{', sorted by id' if sort else ''}: Arrow batches, no destination)",
                     *(f"{read_memory[sort, s][0]:.0f} ({read_memory[sort, s][1]:.0f})" if (sort, s) in read_memory
                       else "-" for s in sizes), *("" for _ in inputs)]
            print("| " + " | ".join(cells) + " |")
    print("\nEvery case (rows/s of the median; seconds of each run):")
    for fig in figures.values():
        if fig.missing:
            print(f"  {fig.kind}: acflow not measured: {fig.missing}")
        for label, values in [("acflow replace", fig.replace), ("acflow merge", fig.merge), *fig.raw.items()]:
            if values:
                rows = n_changed if label == "acflow merge" else n
                runs = ", ".join(f"{v:.2f}" for v in values)
                print(f"  {fig.kind:<10} {label:<48} {rate(rows, med(values)):>9}  [{runs}]")
        for d, (seconds, peak) in fig.dlt.items():
            print(f"  {fig.kind:<10} {f'dlt ({d})':<48} {rate(n, seconds):>9}  [{seconds:.2f}]  peak {peak:.0f} MB")
        for d, error in fig.dlt_error.items():
            print(f"  {fig.kind:<10} dlt ({d}) failed: {error}")
        for name, error in fig.errors.items():
            print(f"  {fig.kind:<10} {name} failed: {error}")
        if fig.thrown_away:
            print(f"  {fig.kind:<10} {fig.thrown_away} run(s) thrown away: local_infile was off (another process)")


if __name__ == "__main__":
    main()
