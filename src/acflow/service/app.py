"""The service's HTTP face: health, run triggers, run status and the data URLs.

Every endpoint but /health needs a token. The service's token drives it (run a flow, read a
run): as `Authorization: Bearer`, `?token=` or the Basic password. A data URL takes its flow's
token (or the service's), in the path (`/data/TOKEN/deals.csv`), as `?token=`, or as the Basic
password (Power BI's "From Web" asks for a user and password). A wrong token on a data URL
answers 404, as if there were nothing there; elsewhere 401. Ten wrong tokens from one address in
a minute close the door to it for a minute (429). Tokens are never logged: uvicorn's access log
is off, and ours logs paths without their query.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import threading
import time
from collections import deque
from email.utils import format_datetime, parsedate_to_datetime
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import AcflowError
from . import served
from .tokens import SERVICE

if TYPE_CHECKING:
    from .core import Service

log = logging.getLogger("acflow.service")
MAX_BODY = 64 * 1024  # the API takes no uploads: a bigger body is refused before it is read
FAILURES_ALLOWED = 10  # wrong tokens per address per minute, then 429 for a minute
_TYPES = {"csv": "text/csv; charset=utf-8", "json": "application/json"}


class BodyLimit:
    """Refuses a request body over MAX_BODY (by its Content-Length, or as it streams in)."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            await JSONResponse({"error": f"request body over {self.limit} bytes"}, 413)(scope, receive, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise _TooBig
            return message

        try:
            await self.app(scope, limited, send)
        except _TooBig:
            await JSONResponse({"error": f"request body over {self.limit} bytes"}, 413)(scope, receive, send)


class _TooBig(Exception):
    pass


class Doorman:
    """Counts wrong tokens per client address over a sliding minute."""

    def __init__(self, allowed: int = FAILURES_ALLOWED, window: float = 60.0) -> None:
        self.allowed, self.window = allowed, window
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, who: str, now: float) -> deque[float]:
        seen = self._failures.setdefault(who, deque())
        while seen and seen[0] <= now - self.window:
            seen.popleft()
        return seen

    def closed(self, who: str) -> bool:
        with self._lock:
            return len(self._recent(who, time.monotonic())) >= self.allowed

    def failed(self, who: str) -> None:
        with self._lock:
            now = time.monotonic()
            self._recent(who, now).append(now)
            if len(self._failures) > 10_000:  # a scan from many addresses: forget the quiet ones
                for k in [k for k, v in self._failures.items() if not v]:
                    del self._failures[k]


def given_token(request: Request) -> str | None:
    """The token, wherever the client put it: Bearer, Basic password, or ?token=."""
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value:
        return value.strip()
    if scheme.lower() == "basic" and value:
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2] or decoded.partition(":")[0]  # the password; or a lone user name
    return request.query_params.get("token")


def _who(request: Request) -> str:
    return request.client.host if request.client else "?"


def _too_many() -> JSONResponse:
    return JSONResponse({"error": "too many wrong tokens from this address: wait a minute"}, 429,
                        headers={"Retry-After": "60"})


def build_app(service: Service, *, ui: bool = True, extra_routes: list[BaseRoute] | None = None,
              mcp: Any = None) -> Starlette:
    """The service's app; `mcp` (acflow.mcp.server.asgi_app's) is mounted at /mcp, its session manager
    run for the app's life."""
    app = _build(service, ui=ui, extra_routes=extra_routes)
    if mcp is None:
        return app
    import contextlib as _contextlib

    @_contextlib.asynccontextmanager
    async def lifespan(_: Any) -> Any:
        async with mcp.lifespan():
            yield

    app.router.routes.insert(0, Route("/mcp", mcp, methods=["GET", "POST", "DELETE"]))
    app.router.lifespan_context = lifespan
    return app


