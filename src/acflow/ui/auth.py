"""Who may use the UI: the service's token or the UI password logs a browser in.

The password is kept as a scrypt hash in `ui-password` beside the mirror (mode 0600), never in
acflow.yaml. Sessions live in this process's memory (a random id in an HttpOnly, SameSite=Strict
cookie, Secure over TLS): nothing to forge, a restart or a password change logs every browser out.
Each session has its CSRF token, which every state-changing request must carry (a form field or
the X-CSRF-Token header that htmx sends), so another site cannot post on a logged-in browser's behalf.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError

PASSWORD_FILE = "ui-password"
PASSWORD_ENV = "ACFLOW_UI_PASSWORD"
COOKIE = "acflow_session"
SESSION_SECONDS = 12 * 3600
MIN_PASSWORD = 8
_N, _R, _P = 2**14, 8, 1  # scrypt's interactive-login parameters (16 MB, about 50 ms)
FAILURES_ALLOWED = 5  # wrong logins per client in FAILURE_WINDOW before it must wait
FAILURE_WINDOW = 300.0


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        kind, n, r, p, salt, digest = stored.strip().split("$")
        if kind != "scrypt":
            return False
        got = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p),
                             dklen=len(bytes.fromhex(digest)))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got.hex(), digest)


class PasswordFile:
    """The UI password's hash in a file readable by its owner only, written atomically."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / PASSWORD_FILE

    def exists(self) -> bool:
        return self.path.is_file()

    def set(self, password: str) -> None:
        if len(password) < MIN_PASSWORD:
            raise ConfigError(f"the UI password is too short: use {MIN_PASSWORD} characters or more")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(hash_password(password) + "\n")
        os.replace(temp, self.path)

    def check(self, password: str) -> bool:
        try:
            stored = self.path.read_text()
        except OSError:
            hash_password(password)  # the same time as a wrong password
            return False
        return verify_password(password, stored)


def first_start(passwords: PasswordFile) -> bool:
    """ACFLOW_UI_PASSWORD sets the password when none is stored yet; True when it did."""
    given = os.environ.get(PASSWORD_ENV)
    if given and not passwords.exists():
        passwords.set(given)
        return True
    return False


@dataclass
class Session:
    sid: str
    csrf: str
    created: float = field(default_factory=time.monotonic)


class Sessions:
    """Logged-in browsers, by a random id; and the wrong logins per client, to slow guessing."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_id: dict[str, Session] = {}
        self._failures: dict[str, list[float]] = {}

    def new(self) -> Session:
        session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32))
        with self._lock:
            self._by_id[session.sid] = session
        return session

    def get(self, sid: str | None) -> Session | None:
        if not sid:
            return None
        with self._lock:
            session = self._by_id.get(sid)
            if session is not None and time.monotonic() - session.created > SESSION_SECONDS:
                del self._by_id[sid]
                return None
            return session

    def end(self, sid: str | None) -> None:
        with self._lock:
            self._by_id.pop(sid or "", None)

    def end_all(self) -> None:
        with self._lock:
            self._by_id.clear()

    def blocked(self, client: str) -> bool:
        now = time.monotonic()
        with self._lock:
            recent = [t for t in self._failures.get(client, []) if now - t < FAILURE_WINDOW]
            self._failures[client] = recent
            return len(recent) >= FAILURES_ALLOWED

    def failed(self, client: str) -> None:
        with self._lock:
            self._failures.setdefault(client, []).append(time.monotonic())

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._failures.pop(client, None)


def csrf_ok(session: Session, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(session.csrf, given or "")
