"""Putting runs on the queue: what `acflow enqueue` and `acflow serve --workers celery` call."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import AcflowError, ConfigError
from .plan import Job, jobs, mirror_root


def plan(config_path: str | Path | None, flows: Sequence[str] | None = None, *, trigger: str = "manual",
         scheduled: str | None = None, accounts_file: str | Path | None = None,
         mirror_root_dir: str | Path | None = None, busy: str = "wait", wait_seconds: float | None = None,
         entities: Sequence[str] | None = None) -> list[Job]:
    """The jobs a run makes, one per account, checked before anything is queued."""
    from ..config import load

    if busy not in ("wait", "skip"):
        raise ConfigError(f"--busy must be wait or skip, not {busy!r}")
    accounts = str(Path(accounts_file).resolve()) if accounts_file else None
    config = Path(config_path).resolve() if config_path is not None else None
    common: dict[str, Any] = {"accounts_file": accounts, "mirror_root": str(mirror_root(mirror_root_dir, config)),
                              "busy": busy, "wait_seconds": wait_seconds, "trigger": trigger, "scheduled": scheduled}
    if config is None:
        if not accounts:
            raise ConfigError("nothing to run: pass --config acflow.yaml, or --accounts FILE to sync every account")
        if flows:
            raise ConfigError("flows are named in acflow.yaml: pass --config with them")
        from .accounts import read

        return [Job(name, entities=list(entities or []), **common) for name in read(accounts)]
    cfg = load(config, accounts_file=accounts)
    names = cfg.flow_names(list(flows) if flows else None)
    return jobs(cfg, names, config=str(config), **common)


def enqueue_runs(config_path: str | Path | None, flows: Sequence[str] | None = None, *, trigger: str = "manual",
                 scheduled: str | None = None, accounts_file: str | Path | None = None,
                 mirror_root_dir: str | Path | None = None, busy: str = "wait", wait_seconds: float | None = None,
                 entities: Sequence[str] | None = None, app: Any = None) -> list[str]:
    """Queue one task per account for `flows` of acflow.yaml (all by default); returns the task ids.

    Without a config, `accounts_file` names the accounts and each task syncs `entities` (default: the six
    seed entities) into its account's mirror. Results: `results(ids)`; progress: `acflow workers status`."""
    from .app import TASK, get_app
    from .settings import queue

    app = app or get_app()
    planned = plan(config_path, flows, trigger=trigger, scheduled=scheduled, accounts_file=accounts_file,
                   mirror_root_dir=mirror_root_dir, busy=busy, wait_seconds=wait_seconds, entities=entities)
    try:
        return [app.send_task(TASK, args=[job.to_dict()], queue=queue()).id for job in planned]
    except Exception as exc:  # kombu's OperationalError: the broker is not there
        from .app import broker_url
        from .settings import shown

        raise AcflowError(f"cannot queue runs on the broker {shown(broker_url())} ({type(exc).__name__}): "
                          "is it running? (ACFLOW_BROKER_URL / ACFLOW_REDIS_URL)") from None


def results(task_ids: Sequence[str], *, timeout: float | None = None, app: Any = None) -> list[dict[str, Any]]:
    """Each task's result, waiting for those still queued or running (up to `timeout` seconds in all)."""
    from .app import get_app

    app = app or get_app()
    deadline = None if timeout is None else time.monotonic() + timeout
    out = []
    for task_id in task_ids:
        left = None if deadline is None else max(0.1, deadline - time.monotonic())
        out.append(app.AsyncResult(task_id).get(timeout=left, propagate=False, disable_sync_subtasks=False))
    return out
