"""Alerts: `alerts:` in acflow.yaml, which runs notify, and delivery to a real SMTP server (aiosmtpd) and a
real HTTP receiver that verifies the Standard Webhooks signature; retries, dead and hanging receivers,
and secrets kept out of every log record, exception and payload."""

from __future__ import annotations

import base64
import datetime as dt
import email
import email.policy
import http.server
import json
import logging
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from acflow.config import line_of
from acflow.errors import ConfigError
from acflow.service import mail, webhooks
from acflow.service.alerts import (
    AlertsSpec,
    AttemptFailed,
    Delivery,
    EmailSpec,
    Event,
    Notifier,
    channels,
    kinds,
    merge,
    notify,
    problems,
    should_notify,
)

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")  # the local relay's
PASSWORD = "pw-" + secrets.token_hex(8)
SECRET = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
URL_TOKEN = "tok" + secrets.token_hex(12)
UTC = dt.UTC
STARTED = dt.datetime(2025, 3, 4, 6, 0, 2, tzinfo=UTC)


def failed_event(**changes: Any) -> Event:
    values: dict[str, Any] = dict(
        flow="deals", run_id="r-42", status="failed", previous_status="success", trigger="schedule",
        scheduled=dt.datetime(2025, 3, 4, 6, 0, tzinfo=UTC), started=STARTED,
        ended=STARTED + dt.timedelta(seconds=75),
        error="deals: ActiveCampaign answered 500 on /api/3/deals after 5 attempts",
        rows_read={"deals": 1234, "contacts": 56}, rows_written={"postgresql://bi:hunter2@db/x?table=deals": 1234},
        requests=17, rate_limited=2, link="http://127.0.0.1:8780/runs/r-42")
    values.update(changes)
    return Event(**values)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- acflow.yaml's alerts: block ------------------------------------------------------------------------

def spec(text: str) -> AlertsSpec:
    return AlertsSpec.model_validate(yaml.safe_load(text))


def test_defaults_and_yaml_quirks() -> None:
    assert AlertsSpec().on is None and AlertsSpec().enabled
    # a bare `on:` key is YAML 1.1's true; a bare off is false
    parsed = spec("on: [failure, success]\nemail: {to: ops@example.com, on: failure}\n")
    assert parsed.on == ["failure", "success"]
    assert parsed.email is not None and parsed.email.to == ["ops@example.com"] and parsed.email.on == ["failure"]
    assert spec("off").enabled is False
    assert spec("webhook: {url: 'https://h.example.com/a'}").webhook[0].url == "https://h.example.com/a"


def errors_with_lines(text: str) -> list[str]:
    """Each schema error as config.py shows it: line, dotted place, message (the file's `alerts:` block)."""
    root = yaml.compose("alerts:\n" + "\n".join("  " + line for line in text.splitlines()))
    try:
        AlertsSpec.model_validate(yaml.safe_load(text))
    except ValidationError as exc:
        return [f"{line_of(root, ('alerts', *e['loc']))}: {'.'.join(map(str, e['loc']))}: "
                f"{e['msg'].removeprefix('Value error, ')}" for e in exc.errors()]
    return []


def test_a_password_in_the_yaml_is_refused_on_its_line() -> None:
    found = errors_with_lines(f"email:\n  to: ops@example.com\n  smtp:\n    host: smtp.example.com\n"
                              f"    password: {PASSWORD}\n")
    assert found == ["6: email.smtp.password: a password is never written in acflow.yaml: write password_env: "
                     "VARIABLE (the environment variable that holds it), or set ACFLOW_SMTP_PASSWORD"]


