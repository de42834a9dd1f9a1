"""The streamable-HTTP transport: the SDK's session manager behind a bearer token.

The token is compared in constant time (hmac.compare_digest); a request without it, or with
another, gets 401 before the MCP layer sees a byte. The server binds 127.0.0.1 unless told
otherwise; on loopback the SDK also refuses requests whose Host or Origin header is not local
(DNS rebinding).
"""

from __future__ import annotations

import contextlib
import hmac
import json
import sys
from collections.abc import AsyncIterator
from typing import Any

PATH = "/mcp"


class TokenGate:
    """ASGI: every HTTP request needs `Authorization: Bearer <token>`; lifespan runs the session manager."""

    def __init__(self, manager: Any, token: str) -> None:
        self.manager = manager
        self._token = token.encode("utf-8")

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        async with self.manager.run():
            yield

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        if not self._allowed(scope):
            body = json.dumps({"error": "unauthorized",
                               "error_description": "send the acflow mcp token as Authorization: Bearer <token>"})
            await send({"type": "http.response.start", "status": 401,
                        "headers": [(b"content-type", b"application/json"), (b"www-authenticate", b"Bearer")]})
            await send({"type": "http.response.body", "body": body.encode()})
            return
        await self.manager.handle_request(scope, receive, send)

    def _allowed(self, scope: dict[str, Any]) -> bool:
        given = b""
        for name, value in scope.get("headers", []):
            if name.lower() == b"authorization":
                given = value
        scheme, _, token = given.partition(b" ")
        ok = hmac.compare_digest(token.strip(), self._token)  # constant time, whatever the scheme
        return ok and scheme.lower() == b"bearer"

    async def _lifespan(self, receive: Any, send: Any) -> None:
        message = await receive()
        if message["type"] != "lifespan.startup":
            return
        try:
            async with self.lifespan():
                await send({"type": "lifespan.startup.complete"})
                await receive()  # lifespan.shutdown
        except BaseException as exc:
            await send({"type": "lifespan.startup.failed", "message": str(exc)})
            raise
        await send({"type": "lifespan.shutdown.complete"})


def serve(gate: TokenGate, host: str, port: int, *, token_shown: str | None) -> None:
    """Serves `gate` at http://host:port/mcp until stopped; prints the address (and a generated token) once."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.routing import Route

    from ..listening import address, listening

    sock = listening(host, port)
    app = Starlette(routes=[Route(PATH, gate)], lifespan=lambda _app: gate.lifespan())
    lines = [f"acflow mcp: serving MCP (streamable HTTP) at {address(sock)}{PATH}"]
    if token_shown is not None:
        lines.append(f"acflow mcp: token (send as Authorization: Bearer <token>; set ACFLOW_MCP_TOKEN to choose "
                     f"one): {token_shown}")
    print("\n".join(lines), file=sys.stderr, flush=True)
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    uvicorn.Server(config).run(sockets=[sock])
