"""The stand-in's HTTP side: Google's OAuth 2.0 token and consent endpoints and the Sheets API v4
methods acflow calls, with Google's authentication, sharing, quota and error answers.

Every API request goes through the steps Google applies, in its order: the body size limit, the
access token (401), the per-user and per-project quotas (429), the spreadsheet's sharing (403/404),
then the method. Faults a test injects (a status, a connection reset, a request applied and its
answer lost, a slow answer) sit between the quota and the method. Control is by Python calls on
SheetsStandIn (see __init__.py), run on the server's event loop thread.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import secrets
import socket
import struct
import threading
import time
import urllib.parse
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from .model import (
    MAX_BODY,
    Area,
    Batch,
    SheetsError,
    Spreadsheet,
    apply_mask,
    check_inside,
    entered,
    invalid,
    mask_paths,
    parse_range,
    read_values,
    write_values,
)

PROJECT = "424242424242"
READS = {"spreadsheets.get", "values.get", "values.batchGet"}
UNAUTHENTICATED = ("Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie "
                   "or other valid authentication credential. See "
                   "https://developers.google.com/identity/sign-in/web/devconsole-project.")
MISSING = ("Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or "
           "other valid authentication credential. See "
           "https://developers.google.com/identity/sign-in/web/devconsole-project.")
SCOPE = "https://www.googleapis.com/auth/spreadsheets"
STATUS = {500: ("INTERNAL", "Internal error encountered."), 502: ("UNAVAILABLE", "Bad Gateway"),
          503: ("UNAVAILABLE", "The service is currently unavailable."),
          504: ("DEADLINE_EXCEEDED", "The request timed out. Please try again.")}


def quota_error(kind: str, scope: str, limit: int) -> SheetsError:
    """Google's 429 body, as recorded in public bug reports (Read/Write requests, per user or project)."""
    per_user = scope == "user"
    label = f"{kind} requests per minute" + (" per user" if per_user else "")
    quota_limit = f"{kind}RequestsPerMinutePer{'User' if per_user else 'Project'}"
    return SheetsError(429, "RESOURCE_EXHAUSTED",
                       f"Quota exceeded for quota metric '{kind} requests' and limit '{label}' of service "
                       f"'sheets.googleapis.com' for consumer 'project_number:{PROJECT}'.",
                       [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "RATE_LIMIT_EXCEEDED",
                         "domain": "googleapis.com",
                         "metadata": {"quota_metric": f"sheets.googleapis.com/{kind.lower()}_requests",
                                      "quota_limit": quota_limit, "quota_limit_value": str(limit),
                                      "quota_location": "global", "consumer": f"projects/{PROJECT}",
                                      "quota_unit": "1/min/{project}" + ("/{user}" if per_user else ""),
                                      "service": "sheets.googleapis.com"}},
                        {"@type": "type.googleapis.com/google.rpc.Help",
                         "links": [{"description": "Request a higher quota limit.",
                                    "url": "https://cloud.google.com/docs/quotas/help/request_increase"}]}])


def disabled_error() -> SheetsError:
    url = f"https://console.developers.google.com/apis/api/sheets.googleapis.com/overview?project={PROJECT}"
    return SheetsError(403, "PERMISSION_DENIED",
                       f"Google Sheets API has not been used in project {PROJECT} before or it is disabled. Enable "
                       f"it by visiting {url} then retry. If you enabled this API recently, wait a few minutes for "
                       "the action to propagate to our systems and retry.",
                       [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "SERVICE_DISABLED",
                         "domain": "googleapis.com",
                         "metadata": {"service": "sheets.googleapis.com", "consumer": f"projects/{PROJECT}",
                                      "activationUrl": url}}])


@dataclass
class Fault:
    """Breaks matching API requests: `kind` is a status (429, 500, 502, 503, 504; 401 also revokes the
    access token, as an early expiry does), "reset" (the
    connection is aborted, nothing applied), "drop" (the request is applied, then the connection is
    aborted: the answer is lost) or "slow" (answered after `delay` seconds). It fires on the `nth`
    matching request from now (1 = the next) and the `times - 1` after it; `method` narrows it
    ("values.update", "spreadsheets.batchUpdate", ...)."""

    kind: str | int
    nth: int = 1
    times: int = 1
    method: str | None = None
    delay: float = 0.0
    seen: int = 0

    def hit(self, method: str) -> bool:
        if self.method is not None and self.method != method:
            return False
        self.seen += 1
        return self.nth <= self.seen < self.nth + self.times