@pytest.mark.parametrize(("text", "expected"), [
    (f"webhook:\n  - url: https://h.example.com/x\n    secret: {SECRET}\n",
     "4: webhook.0.secret: a secret is never written in acflow.yaml: write secret_env: VARIABLE "
     "(the environment variable that holds the whsec_... secret)"),
    (f"email:\n  smtp: {{password_env: '{PASSWORD}!'}}\n",
     "3: email.smtp.password_env: write an environment variable's name here (like ACFLOW_SMTP_PASSWORD), "
     "never the secret itself (not shown)"),
    ("email: {to: [ops]}\n", "2: email.to: 'ops' is not an e-mail address: write it like ops@example.com"),
    ("email: {from: \"a@example.com\\nBcc: x@evil.example\"}\n",
     "2: email.from: an e-mail address cannot hold a line break"),
    ("email: {to: []}\n", "2: email.to: name at least one recipient, like to: [ops@example.com]"),
    ("webhook: {url: 'ftp://h.example.com/x'}\n",
     "2: webhook.0.url: the webhook URL is not an http(s) URL: write it like https://hooks.example.com/acflow"),
    ("webhook: {url: 'https://h.example.com', url_env: HOOK}\n",
     "2: webhook.0: write either url: https://... or url_env: VARIABLE (a URL holding a token), not both"),
    ("on: [failures]\n", "2: on.0: Input should be 'failure', 'recovered' or 'success'"),
    ("email:\n  smtp: {host: 'smtp://mail.example.com:587'}\n",
     "3: email.smtp.host: SMTP host 'smtp://mail.example.com:587' is not a host name: write it bare, like "
     "smtp.example.com (the port and security have their own keys)"),
    ("email:\n  smtp: {security: tls}\n", "3: email.smtp.security: Input should be 'starttls', 'ssl' or 'none'"),
    ("emails: {to: [ops@example.com]}\n", "2: emails: Extra inputs are not permitted"),
])
def test_bad_config_lines(text: str, expected: str) -> None:
    assert errors_with_lines(text) == [expected]


def test_no_error_quotes_a_secret() -> None:
    with pytest.raises(ValidationError) as caught:
        spec(f"email: {{smtp: {{password: {PASSWORD}, password_env: '{PASSWORD} x'}}}}\n"
             f"webhook: {{url: 'https://h.example.com', secret: '{SECRET}'}}\n")
    assert PASSWORD not in str(caught.value) and SECRET not in str(caught.value)
    assert len(caught.value.errors()) == 3


def test_merge_flow_over_default() -> None:
    top = spec("email: {to: ops@example.com, from: acflow@example.com, smtp: {host: smtp.example.com, port: 2525}}\n"
               "webhook: {url: 'https://a.example.com/hook'}\n")
    flow = spec("on: [failure, success]\nemail: {to: [sales@example.com], smtp: {user: me}}\n"
                "webhook: [{url: 'https://a.example.com/hook'}, {url_env: TEAM_HOOK}]\n")
    merged = merge(top, flow)
    assert merged.on == ["failure", "success"]
    assert merged.email is not None and merged.email.to == ["sales@example.com"]  # to: replaces
    assert merged.email.from_ == "acflow@example.com"  # the rest fills in
    assert merged.email.smtp is not None
    assert (merged.email.smtp.host, merged.email.smtp.port, merged.email.smtp.user) == ("smtp.example.com", 2525, "me")
    assert [(h.url, h.url_env) for h in merged.webhook] == [("https://a.example.com/hook", None), (None, "TEAM_HOOK")]
    assert merge(top, None) is top and merge(None, None).enabled
    assert merge(top, spec("off")).enabled is False
    alone = merge(top, spec("inherit: false\nwebhook: {url_env: TEAM_HOOK}\n"))
    assert alone.email is None and [h.url_env for h in alone.webhook] == ["TEAM_HOOK"]


@pytest.mark.parametrize(("status", "previous", "expected"), [
    ("failed", "success", {"failure"}), ("failed", "failed", {"failure"}), ("failed", None, {"failure"}),
    ("success", "failed", {"success", "recovered"}), ("unchanged", "failed", {"success", "recovered"}),
    ("success", "success", {"success"}), ("success", None, {"success"}), ("skipped", "failed", set()),
])
def test_kinds(status: str, previous: str | None, expected: set[str]) -> None:
    assert kinds(failed_event(status=status, previous_status=previous)) == expected


