"""The async ActiveCampaign client: one request, made safely.

Each layer adds one thing: `get` (retries, then a clear error) ->
`_with_rate_limit` (the account's shared limiter) -> `_send` (aiohttp, and the
meaning of what came back). The client cannot tell the sandbox from the real
API: the base URL is the only switch.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import math
import os
import re
import socket
import ssl
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
import orjson
import simdjson
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)

from .account import Account
from .errors import ApiError, KeyRefused, NotActiveCampaign
from .ratelimit import RateLimiter, limiter_for

log = logging.getLogger("acflow")

PAGE_SIZE = 100  # the API's maximum; its default of 20 makes five times the requests
INTERMITTENT_403_RETRIES = 3  # the API sometimes refuses a key that has just worked
FIRST_403_RETRIES = 1  # ... and sometimes one that works on the next run: ask once more before "refused"
USER_AGENT = "acflow (+https://github.com/acflow/acflow)"


T = TypeVar("T")


@dataclass(frozen=True)
class RawPage:
    """A list response kept as the bytes it came in, with what paging needs read from it.

    The records themselves are only ever parsed in bulk, by Arrow (see columns.py).
    """

    body: bytes
    key: str  # the records' array key
    ids: list[Any]  # the records' ids, as sent
    total: int | None  # meta.total, a hint


def _parse_object(body: bytes) -> dict[str, Any]:
    data = orjson.loads(body)
    if not isinstance(data, dict):
        raise ValueError("JSON that is not an object")
    return data


MAX_TOTAL = 10**9  # no account holds a billion records of one kind: a larger meta.total is no hint
_OBJECT = (simdjson.Object, dict)
_ARRAY = (simdjson.Array, list)


def _total(value: Any) -> int | None:
    """meta.total as a hint: "250" or 250 -> 250; absent, odd or absurd (10^30) -> None."""
    # orjson reads 10^30 as 1e30; most endpoints send "250", some 250
    if (isinstance(value, float) and value.is_integer()) or (isinstance(value, str) and value.strip().isdigit()):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if 0 <= value <= MAX_TOTAL else None


def read_page(body: bytes, key: str) -> RawPage:
    """A list response -> RawPage: the one reader of list responses (syncs, preview, tests)."""
    try:
        doc = simdjson.Parser().parse(body)  # lazy: only what we touch becomes Python
    except RuntimeError:  # valid JSON simdjson cannot hold (an integer past 64 bits): orjson can
        doc = orjson.loads(body)
    if not isinstance(doc, _OBJECT):
        raise ValueError("JSON that is not an object")
    if key not in doc:  # an error or a proxy's JSON with status 200: never "no records"
        raise ValueError(f"the response has no {key!r}")
    records = doc.get(key)
    if isinstance(records, _ARRAY):
        ids = [r.get("id") for r in records if isinstance(r, _OBJECT)]
        if len(ids) != len(records):
            raise ValueError(f"the response's {key!r} holds something other than records")
    elif records is None or (isinstance(records, _OBJECT) and len(records) == 0):
        ids = []
    else:
        raise ValueError(f"the response's {key!r} is not a list")
    meta = doc.get("meta")
    total = _total(meta.get("total")) if isinstance(meta, _OBJECT) else None
    return RawPage(body, key, ids, total)


@dataclass
class RequestStats:
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0  # 429 (or 503 with Retry-After) answers received


class Retryable(Exception):
    """Worth asking again; `retry_after` is what the server asked us to wait."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class NoAnswer(Retryable):
    """The server took the request and said nothing within the timeout: worth a warning."""


class NotJson(Retryable):
    """A 200 whose bytes can never be JSON (not a cut-off body): asked once more, then final."""

    def __init__(self, reason: str, final_message: str) -> None:
        super().__init__(reason)
        self.final_message = final_message


MAX_RETRY_AFTER = 120.0  # seconds; a longer wait is the server's mistake, not a plan


def give_up_after(timeout: float, attempts: int, backoff_max: float = 30.0) -> float:
    """The most seconds one request takes when no answer ever comes: every attempt waits its
    timeout, with a backoff of at most `backoff_max` between attempts (--timeout's help says it)."""
    return attempts * timeout + (attempts - 1) * backoff_max


