"""A Snowflake stand-in: fakesnow's HTTP server, which the real snowflake-connector-python talks to
over HTTP (logins, queries, and PUT uploads, which it takes as Google Cloud Storage uploads),
running SQL on DuckDB. Two changes make acflow's error paths testable: a login with a wrong
password is refused with Snowflake's own answer (code 390100), and databases are not created on
connect, so an unknown database is an error as on Snowflake."""

from __future__ import annotations

import contextlib
import gzip
import json
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from typing import Any

PASSWORD = "stand-in-password"  # the only password the stand-in takes

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

REFUSED = {"data": {"nextAction": None, "authnMethod": "USERNAME_PASSWORD"}, "code": "390100",
           "message": "Incorrect username or password was specified.", "success": False, "headers": None}


class PasswordCheck:
    """ASGI wrapper: reads a login request's body, answers a wrong password as Snowflake does,
    and hands every other request (its body replayed) to fakesnow."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.logins = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/session/v1/login-request":
            await self.app(scope, receive, send)
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        headers = dict(scope["headers"])
        raw = gzip.decompress(body) if headers.get(b"content-encoding") == b"gzip" else body
        self.logins += 1
        if json.loads(raw)["data"].get("PASSWORD") != PASSWORD:
            answer = json.dumps(REFUSED).encode()
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/json")]})
            await send({"type": "http.response.body", "body": answer})
            return
        sent = False

        async def replay() -> MutableMapping[str, Any]:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


def _free_port() -> int:
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def snowflake_server() -> Iterator[str]:
    """fakesnow's server on a free loopback port, in a thread; yields its URL for
    ACFLOW_SNOWFLAKE_ENDPOINT (http://127.0.0.1:PORT)."""
    import fakesnow.server
    import uvicorn
    from fakesnow.instance import FakeSnow

    fakesnow.server.shared_fs = FakeSnow(create_database_on_connect=False, create_schema_on_connect=False)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(PasswordCheck(fakesnow.server.app), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, name="fakesnow server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while thread.is_alive() and not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    if not server.started:
        raise RuntimeError("the fakesnow server did not start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join()


def connect(endpoint: str, **kwargs: Any) -> Any:
    """A connection of the real connector to the stand-in, for tests to set up and read back."""
    from urllib.parse import urlsplit

    import snowflake.connector

    parts = urlsplit(endpoint)
    return snowflake.connector.connect(user="admin", password=PASSWORD, account="standin", host=parts.hostname,
                                       port=parts.port, protocol=parts.scheme, login_timeout=30,
                                       session_parameters={"TIMEZONE": "UTC"}, **kwargs)


def create_database(con: Any, database: str, schema: str, warehouse: str | None = "LOAD_WH") -> None:
    """A database and schema on the stand-in. fakesnow has no warehouses and no CURRENT_WAREHOUSE();
    the schema gets that function as a DuckDB macro answering `warehouse` (None: as a user without
    one would get), so acflow's warehouse check runs against it."""
    import fakesnow.server

    cur = con.cursor()
    cur.execute(f"CREATE DATABASE {database}")
    cur.execute(f"CREATE SCHEMA {database}.{schema}")
    value = "NULL::VARCHAR" if warehouse is None else f"'{warehouse}'"
    fakesnow.server.shared_fs.duck_conn.execute(f"CREATE MACRO {database}.{schema}.current_warehouse() AS {value}")
