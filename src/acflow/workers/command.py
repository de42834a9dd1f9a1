"""`acflow worker`, `acflow enqueue` and `acflow workers status` (registered by cli.py)."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Annotated

import typer

BUSY_HELP = "A run finding its account busy: wait for it, or be recorded as skipped."


def register(app: typer.Typer) -> None:
    from ..cli import DEFAULT_CONFIG, err, handles_errors, out

    @app.command("worker")
    @handles_errors
    def worker_cmd(
        concurrency: Annotated[int, typer.Option("--concurrency", "-c", min=1, help="Accounts this worker runs "
                                                 "at the same time (each paced by its own limit).")] = 8,
        pool: Annotated[str, typer.Option("--pool", help="Celery's pool: threads (the runs wait on the network "
                                          "and DuckDB, not the GIL), prefork or solo.")] = "threads",
        name: Annotated[str | None, typer.Option("--name", "-n", help="The worker's name (default "
                                                 "acflow-PID@HOST).", show_default=False)] = None,
        mirror_root: Annotated[Path | None, typer.Option("--mirror-root", envvar="ACFLOW_MIRROR_ROOT",
                                                         help="The shared folder of the accounts' mirrors, "
                                                              "as mounted on this machine.",
                                                         show_default=False)] = None,
        log_json: Annotated[bool, typer.Option("--log-json", help="Log JSON lines (one object per record).")]
        = False,
        loglevel: Annotated[str, typer.Option("--loglevel", help="debug, info, warning or error.")] = "info",
    ) -> None:
        """Run queued flows and syncs: a Celery worker (broker ACFLOW_BROKER_URL or ACFLOW_REDIS_URL).

        Every request to an account passes one limit shared through Redis by all workers, and one run
        per account goes at a time (a lease that expires if this worker dies). SIGTERM or Ctrl-C: the
        runs going on finish, then it stops (twice: stop now; the runs go back to the queue).
        Example: ACFLOW_REDIS_URL=redis://10.0.0.5:6379/0 acflow worker --concurrency 8 --log-json
        """
        from ..errors import ConfigError
        from .app import broker_url, get_app
        from .settings import REDIS_ENV, client, queue, redis_url, shown

        if pool not in ("threads", "prefork", "solo"):
            raise ConfigError(f"--pool must be threads, prefork or solo, not {pool!r}")
        os.environ.setdefault(REDIS_ENV, redis_url())  # every process of this worker shares the limiter
        if mirror_root is not None:
            os.environ["ACFLOW_MIRROR_ROOT"] = str(mirror_root.expanduser().resolve())
        try:
            client().ping()
        except Exception as exc:
            raise ConfigError(f"cannot reach Redis at {shown(redis_url())} ({type(exc).__name__}): the workers "
                              "share their rate limits and leases there; set ACFLOW_REDIS_URL") from None
        if log_json:
            from celery.signals import after_setup_logger, after_setup_task_logger

            from .logs import use_json

            def to_json(logger: object, **_: object) -> None:
                use_json(logger)  # type: ignore[arg-type]

            after_setup_logger.connect(to_json, weak=False)
            after_setup_task_logger.connect(to_json, weak=False)
        from .. import columns, mirror, run, zones  # noqa: F401  loaded once, not by the first runs at once

        err.print(f"acflow worker: broker {shown(broker_url())}, queue {queue()}, {concurrency} at a time",
                  highlight=False)
        get_app().worker_main(["worker", f"--pool={pool}", f"--concurrency={concurrency}", "-Q", queue(),
                               f"--loglevel={loglevel.upper()}", "--without-mingle", "--without-gossip",
                               "-n", name or f"acflow-{os.getpid()}@{socket.gethostname()}"])

    @app.command("enqueue")
    @handles_errors
    def enqueue_cmd(
        flows: Annotated[list[str] | None, typer.Argument(help="Flows of acflow.yaml (default: all).",
                                                          show_default=False)] = None,
        config: Annotated[Path | None, typer.Option("--config", help="The flows file (default ./acflow.yaml "
                                                    "if there is one; without it, --accounts syncs).",
                                                    show_default=False)] = None,
        accounts: Annotated[Path | None, typer.Option("--accounts", help="An accounts file (CSV or YAML: "
                                                      "name, url, key_env), added to acflow.yaml's.",
                                                      show_default=False)] = None,
        entities: Annotated[str | None, typer.Option("--entities", help="Without acflow.yaml: the entities "
                                                     "to sync, comma-separated (default: the six).",
                                                     show_default=False)] = None,
        busy: Annotated[str, typer.Option("--busy", help=BUSY_HELP)] = "wait",
        mirror_root: Annotated[Path | None, typer.Option("--mirror-root", envvar="ACFLOW_MIRROR_ROOT",
                                                         help="The shared folder of the accounts' mirrors.",
                                                         show_default=False)] = None,
        wait: Annotated[bool, typer.Option("--wait", help="Wait for the runs and print their results.")] = False,
        timeout: Annotated[float | None, typer.Option("--timeout", help="With --wait: at most this many "
                                                      "seconds.", show_default=False)] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    ) -> None:
        """Queue one run per account for the workers; prints the task ids.

        A flow reading several accounts (accounts: all, or a tag) runs once per account: write
        {account} in its to: so each has its own destination.
        Example: acflow enqueue deals contacts --config acflow.yaml --accounts accounts.csv --wait
        """
        from .enqueue import enqueue_runs, results

        if config is None and DEFAULT_CONFIG.exists():
            config = DEFAULT_CONFIG
        ids = enqueue_runs(config, flows or None, accounts_file=accounts, mirror_root_dir=mirror_root, busy=busy,
                           entities=[e.strip() for e in entities.split(",") if e.strip()] if entities else None)
        if not wait:
            if as_json:
                print(json.dumps({"tasks": ids}))
            else:
                for task_id in ids:
                    out.print(task_id, highlight=False)
                err.print(f"{len(ids)} run(s) queued", highlight=False)
            return
        done = results(ids, timeout=timeout)
        failed = [r for r in done if not isinstance(r, dict) or r.get("status") == "failed"]
        if as_json:
            print(json.dumps({"ok": not failed, "runs": done}, default=str))
        else:
            for r in done:
                if isinstance(r, dict):
                    line = f"{r.get('account')}: {r.get('status')} in {r.get('seconds')} s, {r.get('rows', 0)} rows"
                    out.print(line + (f" ({r['error']})" if r.get("error") else ""), highlight=False, soft_wrap=True)
                else:
                    out.print(f"failed: {r}", highlight=False)
        if failed:
            raise typer.Exit(1)

    workers = typer.Typer(add_completion=False, no_args_is_help=True,
                          help="The worker cluster: what it is doing.\n\nExample: acflow workers status")
    app.add_typer(workers, name="workers")

    @workers.command("status")
    @handles_errors
    def status_cmd(
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    ) -> None:
        """Queue depth, the workers that answer, the runs going on per account, and the last errors.

        Example: ACFLOW_REDIS_URL=redis://10.0.0.5:6379/0 acflow workers status
        """
        from ..errors import AcflowError
        from .app import get_app
        from .settings import redis_url, shown
        from .status import status

        try:
            data = status(get_app())
        except Exception as exc:
            if isinstance(exc, AcflowError):
                raise
            raise AcflowError(f"cannot read the cluster's state from Redis at {shown(redis_url())} "
                              f"({type(exc).__name__}): set ACFLOW_REDIS_URL") from None
        if as_json:
            print(json.dumps(data, default=str))
            return
        queued = "unknown" if data["queued"] is None else data["queued"]
        out.print(f"queue {data['queue']}: {queued} waiting; workers: {', '.join(data['workers']) or 'none answered'}",
                  highlight=False, soft_wrap=True)
        for account, info in data["running"].items():
            out.print(f"  running {account}: task {info['task']} on {info['worker']} since {info['started']}",
                      highlight=False, soft_wrap=True)
        if data["recent"]:
            out.print("last runs: " + ", ".join(f"{n} {s}" for s, n in sorted(data["recent"].items())),
                      highlight=False)
        for e in data["last_errors"]:
            out.print(f"  error {e.get('ended')} {e.get('account')}: {e.get('error')}", highlight=False,
                      soft_wrap=True)
