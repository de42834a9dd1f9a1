"""The service: acflow.yaml's flows on their schedules, queued per account, with their history.

One object that the HTTP API, the web UI, the MCP server and the CLI all drive. It owns the
scheduler (APScheduler 3, in a background thread), the runner (runner.py), the run history
(history.py, in the mirror), the tokens (tokens.py) and the copies served at data URLs
(served.py).

Everything that opens the mirror (runs, the history, previews, reports) happens in the run host
(host.py), a child process started when needed and ended a few seconds after its last request:
between runs this process holds no DuckDB or Arrow, and `acflow run` or `acflow runs` in another
terminal can open the mirror (DuckDB lets one process write a file at a time).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import Config, load
from ..errors import AcflowError, ConfigError
from . import history, hosted, served
from .history import RunRecord
from .host import Host
from .runner import Runner, now
from .tokens import Tokens

if TYPE_CHECKING:
    from ..account import Account
    from ..summary import RunSummary

log = logging.getLogger("acflow.service")
DEFAULT_RETENTION = timedelta(days=90)


@dataclass
class FlowState:
    name: str
    source: str
    destination: str
    mode: str
    schedule: str | None  # in words
    next_run: datetime | None
    last: RunRecord | None
    serve: list[str] = field(default_factory=list)  # formats served at token URLs: csv, json
    error: str | None = None  # the flow cannot run as written (acflow validate's line)

    def to_dict(self) -> dict[str, Any]:
        return {"flow": self.name, "source": self.source, "destination": self.destination, "mode": self.mode,
                "schedule": self.schedule, "next_run": self.next_run.isoformat() if self.next_run else None,
                "last": self.last.to_dict() if self.last else None, "serve": self.serve, "error": self.error}


class Service:
    """`Service(config_path).start()` runs the schedules; `.stop()` ends them (see runner.stop)."""

    def __init__(self, config_path: str | Path, *, mirror: str | Path | None = None,
                 accounts: Mapping[str, Account] | None = None, parallel: int = 4, schedules: bool = True,
                 retention: timedelta | None = None, workers: str | None = None, verbose: bool = False) -> None:
        self.config_path = Path(config_path)
        self._given_accounts = dict(accounts or {})
        self._cfg = load(self.config_path)
        self._stamp = self._file_stamp()
        self.mirror_path = Path(mirror) if mirror is not None else self._cfg.mirror_path()
        self.state_dir = self.mirror_path.parent
        self.tokens = Tokens(self.state_dir)
        self.retention = retention or _retention(self._cfg) or DEFAULT_RETENTION
        self._schedules_on = schedules
        self.workers = workers  # "celery": runs go to acflow worker processes (workers/), not threads here
        if workers is not None:
            served_flows = [n for n in self._cfg.flows if served.formats(self._cfg, n)]
            if served_flows:
                raise ConfigError(f"flow {served_flows[0]} has serve:, which needs the flow run by acflow serve "
                                  "itself: without --workers, or write it where the BI tool reads (a database)")
        self._scheduler: Any = None
        self.host = Host(self.mirror_path, verbose=verbose)
        self._needs: dict[str, frozenset[str]] = {}  # flow -> entities, as its last batch said
        self._health: dict[str, dict[str, Any]] = {}
        self.on_finished: list[Callable[[RunRecord, RunSummary | None], None]] = []
        self.notifier: Any = None  # alerts.Notifier, from start() on
        self.base_url: str | None = None  # where the service is reached: alerts link to a run's page
        self.runner = Runner(accounts_of=self._accounts_of, entities_of=self._entities_of, save=self._save,
                             execute=self._execute, finished=self._finished, parallel=parallel)
        stale = self.host.call(hosted.begin, self.retention, now())
        if stale:
            log.warning("%d run(s) were left unfinished by the last service; marked failed", stale)

    # -- acflow.yaml

    def _file_stamp(self) -> tuple[float, int] | None:
        try:
            st = self.config_path.stat()
        except OSError:
            return None
        return (st.st_mtime, st.st_size)

    def config(self) -> Config:
        """The file as it is now: re-read when it changed (a broken file is logged once, and the last good
        version stays in use: a typo saved mid-edit must not stop the schedules)."""
        if self._file_stamp() != self._stamp:
            self.reload()
        return self._cfg

    def reload(self) -> list[str]:
        """Re-read acflow.yaml (edited by hand or saved by the UI) and reschedule; returns its errors."""
        stamp = self._file_stamp()
        try:
            cfg = load(self.config_path)
        except ConfigError as exc:
            self._stamp = stamp  # said once, not at every page
            lines = getattr(exc, "errors", None) or [str(exc)]
            log.error("acflow.yaml not reloaded (the last good version stays in use): %s", lines[0])
            return list(lines)
        self._cfg, self._stamp = cfg, stamp
        if self._scheduler is not None:
            self._schedule_all(catch_up=False)
        return []

    def _accounts_of(self, flow: str) -> frozenset[str]:
        cfg = self.config()
        if flow not in cfg.flows:
            raise ConfigError(f"no flow named {flow!r} in {self.config_path} (it was removed)")
        return frozenset(cfg.account_names(flow))

    def _entities_of(self, flow: str) -> frozenset[str]:
        if flow in self._needs:  # the host said, with the batch's figures
            return self._needs[flow]
        from ..flows import needs

        return frozenset(e for _, e in needs(self.config(), flow))

    def accounts(self, names: Iterable[str] | None = None) -> dict[str, Account]:
        """The named accounts, their keys read from the environment now (a missing one: its ConfigError);
        with no names, every account whose key is set (an unset one must not fail unrelated flows)."""
        cfg = self._cfg
        out: dict[str, Account] = {}
        for name in names if names is not None else cfg.spec.accounts:
            if name in self._given_accounts:
                out[name] = self._given_accounts[name]
            elif names is not None:
                out[name] = cfg.account(name)
            else:
                with contextlib.suppress(AcflowError):
                    out[name] = cfg.account(name)
        return out

    def _save(self, records: list[RunRecord]) -> None:
        try:
            self.host.call(history.save_all, records)
        except Exception as exc:  # a mirror that cannot be written is the run's problem, not the service's
            log.error("run %s not recorded: %s", ", ".join(f"{r.run_id} of {r.flow}" for r in records),
                      str(exc).splitlines()[0] if str(exc) else type(exc).__name__)

    # -- runs

    def trigger(self, flow: str, trigger: str = "manual", scheduled: datetime | None = None) -> RunRecord:
        cfg = self.config()
        if flow not in cfg.flows:
            raise ConfigError(f"no flow named {flow!r} in {self.config_path}")
        return self.runner.submit(flow, trigger, scheduled)

    def _execute(self, flows: list[str], on_rows: Callable[[str, int], None],
                 on_synced: Callable[[], None]) -> RunSummary:
        cfg = self.config()
        if self.workers == "celery":
            return self._on_workers(flows, on_synced)

        def on_event(what: str, payload: Any) -> None:
            if what == "rows":
                on_rows(*payload)
            elif what == "synced":
                on_synced()

        # the keys as this process reads them now (the host's environment is its start's)
        summary, wanted = self.host.events(hosted.execute, cfg, flows, self.accounts(), str(self.state_dir),
                                           on_event=on_event)
        self._needs.update({name: frozenset(entities) for name, entities in wanted.items()})
        self._note_health(summary)
        return summary

    def _on_workers(self, flows: list[str], on_synced: Callable[[], None]) -> RunSummary:
        """The batch as Celery tasks (one per account), waited for; their figures as a run summary."""
        from ..summary import EntityResult, FlowResult, RunSummary, SyncSummary
        from ..workers.enqueue import enqueue_runs, results

        ids = enqueue_runs(self.config_path, flows, trigger="service", busy="wait")
        got = results(ids)
        on_synced()
        summary = RunSummary(str(self.config_path), "workers", ids[0] if ids else "")
        for task in got:
            sync = SyncSummary(str(task.get("account")), "workers", "", "", requests=int(task.get("requests") or 0))
            sync.entities = [EntityResult(entity, fetched=int(n)) for entity, n in (task.get("read") or {}).items()]
            if sync.entities:
                sync.entities[0].rate_limited = int(task.get("rate_limited") or 0)
            summary.syncs.append(sync)
            for f in task.get("flows") or []:
                summary.flows.append(FlowResult(f["flow"], f.get("destination") or "", "", f.get("status") or "failed",
                                                int(f.get("rows") or 0), error=f.get("error")))
            if task.get("status") != "ok" and not task.get("flows"):
                why = task.get("error") or "the task failed"
                summary.flows += [FlowResult(name, "", "", "failed", error=why) for name in flows]
        return summary

    def _note_health(self, summary: RunSummary) -> None:
        for s in summary.syncs:
            h = self._health.setdefault(s.account, {})
            h["key_ok"] = True
            h["checked"] = now()
            h["stubs"] = sum(e.stubs for e in s.entities)
            if any(e.rate_limited for e in s.entities):
                h["last_429"] = now()

    def _finished(self, record: RunRecord, summary: RunSummary | None) -> None:
        if record.error and "refused the API key" in record.error:
            for name in self._accounts_of_quiet(record.flow):
                with contextlib.suppress(AcflowError):
                    url = self.accounts([name])[name].url
                    self._health.setdefault(url, {}).update(key_ok=False, checked=now())
        if self.notifier is not None and record.status != "skipped":
            self._alert(record)
        for hook in self.on_finished:
            try:
                hook(record, summary)
            except Exception:
                log.exception("after run %s of %s", record.run_id, record.flow)

    def _alert(self, record: RunRecord) -> None:
        from .alerts import Event, merge

        cfg = self._cfg
        if record.flow not in cfg.flows:
            return
        spec = merge(cfg.spec.alerts, cfg.flows[record.flow].alerts)
        before = self.host.call(history.previous_status, record.flow, record.run_id)
        link = f"{self.base_url}/runs/{record.run_id}" if self.base_url else None
        self.notifier.submit(spec, Event.of(record, previous_status=before, link=link))

    def _accounts_of_quiet(self, flow: str) -> frozenset[str]:
        try:
            return self._accounts_of(flow)
        except AcflowError:
            return frozenset()

    def progress(self, run_id: str) -> dict[str, int]:
        return self.runner.progress(run_id) or {}

    def runs(self, flow: str | None = None, status: str | None = None, limit: int = 200) -> list[RunRecord]:
        return self.host.call(history.runs, flow, status, limit)

    def get_run(self, run_id: str) -> RunRecord | None:
        """A queued or running run as the runner has it now; a finished one from the history."""
        for record in self.runner.active():
            if record.run_id == run_id and not record.done:
                return dataclasses.replace(record)
        return self.host.call(history.get, run_id)

    # -- what the pages show

    def flows(self) -> list[FlowState]:
        from ..destinations import check_destination

        cfg = self.config()
        last = self.host.call(history.last_finished)
        out = []
        for name, spec in cfg.flows.items():
            src = spec.source
            source = f"flow {src.flow}" if src.flow else f"{src.entity} ({', '.join(cfg.account_names(name))})"
            try:
                destination, error = check_destination(cfg, name).describe(), None
            except AcflowError as exc:
                destination, error = spec.to, str(exc)
            sched = schedule_of(cfg, name)
            out.append(FlowState(name, source, destination, spec.mode, describe(sched), next_run(sched, now()),
                                 last.get(name), served.formats(cfg, name), error))
        return out

    def accounts_health(self) -> list[dict[str, Any]]:
        cfg = self.config()
        out = []
        from ..account import normalize_url

        for name, spec in cfg.spec.accounts.items():
            url = f"${spec.url_env}" if spec.url is None else "(not a valid API URL)"
            with contextlib.suppress(AcflowError):  # credentials in it dropped; a key pasted as it never shown
                url = normalize_url(cfg.account_url(name))
            h = self._health.get(url, {})
            out.append({"name": name, "url": url, "key_ok": h.get("key_ok"), "restricted_stubs": h.get("stubs", 0),
                        "last_429": h.get("last_429"), "checked": h.get("checked")})
        return out

    # -- data URLs

    def rotate_token(self, flow: str) -> str:
        if flow not in self.config().flows:
            raise ConfigError(f"no flow named {flow!r} in {self.config_path}")
        return self.tokens.make(flow)

    def data_urls(self, flow: str, token: str | None, base: str = "") -> dict[str, str]:
        shown = token or "TOKEN"
        return {fmt: f"{base}/data/{flow}.{fmt}?token={shown}" for fmt in served.formats(self.config(), flow)}

    # -- schedules

    def start(self) -> None:
        """Schedules on (catching up once on each flow that missed its time while the service was down)."""
        from .alerts import Notifier, merge, problems

        self.notifier = Notifier()
        for name, flow in self._cfg.flows.items():  # settings missing from the environment: said now, once
            for line in problems(merge(self._cfg.spec.alerts, flow.alerts)):
                log.warning("flow %s: alerts: %s", name, line)
        if not self._schedules_on:
            return
        from apscheduler.schedulers.background import BackgroundScheduler

        self._scheduler = BackgroundScheduler(timezone="UTC", job_defaults={
            "coalesce": True, "max_instances": 1, "misfire_grace_time": 300})
        self._scheduler.start()
        self._schedule_all(catch_up=True)

    def _schedule_all(self, *, catch_up: bool) -> None:
        cfg = self._cfg
        self._scheduler.remove_all_jobs()
        taken = self.host.call(history.last_due) if catch_up else {}
        current = now()
        if cfg.spec.report is not None:
            from . import reports
            from .schedule import trigger as report_trigger

            self._scheduler.add_job(reports.send, report_trigger(cfg.spec.report.schedule), args=[self],
                                    id="*report*", name="report e-mail", replace_existing=True)
        for name in cfg.flows:
            spec = schedule_of(cfg, name)
            if spec is None:
                continue
            from .schedule import trigger

            self._scheduler.add_job(self._fire, trigger(spec), args=[name], id=name, name=name,
                                    replace_existing=True)
            if catch_up and name in taken:
                from .schedule import latest_due

                missed = latest_due(spec, taken[name], current)
                if missed is not None:
                    log.info("flow %s missed its run at %s while the service was down: one catch-up run",
                             name, missed.isoformat(timespec="minutes"))
                    self.runner.submit(name, "catch-up", missed)

    def _fire(self, flow: str) -> None:
        from .schedule import latest_due

        spec = schedule_of(self._cfg, flow)
        current = now()
        scheduled = latest_due(spec, current - timedelta(days=8), current) if spec is not None else None
        self.runner.submit(flow, "schedule", scheduled or current)

    def next_runs(self) -> dict[str, datetime | None]:
        cfg = self.config()
        return {name: next_run(schedule_of(cfg, name), now()) for name in cfg.flows}

    def stop(self, grace: float = 30.0) -> list[RunRecord]:
        """Schedules off, queued runs skipped, running ones given `grace` seconds; the runs still
        going after it are returned (the caller exits: their writes are all or nothing)."""
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        still = self.runner.stop(grace)
        if self.notifier is not None:  # the failures just recorded still go out, within a few seconds
            self.notifier.close(min(10.0, max(grace, 2.0)))
        for record in still:  # the process ends under them: said now, if the host answers within a second or two
            record.status, record.ended = "failed", now()
            record.error = (f"stopped by the service's shutdown after {grace:g} s; nothing half-written was kept "
                            "(the destination holds its previous data)")
            try:
                self.host.call(history.save, record, timeout=2.0)
            except Exception as exc:  # the next start marks it failed all the same
                log.warning("run %s not recorded as stopped: %s", record.run_id, exc)
        if not still:
            self.host.close()
        return still


def _retention(cfg: Config) -> timedelta | None:
    from ..sync import parse_duration

    text = getattr(getattr(cfg.spec, "service", None), "keep_runs", None)
    return parse_duration(text) if text else None


def schedule_of(cfg: Config, flow: str) -> Any:
    """The flow's schedule (its own, or the file's default), or None."""
    default, own = getattr(cfg.spec, "schedule", None), getattr(cfg.flows[flow], "schedule", None)
    if default is None and own is None:
        return None
    from .schedule import effective

    return effective(default, own)


def describe(spec: Any) -> str | None:
    if spec is None:
        return None
    from .schedule import describe as words

    return words(spec)


def next_run(spec: Any, after: datetime) -> datetime | None:
    if spec is None:
        return None
    from .schedule import next_runs

    found = next_runs(spec, after, 1)
    return found[0] if found else None
