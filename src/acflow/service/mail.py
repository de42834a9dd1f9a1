"""E-mail by the stdlib's smtplib and email.message: the alert after a run, and `send_email` for anything
else that mails (the scheduled report: an HTML attachment and inline PNG charts).

Named mail.py, not email.py, so no reader wonders which `email` an import means. The SMTP password
lives in MailSettings (kept out of its repr) and is sent only in smtplib's AUTH command; every error
line is built here from the failure's kind and code, and scrubbed of the password and its base64
forms besides, so a server that echoes what it was sent cannot put it in a log.
"""

from __future__ import annotations

import base64
import html as html_lib
import os
import smtplib
import ssl
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from email.message import EmailMessage
from email.utils import formatdate, getaddresses, make_msgid, parseaddr

from ..account import is_loopback
from ..errors import ConfigError
from .alerts import AttemptFailed, EmailSpec, Event, Kind, Security, check_address, hide_secrets, unreached

ENV = {"host": "ACFLOW_SMTP_HOST", "port": "ACFLOW_SMTP_PORT", "user": "ACFLOW_SMTP_USER",
       "password": "ACFLOW_SMTP_PASSWORD", "from": "ACFLOW_SMTP_FROM", "security": "ACFLOW_SMTP_SECURITY"}
PORTS: dict[str, int] = {"ssl": 465, "starttls": 587, "none": 25}
SUBJECTS: dict[str, str] = {"failure": "failed", "recovered": "recovered", "success": "succeeded"}


@dataclass(frozen=True)
class MailSettings:
    """Where and as whom to send, resolved from acflow.yaml and the environment. Never printed whole:
    the password is left out of the repr."""

    host: str
    port: int
    security: Security
    sender: str
    to: tuple[str, ...] = ()
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 10.0  # seconds per SMTP command


def settings(spec: EmailSpec | None, env: Mapping[str, str] | None = None, *, require_to: bool = True
             ) -> MailSettings:
    """The SMTP settings: acflow.yaml's where written, else ACFLOW_SMTP_*; the password only ever from the
    environment. Raises ConfigError naming what to set."""
    env = os.environ if env is None else env
    spec = spec or EmailSpec()
    smtp = spec.smtp
    where = "alerts.email"

    def pick(value: object, key: str) -> str | None:
        if value is not None:
            return str(value)
        return env.get(ENV[key]) or None

    host = pick(smtp and smtp.host, "host")
    if not host:
        raise ConfigError(f"{where}: no SMTP server: write smtp: {{host: smtp.example.com}} or set {ENV['host']}")
    raw_security = pick(smtp and smtp.security, "security")
    if raw_security is not None and raw_security not in PORTS:
        raise ConfigError(f"{ENV['security']}={raw_security[:20]!r} is not a security: write starttls, ssl or none")
    raw_port = pick(smtp and smtp.port, "port")
    try:
        port = int(raw_port) if raw_port else None
    except ValueError:
        port = 0
    if port is not None and not 0 < port < 65536:
        raise ConfigError(f"{ENV['port']}={str(raw_port)[:20]!r} is not a port: write a number like 587")
    security: Security = raw_security or ("ssl" if port == 465 else "starttls")  # type: ignore[assignment]
    port = port or PORTS[security]
    sender = pick(spec.from_, "from")
    if not sender:
        raise ConfigError(f"{where}: no sender: write from: acflow@example.com or set {ENV['from']}")
    try:
        check_address(sender)
    except ValueError as exc:
        raise ConfigError(f"{ENV['from']}: {exc}") from None
    if require_to and not spec.to:
        raise ConfigError(f"{where}: no recipient: write to: [ops@example.com]")
    user = pick(smtp and smtp.user, "user")
    password_var = (smtp and smtp.password_env) or ENV["password"]
    password = env.get(password_var) or None
    if user and password is None:
        raise ConfigError(f"{where}.smtp: the user {user!r} needs a password: set {password_var}")
    if user and security == "none" and not is_loopback(host):
        raise ConfigError(f"{where}.smtp: security: none would send the SMTP password unencrypted to {host}: "
                          "write security: starttls (port 587) or ssl (port 465)")
    timeout = (smtp.timeout if smtp and smtp.timeout else None) or 10.0
    return MailSettings(host=host, port=port, security=security, sender=sender, to=tuple(spec.to or ()),
                        user=user if user else None, password=password if user else None, timeout=timeout)


