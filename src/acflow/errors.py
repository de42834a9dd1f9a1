"""One error class per user-facing failure, with its exit code on the class.

    AcflowError (1)            a run failed; the message names what and where
    ├── ConfigError (2)        bad usage, configuration, URL or destination URI
    │   └── ConfigErrors (2)   several of them, found in one pass (one line each)
    ├── KeyRefused (3)         the account refused the API key
    ├── NotActiveCampaign (2)  the URL answers, but not as an ActiveCampaign API
    ├── ApiError (1)           the API kept failing, or answered a 4xx we cannot fix by retrying
    │   └── PagingStuck (1)    a page cursor stopped moving
    └── DestinationError (1)   a destination could not be written; its old contents are intact

    MirrorBusy (1)             another process holds the mirror file's lock

Only the CLI entry point turns these into one stderr line and an exit code.
Messages name an account by its URL, never by its key. A message never quotes a
value at length (a 50 MB formula once made a 100 MB error): `quoted()` cuts a value
to a prefix, and every AcflowError's message passes through `shorten()` as well.
"""

from __future__ import annotations

import errno
import re
from collections.abc import Iterable

QUOTE_LIMIT = 100  # characters of a value a message quotes
MESSAGE_LIMIT = 2000  # characters of a whole message
_LONG_QUOTED = re.compile(r"""(['"])([^'"\n]{""" + str(QUOTE_LIMIT) + r"""})([^'"\n]+)\1""")


def quoted(value: object, limit: int = QUOTE_LIMIT) -> str:
    """`repr` of a value for a message, cut to its first `limit` characters when longer."""
    text = str(value)
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text):,} characters)"


def shorten(message: str) -> str:
    """The message with each quoted run over QUOTE_LIMIT cut to a prefix, and at most MESSAGE_LIMIT long."""
    if len(message) <= QUOTE_LIMIT:
        return message
    message = _LONG_QUOTED.sub(lambda m: f"{m[1]}{m[2]}...{m[1]} ({len(m[2]) + len(m[3]):,} characters)",
                               message)
    if len(message) > MESSAGE_LIMIT:
        head, tail = MESSAGE_LIMIT * 2 // 3, MESSAGE_LIMIT // 4
        message = f"{message[:head]} [... {len(message) - head - tail:,} characters ...] {message[-tail:]}"
    return message


class AcflowError(Exception):
    exit_code = 1

    def __init__(self, *args: object) -> None:
        if len(args) == 1 and isinstance(args[0], str):
            args = (shorten(args[0]),)
        super().__init__(*args)


class ConfigError(AcflowError):
    exit_code = 2


class ConfigErrors(ConfigError):
    """Several mistakes found in one pass (acflow validate shows them all); one line each."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = [shorten(e) for e in errors]
        Exception.__init__(self, "\n".join(self.errors))  # each line shortened, not the whole


class KeyRefused(AcflowError):
    exit_code = 3


class NotActiveCampaign(AcflowError):
    exit_code = 2


class ApiError(AcflowError):
    exit_code = 1


class PagingStuck(ApiError):
    pass


class DestinationError(AcflowError):
    exit_code = 1


def did_you_mean(name: object, choices: Iterable[object]) -> str:
    """` Did you mean 'deals'?` for the closest of `choices`, or "" when none is close."""
    import difflib

    close = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


def disk_cause(exc: BaseException) -> str | None:
    """A full disk or a file size limit under any layer (an OSError's errno, DuckDB's IO Error
    text, SQLite's "database or disk is full"), in a few words; None for any other failure."""
    code = getattr(exc, "errno", None)
    text = str(exc).lower()
    if code == errno.ENOSPC or "no space left on device" in text or "database or disk is full" in text:
        return "no space left on device"
    if code == errno.EFBIG or "file too large" in text:
        return "file too large (a file size limit was reached)"
    return None


class MirrorBusy(AcflowError):
    """Another process is writing the mirror: a run failed to start, not a configuration mistake."""

    exit_code = 1
