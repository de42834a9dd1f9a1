"""The service's process: uvicorn serving the app, the schedules running, a clean stop on a signal.

uvicorn takes SIGTERM and SIGINT while it serves. Its own handling re-raises the signal once the
server is down, which would end the process with the signal's exit code before the flows'
grace period; ours only asks the server to stop, so the runs get their grace and the service
exits 0. Runs still going after it are abandoned with the process: every write is all or nothing
(a temporary file moved into place, a database transaction), so a destination keeps its
previous data, and the next start records those runs as failed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ..config import load
from ..errors import ConfigError
from ..listening import address, listening
from .history import RunRecord

log = logging.getLogger("acflow.service")


def _state_dir(config: Path, mirror: Path | None) -> tuple[Any, Path]:
    cfg = load(config)
    path = Path(mirror) if mirror is not None else cfg.mirror_path()
    return cfg, path


def read_history(config: Path, mirror: Path | None, flow: str | None, status: str | None,
                 limit: int) -> list[RunRecord]:
    from ..mirror import Mirror
    from . import history

    cfg, path = _state_dir(config, mirror)
    if flow is not None:
        cfg.flow_names([flow])  # an unknown flow: the usual line, with suggestions
    if not path.exists():
        return []
    with Mirror(path) as db:
        history.setup(db)
        return history.runs(db, flow, status, limit)


def list_urls(config: Path, mirror: Path | None, base: str) -> list[str]:
    from . import served
    from .tokens import Tokens

    cfg, path = _state_dir(config, mirror)
    tokens = Tokens(path.parent)
    lines = []
    for flow in cfg.flows:
        fmts = served.formats(cfg, flow)
        if not fmts:
            continue
        token = None if tokens.has(flow) else tokens.make(flow)
        for fmt in fmts:
            if token:
                lines.append(f"{flow}.{fmt}: {base.rstrip('/')}/data/{flow}.{fmt}?token={token}")
            else:
                lines.append(f"{flow}.{fmt}: {base.rstrip('/')}/data/{flow}.{fmt}?token=... (the token was "
                             f"printed when it was made; `acflow urls rotate {flow}` makes a new one)")
        if token:
            lines.append(f"  (the token of {flow} is shown this once: copy the URL now)")
    if not lines:
        lines.append(f"No flow in {cfg.path} has serve: (add `serve: {{csv: true}}` to a flow to get a data URL)")
    return lines


def rotate(config: Path, mirror: Path | None, flow: str, base: str) -> list[str]:
    from . import served
    from .tokens import Tokens

    cfg, path = _state_dir(config, mirror)
    cfg.flow_names([flow])
    fmts = served.formats(cfg, flow)
    if not fmts:
        raise ConfigError(f"flow {flow} has no serve: in {cfg.path}: add `serve: {{csv: true}}` to it first")
    token = Tokens(path.parent).make(flow)
    return [f"{flow}.{fmt}: {base.rstrip('/')}/data/{flow}.{fmt}?token={token}" for fmt in fmts] + [
        "The old token no longer works; this one is shown this once."]


def _logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S"))
    root = logging.getLogger("acflow")
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    root.propagate = False
    if not verbose:
        logging.getLogger("acflow.client").setLevel(logging.WARNING)
        logging.getLogger("acflow.sync").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


def _mcp(service: Any, host: str) -> Any:
    """acflow mcp's HTTP endpoint at /mcp, behind ACFLOW_MCP_TOKEN (or the service's token, when it is
    given as ACFLOW_SERVICE_TOKEN: only its hash is kept otherwise)."""
    from ..mcp.server import asgi_app
    from .tokens import TOKEN_ENV

    token = os.environ.get("ACFLOW_MCP_TOKEN") or os.environ.get(TOKEN_ENV)
    if not token:
        raise ConfigError("--mcp needs ACFLOW_MCP_TOKEN (or ACFLOW_SERVICE_TOKEN) set: the bearer token MCP "
                          "clients send to /mcp")
    return asgi_app(service.config_path, service.mirror_path, token, host=host)


def serve(config: Path, *, mirror: Path | None, host: str, port: int, grace: float, parallel: int,
          new_token: bool, schedules: bool, ui: bool, verbose: bool, say: Callable[[str], None],
          mcp: bool = False, workers: str | None = None) -> int:
    import uvicorn

    from .app import build_app
    from .core import Service
    from .tokens import service_token

    _logging(verbose)
    if workers not in (None, "celery"):
        raise ConfigError(f"--workers {workers!r}: the one kind is celery (acflow worker processes)")
    if workers:
        import importlib.util

        if importlib.util.find_spec("celery") is None:
            raise ConfigError("--workers celery needs Celery: pip install 'acflow[workers]'")
    sock = listening(host, port)
    service = Service(config, mirror=mirror, parallel=parallel, schedules=schedules, workers=workers,
                      verbose=verbose)
    where = address(sock)
    service.base_url = where if host not in ("0.0.0.0", "::") else None
    app = build_app(service, ui=ui, mcp=_mcp(service, host) if mcp else None)
    shown = service_token(service.tokens, rotate=new_token)  # last: a token made is a token shown

    class _Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            def stop(signum: int, frame: Any) -> None:
                log.info("%s: no new runs; running ones get %g s to finish", signal.Signals(signum).name, grace)
                self.should_exit = True

            before = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for s, h in before.items():
                    signal.signal(s, h)

    server = _Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on" if mcp else "off",
                                    timeout_graceful_shutdown=5))
    service.start()
    flows = service.flows()
    scheduled = [f for f in flows if f.schedule]
    say(f"acflow serve: {len(flows)} flows, {len(scheduled)} on a schedule; listening on {where}")
    for f in scheduled:
        when = f.next_run.strftime("%Y-%m-%d %H:%M %Z") if f.next_run else "never"
        say(f"  {f.name}: {f.schedule}; next run {when}")
    if shown:
        say(f"Service token (shown once; keep it, or set ACFLOW_SERVICE_TOKEN): {shown}")
    try:
        server.run(sockets=[sock])
    finally:
        still = service.stop(grace)
    if still:
        names = ", ".join(sorted({r.flow for r in still}))
        log.warning("stopped with %d run(s) unfinished after %g s (%s): their destinations keep their previous "
                    "data; the next start records them as failed", len(still), grace, names)
        sys.stderr.flush()
        os._exit(0)  # the run threads cannot be interrupted; the process ending aborts their writes whole
    log.info("stopped")
    return 0
