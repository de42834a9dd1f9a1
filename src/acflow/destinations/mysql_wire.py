"""The connection to a MySQL or MariaDB server: pymysql with a LOAD DATA LOCAL upload acflow can
trust, failures said in one line, and rows streamed from the mirror as CSV (or INSERT literals)
while the server takes them."""

from __future__ import annotations

import contextlib
import functools
import os
import queue
import threading
from collections.abc import Iterator
from typing import Any

from ..errors import DestinationError, disk_cause
from .base import Destination, Rows, why

LOCK_TIMEOUT = 600  # seconds a run waits for another acflow run writing the same table
WRITE_TIMEOUT = 60  # seconds without the server reading the upload before it counts as gone
CSV_ROWS = 10_000  # rows per batch made while the server loads the last (5 MB of contacts)
GRANTS = "SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, ALTER"
# the session every write runs in: errors instead of silently truncated values, literals whose only
# escape is '' (DuckDB writes them), TIMESTAMP columns read as UTC, a long wait for a busy table
SESSION = ("SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION,NO_BACKSLASH_ESCAPES', "
           f"time_zone = '+00:00', lock_wait_timeout = {LOCK_TIMEOUT}")
GONE = {1053, 1927, 2006, 2013, 2055, 4031}  # server shutdown, connection killed, gone, lost mid-query
NO_LOCAL = {1148, 3948, 4166}  # LOAD DATA LOCAL refused (MySQL 5, MySQL 8, MariaDB)
DENIED = {1044, 1142, 1143, 1227, 1370}


def describe(dest: Destination) -> str:
    assert dest.server is not None
    return f"{dest.server.url()}?table={dest.table}"


def ident(name: str) -> str:
    """A MySQL identifier: any table or column name (backticks, spaces, quotes) is safe."""
    return "`" + name.replace("`", "``") + "`"


def connect(dest: Destination, timeout: int = 10) -> Any:
    """A utf8mb4 connection in the SESSION above; the password from the URI or MYSQL_PWD."""
    import pymysql

    server = dest.server
    assert server is not None
    password = server.password if server.password is not None else os.environ.get("MYSQL_PWD", "")
    try:
        return _connection_class()(
            host=server.host or "localhost", port=server.port or 3306, user=server.user, password=password,
            database=server.database, charset="utf8mb4", unix_socket=server.param("unix_socket"),
            connect_timeout=timeout, write_timeout=WRITE_TIMEOUT, autocommit=True, local_infile=True,
            init_command=SESSION)
    except pymysql.err.Error as exc:
        raise DestinationError(_connect_failed(exc, dest)) from None


@functools.cache
def _connection_class() -> type:
    """pymysql's Connection with its LOAD DATA LOCAL upload replaced. pymysql sends whatever file the
    server names, in answer to any statement (a hostile server could ask for ~/.ssh/id_rsa), reads
    only files, and when the server drops the connection mid-upload (KILL) it blocks for 100 s on a
    full socket, then fails with an AttributeError. This one answers only acflow's own LOAD statement,
    with rows made as they are sent, and stops as soon as the server stops listening."""
    import selectors

    from pymysql import connections, err
    from pymysql.constants import CR

    shared: list[Any] = []  # the one "TLS if offered" context

    def upload(conn: Any, data: Iterator[Any]) -> None:
        """Buffers as packets of at most 64 KB; any failure (the server gone, the rows' own error,
        Ctrl-C) closes the connection mid-upload, so the server throws the statement away."""
        size = max(1024, min(conn.max_allowed_packet - 1024, 1 << 16))
        try:
            with selectors.DefaultSelector() as watch:
                watch.register(conn._sock, selectors.EVENT_READ | selectors.EVENT_WRITE)
                for buffer in data:
                    view = memoryview(buffer)
                    for start in range(0, len(view), size):
                        # the server says nothing until it has the whole file: anything to read is its goodbye
                        ready = {mask for _, mask in watch.select(WRITE_TIMEOUT)}
                        if not ready or any(mask & selectors.EVENT_READ for mask in ready):
                            raise err.OperationalError(CR.CR_SERVER_LOST, f"no progress in {WRITE_TIMEOUT} s"
                                                       if not ready else "the server closed the connection "
                                                       "during LOAD DATA")
                        conn.write_packet(view[start:start + size])
        except BaseException:
            conn._force_close()
            raise

    class Result(connections.MySQLResult):  # type: ignore[misc]
        def _read_load_local_packet(self, first_packet: Any) -> None:
            conn = self.connection
            offered, conn.offered = conn.offered, None
            if offered is None or bytes(first_packet.get_all_data()[1:]) != offered[0].encode():
                conn.write_packet(b"")  # no file; the server answers with an error
                conn._read_packet()
                raise err.OperationalError(CR.CR_COMMANDS_OUT_OF_SYNC,
                                           "the server asked for a file acflow did not offer")
            upload(conn, offered[1]())
            conn.write_packet(b"")  # the end of the file
            ok = conn._read_packet()
            if not ok.is_ok_packet():
                raise err.OperationalError(CR.CR_COMMANDS_OUT_OF_SYNC, "Commands Out of Sync")
            self._read_ok_packet(ok)

    class Connection(connections.Connection):  # type: ignore[misc]
        offered: tuple[str, Any] | None = None  # the name in acflow's LOAD DATA statement, and its data

        def _create_ssl_ctx(self, sslp: Any) -> Any:
            """pymysql's "TLS if the server offers it" context, made once: it loads the system's CA
            certificates each time (70 ms of every connection) only to verify nothing."""
            if sslp != {}:
                return super()._create_ssl_ctx(sslp)
            if not shared:
                shared.append(super()._create_ssl_ctx(sslp))
            return shared[0]

        def _read_query_result(self, unbuffered: bool = False) -> int:  # as pymysql's, with Result
            self._result = None
            result = Result(self)
            if unbuffered:
                result.init_unbuffered_query()
            else:
                result.read()
            self._result = result
            if result.server_status is not None:
                self.server_status = result.server_status
            return result.affected_rows  # type: ignore[no-any-return]

    return Connection


