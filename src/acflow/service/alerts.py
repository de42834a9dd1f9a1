"""Alerts after a run: which runs notify whom (`alerts:` in acflow.yaml), and a Notifier that delivers
them in the background, so a dead or slow receiver never blocks or fails a run.

    alerts:                       # top level: every flow's default
      on: [failure, recovered]    # also: success
      email: {to: [ops@example.com], from: acflow@example.com, smtp: {host: smtp.example.com}}
      webhook: {url: https://hooks.example.com/acflow, secret_env: ACFLOW_WEBHOOK_SECRET}
    flows:
      deals:
        alerts: {email: {to: [sales@example.com]}}   # replaces `to`, keeps the rest; webhooks add up

Transports: smtplib (mail.py) and a Standard Webhooks signed POST (webhooks.py), not apprise: apprise's
hundred services are one-line chat texts without a signature a receiver can check, and its e-mail
plugin takes the password inside a URL (so it lands wherever the URL is shown). Two stdlib transports
and the spec's reference signer keep the password out of every text and let any receiver verify.

Only pydantic and the stdlib are imported here, so config.py can hold these models cheaply; the
transports load when the first alert is delivered.
"""

from __future__ import annotations

import logging
import os
import queue
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parseaddr
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..errors import AcflowError, ConfigError

log = logging.getLogger("acflow.service.alerts")

Kind = Literal["failure", "recovered", "success"]
Security = Literal["starttls", "ssl", "none"]
DEFAULT_ON: tuple[Kind, ...] = ("failure", "recovered")
ENV_VAR = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ADDRESS = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _on_key(cls, data: Any) -> Any:
        """YAML 1.1 reads a bare `on:` key as true."""
        if isinstance(data, dict) and True in data and "on" in cls.model_fields:
            data = {("on" if k is True else k): v for k, v in data.items()}
        return data


def _one_or_many(value: Any) -> Any:
    return [value] if isinstance(value, str | dict) else value


def _env_name(value: str | None) -> str | None:
    if value is not None and not ENV_VAR.match(value):
        raise ValueError("write an environment variable's name here (like ACFLOW_SMTP_PASSWORD), "
                         "never the secret itself (not shown)")
    return value


def _masked(data: Any, secrets: tuple[str, ...], names: tuple[str, ...]) -> Any:
    """The raw mapping with a secret written in the YAML (or one put where a variable's name goes) replaced
    by ***, before any validator sees it: pydantic's errors carry each refused input."""
    if not isinstance(data, dict):
        return data
    out = dict(data)
    for key in secrets:
        if out.get(key) is not None:
            out[key] = "***"
    for key in names:
        if isinstance(out.get(key), str) and not ENV_VAR.match(out[key]):
            out[key] = "***"
    return out


def _refuse(value: Any, instead: str) -> Any:
    if value is not None:
        raise ValueError(instead)
    return value


class SmtpSpec(_Strict):
    """The SMTP server. Each setting left out comes from ACFLOW_SMTP_HOST, _PORT, _USER, _SECURITY;
    the password only ever from the environment (password_env, else ACFLOW_SMTP_PASSWORD)."""

    host: str | None = None
    port: int | None = Field(None, ge=1, le=65535)
    user: str | None = None
    password_env: str | None = None
    security: Security | None = None  # default: ssl on port 465, else starttls
    timeout: float | None = Field(None, gt=0, le=120)  # seconds per SMTP command
    password: Any = Field(None, exclude=True, repr=False)  # refused: the field exists to say so on its line

    @model_validator(mode="before")
    @classmethod
    def _mask(cls, data: Any) -> Any:
        return _masked(data, ("password",), ("password_env",))

    @field_validator("password")
    @classmethod
    def _no_password(cls, value: Any) -> Any:
        return _refuse(value, "a password is never written in acflow.yaml: write password_env: VARIABLE "
                       "(the environment variable that holds it), or set ACFLOW_SMTP_PASSWORD")

    @field_validator("password_env")
    @classmethod
    def _env(cls, value: str | None) -> str | None:
        return _env_name(value)

    @field_validator("host")
    @classmethod
    def _host(cls, value: str | None) -> str | None:
        if value is not None and (not value.strip() or "://" in value or "/" in value or " " in value.strip()):
            raise ValueError(f"SMTP host {value[:60]!r} is not a host name: write it bare, like smtp.example.com "
                             "(the port and security have their own keys)")
        return value.strip() if value else value