def _not_json(body: bytes) -> str | None:
    """What in `body` no JSON can hold, with where: invalid UTF-8 or a raw control character.
    None when the body is merely cut short (that is worth asking again)."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.reason != "unexpected end of data":
            return f"bytes that are not valid UTF-8 at byte {exc.start}"
    found = _CONTROL.search(body)
    if found is None:
        return None
    char = found.group()[0]
    return f"a raw control character ({'NUL' if char == 0 else f'0x{char:02x}'}) at byte {found.start()}"


_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")  # never valid in JSON, in strings or out


def _retry_after(value: str | None) -> float | None:
    """Seconds, or an HTTP date; anything else (or infinite) means "use our own backoff"."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            parsed = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = parsed.timestamp() - time.time()
    if not math.isfinite(seconds):
        return None
    return min(max(0.0, seconds), MAX_RETRY_AFTER)


def _api_message(body: bytes) -> str:
    """The API's own words from an error body: {"message"} or {"errors": [{title, detail}]}."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return ""
    if not isinstance(data, dict):
        return ""
    if isinstance(data.get("message"), str):
        return data["message"]
    errors = data.get("errors")
    if isinstance(errors, list):
        parts = [
            ": ".join(str(e[k]) for k in ("title", "detail") if isinstance(e, dict) and e.get(k))
            for e in errors
        ]
        return "; ".join(p for p in parts if p)
    return ""


def env_proxy(url: str) -> str | None:
    """The proxy HTTPS_PROXY / HTTP_PROXY name for `url`, unless NO_PROXY spares its host. Looked
    up once per client: aiohttp's trust_env looks it up, in a thread, for every request."""
    parts = urllib.parse.urlsplit(url)
    if urllib.request.proxy_bypass(parts.hostname or ""):
        return None
    return urllib.request.getproxies().get(parts.scheme) or None


def tls_context() -> ssl.SSLContext:
    """Whom to trust, as httpx decided before: the CA files SSL_CERT_FILE / SSL_CERT_DIR name
    (a company's inspecting proxy), else certifi's bundle (python.org's macOS builds have no
    system store until "Install Certificates" is run)."""
    if os.environ.get("SSL_CERT_FILE") or os.environ.get("SSL_CERT_DIR"):
        return ssl.create_default_context()  # OpenSSL reads both variables
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


def _is_dns_failure(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, socket.gaierror):
            return True
        seen = seen.__cause__ or seen.__context__
    return "name or service not known" in str(exc).lower() or "nodename nor servname" in str(exc)


