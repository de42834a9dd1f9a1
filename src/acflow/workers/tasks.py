"""The task: one account's flows (or sync), under its lease, into its own mirror, safe to run twice.

A task may run twice: its worker died before acknowledging it (SIGKILL, a lost machine), or Redis's
visibility timeout passed while it still ran. Nothing is then lost or doubled:
- the mirror's loads are transactions: a killed sync leaves the previous state, and a second sync
  merges by id (incremental from what the mirror holds);
- replace and merge writes are atomic and give the same result when repeated;
- append would add the rows again, so a second delivery skips each append flow that the mirror's flow
  log shows written since the task first started. Only a worker killed in the milliseconds between an
  append's commit and its log row can double those rows; they carry one `_extracted_at`, to find them.
- a task whose result is recorded (it finished, then its worker died before the ack) returns it.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

from ..errors import AcflowError
from . import settings
from .lease import DEFAULT_TTL, AccountBusy, AccountLease
from .plan import MIRROR_ROOT_ENV, Job, narrowed, with_accounts_file
from .status import Records, now_iso

log = logging.getLogger("acflow.workers")
LEASE_TTL_ENV = "ACFLOW_LEASE_SECONDS"


def run_job(task_id: str, payload: dict[str, Any], *, hostname: str = "") -> dict[str, Any]:
    job = Job.from_dict(payload)
    if os.environ.get(MIRROR_ROOT_ENV):  # the shared folder as this machine mounts it
        job.mirror_root = os.environ[MIRROR_ROOT_ENV]
    records = Records(settings.client())
    done = records.result_of(task_id)
    if done is not None and done.get("status") != "skipped":
        log.info("already done", extra={"account": job.account, "task": task_id, "status": done.get("status")})
        return done
    first = records.first_started(task_id)
    clock = time.monotonic()
    result: dict[str, Any] = {"task": task_id, "account": job.account, "trigger": job.trigger,
                              "scheduled": job.scheduled, "worker": hostname, "started": now_iso()}
    ttl = float(os.environ.get(LEASE_TTL_ENV, DEFAULT_TTL))
    try:
        with AccountLease(records.r, job.account, ttl=ttl, wait=0 if job.busy == "skip" else job.wait_seconds):
            done = records.result_of(task_id)  # a second delivery that waited for the first
            if done is not None and done.get("status") != "skipped":
                return done
            records.running(job.account, task_id, hostname)
            log.info("run started", extra={"account": job.account, "task": task_id, "flows": job.flows})
            try:
                result.update(_execute(job, first))
            finally:
                records.not_running(job.account, task_id)
    except AccountBusy:
        result.update(status="skipped", error=f"account {job.account} was busy with another run")
    except AcflowError as exc:
        result.update(status="failed", error=str(exc))
    except Exception as exc:  # recorded with its kind; never the key (it is in no message acflow writes)
        result.update(status="failed", error=f"{type(exc).__name__}: {exc}")
    result.update(ended=now_iso(), seconds=round(time.monotonic() - clock, 3))
    records.finished(task_id, result)
    level = logging.ERROR if result["status"] == "failed" else logging.INFO
    log.log(level, "run %s", result["status"], extra={k: result.get(k) for k in (
        "account", "task", "status", "seconds", "rows", "requests", "rate_limited", "error")})
    return result


def _execute(job: Job, first_started: str) -> dict[str, Any]:
    Path(job.mirror_root).mkdir(parents=True, exist_ok=True)
    if job.config is None:
        return _sync_only(job)
    from ..config import load
    from ..run import run

    cfg = load(job.config, accounts_file=job.accounts_file)
    cfg, flows = narrowed(cfg, job.account, job.flows)
    appended = _appended_since(job.mirror_path(), [f for f in flows if cfg.flows[f].mode == "append"],
                               first_started)
    todo = [f for f in flows if f not in appended]
    out: dict[str, Any] = {"skipped_flows": sorted(appended)} if appended else {}
    if not todo:
        return {**out, "status": "ok", "flows": [], "rows": 0, "requests": 0, "rate_limited": 0}
    summary = run(todo, config=cfg, mirror=job.mirror_path())
    syncs = [e for s in summary.syncs for e in s.entities]
    failed = [f"{f.flow}: {f.error}" for f in summary.flows if f.status == "failed"]
    failed += [f"{e.entity}: {e.error or e.incomplete}" for e in syncs if e.status != "ok"]
    return {**out, "status": "ok" if summary.ok else "failed", "error": "; ".join(failed)[:2000] or None,
            "flows": [{"flow": f.flow, "status": f.status, "rows": f.rows, "destination": f.destination,
                       "error": f.error} for f in summary.flows],
            "read": {e.entity: e.fetched for e in syncs},  # per entity: the service's run history shows it
            "rows": sum(e.fetched for e in syncs),
            "requests": sum(s.requests for s in summary.syncs), "rate_limited": sum(e.rate_limited for e in syncs)}


def _sync_only(job: Job) -> dict[str, Any]:
    """No acflow.yaml: the account's entities into its mirror (the accounts file says who it is)."""
    from ..config import Config, ConfigSpec
    from ..errors import ConfigError
    from ..sync import sync

    if not job.accounts_file:
        raise ConfigError("a job without acflow.yaml needs an accounts file")
    cfg = Config(Path(job.accounts_file), ConfigSpec.model_construct(accounts={}, flows={}), None)
    with_accounts_file(cfg, job.accounts_file)
    if job.account not in cfg.spec.accounts:
        raise ConfigError(f"{job.accounts_file}: no account named {job.account!r}: was it removed since the run "
                          "was queued?")
    summary = sync(job.entities or None, account=cfg.account(job.account), mirror=job.mirror_path())
    failed = [f"{e.entity}: {e.error or e.incomplete}" for e in summary.entities if e.status != "ok"]
    return {"status": "ok" if summary.ok else "failed", "error": "; ".join(failed)[:2000] or None,
            "entities": {e.entity: e.rows for e in summary.entities},
            "rows": sum(e.fetched for e in summary.entities), "requests": summary.requests,
            "rate_limited": sum(e.rate_limited for e in summary.entities)}


def _appended_since(mirror: Path, flows: list[str], since: str) -> set[str]:
    """Append flows the mirror's flow log shows written (ok) since `since`: a second delivery skips them."""
    if not flows or not mirror.exists():
        return set()
    from ..mirror import Mirror
    from ..run import FLOW_LOG

    with Mirror(mirror) as db:
        try:
            rows = db.query(f"SELECT DISTINCT flow FROM {FLOW_LOG} WHERE status = 'ok' AND mode = 'append' "
                            f"AND started >= CAST(? AS TIMESTAMPTZ)", [since])
        except Exception:  # no flow log yet: nothing was written
            return set()
    return {r[0] for r in rows} & set(flows)