def check_address(value: str) -> str:
    """An e-mail address, `Name <addr>` allowed; a line break (a header injected) never."""
    if "\n" in value or "\r" in value:
        raise ValueError("an e-mail address cannot hold a line break")
    _, addr = parseaddr(value)
    if not _ADDRESS.match(addr or ""):
        raise ValueError(f"{value[:80]!r} is not an e-mail address: write it like ops@example.com")
    return value.strip()


class EmailSpec(_Strict):
    to: list[str] | None = None
    from_: str | None = Field(None, alias="from")  # else ACFLOW_SMTP_FROM
    smtp: SmtpSpec | None = None
    on: list[Kind] | None = None  # this channel's own choice; default: the alerts' `on`

    @field_validator("to", mode="before")
    @classmethod
    def _to_list(cls, value: Any) -> Any:
        return _one_or_many(value)

    @field_validator("to")
    @classmethod
    def _addresses(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and not value:
            raise ValueError("name at least one recipient, like to: [ops@example.com]")
        return [check_address(a) for a in value] if value else value

    @field_validator("from_")
    @classmethod
    def _sender(cls, value: str | None) -> str | None:
        return check_address(value) if value is not None else value

    @field_validator("on", mode="before")
    @classmethod
    def _on_list(cls, value: Any) -> Any:
        return _one_or_many(value)


class WebhookSpec(_Strict):
    url: str | None = None
    url_env: str | None = None  # for a URL that is itself a secret (a token in its path or query)
    secret_env: str | None = None  # a Standard Webhooks secret (whsec_...): the POST is signed with it
    name: str | None = None  # how log lines name it (they show the URL's host only)
    timeout: float = Field(10.0, gt=0, le=120)  # seconds per attempt
    on: list[Kind] | None = None
    secret: Any = Field(None, exclude=True, repr=False)  # refused: the field exists to say so on its line

    @model_validator(mode="before")
    @classmethod
    def _mask(cls, data: Any) -> Any:
        return _masked(data, ("secret",), ("secret_env", "url_env"))

    @field_validator("secret")
    @classmethod
    def _no_secret(cls, value: Any) -> Any:
        return _refuse(value, "a secret is never written in acflow.yaml: write secret_env: VARIABLE "
                       "(the environment variable that holds the whsec_... secret)")

    @field_validator("url_env", "secret_env")
    @classmethod
    def _env(cls, value: str | None) -> str | None:
        return _env_name(value)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None:
            check_url(value)
        return value

    @field_validator("on", mode="before")
    @classmethod
    def _on_list(cls, value: Any) -> Any:
        return _one_or_many(value)

    @model_validator(mode="after")
    def _one_url(self) -> WebhookSpec:
        if (self.url is None) == (self.url_env is None):
            raise ValueError("write either url: https://... or url_env: VARIABLE (a URL holding a token), not both")
        return self


_SECRET_PARAM = re.compile(r"([?&;](?:[a-z_]*(?:password|passwd|pwd|token|secret|key|sig|signature|auth)[a-z_]*)=)"
                           r"[^&;#\s]*", re.IGNORECASE)


def unreached(exc: object, timeout: float, tls: str = "") -> str:
    """Why a receiver (an SMTP server, a webhook) was not reached, in words: one place for both.
    `tls` is added to a TLS failure's line (what to check for that kind of receiver)."""
    import socket
    import ssl

    if isinstance(exc, ssl.SSLCertVerificationError):
        return (f"its TLS certificate is not trusted ({exc.verify_message}): behind a company proxy, set "
                "SSL_CERT_FILE to its CA bundle")
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed ({exc.reason or type(exc).__name__}){tls}"
    if isinstance(exc, TimeoutError | socket.timeout):
        return f"no answer within {timeout:g} s"
    if isinstance(exc, socket.gaierror):
        return "the host name is not known"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionResetError):
        return "the receiver closed the connection without an answer"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return type(exc).__name__