def test_which_runs_notify() -> None:
    default = spec("webhook: {url: 'https://h.example.com'}")
    loud = spec("on: [success]\nwebhook: {url: 'https://h.example.com'}")
    per_channel = spec("email: {to: ops@example.com, on: [failure]}\nwebhook: {url: 'https://h.example.com'}\n"
                       "on: [failure, recovered, success]")
    fail, ok = failed_event(), failed_event(status="success", error=None)
    back = failed_event(status="success", previous_status="failed", error=None)
    assert should_notify(default, fail) and should_notify(default, back) and not should_notify(default, ok)
    assert not should_notify(loud, fail) and should_notify(loud, ok) and should_notify(loud, back)
    assert [kind for _, kind in channels(default, back)] == ["recovered"]
    assert [kind for _, kind in channels(loud, back)] == ["success"]
    assert [type(c).__name__ for c, _ in channels(per_channel, ok)] == ["WebhookSpec"]
    assert [type(c).__name__ for c, _ in channels(per_channel, fail)] == ["EmailSpec", "WebhookSpec"]
    assert not should_notify(spec("off"), fail)
    assert not should_notify(AlertsSpec(), fail)  # no channel: nothing to send


def test_event_from_a_run_record() -> None:
    record = SimpleNamespace(flow="deals", run_id=7, status="failed", trigger="manual", scheduled=None,
                             started=STARTED, ended=STARTED, error="boom", rows_read={"deals": 3}, rows_written={},
                             requests=4, rate_limited=0)
    event = Event.of(record, previous_status="success", link="http://x/runs/7")
    assert (event.run_id, event.trigger, event.rows_read, event.link) == ("7", "manual", {"deals": 3}, "http://x/runs/7")


# --- SMTP settings -----------------------------------------------------------------------------------

def test_smtp_settings_from_env_and_yaml() -> None:
    env = {"ACFLOW_SMTP_HOST": "smtp.env.example", "ACFLOW_SMTP_PORT": "465", "ACFLOW_SMTP_USER": "envuser",
           "ACFLOW_SMTP_PASSWORD": PASSWORD, "ACFLOW_SMTP_FROM": "acflow@example.com"}
    got = mail.settings(EmailSpec(to=["ops@example.com"]), env)
    assert (got.host, got.port, got.security, got.user, got.sender) == (
        "smtp.env.example", 465, "ssl", "envuser", "acflow@example.com")
    assert PASSWORD not in repr(got) and got.password == PASSWORD
    written = EmailSpec.model_validate({"to": "ops@example.com", "from": "x@example.com",
                                        "smtp": {"host": "smtp.yaml.example", "password_env": "MY_PW"}})
    got = mail.settings(written, {**env, "MY_PW": "other"})
    assert (got.host, got.port, got.security, got.password, got.sender) == (
        "smtp.yaml.example", 465, "ssl", "other", "x@example.com")
    assert mail.settings(EmailSpec(to=["a@b.example"], smtp={"host": "h"}), {"ACFLOW_SMTP_FROM": "a@b.example"}
                         ).port == 587


@pytest.mark.parametrize(("env", "smtp", "expected"), [
    ({}, {}, "alerts.email: no SMTP server: write smtp: {host: smtp.example.com} or set ACFLOW_SMTP_HOST"),
    ({"ACFLOW_SMTP_HOST": "h"}, {}, "alerts.email: no sender: write from: acflow@example.com or set ACFLOW_SMTP_FROM"),
    ({"ACFLOW_SMTP_HOST": "h", "ACFLOW_SMTP_FROM": "a@b.example", "ACFLOW_SMTP_PORT": "smtp"}, {},
     "ACFLOW_SMTP_PORT='smtp' is not a port: write a number like 587"),
    ({"ACFLOW_SMTP_HOST": "h", "ACFLOW_SMTP_FROM": "a@b.example", "ACFLOW_SMTP_USER": "me"}, {},
     "alerts.email.smtp: the user 'me' needs a password: set ACFLOW_SMTP_PASSWORD"),
    ({"ACFLOW_SMTP_FROM": "a@b.example", "PW": PASSWORD}, {"host": "mail.example.com", "user": "me",
                                                           "password_env": "PW", "security": "none"},
     "alerts.email.smtp: security: none would send the SMTP password unencrypted to mail.example.com: write "
     "security: starttls (port 587) or ssl (port 465)"),
])
def test_smtp_settings_refused(env: dict[str, str], smtp: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        mail.settings(EmailSpec(to=["ops@example.com"], smtp=smtp), env)
    assert str(caught.value) == expected


def test_problems_name_what_to_set() -> None:
    alerts = spec("email: {to: ops@example.com}\nwebhook: [{url_env: HOOK, secret_env: HOOK_SECRET}, "
                  "{url: 'https://h.example.com', secret_env: BAD_SECRET}]")
    found = problems(alerts, {"BAD_SECRET": "not-base64!", "ACFLOW_SMTP_HOST": "h", "ACFLOW_SMTP_FROM": "a@b.example"})
    assert found == [
        "alerts.webhook: environment variable HOOK is not set: export HOOK=https://... (the receiver's URL)",
        "BAD_SECRET does not hold a Standard Webhooks secret (whsec_ and base64 of at least 16 random bytes): "
        "make one with export BAD_SECRET=whsec_$(openssl rand -base64 32), and give the receiver the same value"]
    assert problems(spec("off"), {}) == []


# --- a real SMTP server ----------------------------------------------------------------------------------

@dataclass
class Inbox:
    port: int
    messages: list[tuple[str, list[str], email.message.EmailMessage]] = field(default_factory=list)
    logins: list[tuple[str, bool]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), parsed))
        return "250 OK"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        from aiosmtpd.smtp import AuthResult

        ok = data.login == b"alerts" and data.password == PASSWORD.encode()
        self.logins.append((data.login.decode(), ok))
        return AuthResult(success=ok, handled=False)


