"""The service's tokens: one to drive it (API, UI login), one per flow served at a data URL.

Only a token's SHA-256 is kept (`service-tokens.json` beside the mirror, readable by its owner
only), so a copied file lets nobody in; the plain token is shown once, when it is made. Tokens
are 32 random bytes, so a plain hash is enough (nothing to guess that a slow hash would protect),
and comparisons run in constant time. The file is not in the mirror: the mirror is a cache that
may be deleted, and a BI tool's URL must outlive that.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
import threading
from pathlib import Path

from ..errors import ConfigError

FILE = "service-tokens.json"
SERVICE = "*service*"  # the key of the service's own token; flow names cannot start with "*"
TOKEN_ENV = "ACFLOW_SERVICE_TOKEN"


def new_token() -> str:
    return secrets.token_urlsafe(32)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Tokens:
    """Hashes by name, in a file written atomically."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / FILE
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._hashes: dict[str, str] = self._read()

    def _read(self) -> dict[str, str]:
        try:
            st = self.path.stat()
            self._stamp = (st.st_mtime_ns, st.st_size)
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{self.path} cannot be read ({exc}): delete it to make new tokens "
                              "(every data URL then changes)") from None
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise ConfigError(f"{self.path} is not a token file: delete it to make new tokens")
        return data

    def _write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(self._hashes, f, indent=1, sort_keys=True)
            os.replace(temp, self.path)
            st = self.path.stat()
            self._stamp = (st.st_mtime_ns, st.st_size)
        except BaseException:
            with contextlib.suppress(OSError):
                temp.unlink()
            raise

    def _fresh(self) -> None:
        """Tokens made or rotated by another process (`acflow urls rotate` beside the service)."""
        try:
            st = self.path.stat()
        except OSError:
            return
        if (st.st_mtime_ns, st.st_size) != self._stamp:
            with self._lock:
                self._hashes = self._read()

    def has(self, name: str) -> bool:
        self._fresh()
        return name in self._hashes

    def make(self, name: str) -> str:
        """A new token for `name`, replacing any old one (which stops working at once)."""
        token = new_token()
        self._fresh()
        with self._lock:
            self._hashes[name] = digest(token)
            self._write()
        return token

    def check(self, name: str, token: str | None) -> bool:
        self._fresh()
        expected = self._hashes.get(name)
        given = digest(token or "")
        # compared even when there is no token, so a missing name costs the same time as a wrong token
        return hmac.compare_digest(expected or digest(secrets.token_hex(8)), given) and expected is not None

    def forget(self, name: str) -> None:
        with self._lock:
            if self._hashes.pop(name, None) is not None:
                self._write()

    def names(self) -> list[str]:
        return sorted(n for n in self._hashes if n != SERVICE)


def service_token(tokens: Tokens, *, rotate: bool = False) -> str | None:
    """The service's own token: ACFLOW_SERVICE_TOKEN when set (its hash is what is kept), else a new
    one on the first start or when asked; returns the plain token when it is new (to show once)."""
    given = os.environ.get(TOKEN_ENV)
    if given:
        if len(given) < 16:
            raise ConfigError(f"{TOKEN_ENV} is too short to protect the service: use 16 characters or more "
                              "(e.g. from `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)")
        if not tokens.check(SERVICE, given):
            with tokens._lock:
                tokens._hashes[SERVICE] = digest(given)
                tokens._write()
        return None
    if rotate or not tokens.has(SERVICE):
        return tokens.make(SERVICE)
    return None
