"""The Google Sheets API v4 over HTTP: one request at a time, within Google's quotas, retried the way
the ActiveCampaign client retries (client.py), and made safe to retry when a request may have been
applied although its answer was lost.

Each layer adds one thing: `call` (retries with tenacity, then one SheetsFailure) -> `_once`
(the identity's quota window, then google-auth's AuthorizedSession, which adds the access token and
refreshes it on a 401) -> the meaning of what came back. The endpoint is the only switch between
Google and the stand-in of tests/sheets_api (ACFLOW_SHEETS_ENDPOINT).

Why plain HTTP and not gspread: a write needs its own control of request size (about 2 MB each,
Google's advice), of the per-user quota (60 writes and 60 reads a minute) shared by every flow of
the process, of which requests may be sent twice (a spreadsheets.batchUpdate that deleted a sheet
must not be sent again: the retry first asks whether it was applied) and of one atomic batchUpdate
built from our own requests. gspread hides those behind its own retry and resize logic.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from ..account import is_loopback
from ..errors import ConfigError
from ..ratelimit import MARGIN, RateLimiter

log = logging.getLogger("acflow")

ENDPOINT_ENV = "ACFLOW_SHEETS_ENDPOINT"  # e.g. the stand-in's http://127.0.0.1:PORT
DEFAULT_ENDPOINT = "https://sheets.googleapis.com"
CHUNK_BYTES = 2_000_000  # "we recommend a 2 MB maximum payload" (developers.google.com/sheets/api/limits)
WRITES_PER_MINUTE = 60  # per user per project; reads have their own 60
READS_PER_MINUTE = 60
QUOTA_WINDOW = 60.0  # seconds: Google's quotas are per minute
ATTEMPTS = 8
BACKOFF_MULTIPLIER = 1.0  # Google's advice: 2, 4, 8 ... seconds plus up to 1 s of jitter, at most 64
BACKOFF_MAX = 64.0
TIMEOUT = (15.0, 180.0)  # connect, read: Google ends a request at 180 s
RETRIED = (429, 500, 502, 503, 504)
USER_AGENT = "acflow (+https://github.com/acflow/acflow)"


class SheetsFailure(Exception):
    """A final answer or a give-up: the HTTP status (0: no answer), Google's status name and words."""

    def __init__(self, status: int, code: str, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.reason = status, code, message, reason


class _Again(Exception):
    """Worth asking again; `retry_after` is what the server asked us to wait, if it said;
    `maybe_applied` unless the server refused before doing anything (a quota's 429)."""

    def __init__(self, reason: str, retry_after: float | None = None, maybe_applied: bool = True) -> None:
        super().__init__(reason)
        self.retry_after, self.maybe_applied = retry_after, maybe_applied


def endpoint() -> str:
    """The API root: ACFLOW_SHEETS_ENDPOINT or Google's. Plain http only to a loopback host."""
    url = (os.environ.get(ENDPOINT_ENV) or DEFAULT_ENDPOINT).rstrip("/")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "http" and is_loopback(parts.hostname):
        return url
    if parts.scheme != "https" or not parts.hostname:
        raise ConfigError(f"{ENDPOINT_ENV}={url!r}: write an https:// address (plain http:// only to 127.0.0.1)")
    return url


class MinuteQuota(RateLimiter):
    """Google counts requests per user per minute: up to `per_minute` in any window of a minute (3%
    wider, so that clock skew never lets the server count one more). A 429 pauses every sender."""

    def __init__(self, per_minute: int, margin: float = MARGIN) -> None:
        super().__init__(per_minute / 60.0, margin)
        self.capacity = per_minute
        self.window = QUOTA_WINDOW * (1 + margin)

    def wait(self) -> None:
        while (seconds := self._reserve()[0]) > 0:
            time.sleep(seconds)


_quotas: dict[tuple[str, str, int, float], MinuteQuota] = {}
_quotas_lock = threading.Lock()


def quota_for(identity: str, kind: str) -> MinuteQuota:
    """The process-wide window of one Google identity's reads or writes: flows writing as the same
    service account share it, as Google's quota is shared."""
    per_minute = WRITES_PER_MINUTE if kind == "write" else READS_PER_MINUTE
    with _quotas_lock:
        key = (identity, kind, per_minute, QUOTA_WINDOW)
        if key not in _quotas:
            _quotas[key] = MinuteQuota(per_minute)
        return _quotas[key]


@dataclass
class CallStats:
    reads: int = 0
    writes: int = 0
    retries: int = 0
    rate_limited: int = 0  # 429 answers
    bytes_sent: int = 0


def _google_error(body: bytes) -> tuple[str, str, str]:
    """(status name, message, ErrorInfo reason) of Google's {"error": {...}} body."""
    try:
        error = orjson.loads(body).get("error", {})
    except (orjson.JSONDecodeError, AttributeError):
        return "", "", ""
    if not isinstance(error, dict):
        return "", str(error), ""
    reason = next((d.get("reason", "") for d in error.get("details", []) or []
                   if isinstance(d, dict) and d.get("reason")), "")
    return str(error.get("status", "")), str(error.get("message", "")), str(reason)


class SheetsClient:
    """Talks to the Sheets API as one Google identity. Use as `with SheetsClient(...) as api:`."""

    def __init__(self, credentials: Any, identity: str, base: str | None = None) -> None:
        self.credentials = credentials
        self.identity = identity
        self.base = (base or endpoint()) + "/v4/spreadsheets/"
        self.stats = CallStats()
        self._session: Any = None

    def __enter__(self) -> SheetsClient:
        from google.auth.transport.requests import AuthorizedSession

        self._session = AuthorizedSession(self.credentials)
        self._session.headers["User-Agent"] = USER_AGENT
        if os.environ.get("SSL_CERT_FILE"):  # a company's inspecting proxy, as for ActiveCampaign
            self._session.verify = os.environ["SSL_CERT_FILE"]
        return self

    def __exit__(self, *exc: object) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    # ---- the methods acflow calls --------------------------------------------------------------------
    def spreadsheet(self, book: str, fields: str) -> dict[str, Any]:
        return self.call("GET", book, params={"fields": fields}, kind="read")

    def batch_get(self, book: str, ranges: list[str]) -> list[list[list[Any]]]:
        data = self.call("GET", f"{book}/values:batchGet",
                         params=[("ranges", r) for r in ranges] + [("valueRenderOption", "UNFORMATTED_VALUE"),
                                                                  ("majorDimension", "ROWS")], kind="read")
        return [vr.get("values", []) for vr in data.get("valueRanges", [])]

    def update(self, book: str, a1: str, body: bytes) -> dict[str, Any]:
        """values.update, RAW: text stays text, whatever it looks like. Sending it twice is harmless."""
        return self.call("PUT", f"{book}/values/{urllib.parse.quote(a1, safe='')}",
                         params={"valueInputOption": "RAW"}, body=body, kind="write")

    def batch_update(self, book: str, requests: list[dict[str, Any]],
                     applied: Callable[[], bool] | None = None) -> dict[str, Any] | None:
        """spreadsheets.batchUpdate (atomic). `applied` tells, after an answer was lost, whether the
        batch took effect: then it is not sent again (None is returned)."""
        return self.call("POST", f"{book}:batchUpdate", body=orjson.dumps({"requests": requests}),
                         kind="write", applied=applied)

    # ---- sending ------------------------------------------------------------------------------------
    def call(self, verb: str, path: str, *, params: Any = None, body: bytes | None = None, kind: str,
             applied: Callable[[], bool] | None = None) -> Any:
        from tenacity import Retrying, retry_if_exception_type, stop_after_attempt

        tries = 0
        last: _Again | None = None
        try:
            for attempt in Retrying(retry=retry_if_exception_type(_Again), wait=self._wait,
                                    stop=stop_after_attempt(ATTEMPTS), reraise=True):
                with attempt:
                    tries += 1
                    if tries > 1:
                        self.stats.retries += 1
                        if applied is not None and last is not None and last.maybe_applied and applied():
                            return None  # the lost answer's request took effect: sending it again would repeat it
                    try:
                        return self._once(verb, path, params, body, kind)
                    except _Again as exc:
                        last = exc
                        raise
        except _Again:
            raise SheetsFailure(0, "GAVE_UP", f"gave up after {tries} attempts (last: {last})") from None

    def _wait(self, state: Any) -> float:
        from tenacity import wait_exponential, wait_random

        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Again) and exc.retry_after is not None:
            return exc.retry_after
        # Google's truncated exponential backoff: 2^n s plus up to 1 s of jitter, at most 64 s; the 8
        # attempts then span over three minutes, past the minute after which Google's quota refills
        backoff = wait_exponential(multiplier=BACKOFF_MULTIPLIER, max=BACKOFF_MAX) + wait_random(0, BACKOFF_MULTIPLIER)
        return float(backoff(state))

    def _once(self, verb: str, path: str, params: Any, body: bytes | None, kind: str) -> Any:
        import google.auth.exceptions
        import requests

        assert self._session is not None, "use `with SheetsClient(...)`"
        quota = quota_for(self.identity, kind)
        quota.wait()
        if kind == "write":
            self.stats.writes += 1
        else:
            self.stats.reads += 1
        self.stats.bytes_sent += len(body or b"")
        started = time.monotonic()
        try:
            response = self._session.request(verb, self.base + path, params=params, data=body,
                                             headers={"Content-Type": "application/json"} if body else None,
                                             timeout=TIMEOUT)
        except google.auth.exceptions.RefreshError as exc:
            raise _refresh_failure(exc) from None
        except (requests.ConnectionError, requests.Timeout, google.auth.exceptions.TransportError) as exc:
            log.debug("sheets %s %s -> %s", verb, path.split("?")[0], type(exc).__name__)
            raise _Again(f"no answer ({type(exc).__name__})") from None
        status = response.status_code
        log.debug("sheets %s %s -> %s in %.0f ms (%d bytes sent)", verb, urllib.parse.unquote(path), status,
                  (time.monotonic() - started) * 1000, len(body or b""))
        if status == 429:
            self.stats.rate_limited += 1
            wait = _seconds(response.headers.get("Retry-After"))
            quota.pause(wait if wait is not None else BACKOFF_MULTIPLIER)  # every sender of this identity waits
            raise _Again("429 quota exceeded", retry_after=wait, maybe_applied=False)  # refused before any work
        if status in RETRIED:
            code, message, _ = _google_error(response.content)
            raise _Again(f"{status} {code or 'error'}" + (f": {message[:120]}" if message else ""))
        if status >= 400:
            code, message, reason = _google_error(response.content)
            raise SheetsFailure(status, code, message or response.reason or f"HTTP {status}", reason)
        try:
            return orjson.loads(response.content) if response.content else {}
        except orjson.JSONDecodeError:
            raise _Again("an answer that is not JSON") from None