@pytest.fixture
def smtp_server() -> Iterator[Inbox]:
    """aiosmtpd on a free port with AUTH over plain SMTP (a local relay: security: none)."""
    from aiosmtpd.controller import Controller

    inbox = Inbox(free_port())
    controller = Controller(inbox, hostname="127.0.0.1", port=inbox.port, authenticator=inbox.authenticate,
                            auth_require_tls=False)
    controller.start()
    yield inbox
    controller.stop()


def smtp_env(inbox: Inbox, **more: str) -> dict[str, str]:
    return {"ACFLOW_SMTP_HOST": "127.0.0.1", "ACFLOW_SMTP_PORT": str(inbox.port), "ACFLOW_SMTP_USER": "alerts",
            "ACFLOW_SMTP_PASSWORD": PASSWORD, "ACFLOW_SMTP_FROM": "acflow <acflow@example.com>",
            "ACFLOW_SMTP_SECURITY": "none", **more}


def body_text(msg: email.message.EmailMessage, subtype: str) -> str:
    part = msg.get_body(preferencelist=(subtype,))
    assert part is not None, f"no text/{subtype} part"
    return part.get_content()


def no_secret_in(records: list[logging.LogRecord], *values: str) -> None:
    lines = [r.getMessage() for r in records if not r.name.startswith("mail.log")]  # aiosmtpd's own log
    for value in values:
        assert not any(value in line for line in lines), f"a secret reached a log line: {lines}"