@dataclass
class Stats:
    requests: int = 0  # API requests answered or failed (token requests not counted)
    reads: int = 0
    writes: int = 0
    rate_limited: int = 0  # 429 quota answers
    faults: int = 0
    max_body: int = 0  # the largest request body, in bytes
    body_bytes: int = 0
    server_seconds: float = 0.0  # spent answering API requests (latency and slow faults left out)
    by_method: Counter[str] = field(default_factory=Counter)
    by_status: Counter[int] = field(default_factory=Counter)
    log: list[tuple[str, str, int]] = field(default_factory=list)  # (principal, method, status)

    def to_dict(self) -> dict[str, Any]:
        return {"requests": self.requests, "reads": self.reads, "writes": self.writes,
                "rate_limited": self.rate_limited, "faults": self.faults, "max_body": self.max_body,
                "body_bytes": self.body_bytes, "server_seconds": round(self.server_seconds, 3),
                "by_method": dict(self.by_method),
                "by_status": dict(self.by_status), "log": list(self.log)}


class Quota:
    """Requests per sliding window, per user and per project, as Google counts them (per minute)."""

    def __init__(self, user: int | None = 60, project: int | None = 300, window: float = 60.0) -> None:
        self.user, self.project, self.window = user, project, window
        self._users: dict[str, deque[float]] = {}
        self._all: deque[float] = deque()

    def take(self, principal: str, now: float) -> str | None:
        """None, or "user" / "project": the limit this request is over (it is not counted)."""
        mine = self._users.setdefault(principal, deque())
        for log in (mine, self._all):
            while log and log[0] <= now - self.window:
                log.popleft()
        if self.user is not None and len(mine) >= self.user:
            return "user"
        if self.project is not None and len(self._all) >= self.project:
            return "project"
        mine.append(now)
        self._all.append(now)
        return None


