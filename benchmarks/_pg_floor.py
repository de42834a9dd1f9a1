"""Which bulk path acflow's PostgreSQL writer takes, measured: the same contacts, shaped by the writer
(acflow.destinations.postgres.columns), through each candidate into the same typed table, then
acflow's own replace end to end. Prints rows/s, best of --repeat. Nothing here asserts a time.

    .venv/bin/python benchmarks/_pg_floor.py [--contacts 200000] [--mirror m.duckdb] [--repeat 3]

The server is ACFLOW_BENCH_POSTGRES (default postgresql://postgres@127.0.0.1:5432); a scratch
database is made there and dropped. `adbc_floor()` is the raw path (Arrow straight through binary
COPY) for benchmarks/destinations.py to compare acflow with.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
from _sandbox_process import sandbox_process

from acflow.catalog import CATALOG
from acflow.destinations import Rows, WriteOptions, parse, postgres
from acflow.destinations.postgres_types import Column, arrow_stream, column_defs, columns
from acflow.export import derived_query, json_columns
from acflow.mirror import Mirror
from acflow.sqltext import quote

SERVER = os.environ.get("ACFLOW_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432")


def contacts_mirror(path: Path, contacts: int) -> None:
    """`acflow sync contacts` from a sandbox of that size into `path`."""
    with sandbox_process("--contacts", str(contacts), "--rate-limit", "0", "--seed", "1") as url:
        subprocess.run([sys.executable, "-m", "acflow.cli", "sync", "contacts", "--api-url", url, "--api-key",
                        "sandbox-admin-key", "--mirror", str(path), "--rate-limit", "10000"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@contextlib.contextmanager
def scratch_database() -> Iterator[str]:
    name = f"acflow_bench_{os.getpid()}"
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"{SERVER}/{name}"
        finally:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def adbc_floor(url: str, table: str, reader: pa.RecordBatchReader) -> int:
    """Arrow batches straight into an existing table by ADBC's binary COPY: the floor."""
    import adbc_driver_postgresql.dbapi as dbapi

    with dbapi.connect(url) as conn, conn.cursor() as cur:
        written = cur.adbc_ingest(table, reader, mode="append")
        conn.commit()
    return int(written)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=200_000)
    parser.add_argument("--mirror", type=Path, help="a mirror that already holds contacts (else one is synced)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.mirror or Path(tmp) / "m.duckdb"
        if args.mirror is None:
            contacts_mirror(path, args.contacts)
        with Mirror(path) as mirror, scratch_database() as url:
            run(mirror, url, args.repeat, Path(tmp))


def run(mirror: Mirror, url: str, repeat: int, tmp: Path) -> None:
    account = mirror.con.execute("SELECT account FROM _acflow.state WHERE entity = 'contacts'").fetchone()[0]
    entity = CATALOG["contacts"]
    query = derived_query(entity, mirror.current(account, entity.name))
    con = mirror.con.cursor()
    rows = Rows(mirror, con, query, json_columns(entity))
    cols = columns(rows)
    count = con.execute(f"SELECT count(*) FROM ({query})").fetchall()[0][0]
    shaped = f"SELECT {', '.join(f'{c.expr} AS {quote(c.name)}' for c in cols)} FROM ({query})"
    defs = column_defs(cols)
    text_defs = ", ".join(f"{quote(c.name)} {'text' if c.json else c.pg}" for c in cols)
    serial = iter(range(1_000_000))

    def table(defs: str = defs) -> str:
        name = f"t{next(serial)}"
        with psycopg.connect(url, autocommit=True) as pg:
            pg.execute(f"CREATE TABLE {name} ({defs})")
        return name

    def via_adbc() -> int:
        name = table()
        with arrow_stream(rows, cols) as stream:
            return adbc_floor(url, name, stream)

    def via_duckdb_csv_pipe() -> int:
        name, fifo = table(), tmp / f"p{next(serial)}.csv"
        os.mkfifo(fifo)
        failed: list[BaseException] = []

        def produce() -> None:
            try:
                con.cursor().execute(f"COPY ({shaped}) TO '{fifo}' (FORMAT csv, HEADER false)")
            except BaseException as exc:  # reported below, in the main thread
                failed.append(exc)

        producer = threading.Thread(target=produce)
        producer.start()
        with psycopg.connect(url) as pg, pg.cursor().copy(f"COPY {name} FROM STDIN (FORMAT csv)") as copy, \
                open(fifo, "rb") as pipe:
            while chunk := pipe.read(1 << 20):
                copy.write(chunk)
        producer.join()
        if failed:
            raise failed[0]
        return count

    def via_pyarrow_csv() -> int:
        name = table()
        options = pacsv.WriteOptions(include_header=False, quoting_style="all_valid")
        with psycopg.connect(url) as pg, pg.cursor().copy(f"COPY {name} FROM STDIN (FORMAT csv)") as copy, \
                arrow_stream(rows, [Column(c.name, c.pg, c.expr) for c in cols]) as stream:
            for batch in stream:
                out = io.BytesIO()
                pacsv.write_csv(batch, out, options)
                copy.write(out.getbuffer())
        return count

    def via_write_row(limit: int = 20_000) -> int:
        """psycopg's binary COPY row by row (JSON as text: the Python loop is the cost measured)."""
        name = table(text_defs)
        with psycopg.connect(url) as pg, pg.cursor().copy(f"COPY {name} FROM STDIN (FORMAT binary)") as copy, \
                arrow_stream(rows, [Column(c.name, c.pg, c.expr) for c in cols],
                                      query=f"{query} LIMIT {limit}") as stream:
            copy.set_types(["text" if c.json else c.pg for c in cols])
            for batch in stream:
                for row in zip(*(col.to_pylist() for col in batch.columns), strict=True):
                    copy.write_row(row)
        return limit

    def via_acflow() -> int:
        return postgres.write(rows, parse(f"{url}?table=acflow", "contacts"), "replace", WriteOptions())

    candidates: list[tuple[str, Callable[[], int]]] = [
        ("ADBC binary COPY (adbc_ingest)", via_adbc),
        ("psycopg COPY csv, DuckDB writes to a pipe", via_duckdb_csv_pipe),
        ("psycopg COPY csv, pyarrow.csv per batch", via_pyarrow_csv),
        ("psycopg binary COPY, write_row (20k rows)", via_write_row),
        ("acflow replace end to end (ADBC)", via_acflow),
    ]
    print(f"{count:,} contacts, {len(cols)} columns; rows/s, best of {repeat}")
    best: dict[str, float] = {}
    for _ in range(repeat):
        for label, load in candidates:
            started = time.perf_counter()
            loaded = load()
            best[label] = max(best.get(label, 0.0), loaded / (time.perf_counter() - started))
    for label, _ in candidates:
        print(f"  {label:46s} {best[label]:>10,.0f}")
    floor = best["ADBC binary COPY (adbc_ingest)"]
    print(f"  acflow / ADBC floor: {best['acflow replace end to end (ADBC)'] / floor:.2f}")
    with psycopg.connect(url) as pg:
        loaded = pg.execute("SELECT count(*) FROM acflow").fetchone()[0]
    assert loaded == count, (loaded, count)


if __name__ == "__main__":
    main()
