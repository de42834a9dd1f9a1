"""`acflow report`: the e-mail, audience and pipeline dashboards the seeds describe, as one HTML file.

`report(...)` reads the mirror (no ActiveCampaign request unless `sync=True`), computes every
figure as SQL over it (figures.py), writes one self-contained HTML page (charts as inline SVG,
no external URL) and returns the figures as Arrow tables, so a notebook can reuse them.

For other parts (the web UI, scheduled e-mails): `build(...)` gives the Report without writing
anything, `render_html(report)` its page (or `fragment=True`: the part inside <body>, with its
styles), `summary_png(report)` a small PNG of the headline figures to show inline in an e-mail.

Nothing heavy is imported at module level: `acflow report --help` loads this package.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

    from ..account import Account
    from ..config import Config
    from ..mirror import Mirror
    from ..sync import ProgressCallback, SyncSummary
    from .figures import Figure
    from .window import Window

# What the report reads: the seeds' entities it uses and the lookups that name things in it.
ENTITIES = ("campaigns", "contacts", "lists", "contactLists", "deals", "dealGroups", "dealStages", "users", "forms")
DEFAULT_TO = Path("report.html")


@dataclass
class Report:
    """The figures of one account over one period, and where the page was written."""

    account: str  # the account's API URL (never its key)
    window: Window
    generated_at: datetime
    mirror: str
    figures: dict[str, Figure]
    synced_at: dict[str, datetime | None] = field(default_factory=dict)  # entity -> its last sync
    path: Path | None = None
    sync: SyncSummary | None = None

    def tables(self) -> dict[str, pa.Table]:
        """Each figure's table by name: `report.tables()["pipeline_open"].to_pandas()`."""
        return {name: f.table for name, f in self.figures.items()}

    def __getitem__(self, name: str) -> pa.Table:
        return self.figures[name].table

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON-able with default=str): each figure's rows, how it was made, why it is empty."""
        return {
            "account": self.account, "generated_at": self.generated_at, "mirror": self.mirror,
            "path": str(self.path) if self.path else None,
            "window": {"start": self.window.start, "end": self.window.end, "grain": self.window.grain,
                       "zone": self.window.zone, "since": self.window.since},
            "synced_at": self.synced_at,
            "figures": {name: {"title": f.title, "section": f.section, "how": f.how, "empty": f.empty,
                               "note": f.note, "rows": f.rows()} for name, f in self.figures.items()},
        }


def build(account_url: str, mirror: Mirror, *, since: str | None = None,
          stage_probabilities: Mapping[int | str, float] | None = None, now: datetime | None = None,
          zone: str | None = None) -> Report:
    """The Report of one account from an open mirror: no request, nothing written."""
    from ..errors import ConfigError
    from .figures import Source, compute
    from .window import parse_since

    held = [e for e in ENTITIES if mirror.has(account_url, e)]
    if not held:
        accounts = sorted({r[0] for r in mirror.query("SELECT account FROM _acflow.state")})
        raise ConfigError(f"the mirror {mirror.path} holds nothing of {account_url}: sync it first (acflow report "
                          f"--sync)" + (f"; it holds {', '.join(accounts)}" if accounts else ""))
    zone = zone or mirror.zone(account_url)[0] or "UTC"
    window = parse_since(since, zone, now)
    probabilities = _stage_ids(mirror, account_url, stage_probabilities or {})
    figures = compute(Source(mirror, account_url, window, probabilities))
    synced = {}
    for entity in ENTITIES:
        state = mirror.state(account_url, entity)
        synced[entity] = state.synced_at if state else None
    return Report(account_url, window, (now or datetime.now(UTC)).astimezone(UTC), str(mirror.path), figures,
                  synced)


def _stage_ids(mirror: Mirror, account_url: str, given: Mapping[int | str, float]) -> dict[int, float]:
    """Stage probabilities keyed by stage id, or by title (every stage of that title, in any pipeline)."""
    from ..errors import ConfigError

    out: dict[int, float] = {}
    titles: dict[str, list[int]] = {}
    if mirror.has(account_url, "dealStages"):
        for sid, title in mirror.query(f"SELECT id, title FROM {mirror.current(account_url, 'dealStages')}"):
            titles.setdefault(str(title).lower(), []).append(int(sid))
    for key, value in given.items():
        p = float(value)
        if not 0 <= p <= 100:
            raise ConfigError(f"stage probability {p:g} for {key!r} must be a percentage from 0 to 100")
        if isinstance(key, int) or str(key).isdigit():
            out[int(key)] = p
        elif str(key).lower() in titles:
            out.update({sid: p for sid in titles[str(key).lower()]})
        else:
            known = ", ".join(sorted({t for t in titles})) or "none synced"
            raise ConfigError(f"no deal stage titled {key!r}: give a stage id or one of: {known}")
    return out