class StandInServer:
    """All state; every method runs on the event loop thread."""

    def __init__(self) -> None:
        self.url = ""
        self.service_accounts: dict[str, Any] = {}  # client_email -> public key
        self.clients: dict[str, str] = {}  # OAuth client_id -> client_secret
        self.user_email = "analyst@example.com"
        self.refresh_tokens: dict[str, tuple[str, str]] = {}  # refresh token -> (client_id, principal)
        self.codes: dict[str, tuple[str, str, str | None]] = {}  # code -> (client_id, redirect_uri, challenge)
        self._runner: web.AppRunner | None = None
        self.reset()

    def reset(self) -> None:
        self.books: dict[str, Spreadsheet] = {}
        self.tokens: dict[str, tuple[str, float]] = {}  # access token -> (principal, expiry)
        self.faults: list[Fault] = []
        self.latency = 0.0
        self.api_enabled = True
        self.retry_after: float | None = None  # Google sends none on 429; tests may ask for one
        self.reads = Quota()
        self.writes = Quota()
        self.stats = Stats()

    # ---- lifecycle -----------------------------------------------------------------------------
    async def start(self, host: str, port: int) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        await web.SockSite(self._runner, sock).start()
        self.url = f"http://{host}:{sock.getsockname()[1]}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ---- control (for a stand-in in a process of its own: `python -m sheets_api`) ----------------------
    async def control(self, request: web.Request, what: str) -> web.Response:
        """POST service_account {"email"}, POST spreadsheets {"sheets", "editors"}, GET stats, POST reset."""
        data = await request.json() if request.can_read_body else {}
        if what == "service_account":
            return _json(self.new_service_account(data.get("email", "acflow-writer@standin-project.iam."
                                                                    "gserviceaccount.com")))
        if what == "spreadsheets":
            book = Spreadsheet(data.get("id") or "1" + secrets.token_hex(21), data.get("title", "acflow"))
            for name in data.get("sheets", ["Sheet1"]):
                book.add_sheet(name)
            book.editors.update(data.get("editors", []))
            self.books[book.id] = book
            return _json({"id": book.id})
        if what == "stats":
            return _json(self.stats.to_dict())
        if what == "reset":
            self.reset()
            return _json({})
        return _json({"error": f"unknown control {what}"}, 404)

    def new_service_account(self, email: str) -> dict[str, Any]:
        """A new service account's key file (JSON, as Google Cloud Console downloads it)."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
        self.service_accounts[email] = key.public_key()
        return {"type": "service_account", "project_id": "standin-project", "private_key_id": secrets.token_hex(20),
                "private_key": pem, "client_email": email, "client_id": str(secrets.randbelow(10**20)),
                "auth_uri": f"{self.url}/o/oauth2/auth", "token_uri": f"{self.url}/token",
                "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
                "universe_domain": "googleapis.com"}

    # ---- credentials ----------------------------------------------------------------------------
    def mint(self, principal: str, seconds: float = 3599) -> str:
        token = "ya29.standin-" + secrets.token_urlsafe(24)
        self.tokens[token] = (principal, time.monotonic() + seconds)
        return token

    async def token_endpoint(self, request: web.Request) -> web.Response:
        form = await request.post()
        grant = form.get("grant_type")
        if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            principal, error = self._check_assertion(str(form.get("assertion", "")))
            if principal is None:
                return _oauth_error("invalid_grant", error)
            return _json({"access_token": self.mint(principal), "expires_in": 3599, "token_type": "Bearer"})
        client_id, secret = str(form.get("client_id", "")), str(form.get("client_secret", ""))
        basic = request.headers.get("Authorization", "")
        if basic.startswith("Basic "):  # client_secret_basic, which RFC 6749 prefers; Google takes both
            who, _, password = base64.b64decode(basic[6:]).decode().partition(":")
            client_id, secret = urllib.parse.unquote_plus(who), urllib.parse.unquote_plus(password)
        if self.clients.get(client_id) != secret:
            return _oauth_error("invalid_client", "The OAuth client was not found.", 401)
        if grant == "refresh_token":
            owner = self.refresh_tokens.get(str(form.get("refresh_token", "")))
            if owner is None or owner[0] != client_id:
                return _oauth_error("invalid_grant", "Token has been expired or revoked.")
            return _json({"access_token": self.mint(owner[1]), "expires_in": 3599, "scope": SCOPE,
                          "token_type": "Bearer"})
        if grant == "authorization_code":
            found = self.codes.pop(str(form.get("code", "")), None)
            if found is None or found[0] != client_id or found[1] != form.get("redirect_uri"):
                return _oauth_error("invalid_grant", "Malformed auth code.")
            challenge = found[2]
            verifier = str(form.get("code_verifier", ""))
            if challenge is not None:
                digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
                if digest != challenge:
                    return _oauth_error("invalid_grant", "Invalid code verifier.")
            refresh = "1//standin-" + secrets.token_urlsafe(24)
            self.refresh_tokens[refresh] = (client_id, self.user_email)
            return _json({"access_token": self.mint(self.user_email), "expires_in": 3599, "scope": SCOPE,
                          "token_type": "Bearer", "refresh_token": refresh})
        return _oauth_error("unsupported_grant_type", f"Invalid grant_type: {grant}")

    def _check_assertion(self, assertion: str) -> tuple[str | None, str]:
        """A service account's signed JWT (RS256): its signature, issuer, audience, lifetime, scope."""
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        try:
            head, body, signature = assertion.split(".")
            claims = orjson.loads(_unb64(body))
            key = self.service_accounts.get(claims.get("iss"))
            if key is None:
                return None, "Invalid grant: account not found"
            key.verify(_unb64(signature), f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())
        except (ValueError, orjson.JSONDecodeError, InvalidSignature):
            return None, "Invalid JWT Signature."
        # google-auth addresses the assertion to Google's token endpoint whatever token_uri says
        if claims.get("aud") not in ("https://oauth2.googleapis.com/token", f"{self.url}/token"):
            return None, "Invalid JWT: Failed audience check."
        if not claims.get("iat", 0) - 300 <= time.time() <= claims.get("exp", 0) + 300:
            return None, "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe."
        if SCOPE not in str(claims.get("scope", "")).split():
            return None, "Invalid OAuth scope or ID token audience provided."
        return str(claims["iss"]), ""

    async def consent(self, request: web.Request) -> web.StreamResponse:
        """The consent page, approved at once by the stand-in's user: back to the app's loopback address."""
        q = request.query
        redirect = q.get("redirect_uri", "")
        host = urllib.parse.urlsplit(redirect).hostname
        if q.get("client_id") not in self.clients or host not in ("localhost", "127.0.0.1"):
            return web.Response(status=400, text="Error 400: redirect_uri_mismatch")
        code = "4/standin-" + secrets.token_urlsafe(16)
        self.codes[code] = (q["client_id"], redirect, q.get("code_challenge"))
        query = urllib.parse.urlencode({"state": q.get("state", ""), "code": code, "scope": q.get("scope", "")})
        raise web.HTTPFound(f"{redirect}?{query}")

    # ---- the API ---------------------------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.StreamResponse:
        path = request.raw_path.split("?", 1)[0]
        if path.startswith("/_standin/"):
            return await self.control(request, path[len("/_standin/"):])
        if path == "/token" and request.method == "POST":
            return await self.token_endpoint(request)
        if path == "/o/oauth2/auth":
            return await self.consent(request)
        if not path.startswith("/v4/spreadsheets/"):
            return _error(SheetsError(404, "NOT_FOUND", f"URL {path} was not found on this server."))
        body = await request.read()
        method, book_id, a1 = _route(request.method, path[len("/v4/spreadsheets/"):])
        stats = self.stats
        stats.requests += 1
        stats.by_method[method] += 1
        stats.max_body = max(stats.max_body, len(body))
        stats.body_bytes += len(body)
        is_read = method in READS
        if is_read:
            stats.reads += 1
        else:
            stats.writes += 1
        if self.latency:
            await asyncio.sleep(self.latency)
        started = time.perf_counter()
        try:
            return await self._api(request, method, book_id, a1, body, is_read)
        finally:
            stats.server_seconds += time.perf_counter() - started

    async def _api(self, request: web.Request, method: str, book_id: str, a1: str | None, body: bytes,
                   is_read: bool) -> web.StreamResponse:
        stats = self.stats
        principal = "?"
        try:
            if len(body) > MAX_BODY:
                raise invalid(f"Request payload size exceeds the limit: {MAX_BODY} bytes.")
            principal = self._principal(request)
            if not self.api_enabled:
                raise disabled_error()
            over = (self.reads if is_read else self.writes).take(principal, time.monotonic())
            if over is not None:
                stats.rate_limited += 1
                limit = (self.reads if is_read else self.writes)
                raise quota_error("Read" if is_read else "Write", over, limit.user if over == "user" else limit.project)
            fault = next((f for f in self.faults if f.hit(method)), None)
            if fault is not None:
                stats.faults += 1
                if fault.kind == "slow":
                    await asyncio.sleep(fault.delay)
                elif fault.kind == "reset":
                    return _abort(request)
                elif fault.kind == "401":  # the access token stops working (revoked, expired early)
                    self.tokens.pop(_bearer(request) or "", None)
                    raise SheetsError(401, "UNAUTHENTICATED", UNAUTHENTICATED)
                elif fault.kind != "drop":
                    code = int(fault.kind)
                    raise (quota_error("Write", "user", 60) if code == 429
                           else SheetsError(code, *STATUS.get(code, ("UNKNOWN", "Unknown error."))))
            book = self._book(book_id, principal, writing=not is_read)
            payload = orjson.loads(body) if body else {}
            answer = self._call(method, book, a1, request.query, payload)
            if fault is not None and fault.kind == "drop":
                return _abort(request)
        except SheetsError as exc:
            stats.by_status[exc.code] += 1
            stats.log.append((principal, method, exc.code))
            headers = {"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", error="invalid_token"'} \
                if exc.code == 401 else {}
            if exc.code == 429 and self.retry_after is not None:
                headers["Retry-After"] = f"{self.retry_after:g}"
            return _error(exc, headers)
        except orjson.JSONDecodeError:
            return _error(invalid("Invalid JSON payload received."))
        stats.by_status[200] += 1
        stats.log.append((principal, method, 200))
        return _json(answer)

    def _principal(self, request: web.Request) -> str:
        token = _bearer(request)
        if not token:
            raise SheetsError(401, "UNAUTHENTICATED", MISSING)
        found = self.tokens.get(token)
        if found is None or found[1] < time.monotonic():
            raise SheetsError(401, "UNAUTHENTICATED", UNAUTHENTICATED)
        return found[0]

    def _book(self, book_id: str, principal: str, writing: bool) -> Spreadsheet:
        book = self.books.get(book_id)
        if book is None:
            raise SheetsError(404, "NOT_FOUND", "Requested entity was not found.")
        allowed = book.editors if writing else book.editors | book.viewers
        if principal not in allowed:
            raise SheetsError(403, "PERMISSION_DENIED", "The caller does not have permission")
        return book

    def _call(self, method: str, book: Spreadsheet, a1: str | None, query: Any, payload: Any) -> dict[str, Any]:
        if method == "spreadsheets.get":
            data = book.to_json()
            return apply_mask(data, mask_paths(query["fields"])) if query.get("fields") else data
        if method == "spreadsheets.batchUpdate":
            requests = payload.get("requests")
            if not requests:
                raise invalid("Must specify at least one request.")
            replies = Batch(book).apply(requests)
            return {"spreadsheetId": book.id, "replies": replies}
        render = query.get("valueRenderOption", "FORMATTED_VALUE")
        major = query.get("majorDimension", "ROWS")
        if method == "values.get":
            area = parse_range(book, a1 or "")
            return _value_range(area, read_values(area, render, major), major)
        if method == "values.batchGet":
            areas = [parse_range(book, r) for r in query.getall("ranges", [])]
            return {"spreadsheetId": book.id,
                    "valueRanges": [_value_range(a, read_values(a, render, major), major) for a in areas]}
        option = query.get("valueInputOption") or (payload.get("valueInputOption") if payload else None)
        if method in ("values.update", "values.append", "values.batchUpdate") and not option:
            raise invalid("'valueInputOption' is required but not specified")
        if method == "values.update":
            return {"spreadsheetId": book.id, **self._update(book, a1 or "", payload, option)}
        if method == "values.batchUpdate":
            return self._batch_values(book, payload, option)
        if method == "values.append":
            return self._append(book, a1 or "", payload, option, query.get("insertDataOption", "OVERWRITE"))
        if method == "values.clear":
            area = parse_range(book, a1 or "")
            check_inside(area)
            for r in range(area.r0, min(area.rows_end(), len(area.sheet.values))):
                for c in range(area.c0, area.cols_end()):
                    area.sheet.put(r, c, None)
            return {"spreadsheetId": book.id, "clearedRange": area.a1()}
        raise SheetsError(404, "NOT_FOUND", f"Method {method} was not found.")

    def _update(self, book: Spreadsheet, a1: str, payload: dict[str, Any], option: str,
                where: str = "") -> dict[str, Any]:
        if payload.get("range") and payload["range"] != a1:
            raise invalid(f"Invalid values[0][0]: The range in the body ({payload['range']}) does not match the "
                          f"range in the URL ({a1}).")
        area = parse_range(book, a1)
        values = payload.get("values", [])
        cells = write_values(area, values, option, payload.get("majorDimension", "ROWS"), where)
        rows = len(values)
        cols = max((len(r) for r in values), default=0)
        end = Area(area.sheet, area.r0, area.r0 + rows, area.c0, area.c0 + cols)
        return {"updatedRange": end.a1() if rows and cols else area.a1(), "updatedRows": rows,
                "updatedColumns": cols, "updatedCells": cells}

    def _batch_values(self, book: Spreadsheet, payload: dict[str, Any], option: str) -> dict[str, Any]:
        # checked whole first (each range parsed and sized on clones), then written
        batch = Batch(book)
        responses = []
        for i, data in enumerate(payload.get("data", [])):
            area = parse_range(batch.work, data.get("range", ""))
            area.sheet = batch.mutable(area.sheet)
            batch.work.sheets = batch.sheets
            responses.append({"spreadsheetId": book.id,
                              **self._update(batch.work, data.get("range", ""), data, option, f"Invalid data[{i}]: ")})
        batch.apply([])
        return {"spreadsheetId": book.id, "totalUpdatedRows": sum(r["updatedRows"] for r in responses),
                "totalUpdatedColumns": max((r["updatedColumns"] for r in responses), default=0),
                "totalUpdatedCells": sum(r["updatedCells"] for r in responses),
                "totalUpdatedSheets": len({r["updatedRange"].split("!")[0] for r in responses}),
                "responses": responses}

    def _append(self, book: Spreadsheet, a1: str, payload: dict[str, Any], option: str,
                insert: str) -> dict[str, Any]:
        """values.append: the table is the block of rows with data from the range's first row down,
        in the range's columns; the values go below it (INSERT_ROWS first inserts rows for them)."""
        area = parse_range(book, a1)
        sheet = area.sheet
        values = payload.get("values", [])
        last = area.r0 - 1
        for r in range(area.r0, min(area.rows_end(), len(sheet.values))):
            if any(sheet.get(r, c) is not None for c in range(area.c0, area.cols_end())):
                last = r
        table = Area(sheet, area.r0, last + 1, area.c0, area.cols_end()).a1() if last >= area.r0 else ""
        start = last + 1
        batch = Batch(book)
        target = batch.mutable(sheet)
        if insert == "INSERT_ROWS":
            target.insert_rows(min(start, target.rows), len(values))
        elif start + len(values) > target.rows:  # OVERWRITE still adds rows at the end of the sheet
            target.insert_rows(target.rows, start + len(values) - target.rows)
        batch.work.check_limits("")
        cols = max((len(r) for r in values), default=0)
        cells = write_values(Area(target, start, start + len(values), area.c0, area.c0 + cols), values, option)
        batch.apply([])
        updated = Area(target, start, start + len(values), area.c0, area.c0 + cols).a1()
        return {"spreadsheetId": book.id, "tableRange": table,
                "updates": {"spreadsheetId": book.id, "updatedRange": updated, "updatedRows": len(values),
                            "updatedColumns": cols, "updatedCells": cells}}


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    return header[7:] if header.startswith("Bearer ") else request.query.get("access_token")


def _route(verb: str, rest: str) -> tuple[str, str, str | None]:
    """The method, spreadsheet id and (decoded) range of an API path under /v4/spreadsheets/."""
    if "/values" in rest:
        book_id, _, tail = rest.partition("/values")
        for suffix, method in ((":batchGet", "values.batchGet"), (":batchUpdate", "values.batchUpdate")):
            if tail == suffix:
                return method, book_id, None
        a1 = tail.lstrip("/")
        for suffix, method in ((":append", "values.append"), (":clear", "values.clear")):
            if a1.endswith(suffix):
                return method, book_id, urllib.parse.unquote(a1[:-len(suffix)])
        return ("values.update" if verb == "PUT" else "values.get"), book_id, urllib.parse.unquote(a1)
    if rest.endswith(":batchUpdate"):
        return "spreadsheets.batchUpdate", rest[:-len(":batchUpdate")], None
    return "spreadsheets.get", rest, None


def _value_range(area: Area, values: list[list[Any]], major: str) -> dict[str, Any]:
    out: dict[str, Any] = {"range": area.a1(), "majorDimension": major}
    if values:
        out["values"] = values
    return out


def _plain(value: Any) -> Any:
    """Numbers as Google writes them: 46, not 46.0."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(_plain(data), option=orjson.OPT_NON_STR_KEYS), status=status,
                        headers={"Content-Type": "application/json; charset=UTF-8", **(headers or {})})


def _error(exc: SheetsError, headers: dict[str, str] | None = None) -> web.Response:
    return _json(exc.body(), exc.code, headers)


def _oauth_error(error: str, description: str, status: int = 400) -> web.Response:
    return _json({"error": error, "error_description": description}, status)


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _abort(request: web.Request) -> web.StreamResponse:
    """Abort the connection with a TCP RST and no answer."""
    transport = request.transport
    if transport is not None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    return web.Response()


class Runner:
    """The server on its own event loop thread; `call` runs a function there and returns its result."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host, self.port = host, port
        self.server = StandInServer()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._loop = loop
            try:
                loop.run_until_complete(self.server.start(self.host, self.port))
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self.server.stop())
            loop.close()

        self._thread = threading.Thread(target=run, name="sheets-standin", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            raise failure[0]

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._thread = None

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        assert self._loop is not None, "the stand-in is not running"

        async def run() -> Any:
            return fn(*args, **kwargs)
        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout=60)


__all__ = ["Fault", "Quota", "Runner", "StandInServer", "entered", "quota_error"]