def code_text(exc: BaseException) -> tuple[int | None, str]:
    args = getattr(exc, "args", ())
    code = args[0] if args and isinstance(args[0], int) else None
    text = str(args[1]) if len(args) > 1 else str(exc)
    return code, " ".join(text.split())


def _connect_failed(exc: BaseException, dest: Destination) -> str:
    server = dest.server
    assert server is not None
    code, text = code_text(exc)
    where = f"{server.host or 'localhost'}:{server.port or 3306}"
    if code == 1045:
        return (f"cannot write {describe(dest)}: the server at {where} refused user {server.user!r} with this "
                "password (access denied); check the password in the URI or MYSQL_PWD; the table is unchanged")
    if code == 1049:
        return (f"cannot write {describe(dest)}: database {server.database!r} does not exist on {where}; create it "
                f"(CREATE DATABASE {ident(server.database or '')} CHARACTER SET utf8mb4) or fix the URI; "
                "the table is unchanged")
    if code in DENIED:
        return (f"cannot write {describe(dest)}: user {server.user!r} may not use database {server.database!r}, "
                f"or it does not exist ({text}); grant the user {GRANTS} ON {ident(server.database or '')}.* or fix "
                "the URI; the table is unchanged")
    return (f"cannot reach MySQL at {where} ({text}); check the host, the port and that the server runs; "
            "the table is unchanged")


def failed(exc: BaseException, dest: Destination) -> str:
    """One line for a failed write: what failed and what to do about it."""
    server = dest.server
    assert server is not None
    code, text = code_text(exc)
    head = f"cannot write {describe(dest)}"
    if code in DENIED:
        return (f"{head}: user {server.user!r} lacks a privilege ({text}); grant it {GRANTS} ON "
                f"{ident(server.database or '')}.*; the table is unchanged")
    if code in GONE:
        return (f"{head}: the connection to the server was lost during the load ({text}); run again; "
                "the table is unchanged")
    if code == 1317:
        return f"{head}: the load was interrupted on the server ({text}); run again; the table is unchanged"
    if code in (1205, 1213):  # lock wait timeout, deadlock
        return (f"{head}: another session holds the table ({text}); end its transaction or long query and run "
                "again; the table is unchanged")
    cause = disk_cause(exc) or ("the server's disk or table is full" if code in (1021, 1114) else None)
    return f"{head}: {cause or text}; the table is unchanged"


def close(conn: Any) -> None:
    """Close, whatever state a failure left the connection in (pymysql closed it, or mid-upload)."""
    with contextlib.suppress(Exception):
        conn.close()


def one(cur: Any, sql: str) -> Any:
    cur.execute(sql)
    row = cur.fetchone()
    return row[0] if row else None


def csv_stream(rows: Rows, sql: str, dest: Destination) -> Iterator[Any]:
    """The rows as CSV that LOAD DATA reads back exactly: every value quoted, a quote doubled; tabs,
    newlines and backslashes as they are; NULL unquoted. pyarrow writes it from DuckDB's batches."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    options = pacsv.WriteOptions(include_header=False, quoting_style="all_valid", null_string="NULL")

    def csv(batch: Any) -> Any:
        sink = pa.BufferOutputStream()
        pacsv.write_csv(batch, sink, options)
        return sink.getvalue()

    return ahead(rows, sql, csv, dest)


def ahead(rows: Rows, sql: str, convert: Any, dest: Destination) -> Iterator[Any]:
    """convert(batch) of each Arrow batch of `sql` over the mirror, made in a thread of its own while
    the server takes the previous ones; at most two wait (memory flat in the rows). DuckDB's errors
    come out as DestinationErrors, where the rows are read."""
    ready: queue.Queue[Any] = queue.Queue(maxsize=2)
    stop, end = threading.Event(), object()

    def hand(item: Any) -> bool:
        while not stop.is_set():
            with contextlib.suppress(queue.Full):
                ready.put(item, timeout=0.1)
                return True
        return False

    def make() -> None:
        try:
            for batch in rows.batches(CSV_ROWS, sql):
                if not hand(convert(batch)):
                    return
            hand(end)
        except Exception as exc:  # DuckDB's error, through Arrow's reader
            hand(DestinationError(f"cannot write {describe(dest)}: {why(exc)}; the table is unchanged"))
        except BaseException as exc:
            hand(exc)

    maker = threading.Thread(target=make, name="acflow-mysql-rows", daemon=True)
    maker.start()
    done = False
    try:
        while (item := ready.get()) is not end:
            if isinstance(item, BaseException):
                raise item
            yield item
        done = True
    finally:
        stop.set()
        if not done:  # the load stopped early: a query still running stops too
            with contextlib.suppress(Exception):
                rows.con.interrupt()
        maker.join()
