"""`run`: the flows of acflow.yaml, each needed account and entity synced once, then written.

A run checks the whole file first (`flows.validate`: no request before the file is right),
syncs every (account, entity) the chosen flows read, once, all accounts at the same time,
then compiles each flow over the mirror and writes it. A flow that fails (an entity that
did not sync, a destination that cannot be written) does not stop the others; the mirror
is kept, so `acflow run FLOW --no-sync` retries the write without downloading again.

Each flow run is logged in the mirror's `_acflow.flows` table (created here), which
`acflow flows` reads, and which `only_if_changed` compares the result's fingerprint to.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from . import destinations
from .account import Account
from .catalog import CATALOG
from .config import DEFAULT_CONFIG, Config, load
from .errors import AcflowError, DestinationError
from .flows import Compiled, Compiler, check_destination, needs, validate
from .mirror import META, Mirror, quote
from .summary import FlowResult, RunSummary
from .sync import ProgressCallback, SyncSummary, parse_duration, run_coroutine, sync_async

FLOW_LOG = f"{META}.flows"
_SETUP = f"""
CREATE TABLE IF NOT EXISTS {FLOW_LOG} (
    run_id VARCHAR, flow VARCHAR, destination VARCHAR, mode VARCHAR, started TIMESTAMPTZ,
    ended TIMESTAMPTZ, status VARCHAR, rows BIGINT, fingerprint VARCHAR, error VARCHAR)