class Client:
    """Talks to one account. Use as `async with Client(account) as client:`."""

    def __init__(self, account: Account, *, timeout: float = 60.0, max_attempts: int = 8,
                 concurrency: int = 8, limiter: RateLimiter | None = None,
                 backoff_max: float = 30.0) -> None:
        self.account = account
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.concurrency = concurrency
        self.limiter = limiter or limiter_for(account.url, account.rate_limit)
        self.backoff_max = backoff_max
        self.give_up_after = give_up_after(timeout, max_attempts, backoff_max)
        self.stats = RequestStats()  # the whole client's; callers may pass their own too
        self._key_worked = False
        self._http: aiohttp.ClientSession | None = None
        self._base = f"{account.url}/api/3/"
        self._proxy: str | None = None
        self._connections = asyncio.Semaphore(concurrency * 2)  # as many as the pool holds, but
        self._urgent_connections = asyncio.Semaphore(concurrency)  # these: the pool holds them too

    async def __aenter__(self) -> Client:
        self._proxy = env_proxy(self.account.url)
        # aiohttp itself: the client's own work per page is a third of what it was through
        # httpx's API over aiohttp (benchmarks/throughput.py), and a sync is bound by it
        tls = tls_context() if self.account.url.startswith("https://") else None
        self._http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self.concurrency * 3, ssl=tls if tls else True,
                                           keepalive_timeout=5.0),  # idle connections servers may drop
            trace_configs=_sent_trace(self.limiter),
            headers={"Api-Token": self.account.key, "Accept": "application/json", "User-Agent": USER_AGENT},
            # per step, not for the whole answer: a big page arriving steadily is not a dead server
            timeout=aiohttp.ClientTimeout(total=None, connect=self.timeout, sock_read=self.timeout),
        )
        # aiohttp sends a GET again by itself when a kept-alive connection was reset, past our rate
        # limiter (7 requests in a second under 20% resets); our own retries re-send through it
        self._http._retry_connection = False  # type: ignore[attr-defined]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def check(self) -> dict[str, Any]:
        """Ask who the key belongs to: proves URL and key before any real work."""
        body = await self.get("users/me")
        user = body.get("user") if isinstance(body, dict) else None
        if not isinstance(user, dict):
            raise NotActiveCampaign(
                f"{self.account.url} answered /api/3/users/me without a user: "
                "is this the API URL from Settings > Developer?"
            )
        return user

    async def get(self, path: str, params: dict[str, Any] | None = None,
                  stats: RequestStats | None = None) -> dict[str, Any]:
        """GET one resource as a dict, retrying what is worth retrying; one clear error otherwise."""
        return await self._get(path, params, stats, _parse_object)

    async def get_page(self, path: str, key: str, params: dict[str, Any] | None = None,
                       stats: RequestStats | None = None, urgent: bool = False) -> RawPage:
        """GET one page of a list, kept as bytes (see RawPage); `urgent` as for RateLimiter.acquire."""
        return await self._get(path, params, stats, lambda body: read_page(body, key), urgent)

    async def _get(self, path: str, params: dict[str, Any] | None, stats: RequestStats | None,
                   parse: Callable[[bytes], T], urgent: bool = False) -> T:
        attempt_no = 0
        forbidden_retries = refused_retries = 0
        last: Retryable | None = None
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(Retryable),
            wait=self._wait,
            stop=stop_after_attempt(self.max_attempts) | stop_after_delay(self.give_up_after),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    attempt_no += 1
                    if attempt_no > 1:
                        self._count(stats, "retries")
                    try:
                        result = await self._with_rate_limit(path, params, stats, parse, urgent)
                    except _Forbidden as exc:
                        forbidden_retries += 1
                        if forbidden_retries > INTERMITTENT_403_RETRIES:
                            raise ApiError(exc.final_message) from None
                        raise Retryable("403 on a key that worked") from None
                    except _Refused as exc:
                        refused_retries += 1
                        if refused_retries > FIRST_403_RETRIES:
                            raise KeyRefused(str(exc)) from None
                        raise Retryable("403 on the first request") from None
                    except NotJson as exc:
                        if isinstance(last, NotJson):  # twice the same: the data, not the line
                            raise ApiError(exc.final_message) from None
                        last = exc
                        raise
                    except Retryable as exc:
                        last = exc
                        if isinstance(exc, NoAnswer) and attempt_no < self.max_attempts:
                            log.warning("no answer from %s in %g s, retrying %d/%d", self.account.host,
                                        self.timeout, attempt_no + 1, self.max_attempts)
                        raise
        except Retryable:
            reason = str(last) if last else "unknown"
            hint = ("the server takes requests but does not answer: check the API URL, or try again later"
                    if isinstance(last, NoAnswer) else "the account may be overloaded, try again later")
            raise ApiError(f"{self._base}{path}: gave up after {attempt_no} attempts (last: {reason}); "
                           f"{hint}") from None
        return result

    def _transport_failure(self, exc: BaseException) -> Exception:
        """No HTTP answer: a wrong URL (said at once) or a passing fault (retried)."""
        if _is_dns_failure(exc):
            return NotActiveCampaign(f"cannot resolve {self.account.host}: check the API URL "
                                     "(Settings > Developer in ActiveCampaign)")
        if isinstance(exc, TimeoutError):
            return NoAnswer(f"no answer within {self.timeout:g} s")
        if isinstance(exc, aiohttp.ClientConnectorCertificateError):
            return NotActiveCampaign(f"{self.account.url}'s TLS certificate is not trusted ({exc.certificate_error}): "
                                     "behind a company proxy, set SSL_CERT_FILE to its CA bundle")
        if isinstance(exc, aiohttp.ClientConnectorError) and not self._key_worked:
            if self._proxy:  # named without the credentials it may hold
                parts = urllib.parse.urlsplit(self._proxy)
                proxy = f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")
                return NotActiveCampaign(f"cannot connect to {self.account.url} through the proxy {proxy} "
                                         f"({type(exc).__name__}): check HTTPS_PROXY, HTTP_PROXY and NO_PROXY")
            return NotActiveCampaign(f"cannot connect to {self.account.url} ({type(exc).__name__}): "
                                     "check the API URL")
        return Retryable(f"connection error ({type(exc).__name__})")

    def _wait(self, retry_state: Any) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        if isinstance(exc, Retryable) and exc.retry_after is not None:
            return exc.retry_after
        backoff = wait_random_exponential(multiplier=0.5, max=self.backoff_max)
        return float(backoff(retry_state))

    def _count(self, stats: RequestStats | None, name: str) -> None:
        for s in (self.stats, stats):
            if s is not None:
                setattr(s, name, getattr(s, name) + 1)

    async def _with_rate_limit(self, path: str, params: dict[str, Any] | None,
                               stats: RequestStats | None, parse: Callable[[bytes], T], urgent: bool = False) -> T:
        # a connection first, then the time slot: a request must not take its slot and then
        # wait for a connection, or it reaches the server later than the limiter counted; urgent
        # requests have connections of their own, so pages fetched ahead cannot hold them back
        async with self._urgent_connections if urgent else self._connections:
            slot = await self.limiter.acquire(urgent=urgent)
            self._count(stats, "requests")
            return await self._send(path, params, stats, parse, slot)

    async def _send(self, path: str, params: dict[str, Any] | None,
                    stats: RequestStats | None, parse: Callable[[bytes], T], slot: Any = None) -> T:
        assert self._http is not None, "use `async with Client(...)`"
        where = self._base + path
        started = time.monotonic()
        try:
            async with self._http.get(where, params=params, allow_redirects=False, proxy=self._proxy,
                                      trace_request_ctx=slot) as response:
                status, headers = response.status, response.headers
                body = await response.read()
        except (TimeoutError, aiohttp.ClientError) as exc:
            log.debug("GET %s %s -> %s", path, params or "", type(exc).__name__)
            raise self._transport_failure(exc) from None
        log.debug("GET %s %s -> %s in %.0f ms", path, params or "", status,
                  (time.monotonic() - started) * 1000)
        if status == 429 or (status == 503 and "retry-after" in headers):
            wait = _retry_after(headers.get("retry-after"))
            self._count(stats, "rate_limited")
            self.limiter.pause(wait if wait is not None else 1.0)
            raise Retryable(f"{status} too many requests", retry_after=wait)
        if status >= 500:
            raise Retryable(f"server error {status}")
        if 300 <= status < 400:
            target = headers.get("location", "elsewhere")
            raise NotActiveCampaign(
                f"{where} redirected to {target}: this is not the API URL "
                "(copy it from Settings > Developer in ActiveCampaign)"
            )
        if status in (401, 403):
            message = _api_message(body)
            if not self._key_worked:  # a 403 is not always the key (reference 8.10): its words, if any
                said = f" ActiveCampaign said: {message[:200]}" if message and message != "Forbidden" else ""
                raise _Refused(
                    f"ActiveCampaign refused the API key for {self.account.url} ({status}). "
                    f"Check ACTIVECAMPAIGN_API_KEY or --api-key.{said}"
                )
            raise _Forbidden(
                f"{where}: ActiveCampaign answered {status}"
                + (f" ({message})" if message else "")
                + "; the key's user may lack permission: use an admin user's key"
            )
        if status == 404 and not self._key_worked:
            raise NotActiveCampaign(
                f"{self.account.url} is not an ActiveCampaign API URL: /api/3/{path} answered 404 "
                "(copy the URL from Settings > Developer in ActiveCampaign)"
            )
        if status >= 400:
            message = _api_message(body)
            raise ApiError(f"{where}: ActiveCampaign answered {status}"
                           + (f" ({message})" if message else ""))
        if not body:
            raise Retryable("empty body")
        try:
            data = parse(body)
        except ValueError as exc:  # orjson's and simdjson's errors both are ValueErrors
            if not self._key_worked and body.lstrip()[:1] == b"<":
                raise NotActiveCampaign(
                    f"{where} answered with a web page, not JSON: this is not the API URL "
                    "(copy it from Settings > Developer in ActiveCampaign)"
                ) from None
            what = _not_json(body)
            if what is not None:
                raise NotJson(what, f"{where}: the server sent {what}, which is not valid JSON; asked twice, "
                                    "the same came back: report it to ActiveCampaign support") from None
            raise Retryable(f"truncated or invalid JSON ({str(exc)[:60]})") from None
        self._key_worked = True
        return data


def _sent_trace(limiter: RateLimiter) -> list[aiohttp.TraceConfig]:
    """A limiter that times its slots by when the request was written (workers' Redis limiter: a
    worker's busy event loop may write it tens of ms after the slot) is told so; others pay nothing."""
    sent = getattr(limiter, "sent", None)
    if sent is None:
        return []

    async def on_headers_sent(session: Any, context: Any, params: Any) -> None:
        if context.trace_request_ctx is not None:
            sent(context.trace_request_ctx)

    trace = aiohttp.TraceConfig()
    trace.on_request_headers_sent.append(on_headers_sent)
    return [trace]


class _Refused(Exception):
    """A 401/403 before the key has worked: asked once more (it can be passing), then KeyRefused."""


class _Forbidden(Exception):
    """A 403 after the key has worked: retried a few times, then final."""

    def __init__(self, final_message: str) -> None:
        super().__init__(final_message)
        self.final_message = final_message