def _seconds(value: str | None) -> float | None:
    try:
        return min(max(float(value), 0.0), 120.0) if value else None
    except ValueError:
        return None


def _refresh_failure(exc: Exception) -> SheetsFailure:
    """google-auth could not get an access token: its error code and words, never the key or token."""
    args = getattr(exc, "args", ())
    text = str(args[0]) if args else type(exc).__name__
    if getattr(exc, "retryable", False):
        raise _Again(f"the token endpoint failed ({text[:80]})")
    return SheetsFailure(401, "UNAUTHENTICATED", text[:200], "REFRESH")


# ---- requests of a spreadsheets.batchUpdate ---------------------------------------------------------------
def grid_range(sheet: int, r0: int, r1: int, c0: int, c1: int) -> dict[str, int]:
    return {"sheetId": sheet, "startRowIndex": r0, "endRowIndex": r1, "startColumnIndex": c0, "endColumnIndex": c1}


def sheet_props(sheet: int, rows: int | None = None, cols: int | None = None, frozen: int | None = None,
                title: str | None = None, hidden: bool | None = None) -> dict[str, Any]:
    """updateSheetProperties of the given properties only (the field mask names exactly those)."""
    props: dict[str, Any] = {"sheetId": sheet}
    grid: dict[str, int] = {}
    fields = []
    for key, value in (("title", title), ("hidden", hidden)):
        if value is not None:
            props[key] = value
            fields.append(key)
    for key, value in (("rowCount", rows), ("columnCount", cols), ("frozenRowCount", frozen)):
        if value is not None:
            grid[key] = value
            fields.append(f"gridProperties.{key}")
    if grid:
        props["gridProperties"] = grid
    return {"updateSheetProperties": {"properties": props, "fields": ",".join(fields)}}


def paste(src: int, r0: int, r1: int, c0: int, c1: int, dst: int, dr: int, dc: int) -> list[dict[str, Any]]:
    """Values only, over a cleared block: the sheet's own formatting stays, old values never show through."""
    target = grid_range(dst, dr, dr + r1 - r0, dc, dc + c1 - c0)
    return [{"updateCells": {"range": target, "fields": "userEnteredValue"}},
            {"copyPaste": {"source": grid_range(src, r0, r1, c0, c1), "destination": target,
                           "pasteType": "PASTE_VALUES"}}]


def a1(title: str, r0: int, c0: int, r1: int, c1: int) -> str:
    """Rows [r0, r1) and columns [c0, c1) of a sheet, in A1 notation with the title quoted."""
    return f"{quote_title(title)}!{column(c0)}{r0 + 1}:{column(c1 - 1)}{r1}"


def quote_title(title: str) -> str:
    return "'" + title.replace("'", "''") + "'"


def column(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA."""
    out = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        out = chr(65 + rem) + out
    return out