"""


def _config(config: str | Path | Config) -> Config:
    return config if isinstance(config, Config) else load(config)


def _with_workbook_mates(cfg: Config, names: list[str]) -> list[str]:
    """Flows that write sheets of the same workbook run together (the workbook is written whole)."""
    books: dict[Path, list[str]] = {}
    for name in cfg.flows:
        dest = check_destination(cfg, name)
        if dest.kind == "xlsx":
            books.setdefault(dest.path.resolve(), []).append(name)
    out = list(names)
    for name in names:
        for mates in books.values():
            if name in mates:
                out += [m for m in mates if m not in out]
    return out


def _accounts(cfg: Config, names: Sequence[str], given: Mapping[str, Account] | None) -> dict[str, Account]:
    wanted = {a for n in names for a in cfg.account_names(n)}
    out: dict[str, Account] = {}
    for name in sorted(wanted):
        out[name] = given[name] if given and name in given else cfg.account(name)
    return out


class _Prepared:
    """A checked config, its accounts and mirror, synced: what run and preview share."""

    def __init__(self, cfg: Config, names: list[str], accounts: dict[str, Account], db: Mirror) -> None:
        self.cfg, self.names, self.accounts, self.db = cfg, names, accounts, db
        self.syncs: list[SyncSummary] = []
        self.failed: dict[tuple[str, str], str] = {}  # (account, entity) -> why
        self.pairs: set[tuple[str, str]] = set()
        for n in names:
            self.pairs |= needs(cfg, n)

    def sync(self, *, timeout: float, concurrency: int, attempts: int,
             on_progress: ProgressCallback | None) -> None:
        by_account: dict[str, list[str]] = {}
        for account, entity in sorted(self.pairs):
            by_account.setdefault(account, []).append(entity)

        async def all_accounts() -> list[Any]:
            return await asyncio.gather(*(
                sync_async(self.accounts[a], [CATALOG[e] for e in ents], self.db, timeout=timeout,
                           concurrency=concurrency, attempts=attempts, on_progress=on_progress,
                           full_every=parse_duration(self.cfg.spec.full_refresh_every))
                for a, ents in by_account.items()), return_exceptions=True)

        results = run_coroutine(all_accounts())
        for (account, ents), result in zip(by_account.items(), results, strict=True):
            if isinstance(result, BaseException):
                if isinstance(result, AcflowError) and result.exit_code != 1:
                    raise result  # a refused key, a URL that is not ActiveCampaign: stop, as sync does
                if not isinstance(result, Exception):
                    raise result
                for e in ents:
                    self.failed[(account, e)] = str(result)
                continue
            self.syncs.append(result)
            for e in result.entities:
                if e.status != "ok":
                    self.failed[(account, e.entity)] = e.error or "failed"

    def table_of(self, account: str, entity: str) -> str:
        return self.db.current(self.accounts[account].url, entity)  # removed rows and internal columns left out

    def compile(self, name: str) -> Compiled:
        for account, entity in sorted(needs(self.cfg, name)):
            if (account, entity) in self.failed:
                raise AcflowError(f"{entity} of account {account} did not sync: {self.failed[(account, entity)]}")
            if not self.db.has(self.accounts[account].url, entity):
                raise AcflowError(f"{entity} of account {account} is not in the mirror {self.db.path}: "
                                  "run without --no-sync once")
        with self.db.cursor() as con:
            return Compiler(self.cfg, con, self.table_of, self.accounts).compile(name)


def _prepare(config: str | Path | Config, flows: Sequence[str] | None, accounts: Mapping[str, Account] | None,
             mirror: str | Path | None, *, with_mates: bool) -> tuple[Config, list[str], dict[str, Account], Path]:
    cfg = _config(config)
    names = cfg.flow_names(list(flows) if flows else None)
    if with_mates:
        names = _with_workbook_mates(cfg, names)
    mirror_path = Path(mirror) if mirror is not None else cfg.mirror_path()
    validate(cfg, names, accounts=accounts, mirror=mirror_path)  # everything checkable, before any request
    accts = _accounts(cfg, names, accounts)
    return cfg, names, accts, mirror_path


def run(flows: Sequence[str] | None = None, *, config: str | Path | Config = DEFAULT_CONFIG,
        accounts: Mapping[str, Account] | None = None, mirror: str | Path | Mirror | None = None, sync: bool = True,
        timeout: float = 60.0, concurrency: int = 4, attempts: int = 8,
        on_progress: ProgressCallback | None = None, on_synced: Callable[[], None] | None = None) -> RunSummary:
    """Run flows of acflow.yaml (default: all); the CLI's `acflow run`.

    `accounts` gives Account objects by name instead of reading keys from the environment;
    `sync=False` writes from the mirror as it is (a retry after a destination failed); `mirror` may be
    an open Mirror (the service's), which is left open; `on_synced` is called when no more requests
    will be made (the writes follow)."""
    clock = time.monotonic()
    given = mirror if isinstance(mirror, Mirror) else None  # the service's, open for all its runs
    cfg, names, accts, mirror_path = _prepare(config, flows, accounts, given.path if given else mirror,
                                              with_mates=True)
    summary = RunSummary(str(cfg.path), str(mirror_path), uuid.uuid4().hex[:12])
    with contextlib.nullcontext(given) if given else Mirror(mirror_path) as db:
        with db.cursor() as con:
            con.execute(_SETUP)
        prep = _Prepared(cfg, names, accts, db)
        if sync:
            prep.sync(timeout=timeout, concurrency=concurrency, attempts=attempts, on_progress=on_progress)
            summary.syncs = prep.syncs
        if on_synced is not None:  # the service lets the next runs on these accounts start reading
            on_synced()
        _write_all(prep, summary)
    summary.seconds = round(time.monotonic() - clock, 3)
    return summary


def _fingerprint(db: Mirror, sql: str) -> str:
    with db.cursor() as con:
        cols = con.execute(f"DESCRIBE {sql}").fetchall()
        count, total = con.execute(f"SELECT count(*), sum(hash(t)::HUGEINT) FROM ({sql}) t").fetchone()
    shape = ",".join(f"{c[0]}:{c[1]}" for c in cols)
    return f"{count}:{total}:{shape}"


def _last_fingerprint(db: Mirror, flow: str, destination: str) -> str | None:
    rows = db.query(f"SELECT fingerprint FROM {FLOW_LOG} WHERE flow = ? AND destination = ? AND status = 'ok' "
                    "ORDER BY ended DESC LIMIT 1", [flow, destination])
    return rows[0][0] if rows else None


def _log(db: Mirror, run_id: str, r: FlowResult, started: datetime, fingerprint: str | None) -> None:
    with db.cursor() as con:
        con.execute(f"INSERT INTO {FLOW_LOG} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [run_id, r.flow, r.destination, r.mode, started, datetime.now().astimezone(), r.status,
                     r.rows, fingerprint, r.error])


def _options(cfg: Config, name: str) -> destinations.WriteOptions:
    spec = cfg.flows[name]
    return destinations.WriteOptions(header=spec.csv.header, bom=spec.csv.bom, delimiter=spec.csv.delimiter,
                                     neutralize=spec.neutralize_formulas, zone=spec.timezone)


def _retry_hint(names: list[str]) -> str:
    return f"the mirror is kept: fix it, then `acflow run {' '.join(names)} --no-sync` writes without downloading"


def _write_all(prep: _Prepared, summary: RunSummary) -> None:
    cfg, db = prep.cfg, prep.db
    dests = {n: check_destination(cfg, n) for n in prep.names}
    done: set[str] = set()
    for name in prep.names:
        if name in done:
            continue
        dest = dests[name]
        group = [n for n in prep.names if dests[n].kind == "xlsx" and dest.kind == "xlsx"
                 and dests[n].path.resolve() == dest.path.resolve()] or [name]
        done.update(group)
        started = datetime.now().astimezone()
        clock = time.monotonic()
        results = {n: FlowResult(n, dests[n].describe(), cfg.flows[n].mode) for n in group}
        compiled: dict[str, Compiled] = {}
        prints: dict[str, str | None] = {}
        try:
            for n in group:
                compiled[n] = prep.compile(n)
                results[n].notes = compiled[n].notes
                only = cfg.flows[n].only_if_changed
                prints[n] = _fingerprint(db, compiled[n].sql) if only else None
            unchanged = (all(cfg.flows[n].only_if_changed for n in group)
                         and all(prints[n] == _last_fingerprint(db, n, results[n].destination) for n in group)
                         and (not dest.is_file or (dest.path is not None and dest.path.exists())))
            if unchanged:
                for n in group:
                    results[n].status = "unchanged"
            elif dest.kind == "xlsx":
                sheets = [(dests[n].table or n, compiled[n].sql, cfg.flows[n].neutralize_formulas,
                           cfg.flows[n].timezone) for n in group]  # a flow's zone, in its cells' format
                counts = destinations.write_workbook(db, dest.path, sheets, _options(cfg, name))
                for n, count in zip(group, counts, strict=True):
                    results[n].rows = count
            else:
                spec = cfg.flows[name]
                sql = compiled[name].sql
                if spec.mode == "append":
                    stamp = datetime.now().astimezone().isoformat()
                    sql = f"SELECT *, TIMESTAMPTZ '{stamp}' AS {quote(destinations.EXTRACTED_AT)} FROM ({sql})"
                results[name].rows = destinations.write(db, sql, dest, spec.mode, compiled[name].json_columns,
                                                        _options(cfg, name))
        except DestinationError as exc:
            for n in group:
                results[n].status, results[n].error = "failed", f"{exc}; {_retry_hint(group)}"
        except AcflowError as exc:  # also a ConfigError: the mirror's columns differ from the catalog's
            for n in group:
                results[n].status, results[n].error = "failed", str(exc)
        seconds = round(time.monotonic() - clock, 3)
        for n in group:
            results[n].seconds = seconds
            summary.flows.append(results[n])
            _log(db, summary.run_id, results[n], started, prints.get(n) if results[n].status != "failed" else None)


def preview_flow(flow: str, *, config: str | Path | Config = DEFAULT_CONFIG, limit: int = 10,
                 accounts: Mapping[str, Account] | None = None, mirror: str | Path | None = None,
                 sync: bool = True, timeout: float = 60.0) -> pa.Table:
    """A flow's first rows, as it would write them; the destination is not touched."""
    cfg, names, accts, mirror_path = _prepare(config, [flow], accounts, mirror, with_mates=False)
    with Mirror(mirror_path) as db:
        prep = _Prepared(cfg, names, accts, db)
        if sync:
            prep.sync(timeout=timeout, concurrency=4, attempts=8, on_progress=None)
        compiled = prep.compile(flow)
        with db.cursor() as con:
            return con.sql(f"SELECT * FROM ({compiled.sql}) LIMIT {int(limit)}").to_arrow_table()


def list_flows(config: str | Path | Config = DEFAULT_CONFIG, mirror: str | Path | None = None) -> list[dict[str, Any]]:
    """The flows of acflow.yaml with their source, destination, mode and last run."""
    cfg = _config(config)
    mirror_path = Path(mirror) if mirror is not None else cfg.mirror_path()
    last: dict[str, tuple[Any, ...]] = {}
    if mirror_path.exists():
        with Mirror(mirror_path) as db:
            with db.cursor() as con:
                con.execute(_SETUP)
            for row in db.query(f"SELECT flow, ended, status, rows, error FROM {FLOW_LOG} "
                                "QUALIFY row_number() OVER (PARTITION BY flow ORDER BY ended DESC) = 1"):
                last[row[0]] = row[1:]
    out = []
    for name, spec in cfg.flows.items():
        src = spec.source
        if src.flow is not None:
            source = f"flow {src.flow}"
        else:
            accts = cfg.account_names(name)
            source = f"{src.entity} ({', '.join(accts)})"
        ended, status, rows, error = last.get(name, (None, None, None, None))
        words, upcoming = _schedule(cfg, name)
        out.append({"flow": name, "source": source, "destination": spec.to, "mode": spec.mode,
                    "schedule": words, "next_run": upcoming,
                    "last_run": ended, "status": status, "rows": rows, "error": error})
    return out


def _schedule(cfg: Config, flow: str) -> tuple[str | None, datetime | None]:
    """The flow's schedule in words and its next run in the schedule's own time zone (acflow serve runs it)."""
    from .service.schedule import describe, effective, local, next_runs

    spec = effective(cfg.spec.schedule, cfg.flows[flow].schedule)
    if spec is None:
        return None, None
    found = next_runs(spec, datetime.now().astimezone(), 1)
    return describe(spec), local(spec, found[0]) if found else None


def check(config: str | Path | Config = DEFAULT_CONFIG, flows: Sequence[str] | None = None) -> dict[str, list[str]]:
    """`acflow validate` as a function: every flow's output columns, or a ConfigError with file:line."""
    cfg = _config(config)
    return {name: [c for c, _ in compiled.columns]
            for name, compiled in validate(cfg, list(flows) if flows else None).items()}