def hide_secrets(text: str) -> str:
    """A run's error line or a destination's URI as an alert may show it: a URI's password, and query
    values named like a token, key or secret, replaced by ***."""
    from ..destinations.base import redact

    return _SECRET_PARAM.sub(r"\1***", redact(text))


def check_url(url: str) -> None:
    """A webhook URL: http(s) with a host. Never quoted whole in the message (it may hold a token)."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018  (raises on a port that cannot be)
    except ValueError:
        raise ValueError("the webhook URL has a port that cannot be: copy it from the receiver") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("the webhook URL is not an http(s) URL: write it like https://hooks.example.com/acflow")


class AlertsSpec(_Strict):
    """`alerts:` at the top of acflow.yaml (every flow's default) or in a flow (merged over it by `merge`).
    A flow's `alerts: off` turns its alerts off; `inherit: false` drops the top level's settings."""

    on: list[Kind] | None = None  # default: failure, recovered
    email: EmailSpec | None = None
    webhook: list[WebhookSpec] = Field(default_factory=list)
    inherit: bool = True
    enabled: bool = True

    @model_validator(mode="before")
    @classmethod
    def _off(cls, data: Any) -> Any:
        """`alerts: off` (YAML 1.1 reads a bare off as false)."""
        if data is False or data == "off":
            return {"enabled": False}
        if data is True or data == "on":
            return {}
        return data

    @field_validator("on", mode="before")
    @classmethod
    def _on_list(cls, value: Any) -> Any:
        return _one_or_many(value)

    @field_validator("webhook", mode="before")
    @classmethod
    def _webhooks(cls, value: Any) -> Any:
        return [] if value is None else _one_or_many(value)


# The models under each key, for config.py's "unknown field ... Did you mean" hints (its _model_at).
NESTED: dict[str, type[BaseModel]] = {"alerts": AlertsSpec, "email": EmailSpec, "smtp": SmtpSpec,
                                      "webhook": WebhookSpec}


def merge(default: AlertsSpec | None, flow: AlertsSpec | None) -> AlertsSpec:
    """A flow's alerts: the flow's own settings over the top level's. `on` and `email.to` replace the
    default's, the other e-mail and SMTP settings fill in one by one, and webhooks add up."""
    if flow is None:
        return default if default is not None else AlertsSpec()
    if not flow.enabled or not flow.inherit or default is None or not default.enabled:
        return flow
    email = default.email
    if flow.email is not None:
        email = flow.email if email is None else _over(email, flow.email)
        if default.email is not None and default.email.smtp is not None and flow.email.smtp is not None:
            email = email.model_copy(update={"smtp": _over(default.email.smtp, flow.email.smtp)})
    hooks = list(default.webhook)
    for hook in flow.webhook:
        if all((hook.url, hook.url_env) != (h.url, h.url_env) for h in hooks):
            hooks.append(hook)
    return AlertsSpec(on=flow.on if flow.on is not None else default.on, email=email, webhook=hooks)


M = TypeVar("M", bound=BaseModel)


def _over(base: M, top: M) -> M:
    return base.model_copy(update={k: v for k, v in top if v is not None})


# --- the run an alert is about ---------------------------------------------------------------------

Status = Literal["success", "failed", "skipped", "unchanged"]


@dataclass(frozen=True)
class Event:
    """A finished run, as an alert tells it. `previous_status` is the flow's last run before this one that
    was not skipped (a skipped run says nothing about whether the flow works)."""

    flow: str
    run_id: str
    status: Status
    previous_status: str | None = None
    trigger: str = "schedule"
    scheduled: datetime | None = None
    started: datetime | None = None
    ended: datetime | None = None
    error: str | None = None
    rows_read: Mapping[str, int] = field(default_factory=dict)  # entity -> rows
    rows_written: Mapping[str, int] = field(default_factory=dict)  # destination -> rows
    requests: int = 0
    rate_limited: int = 0  # 429 answers the run waited out
    link: str | None = None  # the run's page

    @classmethod
    def of(cls, run: Any, previous_status: str | None = None, link: str | None = None) -> Event:
        """From a run record with these fields by name (service/history.py's RunRecord)."""
        return cls(flow=run.flow, run_id=str(run.run_id), status=run.status, previous_status=previous_status,
                   trigger=run.trigger, scheduled=run.scheduled, started=run.started, ended=run.ended,
                   error=run.error, rows_read=dict(run.rows_read or {}), rows_written=dict(run.rows_written or {}),
                   requests=int(run.requests or 0), rate_limited=int(run.rate_limited or 0), link=link)


def kinds(event: Event) -> set[Kind]:
    """What the run was, in `on:`'s words: a failure; a success (an unchanged run is one: it ran fine and
    found nothing new), and a recovery too when the run before it failed. A skipped run is none."""
    if event.status == "failed":
        return {"failure"}
    if event.status in ("success", "unchanged"):
        return {"success", "recovered"} if event.previous_status == "failed" else {"success"}
    return set()


def kind_of(event: Event, wanted: Iterable[str]) -> Kind | None:
    """The one kind an alert about the event says (a recovery before a plain success), or None to stay silent."""
    found = kinds(event) & set(wanted)
    return next((k for k in ("failure", "recovered", "success") if k in found), None)  # type: ignore[return-value]


def channels(spec: AlertsSpec, event: Event) -> list[tuple[EmailSpec | WebhookSpec, Kind]]:
    """Each channel that should tell of the event, and the kind it tells."""
    if not spec.enabled:
        return []
    default = spec.on if spec.on is not None else DEFAULT_ON
    found: list[tuple[EmailSpec | WebhookSpec, Kind]] = []
    for channel in ([spec.email] if spec.email is not None else []) + list(spec.webhook):
        kind = kind_of(event, channel.on if channel.on is not None else default)
        if kind is not None:
            found.append((channel, kind))
    return found


def should_notify(spec: AlertsSpec, event: Event) -> bool:
    return bool(channels(spec, event))


def problems(spec: AlertsSpec, env: Mapping[str, str] | None = None) -> list[str]:
    """What keeps the alerts from being sent, one line each (an unset variable, an SMTP server not named),
    for `acflow serve` to say at start rather than at the first failure."""
    from . import mail, webhooks

    env = os.environ if env is None else env
    found = []
    if not spec.enabled:
        return found
    if spec.email is not None:
        try:
            mail.settings(spec.email, env)
        except ConfigError as exc:
            found.append(str(exc))
    for hook in spec.webhook:
        try:
            webhooks.target(hook, env)
        except ConfigError as exc:
            found.append(str(exc))
    return found


# --- delivery ------------------------------------------------------------------------------------------

class AttemptFailed(AcflowError):
    """One delivery attempt failed; `retriable` says whether another may succeed (a connection error, a 5xx,
    a 429) or not (a 4xx, a refused password). The message is one line without secrets."""

    def __init__(self, message: str, retriable: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retriable = retriable
        self.retry_after = retry_after
        self.attempts = 1


MIN_ATTEMPT = 1.0  # seconds an attempt is given at least; no attempt starts with less left


@dataclass
class Delivery:
    """One alert to one channel: chosen in the run's thread, built and sent in the Notifier's."""

    channel: EmailSpec | WebhookSpec
    event: Event
    kind: Kind
    started: float = float("inf")  # when a Notifier thread took it (its budget counts from then)

    def prepare(self, env: Mapping[str, str]) -> tuple[str, Callable[[float], str]]:
        """The channel as log lines show it, and one attempt (given its timeout; returns what it did).
        Raises ConfigError when the settings cannot be resolved (nothing to retry)."""
        from . import mail, webhooks

        if isinstance(self.channel, EmailSpec):
            settings = mail.settings(self.channel, env)
            message = mail.alert_message(settings, self.event, self.kind)
            return ("e-mail",
                    lambda timeout: mail.deliver(settings, message, timeout=timeout))
        target = webhooks.target(self.channel, env)
        body = webhooks.body(self.event, self.kind)
        msg_id = webhooks.message_id(self.event, self.kind)
        return (f"webhook {target.shown}",
                lambda timeout: webhooks.post(target, body, msg_id, timeout=min(timeout, target.timeout)))


def attempt_with_retries(attempt: Callable[[float], str], deadline: Callable[[], float], *,
                         backoff: float = 0.5, sleep: Callable[[float], Any] = time.sleep,
                         attempt_timeout: float = 10.0) -> tuple[str, int]:
    """`attempt` until it succeeds, fails for good or the deadline comes: exponential waits from `backoff`
    (a Retry-After longer than that honoured), each attempt's timeout cut to the time left.
    Returns (what the last attempt did, attempts made); raises the last AttemptFailed."""
    from tenacity import Retrying, retry_if_exception, wait_exponential

    exponential = wait_exponential(multiplier=backoff, max=30)
    attempts = 0

    def wait(state: Any) -> float:
        exc = state.outcome.exception() if state.outcome else None
        pause = max(exponential(state), min(getattr(exc, "retry_after", None) or 0.0, 60.0))
        return max(0.0, min(pause, deadline() - time.monotonic() - MIN_ATTEMPT))

    def stop(state: Any) -> bool:
        return deadline() - time.monotonic() < MIN_ATTEMPT

    retrying = Retrying(retry=retry_if_exception(lambda e: getattr(e, "retriable", False)), wait=wait, stop=stop,
                        sleep=sleep, reraise=True)
    result = ""
    try:
        for tried in retrying:
            with tried:
                attempts += 1
                left = deadline() - time.monotonic()
                result = attempt(max(0.1, min(attempt_timeout, left)))
    except AttemptFailed as exc:
        exc.attempts = attempts
        raise
    return result, attempts


def deliver(delivery: Delivery, deadline: Callable[[], float], *, env: Mapping[str, str] | None = None,
            backoff: float = 0.5, sleep: Callable[[float], Any] = time.sleep) -> str | None:
    """Send one alert now, retrying within the deadline. Returns None once delivered, else the one line
    logged about why not (no secret, no URL path or query: only the receiver's host)."""
    event = delivery.event
    about = f"{delivery.kind} alert for flow {event.flow} (run {event.run_id})"
    env = os.environ if env is None else env
    try:
        shown, attempt = delivery.prepare(env)
    except (ConfigError, ValueError) as exc:  # our own one-line messages, without secrets
        line = f"{about} not sent: {str(exc).splitlines()[0]}"
        log.warning(line)
        return line
    except Exception as exc:  # a bug: its type only (its text might hold anything)
        line = f"{about} not sent: unexpected {type(exc).__name__}"
        log.warning(line)
        return line
    timeout = delivery.channel.timeout if isinstance(delivery.channel, WebhookSpec) else 30.0
    started = time.monotonic()
    try:
        result, attempts = attempt_with_retries(attempt, deadline, backoff=backoff, sleep=sleep,
                                                attempt_timeout=timeout)
    except AttemptFailed as exc:
        tries = f"{exc.attempts} attempt{'s' if exc.attempts > 1 else ''} in {time.monotonic() - started:.0f} s"
        line = f"{about} not delivered by {shown}: {exc} ({tries})"
        log.warning(line)
        return line
    except Exception as exc:  # a bug must not kill the Notifier's thread; its type only (no text, no secret)
        line = f"{about} not delivered by {shown}: unexpected {type(exc).__name__}"
        log.warning(line)
        return line
    log.info("%s sent by %s: %s%s", about, shown, result, f" after {attempts} attempts" if attempts > 1 else "")
    return None


def notify(spec: AlertsSpec, event: Event, *, budget: float = 60.0, backoff: float = 0.5,
           env: Mapping[str, str] | None = None) -> list[str]:
    """Send the event's alerts now, in this thread, one after another (a command's "send a test alert";
    the service uses the Notifier). Returns the lines about those not delivered."""
    lines = []
    for channel, kind in channels(spec, event):
        end = time.monotonic() + budget
        lines.append(deliver(Delivery(channel, event, kind), lambda end=end: end, env=env, backoff=backoff))
    return [line for line in lines if line is not None]


class Notifier:
    """Alerts delivered by a few background threads from a bounded queue: `submit` returns at once, a
    delivery gets at most `budget` seconds of attempts and waits, and `close(timeout)` delivers what it
    can within its timeout and abandons the rest (logged). Threads are daemons: a receiver that holds
    a socket open never keeps the process from exiting."""

    def __init__(self, *, workers: int = 2, max_queue: int = 100, budget: float = 60.0, backoff: float = 0.5,
                 env: Mapping[str, str] | None = None) -> None:
        self.max_queue = max_queue
        self.budget = budget
        self.backoff = backoff
        self.env = env
        self.undelivered = 0  # not delivered: dropped, failed or abandoned (for /health and the tests)
        self.delivered = 0
        self._queue: queue.Queue[Delivery | None] = queue.Queue()
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._wake = threading.Condition()
        self._close_at = float("inf")
        self._threads = [threading.Thread(target=self._work, name=f"acflow-alerts-{i}", daemon=True)
                         for i in range(workers)]
        for thread in self._threads:
            thread.start()

    def submit(self, spec: AlertsSpec | None, event: Event) -> int:
        """Queue the event's alerts (none if the spec does not ask for them); returns how many were queued.
        Never raises and never waits: a full queue drops the alert with one log line."""
        try:
            wanted = channels(spec, event) if spec is not None else []
        except Exception as exc:  # a bug here must not fail the run that is being reported
            log.warning("alerts for flow %s (run %s) skipped: unexpected %s", event.flow, event.run_id,
                        type(exc).__name__)
            return 0
        queued = 0
        for channel, kind in wanted:
            with self._lock:
                if self._closing.is_set() or self._queue.qsize() >= self.max_queue:
                    why = "the service is stopping" if self._closing.is_set() else \
                        f"{self.max_queue} alerts are already waiting"
                    log.warning("%s alert for flow %s (run %s) dropped: %s", kind, event.flow, event.run_id, why)
                    self.undelivered += 1
                    continue
                self._queue.put(Delivery(channel, event, kind))
                queued += 1
        return queued

    def _deadline(self, delivery: Delivery) -> float:
        return min(delivery.started + self.budget, self._close_at)

    def _sleep(self, seconds: float) -> None:
        """A wait between attempts that `close` cuts short to its own deadline."""
        end = time.monotonic() + seconds
        with self._wake:
            self._wake.wait_for(lambda: time.monotonic() >= min(end, self._close_at - MIN_ATTEMPT), timeout=seconds)

    def _work(self) -> None:
        while True:
            delivery = self._queue.get()
            if delivery is None:
                return
            if time.monotonic() >= self._close_at - MIN_ATTEMPT:
                with self._lock:
                    self.undelivered += 1
                log.warning("%s alert for flow %s (run %s) not delivered: the service stopped first",
                            delivery.kind, delivery.event.flow, delivery.event.run_id)
                continue
            delivery.started = time.monotonic()
            try:
                failed = deliver(delivery, lambda d=delivery: self._deadline(d), env=self.env,
                                 backoff=self.backoff, sleep=self._sleep)
            except Exception as exc:  # deliver() logs its own failures; this thread must outlive a bug too
                failed = f"unexpected {type(exc).__name__}"
                log.warning("%s alert for flow %s not delivered: %s", delivery.kind, delivery.event.flow, failed)
            with self._lock:
                if failed is None:
                    self.delivered += 1
                else:
                    self.undelivered += 1

    def close(self, timeout: float = 10.0) -> int:
        """Stop taking alerts, deliver those queued within `timeout` seconds, abandon the rest.
        Returns how many alerts were not delivered over the Notifier's life."""
        with self._lock:
            if not self._closing.is_set():
                self._close_at = time.monotonic() + timeout
                self._closing.set()
                for _ in self._threads:
                    self._queue.put(None)
        with self._wake:
            self._wake.notify_all()
        for thread in self._threads:
            thread.join(max(0.0, self._close_at - time.monotonic()))
        left = sum(1 for item in list(self._queue.queue) if item is not None)
        if left:
            log.warning("%d alert%s not delivered: the service stopped first", left, "s" if left > 1 else "")
        return self.undelivered + left

    def __enter__(self) -> Notifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