# --- messages ------------------------------------------------------------------------------------------

def build(mail: MailSettings, subject: str, text: str, html: str | None = None,
          attachments: Iterable[tuple[str, bytes | str, str]] = (),
          inline_images: Iterable[tuple[str, bytes]] = (), to: Sequence[str] | None = None) -> EmailMessage:
    """A message: the text, an HTML alternative (its inline PNGs referenced as <img src="cid:NAME">), and
    attachments as (file name, content, MIME type)."""
    recipients = list(to if to is not None else mail.to)
    if not recipients:
        raise ConfigError("an e-mail needs at least one recipient")
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = mail.sender
    msg["To"] = ", ".join(recipients)
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(domain=parseaddr(mail.sender)[1].rpartition("@")[2] or "acflow.invalid")
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: out-of-office replies stay away
    msg.set_content(text)
    images = list(inline_images)
    if images and html is None:
        raise ValueError("inline images need an HTML body to show them")
    if html is not None:
        msg.add_alternative(html, subtype="html")
        part = msg.get_payload()[-1]
        for cid, png in images:
            part.add_related(png, maintype="image", subtype="png", cid=f"<{cid}>", filename=f"{cid}.png",
                             disposition="inline")
    for name, data, mime in attachments:
        maintype, _, subtype = mime.partition("/")
        content = data.encode() if isinstance(data, str) else data
        msg.add_attachment(content, maintype=maintype, subtype=subtype or "octet-stream", filename=name)
    return msg


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S %Z").strip() if moment is not None else "-"


def _took(event: Event) -> str:
    if event.started is None or event.ended is None:
        return ""
    seconds = max(0, round((event.ended - event.started).total_seconds()))
    minutes, seconds = divmod(seconds, 60)
    return f" (took {minutes} min {seconds} s)" if minutes else f" (took {seconds} s)"


def _counts(counts: Mapping[str, int], written: bool = False) -> str:
    if written:
        return ", ".join(f"{v:,} to {hide_secrets(k)}" for k, v in counts.items()) or "none"
    return ", ".join(f"{k} {v:,}" for k, v in counts.items()) or "none"


def figures(event: Event) -> list[tuple[str, str]]:
    """The run in label/value rows, for the text and the HTML alike."""
    rows = [("Flow", event.flow), ("Status", event.status), ("Run", f"{event.run_id} (trigger: {event.trigger})")]
    if event.scheduled is not None:
        rows.append(("Scheduled", _when(event.scheduled)))
    rows += [("Started", _when(event.started)), ("Ended", _when(event.ended) + _took(event))]
    if event.error:
        rows.append(("Error", event.error))
    rows += [("Rows read", _counts(event.rows_read)), ("Rows written", _counts(event.rows_written, written=True)),
             ("Requests", f"{event.requests:,} ({event.rate_limited:,} answered 429)"),
             ("Previous run", event.previous_status or "none")]
    if event.link:
        rows.append(("Details", event.link))
    return rows


def alert_message(mail: MailSettings, event: Event, kind: Kind) -> EmailMessage:
    """`acflow: flow deals failed`, its figures as text and as a small HTML table."""
    event = replace(event, error=hide_secrets(event.error) if event.error else None)
    headline = f"flow {event.flow} {SUBJECTS[kind]}"
    rows = figures(event)
    width = max(len(label) for label, _ in rows) + 1
    text = f"acflow: {headline}.\n\n" + "\n".join(f"{label + ':':<{width}} {value}" for label, value in rows)
    text += "\n\nSent by acflow serve (alerts: in acflow.yaml says who gets which).\n"
    esc = html_lib.escape
    cells = "\n".join(
        f'<tr><th align="left" style="padding:2px 12px 2px 0">{esc(label)}</th>'
        f'<td style="padding:2px 0{";color:#b00020" if label == "Error" else ""}">'
        + (f'<a href="{esc(value)}">{esc(value)}</a>' if label == "Details" else esc(value)) + "</td></tr>"
        for label, value in rows)
    colour = {"failure": "#b00020", "recovered": "#1b7f3b", "success": "#1b7f3b"}[kind]
    html = (f'<!doctype html><html><body style="font-family:sans-serif;font-size:14px">'
            f'<p style="font-size:16px;color:{colour}"><b>acflow: {esc(headline)}</b></p>'
            f"<table>{cells}</table>"
            f'<p style="color:#666;font-size:12px">Sent by acflow serve (alerts: in acflow.yaml).</p></body></html>')
    return build(mail, f"acflow: {headline}", text, html)