def report(account: str | Account | None = None, *, to: str | Path | None = DEFAULT_TO, since: str | None = None,
           mirror: str | Path | None = None, config: str | Path | None = None, sync: bool = False,
           stage_probabilities: Mapping[int | str, float] | None = None, now: datetime | None = None,
           timeout: float = 60.0, on_progress: ProgressCallback | None = None) -> Report:
    """The report of one account, written as one HTML file to `to` (None: not written); the CLI's
    `acflow report`.

    `account`: an Account, an API URL, or an account's name in acflow.yaml (default: the file's
    first account, else ACTIVECAMPAIGN_API_URL, else the mirror's only account). `since`: 90d,
    12w, a date (2025-01-01) or all (default 365d). `sync=True` first syncs what the report reads
    (that needs the key); otherwise no request is made. `stage_probabilities`: {stage id or
    title: percent} for deals with neither winProbability nor percent.
    """
    from ..mirror import Mirror

    cfg = _config(config)
    url, acc = _account(account, cfg, sync)
    path = Path(mirror) if mirror is not None else cfg.mirror_path() if cfg else _default_mirror()
    summary = None
    if sync:
        summary = _sync(acc, path, timeout, on_progress)  # type: ignore[arg-type]
    elif not path.exists():
        from ..errors import ConfigError

        raise ConfigError(f"no mirror at {path}: run `acflow sync` first, or `acflow report --sync`")
    with Mirror(path) as db:
        result = build(url or _only_account(db), db, since=since, stage_probabilities=stage_probabilities, now=now,
                       zone=acc.timezone if acc else None)
    result.sync = summary
    if to is not None:
        from .page import render_html

        result.path = write_atomically(Path(to), render_html(result))
    return result


def render_html(report: Report, *, fragment: bool = False) -> str:
    """The report as one self-contained HTML page (or, with fragment=True, what goes inside <body>)."""
    from .page import render_html as render

    return render(report, fragment=fragment)


def summary_png(report: Report) -> bytes:
    """A small PNG of the headline figures, for the body of an e-mail (the HTML page goes attached)."""
    from .charts import summary_png as png

    return png(report)


def write_atomically(path: Path, text: str) -> Path:
    """The whole page or nothing: a reader never sees half a file, a failure leaves the old one."""
    from ..errors import AcflowError, disk_cause

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise AcflowError(f"report {path} cannot be written: {disk_cause(exc) or exc.strerror}") from None
    return path


def _only_account(db: Mirror) -> str:
    """With no account named anywhere: the one the mirror holds, if it holds only one."""
    from ..errors import ConfigError

    held = sorted({r[0] for r in db.query("SELECT account FROM _acflow.state")})
    if len(held) == 1:
        return held[0]
    if not held:
        raise ConfigError(f"the mirror {db.path} holds no account yet: run `acflow sync` first, or `acflow report "
                          "--sync`")
    raise ConfigError(f"the mirror {db.path} holds several accounts ({', '.join(held)}): choose one with --account")


def _default_mirror() -> Path:
    from ..mirror import DEFAULT_PATH

    return DEFAULT_PATH


def _config(config: str | Path | None) -> Config | None:
    """acflow.yaml when given, or when one is in the current folder."""
    from ..config import DEFAULT_CONFIG, load

    if config is not None:
        return load(config)
    return load(DEFAULT_CONFIG) if Path(DEFAULT_CONFIG).exists() else None


def _account(account: str | Account | None, cfg: Config | None, sync: bool) -> tuple[str, Account | None]:
    """The account's URL, and the Account (with its key) when a sync needs one."""
    from ..account import URL_ENV, Account, normalize_url
    from ..errors import ConfigError

    if isinstance(account, Account):
        return account.url, account
    if account is not None and "://" in account:
        url = normalize_url(account)
        return url, Account.resolve(url) if sync else None
    if account is not None:
        if cfg is None or account not in cfg.spec.accounts:
            where = f"{cfg.path} has: {', '.join(cfg.spec.accounts) or 'none'}" if cfg else "no acflow.yaml found"
            raise ConfigError(f"no account named {account!r} ({where}); or give the account's API URL")
        return _named(cfg, account, sync)
    if cfg is not None and cfg.spec.accounts:
        return _named(cfg, next(iter(cfg.spec.accounts)), sync)
    if sync or os.environ.get(URL_ENV):
        acc = Account.resolve() if sync else None
        return (acc.url if acc else normalize_url(os.environ[URL_ENV])), acc
    return "", None  # the mirror's only account (report() finds it)


def _named(cfg: Config, name: str, sync: bool) -> tuple[str, Account | None]:
    if sync:
        acc = cfg.account(name)
        return acc.url, acc
    from ..account import normalize_url

    spec = cfg.spec.accounts[name]
    url = spec.url or os.environ.get(spec.url_env or "")
    if not url:
        raise cfg.error(("accounts", name, "url_env"), f"environment variable {spec.url_env} is not set: "
                        f"export {spec.url_env}=https://youraccount.api-us1.com")
    return normalize_url(url), None


def _sync(account: Account, path: Path, timeout: float, on_progress: ProgressCallback | None) -> SyncSummary:
    from ..errors import AcflowError
    from ..sync import sync as do_sync

    summary = do_sync(list(ENTITIES), account=account, mirror=path, timeout=timeout, on_progress=on_progress)
    failed = [e for e in summary.entities if e.status != "ok"]
    if failed:
        raise AcflowError("the sync before the report failed: " + "; ".join(
            f"{e.entity}: {e.error or e.incomplete or e.status}" for e in failed) + "; no report was written")
    return summary


__all__ = ["ENTITIES", "Report", "build", "render_html", "report", "summary_png"]