def test_failure_email_reaches_a_real_smtp_server(smtp_server: Inbox, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    alerts = spec("email: {to: [ops@example.com, bi@example.com]}")
    assert notify(alerts, failed_event(), env=smtp_env(smtp_server)) == []
    assert smtp_server.logins == [("alerts", True)]
    (sender, recipients, msg), = smtp_server.messages
    assert sender == "acflow@example.com" and recipients == ["ops@example.com", "bi@example.com"]
    assert msg["Subject"] == "acflow: flow deals failed"
    assert msg["To"] == "ops@example.com, bi@example.com" and msg["Auto-Submitted"] == "auto-generated"
    text = body_text(msg, "plain")
    for figure in ("Error:        deals: ActiveCampaign answered 500 on /api/3/deals after 5 attempts",
                   "Rows read:    deals 1,234, contacts 56", "Requests:     17 (2 answered 429)",
                   "Ended:        2025-03-04 06:01:17 UTC (took 1 min 15 s)", "Run:          r-42 (trigger: schedule)",
                   "Details:      http://127.0.0.1:8780/runs/r-42"):
        assert figure in text
    html = body_text(msg, "html")
    assert "<th" in html and "1,234" in html and "answered 500" in html
    assert "hunter2" not in msg.as_string() and "Rows written: 1,234 to postgresql://bi:***@db/x?table=deals" in text
    assert PASSWORD not in msg.as_string()
    assert any(r.getMessage() == f"failure alert for flow deals (run r-42) sent by e-mail: SMTP 127.0.0.1:"
               f"{smtp_server.port} accepted it for 2 recipients" for r in caplog.records)
    no_secret_in(caplog.records, PASSWORD)


def test_recovered_email_subject(smtp_server: Inbox) -> None:
    back = failed_event(status="success", previous_status="failed", error=None)
    assert notify(spec("email: {to: ops@example.com}"), back, env=smtp_env(smtp_server)) == []
    assert [m["Subject"] for _, _, m in smtp_server.messages] == ["acflow: flow deals recovered"]
    assert notify(spec("email: {to: ops@example.com}"), failed_event(status="success", error=None),
                  env=smtp_env(smtp_server)) == []  # a plain success: not asked for
    assert len(smtp_server.messages) == 1


def test_a_refused_password_is_never_shown(smtp_server: Inbox, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "wrong-" + PASSWORD
    settings = mail.settings(EmailSpec(to=["ops@example.com"]), smtp_env(smtp_server, ACFLOW_SMTP_PASSWORD=wrong))
    with pytest.raises(AttemptFailed) as caught:
        mail.send_email(settings, "subject", "text")
    message = str(caught.value)
    assert message.startswith(f"SMTP 127.0.0.1:{smtp_server.port}: the server refused the user name or password (535")
    assert not caught.value.retriable and caught.value.__cause__ is None and caught.value.__context__ is None
    lines = notify(spec("email: {to: ops@example.com}"), failed_event(),
                   env=smtp_env(smtp_server, ACFLOW_SMTP_PASSWORD=wrong))
    assert lines == [f"failure alert for flow deals (run r-42) not delivered by e-mail: {message} (1 attempt in 0 s)"]
    assert smtp_server.messages == [] and {ok for _, ok in smtp_server.logins} == {False}
    encoded = base64.b64encode(f"\0alerts\0{wrong}".encode()).decode()
    for text in (message, repr(caught.value), repr(settings), *lines):
        assert wrong not in text and encoded not in text
    no_secret_in(caplog.records, wrong, encoded)


def test_send_email_with_attachment_and_inline_image(smtp_server: Inbox) -> None:
    png = b"\x89PNG\r\n\x1a\n" + secrets.token_bytes(64)
    settings = mail.settings(None, smtp_env(smtp_server), require_to=False)
    said = mail.send_email(settings, "acflow report: deals, week 10", "The report is attached.",
                           html='<p>Summary</p><img src="cid:summary">',
                           attachments=[("report.html", b"<html>report</html>", "text/html")],
                           inline_images=[("summary", png)], to=["boss@example.com"])
    assert said == f"SMTP 127.0.0.1:{smtp_server.port} accepted it for 1 recipient"
    (_, recipients, msg), = smtp_server.messages
    assert recipients == ["boss@example.com"] and msg["Subject"] == "acflow report: deals, week 10"
    assert body_text(msg, "plain").strip() == "The report is attached."
    assert 'src="cid:summary"' in body_text(msg, "html")
    images = [p for p in msg.walk() if p.get_content_type() == "image/png"]
    assert len(images) == 1 and images[0]["Content-ID"] == "<summary>" and images[0].get_content() == png
    attached = list(msg.iter_attachments())
    assert [(a.get_filename(), a.get_content_type()) for a in attached] == [("report.html", "text/html")]
    assert attached[0].get_payload(decode=True) == b"<html>report</html>"


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    """A certificate for localhost that is its own CA (the client trusts it through SSL_CERT_FILE)."""
    pytest.importorskip("cryptography")
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(UTC)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .add_extension(x509.KeyUsage(True, False, False, False, False, True, False, False, False), True)
            .add_extension(ski, False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_tls_smtp_verified(security: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """STARTTLS and SMTPS against a certificate the client must verify (and refuses when untrusted)."""
    import ssl

    from aiosmtpd.controller import Controller

    cert, key = self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    inbox = Inbox(free_port())
    tls: dict[str, Any] = {"tls_context": context, "require_starttls": True}
    if security == "ssl":  # aiosmtpd counts TLS for AUTH only after STARTTLS
        tls = {"ssl_context": context, "auth_require_tls": False}
    controller = Controller(inbox, hostname="127.0.0.1", port=inbox.port, authenticator=inbox.authenticate, **tls)
    controller.start()
    try:
        env = smtp_env(inbox, ACFLOW_SMTP_HOST="localhost", ACFLOW_SMTP_SECURITY=security)
        settings = mail.settings(EmailSpec(to=["ops@example.com"]), env)
        monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "absent.pem"))  # nothing trusted: refused
        with pytest.raises(AttemptFailed) as caught:
            mail.send_email(settings, "s", "t")
        assert "TLS certificate is not trusted" in str(caught.value) and not caught.value.retriable
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        assert mail.send_email(settings, "over TLS", "t") == f"SMTP localhost:{inbox.port} accepted it for 1 recipient"
        assert [m["Subject"] for _, _, m in inbox.messages] == ["over TLS"] and inbox.logins == [("alerts", True)]
    finally:
        controller.stop()


def test_starttls_asked_of_a_server_without_it(smtp_server: Inbox) -> None:
    settings = mail.settings(EmailSpec(to=["ops@example.com"]), smtp_env(smtp_server, ACFLOW_SMTP_SECURITY="starttls"))
    with pytest.raises(AttemptFailed) as caught:
        mail.send_email(settings, "s", "t")
    assert str(caught.value) == (f"SMTP 127.0.0.1:{smtp_server.port}: the server offers no STARTTLS: write "
                                 "security: ssl (port 465), or none for a local relay")


def test_smtp_server_down_is_retried_then_given_up(caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()
    env = {"ACFLOW_SMTP_HOST": "127.0.0.1", "ACFLOW_SMTP_PORT": str(port), "ACFLOW_SMTP_FROM": "a@example.com",
           "ACFLOW_SMTP_SECURITY": "none"}
    lines = notify(spec("email: {to: ops@example.com}"), failed_event(), env=env, budget=1.6, backoff=0.05)
    assert len(lines) == 1 and f"SMTP 127.0.0.1:{port}: connection refused" in lines[0]
    attempts = int(lines[0].rsplit("(", 1)[1].split(" attempt")[0])
    assert attempts >= 2  # refused connections are retried


# --- a real webhook receiver ----------------------------------------------------------------------------

@dataclass
class Receiver:
    """An HTTP server in a thread: records each POST (headers, body) and answers from `script` in turn
    (then 200)."""

    script: list[int] = field(default_factory=list)
    requests: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    retry_after: str | None = None
    url: str = ""

    def __post_init__(self) -> None:
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                data = self.rfile.read(int(self.headers.get("content-length", 0)))
                receiver.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}, data))
                status = receiver.script.pop(0) if receiver.script else 200
                self.send_response(status)
                if status >= 300 and status < 400:
                    self.send_header("Location", "https://elsewhere.example/")
                if receiver.retry_after and status in (429, 503):
                    self.send_header("Retry-After", receiver.retry_after)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def hook(receiver: Receiver, **more: Any) -> AlertsSpec:
    return AlertsSpec.model_validate({"webhook": {"url": f"{receiver.url}/hooks/acflow?token={URL_TOKEN}",
                                                  "secret_env": "HOOK_SECRET", **more}})