# --- sending -------------------------------------------------------------------------------------------

def send_email(mail: MailSettings, subject: str, text: str, html: str | None = None,
               attachments: Iterable[tuple[str, bytes | str, str]] = (),
               inline_images: Iterable[tuple[str, bytes]] = (), to: Sequence[str] | None = None,
               timeout: float | None = None) -> str:
    """Build and send one e-mail now (one attempt); returns what the server said. Raises AttemptFailed,
    one line without the password, `retriable` when trying again later may help."""
    return deliver(mail, build(mail, subject, text, html, attachments, inline_images, to), timeout=timeout)


def deliver(mail: MailSettings, message: EmailMessage, timeout: float | None = None) -> str:
    """One SMTP session: connect (TLS as `security` says), log in if a user is set, send."""
    timeout = min(timeout, mail.timeout) if timeout else mail.timeout
    recipients = [addr for _, addr in getaddresses(message.get_all("To", []))]
    failed = None
    try:
        context = _tls()
        if mail.security == "ssl":
            server: smtplib.SMTP = smtplib.SMTP_SSL(mail.host, mail.port, timeout=timeout, context=context)
        else:
            server = smtplib.SMTP(mail.host, mail.port, timeout=timeout)
        with server:
            server.ehlo()
            if mail.security == "starttls":
                server.starttls(context=context)
                server.ehlo()
            if mail.user:
                server.login(mail.user, mail.password or "")
            refused = server.send_message(message, from_addr=parseaddr(mail.sender)[1], to_addrs=recipients)
    except Exception as exc:
        failed = AttemptFailed(_scrub(f"SMTP {mail.host}:{mail.port}: {_why(exc, mail, timeout)}", mail),
                               _retriable(exc))
    if failed is not None:
        raise failed  # outside the handler: smtplib's exception is not even its __context__
    said = f"SMTP {mail.host}:{mail.port} accepted it for"
    if refused:
        return f"{said} {len(recipients) - len(refused)} of {len(recipients)} recipients " \
               f"(refused: {', '.join(sorted(refused))})"
    return f"{said} {len(recipients)} recipient{'s' if len(recipients) > 1 else ''}"


def _tls() -> ssl.SSLContext:
    from ..client import tls_context  # SSL_CERT_FILE / SSL_CERT_DIR honoured, as for ActiveCampaign

    return tls_context()


def _retriable(exc: BaseException) -> bool:
    """Trying later may help: the connection failed or the server said 4xx (busy, greylisting)."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(400 <= code < 500 for code, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500
    if isinstance(exc, smtplib.SMTPNotSupportedError | ssl.SSLError):
        return False
    return isinstance(exc, smtplib.SMTPServerDisconnected | OSError)


def _said(code: int, message: bytes | str) -> str:
    text = message.decode(errors="replace") if isinstance(message, bytes) else str(message)
    first = text.splitlines()[0] if text else ""
    return f"{code} {first[:120]}".strip()


def _why(exc: BaseException, mail: MailSettings, timeout: float) -> str:
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return f"the server refused the user name or password ({_said(exc.smtp_code, exc.smtp_error)})"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "recipients refused: " + ", ".join(f"{a} ({_said(c, m)})" for a, (c, m) in exc.recipients.items())
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return f"the sender {exc.sender} was refused ({_said(exc.smtp_code, exc.smtp_error)})"
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"the server answered {_said(exc.smtp_code, exc.smtp_error)}"
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        if "STARTTLS" in str(exc):
            return "the server offers no STARTTLS: write security: ssl (port 465), or none for a local relay"
        return "the server offers no login (AUTH) on this connection: most offer it only after STARTTLS or on ssl"
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return "the server closed the connection"
    return unreached(exc, timeout, tls=": check security: ssl is for port 465, starttls for 587")


def _scrub(text: str, mail: MailSettings) -> str:
    """The text with the password, and the base64 forms AUTH sends it in, replaced by ***."""
    secret = mail.password
    if not secret:
        return text
    user = mail.user or ""
    forms = {secret, base64.b64encode(secret.encode()).decode(),
             base64.b64encode(f"\0{user}\0{secret}".encode()).decode()}
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, "***")
    return text
