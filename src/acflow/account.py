"""An ActiveCampaign account: its API URL and key, checked before any request."""

from __future__ import annotations

import ipaddress
import logging
import os
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from .errors import ConfigError
from .ratelimit import DEFAULT_RATE

URL_ENV = "ACTIVECAMPAIGN_API_URL"
KEY_ENV = "ACTIVECAMPAIGN_API_KEY"
log = logging.getLogger("acflow")
_KEY_LIKE = re.compile(r"[A-Za-z0-9_-]{20,}")  # a key pasted where the URL goes: never echoed


def _shown(raw: str) -> str:
    """A URL as an error may quote it: without user:password@, and short."""
    head, at, tail = raw.partition("@")
    if at and "://" in head:
        raw = head.split("://", 1)[0] + "://" + tail
    return repr(raw if len(raw) <= 100 else raw[:100] + "...")


def is_loopback(host: str | None) -> bool:
    """Whether a host is this machine: the one place plain http:// (a sandbox, a stand-in) may go."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


def normalize_url(url: str) -> str:
    """`https://x.api-us1.com/api/3/` -> `https://x.api-us1.com`; plain http only for loopback."""
    raw = url.strip()
    if _KEY_LIKE.fullmatch(raw):
        raise ConfigError("the API URL is not a URL, and looks like an API key (not shown): pass the URL "
                          "from Settings > Developer as --api-url and the key as --api-key")
    parts = urlsplit(raw)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if port == -1 or port == 0:
        raise ConfigError(f"API URL {_shown(raw)} has a port that cannot be: copy the URL from ActiveCampaign's "
                          "Settings > Developer")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"API URL {_shown(raw)} is not a URL: copy it from ActiveCampaign's Settings > Developer "
            "(like https://youraccount.api-us1.com)"
        )
    netloc = parts.netloc.rpartition("@")[2]  # user:password@ never reaches the mirror, logs or output
    if netloc != parts.netloc:
        what = "a user name and password; they were" if parts.password is not None else "a user name; it was"
        log.warning("the API URL held %s dropped (ActiveCampaign takes only the API key)", what)
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ConfigError(
            f"refusing plain http:// for {parts.hostname}: the API key would travel unencrypted; "
            "use https://"
        )
    path = parts.path.rstrip("/")
    if path.endswith("/api/3"):
        path = path[: -len("/api/3")]
    return f"{parts.scheme}://{netloc}{path}"


@dataclass(frozen=True)
class Account:
    """An account is named by its URL everywhere; the key never appears in any text."""

    url: str
    key: str = field(repr=False)
    rate_limit: float = DEFAULT_RATE
    timezone: str | None = None  # the account's zone, where the user knows better than its dates (zones.py)

    def __post_init__(self) -> None:
        object.__setattr__(self, "url", normalize_url(self.url))
        if not self.key or not self.key.strip():
            raise ConfigError(f"no API key for {self.url}: pass --api-key or set {KEY_ENV}")
        key = self.key.strip()
        if not (key.isascii() and key.isprintable()):  # a zero-width space or a line break, pasted
            raise ConfigError(f"the API key for {self.url} holds invisible or non-ASCII characters: "
                              "copy it again from Settings > Developer")
        object.__setattr__(self, "key", key)
        if self.rate_limit <= 0:
            raise ConfigError(f"rate limit for {self.url} must be above 0 requests/s")
        if self.timezone is not None:
            from .zones import valid
            if not valid(self.timezone):
                raise ConfigError(f"unknown time zone {self.timezone[:60]!r} for {self.url}: write an IANA name "
                                  "like America/Chicago (the zone of the account's dates)")

    @property
    def host(self) -> str:
        return urlsplit(self.url).netloc

    @classmethod
    def resolve(cls, url: str | None = None, key: str | None = None,
                rate_limit: float = DEFAULT_RATE, timezone: str | None = None) -> Account:
        """Flags first, then the environment, as the CLI documents."""
        url = url or os.environ.get(URL_ENV)
        key = key or os.environ.get(KEY_ENV)
        if not url:
            raise ConfigError(f"no API URL: pass --api-url or set {URL_ENV}")
        if not key:
            raise ConfigError(f"no API key: pass --api-key or set {KEY_ENV}")
        return cls(url, key, rate_limit, timezone)