def test_webhook_signed_and_verified_by_the_receiver(receiver: Receiver, caplog: pytest.LogCaptureFixture) -> None:
    from standardwebhooks import Webhook
    from standardwebhooks.webhooks import WebhookVerificationError

    caplog.set_level(logging.DEBUG)
    assert notify(hook(receiver), failed_event(), env={"HOOK_SECRET": SECRET}) == []
    (path, headers, data), = receiver.requests
    assert path == f"/hooks/acflow?token={URL_TOKEN}"
    got = Webhook(SECRET).verify(data, headers)
    assert {k: got[k] for k in ("flow", "run_id", "status", "previous_status", "trigger", "requests",
                                "rate_limited", "link", "kind")} == {
        "flow": "deals", "run_id": "r-42", "status": "failed", "previous_status": "success", "trigger": "schedule",
        "requests": 17, "rate_limited": 2, "link": "http://127.0.0.1:8780/runs/r-42", "kind": "failure"}
    assert got["error"].startswith("deals: ActiveCampaign answered 500") and got["rows_read"] == {
        "deals": 1234, "contacts": 56}
    assert got["rows_written"] == {"postgresql://bi:***@db/x?table=deals": 1234}
    assert got["started"] == "2025-03-04T06:00:02+00:00" and got["ended"] == "2025-03-04T06:01:17+00:00"
    assert got["text"].startswith("acflow: flow deals failed: deals: ActiveCampaign answered 500")
    assert headers["webhook-id"] == "msg_r-42_failure" and headers["content-type"] == "application/json"
    tampered = data.replace(b'"status":"failed"', b'"status":"success"')
    assert tampered != data
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(tampered, headers)
    other = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    with pytest.raises(WebhookVerificationError):
        Webhook(other).verify(data, headers)
    # the secret is in no payload, header value but the signature's own, or log line; the URL's token in no log
    assert SECRET not in data.decode() and SECRET.removeprefix("whsec_") not in json.dumps(headers)
    logged = [r.getMessage() for r in caplog.records]
    assert any(f"sent by webhook {receiver.url}: HTTP 200" in line for line in logged)
    no_secret_in(caplog.records, SECRET, SECRET.removeprefix("whsec_"), URL_TOKEN, "/hooks/acflow")