def _build(service: Service, *, ui: bool, extra_routes: list[BaseRoute] | None) -> Starlette:
    door = Doorman()

    def authorized(request: Request) -> Response | None:
        if door.closed(_who(request)):
            return _too_many()
        if service.tokens.check(SERVICE, given_token(request)):
            return None
        door.failed(_who(request))
        return JSONResponse({"error": "a valid service token is needed (Authorization: Bearer TOKEN)"}, 401,
                            headers={"WWW-Authenticate": 'Bearer realm="acflow"'})

    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True})

    async def run_flow(request: Request) -> Response:
        denied = authorized(request)
        if denied is not None:
            return denied
        flow = request.path_params["name"]
        if flow not in service.config().flows:
            return JSONResponse({"error": f"no flow named {flow!r}"}, 404)
        trigger = "api" if request.headers.get("authorization") else "webhook"
        try:
            record = await _in_thread(service.trigger, flow, trigger)
        except AcflowError as exc:
            return JSONResponse({"error": str(exc)}, 400)
        body = {"run_id": record.run_id, "flow": flow, "status": record.status, "url": f"/runs/{record.run_id}"}
        if record.error:
            body["error"] = record.error
        return JSONResponse(body, 409 if record.status == "skipped" else 202)

    async def get_run(request: Request) -> Response:
        denied = authorized(request)
        if denied is not None:
            return denied
        try:
            record = await _in_thread(service.get_run, request.path_params["run_id"])
        except AcflowError as exc:  # the history cannot be read just now (its run host ended): ask again
            return JSONResponse({"error": str(exc)}, 503)
        if record is None:
            return JSONResponse({"error": "no such run"}, 404)
        body = record.to_dict()
        if record.status == "running":
            body["progress"] = service.progress(record.run_id)
        return JSONResponse(body)

    async def data(request: Request) -> Response:
        who = _who(request)
        if door.closed(who):
            return _too_many()
        flow, fmt = request.path_params["flow"], request.path_params["fmt"]
        token = request.path_params.get("token") or given_token(request)
        nothing = JSONResponse({"error": "not found"}, 404)
        cfg = service.config()
        if fmt not in served.FORMATS or flow not in cfg.flows:
            door.failed(who)
            return nothing
        if not (service.tokens.check(flow, token) or service.tokens.check(SERVICE, token)):
            door.failed(who)
            return nothing
        if fmt not in served.formats(cfg, flow):
            return nothing
        try:
            f = served.path(service.state_dir, flow, fmt).open("rb")
        except FileNotFoundError:
            return JSONResponse({"error": f"flow {flow} has not run successfully yet"}, 404)
        st = os.fstat(f.fileno())
        etag = f'"{st.st_ino:x}-{st.st_mtime_ns:x}-{st.st_size:x}"'
        modified = format_datetime(_utc(st.st_mtime), usegmt=True)
        headers = {"ETag": etag, "Last-Modified": modified, "Cache-Control": "no-cache",
                   "Content-Disposition": f'inline; filename="{flow}.{fmt}"'}
        if _not_modified(request, etag, st.st_mtime):
            f.close()
            return Response(status_code=304, headers=headers)
        if request.method == "HEAD":
            f.close()
            return Response(headers=headers, media_type=_TYPES[fmt])
        if fmt == "csv":
            headers["Content-Length"] = str(st.st_size)
            return StreamingResponse(served.chunks(f), media_type=_TYPES[fmt], headers=headers)
        return StreamingResponse(served.json_array(f), media_type=_TYPES[fmt], headers=headers)

    routes: list[BaseRoute] = [
        Route("/health", health),
        Route("/flows/{name}/run", run_flow, methods=["POST"]),
        Route("/runs/{run_id}", get_run),
        Route("/data/{token}/{flow}.{fmt}", data, methods=["GET", "HEAD"]),
        Route("/data/{flow}.{fmt}", data, methods=["GET", "HEAD"]),
        *(extra_routes or []),
    ]
    middleware = [Middleware(BodyLimit)]
    if ui:
        try:
            from ..ui import app as ui_app
        except ImportError:
            ui_app = None  # type: ignore[assignment]
        if ui_app is not None:
            routes += ui_app.routes(service)
            middleware += list(getattr(ui_app, "middleware", lambda s: [])(service))
    return Starlette(routes=routes, middleware=middleware)


def _utc(ts: float) -> Any:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(int(ts), UTC)


def _not_modified(request: Request, etag: str, mtime: float) -> bool:
    match = request.headers.get("if-none-match")
    if match is not None:
        return etag in [t.strip().removeprefix("W/") for t in match.split(",")] or match.strip() == "*"
    since = request.headers.get("if-modified-since")
    if since:
        try:
            return int(mtime) <= parsedate_to_datetime(since).timestamp()
        except (TypeError, ValueError):
            return False
    return False


async def _in_thread(fn: Any, *args: Any) -> Any:
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(fn, *args)
