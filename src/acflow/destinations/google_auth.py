"""Who acflow writes to Google Sheets as: a service account's key file, or a Google user who signed
in once with `acflow auth google`. Keys and tokens are read where the user keeps them and handed to
google-auth; they are never printed, logged, or written anywhere but the token file below.

Where the credentials come from, first found wins:
1. `credentials:` in acflow.yaml (per flow or at the top), or `?credentials=PATH` in the URI
2. the GOOGLE_APPLICATION_CREDENTIALS environment variable (a service-account key file)
3. the token `acflow auth google` saved (ACFLOW_GOOGLE_TOKEN, or google-token.json in acflow's
   folder of the user's configuration: ~/.config/acflow on Linux)
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..account import is_loopback
from ..errors import AcflowError, ConfigError

SCOPES = ["https://www.googleapis.com/auth/spreadsheets"]
TOKEN_ENV = "ACFLOW_GOOGLE_TOKEN"
KEY_ENV = "GOOGLE_APPLICATION_CREDENTIALS"
HOW = ("give acflow Google credentials: a service-account key file in GOOGLE_APPLICATION_CREDENTIALS or "
       "`credentials:` in acflow.yaml (then share the spreadsheet with the service account's e-mail as Editor), "
       "or sign in once with `acflow auth google --client-secrets client_secret.json`")


@dataclass(frozen=True)
class GoogleCredentials:
    """google-auth credentials and what may be said about them (never the key)."""

    identity: str  # a service account's e-mail, or "the Google user of <token file>"
    source: str  # where they were found, for messages
    service_account: str | None  # the e-mail to share spreadsheets with, when it is a service account
    credentials: Any = field(repr=False, compare=False, default=None)


def token_path() -> Path:
    """Where `acflow auth google` keeps the user's refresh token."""
    if os.environ.get(TOKEN_ENV):
        return Path(os.environ[TOKEN_ENV]).expanduser()
    if sys.platform == "win32" and os.environ.get("APPDATA"):
        base = Path(os.environ["APPDATA"])
    else:
        base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "acflow" / "google-token.json"


def resolve(path: str | None = None) -> GoogleCredentials:
    """The credentials to write with (see the module's docstring for the order), or a ConfigError
    that says how to get some."""
    if path:
        return load(Path(path), f"credentials file {path}")
    if os.environ.get(KEY_ENV):
        return load(Path(os.environ[KEY_ENV]).expanduser(), f"{KEY_ENV} ({os.environ[KEY_ENV]})")
    saved = token_path()
    if saved.exists():
        return load(saved, f"the token of `acflow auth google` ({saved})")
    raise ConfigError(f"no Google credentials found: {HOW}")


def load(path: Path, source: str) -> GoogleCredentials:
    """A service-account key or an authorized-user token file -> GoogleCredentials."""
    import google.auth.exceptions
    from google.oauth2 import credentials as user
    from google.oauth2 import service_account

    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{source}: no such file; {HOW}") from None
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read it ({exc.strerror})") from None
    except (ValueError, UnicodeDecodeError):
        raise ConfigError(f"{source}: not a JSON file; download the service account's key again (JSON) "
                          "from Google Cloud Console > IAM & Admin > Service Accounts > Keys") from None
    kind = info.get("type") if isinstance(info, dict) else None
    if kind not in ("service_account", "authorized_user"):
        raise ConfigError(f"{source}: not a Google credentials file (its \"type\" is {kind!r}, not "
                          "\"service_account\" or \"authorized_user\")")
    try:
        if kind == "service_account":
            credentials = service_account.Credentials.from_service_account_info(info, scopes=SCOPES)
        else:
            credentials = user.Credentials.from_authorized_user_info(info, SCOPES)
            if _loopback(str(info.get("token_uri", ""))):  # google-auth always sends a user's refresh token to
                credentials = credentials.with_token_uri(info["token_uri"])  # Google; a loopback stand-in's is kept
    except (google.auth.exceptions.GoogleAuthError, ValueError) as exc:
        raise ConfigError(f"{source}: Google's library cannot use it ({type(exc).__name__}); download a new "
                          "key or run `acflow auth google` again") from None
    email = getattr(credentials, "service_account_email", None)
    if kind == "service_account" and email:
        return GoogleCredentials(str(email), source, str(email), credentials)
    return GoogleCredentials(f"the Google user of {path}", source, None, credentials)


def login(client_secrets: Path, *, open_browser: bool = True, port: int = 0, timeout: float = 300.0,
          save_to: Path | None = None) -> Path:
    """`acflow auth google`: sign a Google user in through the browser (an OAuth "Desktop app" client,
    a loopback redirect, PKCE) and save the refresh token for later runs. Returns the file."""
    try:
        from google_auth_oauthlib.flow import InstalledAppFlow
    except ImportError:
        raise ConfigError("`acflow auth google` needs the 'gsheets' extra: pip install 'acflow[gsheets]'") from None
    try:
        config = json.loads(Path(client_secrets).read_text(encoding="utf-8"))
        client = config.get("installed") or config.get("web")
        token_uri = client["token_uri"]
    except FileNotFoundError:
        raise ConfigError(f"{client_secrets}: no such file; download the OAuth client (Desktop app) JSON from "
                          "Google Cloud Console > APIs & Services > Credentials") from None
    except (OSError, ValueError, UnicodeDecodeError, KeyError, TypeError, AttributeError):
        raise ConfigError(f"{client_secrets}: not an OAuth client file (JSON with an \"installed\" client); "
                          "download it from Google Cloud Console > APIs & Services > Credentials") from None
    if _loopback(token_uri):
        os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"  # a loopback token endpoint (the stand-in) only
    flow = InstalledAppFlow.from_client_config(config, scopes=SCOPES)
    try:
        credentials = flow.run_local_server(
            host="localhost", port=port, open_browser=open_browser, timeout_seconds=int(timeout),
            authorization_prompt_message="Open this address in a browser to let acflow write to your Google "
                                         "Sheets:\n{url}",
            success_message="acflow may now write to your Google Sheets. You can close this tab.")
    except Exception as exc:  # oauthlib's and the local server's errors: their class and code, no secret
        raise AcflowError(f"Google sign-in failed ({type(exc).__name__}: {str(exc)[:120]}); run "
                          "`acflow auth google` again") from None
    if not credentials.refresh_token:
        raise AcflowError("Google gave no refresh token; remove acflow's access at "
                          "https://myaccount.google.com/permissions and run `acflow auth google` again")
    saved = {"type": "authorized_user", "client_id": credentials.client_id,
             "client_secret": credentials.client_secret, "refresh_token": credentials.refresh_token,
             "token_uri": credentials.token_uri}
    target = save_to or token_path()
    _write_private(target, json.dumps(saved, indent=2).encode())
    return target


def _loopback(url: str) -> bool:
    """A token endpoint on this machine (a test's stand-in): never somewhere a token could leak to."""
    parts = urllib.parse.urlsplit(url)
    return parts.scheme in ("http", "https") and is_loopback(parts.hostname)


def _write_private(target: Path, data: bytes) -> None:
    """The token file, readable by its owner only, replaced whole (never half-written)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        os.chmod(name, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(name, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(name)
        raise