def test_webhook_retried_on_503_then_delivered(receiver: Receiver, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    receiver.script = [503, 503]
    assert notify(hook(receiver), failed_event(), env={"HOOK_SECRET": SECRET}, backoff=0.05) == []
    assert len(receiver.requests) == 3
    assert len({h["webhook-id"] for _, h, _ in receiver.requests}) == 1  # one message: the receiver can dedupe
    from standardwebhooks import Webhook

    assert all(Webhook(SECRET).verify(d, h) for _, h, d in receiver.requests)
    assert any("HTTP 200 after 3 attempts" in r.getMessage() for r in caplog.records)


def test_webhook_429_waits_as_told(receiver: Receiver) -> None:
    receiver.script, receiver.retry_after = [429], "0"
    assert notify(hook(receiver), failed_event(), env={"HOOK_SECRET": SECRET}, backoff=0.05) == []
    assert len(receiver.requests) == 2


@pytest.mark.parametrize(("status", "said"), [
    (400, "HTTP 400 (1 attempt in"), (404, "HTTP 404 (1 attempt in"),
    (302, "HTTP 302: a redirect (not followed): write the URL it points to (1 attempt in")])
def test_webhook_not_retried_on_other_4xx(receiver: Receiver, status: int, said: str,
                                          caplog: pytest.LogCaptureFixture) -> None:
    receiver.script = [status]
    lines = notify(hook(receiver), failed_event(), env={"HOOK_SECRET": SECRET}, backoff=0.05)
    assert len(receiver.requests) == 1
    assert lines == [f"failure alert for flow deals (run r-42) not delivered by webhook {receiver.url}: {said} 0 s)"]
    no_secret_in(caplog.records, URL_TOKEN, SECRET)


def test_unsigned_webhook_and_url_from_env(receiver: Receiver) -> None:
    alerts = AlertsSpec.model_validate({"webhook": {"url_env": "TEAM_HOOK", "name": "team"}})
    assert notify(alerts, failed_event(), env={"TEAM_HOOK": f"{receiver.url}/x?token={URL_TOKEN}"}) == []
    (_, headers, data), = receiver.requests
    assert "webhook-signature" not in {k.lower() for k in headers} and json.loads(data)["flow"] == "deals"
    assert webhooks.target(alerts.webhook[0], {"TEAM_HOOK": f"{receiver.url}/x?token={URL_TOKEN}"}).shown == \
        f"team ({receiver.url})"


# --- the Notifier: never blocks, bounded -------------------------------------------------------------------

@pytest.fixture
def hanging() -> Iterator[str]:
    """A port that accepts connections and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()


@pytest.mark.parametrize("kind", ["dead", "hanging"])
def test_a_dead_or_hanging_receiver_never_blocks(kind: str, hanging: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    url = f"http://127.0.0.1:{free_port()}" if kind == "dead" else hanging
    alerts = AlertsSpec.model_validate({"webhook": {"url": f"{url}/h?token={URL_TOKEN}", "secret_env": "S",
                                                    "timeout": 1}})
    notifier = Notifier(budget=600, backoff=0.05, env={"S": SECRET})
    began = time.monotonic()
    assert notifier.submit(alerts, failed_event()) == 1
    assert notifier.submit(alerts, failed_event(run_id="r-43")) == 1
    submitted = time.monotonic() - began
    time.sleep(0.3)
    assert notifier.delivered == 0
    began = time.monotonic()
    undelivered = notifier.close(timeout=1.5)
    closed = time.monotonic() - began
    assert submitted < 5 and closed < 30  # loose: a slow machine passes; a blocking submit or close does not
    assert undelivered == 2
    assert notifier.submit(alerts, failed_event()) == 0  # closed: dropped, logged
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("acflow")]
    why = "connection refused" if kind == "dead" else "no answer within 1 s"
    assert any(f"not delivered by webhook {url}: {why}" in line for line in lines), lines
    no_secret_in(caplog.records, URL_TOKEN, SECRET, "/h?")


def test_a_full_queue_drops_with_a_line(hanging: str, caplog: pytest.LogCaptureFixture) -> None:
    alerts = AlertsSpec.model_validate({"webhook": {"url": f"{hanging}/h", "timeout": 1}})
    notifier = Notifier(workers=1, max_queue=2, budget=600)
    counts = [notifier.submit(alerts, failed_event(run_id=f"r-{i}")) for i in range(6)]
    assert sum(counts) <= 3 and counts[-1] == 0  # one in flight, two waiting, the rest dropped
    assert any("dropped: 2 alerts are already waiting" in r.getMessage() for r in caplog.records)
    notifier.close(timeout=0.5)


def test_close_delivers_what_is_queued(receiver: Receiver) -> None:
    notifier = Notifier(env={"HOOK_SECRET": SECRET})
    for i in range(5):
        notifier.submit(hook(receiver), failed_event(run_id=f"r-{i}"))
    assert notifier.close(timeout=20) == 0
    assert sorted(json.loads(d)["run_id"] for _, _, d in receiver.requests) == [f"r-{i}" for i in range(5)]
    assert notifier.delivered == 5


def test_a_delivery_that_cannot_be_resolved_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    alerts = AlertsSpec.model_validate({"webhook": {"url": "https://h.example.com", "secret_env": "UNSET_SECRET"}})
    notifier = Notifier(env={})
    assert notifier.submit(alerts, failed_event()) == 1
    assert notifier.close(timeout=10) == 1
    assert any("failure alert for flow deals (run r-42) not sent: alerts.webhook: environment variable UNSET_SECRET "
               "is not set" in r.getMessage() for r in caplog.records)


def test_delivery_names_the_receiver_by_host_only() -> None:
    alerts = AlertsSpec.model_validate({"webhook": {"url": f"https://u:p@h.example.com:8443/x/{URL_TOKEN}?t=1"}})
    shown, attempt = Delivery(alerts.webhook[0], failed_event(), "failure").prepare({})
    assert shown == "webhook https://h.example.com:8443" and callable(attempt)


README_EXAMPLE = """
alerts:                              # every flow's default
  on: [failure, recovered]           # add success to hear of every good run
  email:
    to: [ops@example.com]
    from: acflow <acflow@example.com>
    smtp: {host: smtp.example.com, port: 587, user: acflow@example.com, password_env: SMTP_PASSWORD}
  webhook:
    - url: https://hooks.example.com/acflow
      secret_env: ACFLOW_WEBHOOK_SECRET
flows:
  deals:
    alerts:
      email: {to: [sales@example.com]}   # replaces to:, keeps the SMTP settings
      webhook: {url_env: SLACK_WEBHOOK_URL, name: slack}   # added to the default's
  contacts:
    alerts: off
"""


def test_the_readme_example() -> None:
    data = yaml.safe_load(README_EXAMPLE)
    top = AlertsSpec.model_validate(data["alerts"])
    deals = merge(top, AlertsSpec.model_validate(data["flows"]["deals"]["alerts"]))
    contacts = merge(top, AlertsSpec.model_validate(data["flows"]["contacts"]["alerts"]))
    assert deals.email is not None and deals.email.to == ["sales@example.com"]
    assert deals.email.smtp is not None and deals.email.smtp.password_env == "SMTP_PASSWORD"
    assert [h.name for h in deals.webhook] == [None, "slack"]
    assert not should_notify(contacts, failed_event()) and should_notify(deals, failed_event())
    assert problems(deals, {"SMTP_PASSWORD": "x", "ACFLOW_WEBHOOK_SECRET": SECRET,
                            "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T/B/x"}) == []
