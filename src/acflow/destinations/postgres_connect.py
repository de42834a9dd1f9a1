"""Connections to PostgreSQL through ADBC, and its failures as one line that says what to fix."""

from __future__ import annotations

import atexit
import contextlib
import re
import threading
from collections.abc import Iterator
from typing import Any

from ..errors import DestinationError, disk_cause
from ..sqltext import quote
from .base import Destination

DEFAULT_SCHEMA = "public"
CONNECT_TIMEOUT = "10"  # seconds, unless the URI says ?connect_timeout=


def conninfo(dest: Destination) -> str:
    """libpq's key=value string; without a password libpq looks in PGPASSWORD and ~/.pgpass."""
    server = dest.server
    assert server is not None
    pairs: dict[str, str] = {"connect_timeout": CONNECT_TIMEOUT, "application_name": "acflow"}
    for key, value in (("host", server.host), ("port", server.port), ("user", server.user),
                       ("dbname", server.database), ("password", server.password)):
        if value is not None:
            pairs[key] = str(value)
    pairs.update(server.params)
    return " ".join(f"{k}='{_escape(v)}'" for k, v in pairs.items())


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


def _where(dest: Destination) -> str:
    server = dest.server
    assert server is not None
    host = server.host or "the local socket"
    return f"PostgreSQL at {host}{f':{server.port}' if server.port else ''}"


def _says(exc: BaseException, dest: Destination) -> str:
    """What the server or libpq said, one line, without ADBC's wrapping or the query."""
    text = str(exc)
    found = re.search(r"(?:ERROR|FATAL|PANIC):\s+([^\n]*)", text) or re.search(r"failed: ([^\n]*)", text)
    said = found.group(1) if found else re.sub(r"^[A-Z_]+: (\[libpq\] )?", "", text.strip().split("\n")[0])
    said = re.sub(r"\.? ?SQLSTATE: \w+$", "", said).strip().rstrip(".") or type(exc).__name__
    # an error of the mirror's query, raised while ADBC read the batches
    said = re.sub(r"^ArrowArrayStreamGetNext\(.*?\) = \(\d+\) [^.]*\.\s*(IOError: )?([A-Za-z ]*Error: )?", "", said)
    password = dest.server.password if dest.server else None
    return said.replace(password, "***") if password else said


def _connect_failed(exc: BaseException, dest: Destination) -> DestinationError:
    server = dest.server
    assert server is not None
    said, who, where = _says(exc, dest), server.user or "(your login name)", _where(dest)
    if "password authentication failed" in said:
        fix = (f"{where} refused the password for user {who!r}: correct it in the URI "
               "(postgresql://user:PASSWORD@host/db), PGPASSWORD or ~/.pgpass")
    elif "no password supplied" in said:
        fix = (f"{where} wants a password for user {who!r}: put it in the URI "
               "(postgresql://user:PASSWORD@host/db), PGPASSWORD or ~/.pgpass")
    elif re.search(r'database ".*" does not exist', said):
        fix = (f"{where} has no database {server.database!r}: create it (createdb {server.database}) "
               "or correct the database in the URI")
    elif re.search(r'role ".*" does not exist', said):
        fix = f"{where} has no user {who!r}: correct the user in the URI or create the role"
    elif "Connection refused" in said or "could not translate host name" in said or "timeout" in said:
        fix = f"cannot reach {where} ({said}): check the host and port and that the server runs"
    elif "invalid connection option" in said:
        fix = f"{where}: {said}: correct the URI's parameters"
    else:
        fix = f"cannot connect to {where}: {said}"
    return DestinationError(f"{fix}; {dest.describe()} is unchanged")


def _write_failed(exc: BaseException, dest: Destination, mode: str, *, lost: bool) -> DestinationError:
    server = dest.server
    assert server is not None
    said = _says(exc, dest)
    state = getattr(exc, "sqlstate", None) or ""
    if lost or state.startswith("08") or state in ("57P01", "57P02", "57P03"):
        fix = (f"the connection to {_where(dest)} was lost during the load ({said}); the server rolled the "
               "load back: run again")
    elif state == "42501" or "permission denied" in said:
        fix = (f"user {server.user or '(your login name)'!r} may not write there ({said}): GRANT CREATE, USAGE ON "
               f"SCHEMA {quote(server.schema or DEFAULT_SCHEMA)} (and on an existing table INSERT, UPDATE, DELETE, "
               "TRUNCATE, or its ownership for replace) to that user, or choose another ?schema=")
    elif state == "23505" and mode == "append":
        fix = (f"cannot append to {dest.describe()}: it has a unique key on id (a replace or merge made it) and "
               f"the rows repeat an id ({said}): use merge, or append to another ?table=")
    elif state == "21000" or state == "23505":
        fix = f"cannot {mode} into {dest.describe()}: the rows have an id twice ({said}); merge needs one row per id"
    elif state == "53100" or disk_cause(exc):
        fix = f"the disk of {_where(dest)} is full ({said}): free space on the server"
    else:
        fix = f"cannot write {dest.describe()}: {said}"
    return DestinationError(f"{fix}; {dest.describe()} is unchanged")


_DATABASES: dict[str, Any] = {}  # conninfo -> a connection whose session is closed, kept for its ADBC database
_DATABASES_LOCK = threading.Lock()


def _connect(info: str) -> Any:
    """A new connection (a session of its own) from ADBC's database object for `info`, made
    once per process: making one reads the server's type catalogue (~170 ms here), a new
    connection from it takes ~10 ms. The first connection's session is closed at once (no idle
    session is kept); the database object lives while a connection made from it does."""
    import adbc_driver_postgresql.dbapi as dbapi

    with _DATABASES_LOCK:
        root = _DATABASES.get(info)
        if root is None:
            root = dbapi.connect(info)
            root.adbc_connection.close()
            if not _DATABASES:
                atexit.register(_close_databases)  # else ADBC complains as the interpreter ends
            _DATABASES[info] = root
    return root.adbc_clone()


def _close_databases() -> None:
    with _DATABASES_LOCK:
        for root in _DATABASES.values():
            with contextlib.suppress(Exception):
                root.close()
        _DATABASES.clear()


@contextlib.contextmanager
def session(dest: Destination, mode: str = "write") -> Iterator[Any]:
    """An ADBC connection in a transaction (autocommit off): committed by the caller, rolled
    back on any failure, every database error turned into one DestinationError."""
    import adbc_driver_manager

    try:
        conn = _connect(conninfo(dest))
    except adbc_driver_manager.Error as exc:
        raise _connect_failed(exc, dest) from None
    try:
        yield conn
    except adbc_driver_manager.Error as exc:
        lost = re.search(r"server closed the connection|no connection to the server", str(exc)) is not None
        with contextlib.suppress(adbc_driver_manager.Error):
            conn.rollback()
        if getattr(exc, "sqlstate", None) == "57014" and "user request" in str(exc):
            raise KeyboardInterrupt from None  # ADBC cancelled the statement on Ctrl-C: an interruption, not a failure
        raise _write_failed(exc, dest, mode, lost=lost) from None
    except BaseException:
        with contextlib.suppress(adbc_driver_manager.Error):
            conn.rollback()
        raise
    finally:
        with contextlib.suppress(adbc_driver_manager.Error):
            conn.close()
