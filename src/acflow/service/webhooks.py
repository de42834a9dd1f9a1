"""Alert webhooks: a JSON POST signed as the Standard Webhooks spec says (standardwebhooks, the spec's
reference library): headers webhook-id, webhook-timestamp and webhook-signature (HMAC-SHA256 over
`id.timestamp.body`), so a receiver verifies with `Webhook(secret).verify(body, headers)` in any language.

One attempt here; retries, their time bound and the queue are alerts.py's. The HTTP client is the
stdlib's urllib: the Notifier sends from plain threads, where a blocking POST with a socket timeout is
all an alert needs; aiohttp would bring an event loop and a session to make and close in each thread.
Redirects are not followed (urllib would turn the POST into a GET without its body).

A webhook URL often carries a token (in its path or query), so no text here shows more than its host.
"""

from __future__ import annotations

import base64
import binascii
import http.client
import json
import os
import re
import ssl
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from .. import __version__
from ..errors import ConfigError
from .alerts import AttemptFailed, Event, Kind, WebhookSpec, check_url, hide_secrets, unreached

MAKE_SECRET = "export {var}=whsec_$(openssl rand -base64 32)"
_BASE64 = re.compile(r"^[A-Za-z0-9+/]+={0,2}$")
HEADLINES: dict[str, str] = {"failure": "failed", "recovered": "recovered", "success": "succeeded"}


def origin(url: str) -> str:
    """scheme://host[:port]: how a webhook is named in any text (its path and query may hold a token)."""
    parts = urlsplit(url.strip())
    host = parts.hostname or "?"
    host = f"[{host}]" if ":" in host else host
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{host}{port}"


@dataclass(frozen=True)
class Target:
    """A webhook resolved from acflow.yaml and the environment. Its URL and secret stay out of its repr."""

    url: str = field(repr=False)
    secret: str | None = field(default=None, repr=False)
    name: str | None = None
    timeout: float = 10.0

    @property
    def shown(self) -> str:
        return f"{self.name} ({origin(self.url)})" if self.name else origin(self.url)


def check_secret(secret: str, var: str) -> None:
    """A Standard Webhooks secret: whsec_ and base64 of 16 bytes or more. The value is never quoted."""
    raw = secret.strip().removeprefix("whsec_")
    try:
        key = base64.b64decode(raw + "==") if _BASE64.match(raw) else b""
    except binascii.Error:
        key = b""
    if len(key) < 16:
        raise ConfigError(f"{var} does not hold a Standard Webhooks secret (whsec_ and base64 of at least 16 "
                          f"random bytes): make one with {MAKE_SECRET.format(var=var)}, and give the receiver "
                          "the same value")


def target(spec: WebhookSpec, env: Mapping[str, str] | None = None) -> Target:
    """The webhook's URL and secret read from the environment now; ConfigError naming what to set."""
    env = os.environ if env is None else env
    url = spec.url
    if spec.url_env is not None:
        url = env.get(spec.url_env)
        if not url:
            raise ConfigError(f"alerts.webhook: environment variable {spec.url_env} is not set: "
                              f"export {spec.url_env}=https://... (the receiver's URL)")
        try:
            check_url(url)
        except ValueError as exc:
            raise ConfigError(f"alerts.webhook: {spec.url_env}: {exc}") from None
    secret = None
    if spec.secret_env is not None:
        secret = env.get(spec.secret_env)
        if not secret:
            raise ConfigError(f"alerts.webhook: environment variable {spec.secret_env} is not set: "
                              f"{MAKE_SECRET.format(var=spec.secret_env)}, and give the receiver the same value")
        check_secret(secret, spec.secret_env)
    return Target(url=(url or "").strip(), secret=secret.strip() if secret else None, name=spec.name,
                  timeout=spec.timeout)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def payload(event: Event, kind: Kind) -> dict[str, Any]:
    """The JSON an alert POSTs: the run's figures, `kind` (which of on:'s words it is) and a one-line
    `text` (what chat receivers such as Slack or Mattermost show)."""
    error = hide_secrets(event.error) if event.error else None
    text = f"acflow: flow {event.flow} {HEADLINES[kind]}" + (f": {error[:300]}" if error and kind == "failure" else "")
    return {"flow": event.flow, "run_id": event.run_id, "kind": kind, "status": event.status,
            "previous_status": event.previous_status, "trigger": event.trigger, "error": error,
            "scheduled": _iso(event.scheduled), "started": _iso(event.started), "ended": _iso(event.ended),
            "rows_read": dict(event.rows_read),
            "rows_written": {hide_secrets(k): v for k, v in event.rows_written.items()},
            "requests": event.requests, "rate_limited": event.rate_limited, "link": event.link, "text": text}


def body(event: Event, kind: Kind) -> bytes:
    return json.dumps(payload(event, kind), ensure_ascii=False, separators=(",", ":")).encode()


def message_id(event: Event, kind: Kind) -> str:
    """The same for every attempt at one alert, so a receiver can drop a retry it already took."""
    return f"msg_{re.sub(r'[^A-Za-z0-9_.-]', '_', event.run_id)}_{kind}"


def headers(secret: str | None, msg_id: str, data: bytes, now: datetime | None = None) -> dict[str, str]:
    """The Standard Webhooks headers for one attempt (a fresh timestamp and signature each time)."""
    now = now or datetime.now(UTC)
    out = {"content-type": "application/json", "user-agent": f"acflow/{__version__} (alerts)",
           "webhook-id": msg_id, "webhook-timestamp": str(int(now.timestamp()))}
    if secret:
        from standardwebhooks import Webhook

        out["webhook-signature"] = Webhook(secret).sign(msg_id, now, data.decode())
    return out


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # the 3xx then comes back as an HTTPError


def _opener() -> urllib.request.OpenerDirector:
    from ..client import tls_context  # SSL_CERT_FILE / SSL_CERT_DIR honoured, as for ActiveCampaign

    return urllib.request.build_opener(_NoRedirect, urllib.request.HTTPSHandler(context=tls_context()))


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None  # an HTTP date: the exponential wait stands


def post(target: Target, data: bytes, msg_id: str, timeout: float = 10.0) -> str:
    """One signed POST. Returns `HTTP 200`; raises AttemptFailed (retriable on a connection error, a
    timeout, 408, 429 and 5xx; not on another 4xx or a redirect)."""
    request = urllib.request.Request(target.url, data=data, method="POST",
                                     headers=headers(target.secret, msg_id, data))
    failed = None
    try:
        with _opener().open(request, timeout=timeout) as response:
            return f"HTTP {response.status}"
    except urllib.error.HTTPError as exc:
        code, wait = exc.code, _retry_after(exc.headers.get("Retry-After") if exc.headers else None)
        exc.close()
        if 300 <= code < 400:
            failed = AttemptFailed(f"HTTP {code}: a redirect (not followed): write the URL it points to", False)
        else:
            failed = AttemptFailed(f"HTTP {code}", code in (408, 429) or code >= 500, wait)
    except urllib.error.URLError as exc:
        failed = AttemptFailed(_why(exc.reason, timeout), _retriable(exc.reason))
    except (OSError, http.client.HTTPException) as exc:
        failed = AttemptFailed(_why(exc, timeout), _retriable(exc))
    raise failed  # outside the handler: urllib's exception (it holds the URL) is not even its __context__

def _retriable(reason: object) -> bool:
    return not isinstance(reason, ssl.SSLError | str)


def _why(reason: object, timeout: float) -> str:
    if isinstance(reason, http.client.RemoteDisconnected):
        return "the receiver closed the connection without an answer"
    return unreached(reason, timeout)
