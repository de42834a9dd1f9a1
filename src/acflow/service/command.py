"""`acflow serve`, `acflow runs` and `acflow urls`: the service's commands (registered by cli.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

DEFAULT_PORT = 8350
DEFAULT_CONFIG = Path("acflow.yaml")
ConfigOpt = Annotated[Path, typer.Option("--config", "-c", envvar="ACFLOW_CONFIG", help="The flows file.")]
MirrorOpt = Annotated[Path | None, typer.Option(
    "--mirror", envvar="ACFLOW_MIRROR", help="The local mirror (default: acflow.yaml's).", show_default=False)]


def register(app: typer.Typer) -> None:
    from ..cli import err, handles_errors, out

    @app.command("serve")
    @handles_errors
    def serve_cmd(
        config: ConfigOpt = DEFAULT_CONFIG, mirror: MirrorOpt = None,
        host: Annotated[str, typer.Option("--host", help="The address to listen on; 0.0.0.0 for every "
                                          "network (put TLS in front of it).")] = "127.0.0.1",
        port: Annotated[int, typer.Option("--port", min=0, max=65535, help="The port (0: any free one).")]
        = DEFAULT_PORT,
        grace: Annotated[float, typer.Option("--grace", min=0, help="Seconds running flows get to finish "
                                             "on SIGTERM/Ctrl-C; after that they are stopped (every write is all "
                                             "or nothing: destinations keep their previous data).")] = 60.0,
        parallel: Annotated[int, typer.Option("--parallel", min=1, help="Accounts run at the same time (runs "
                                              "on one account always wait for each other).")] = 4,
        new_token: Annotated[bool, typer.Option("--new-token", help="Make a new service token (the old one "
                                                "stops working) and print it once.")] = False,
        no_schedules: Annotated[bool, typer.Option("--no-schedules", help="Serve the API, pages and data URLs, "
                                                   "but run flows only when asked.")] = False,
        ui: Annotated[bool, typer.Option("--ui/--no-ui", help="Serve the web pages too.")] = True,
        workers: Annotated[str | None, typer.Option("--workers", help="celery: put runs on the queue of acflow "
                                                    "worker processes (pip install 'acflow[workers]'; "
                                                    "ACFLOW_REDIS_URL) instead of running them here.")] = None,
        mcp: Annotated[bool, typer.Option("--mcp", help="Serve acflow mcp's endpoint at /mcp too (pip install "
                                          "'acflow[mcp]'; bearer token: ACFLOW_MCP_TOKEN).")] = False,
        verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log every request to ActiveCampaign "
                                              "(keys redacted).")] = False,
    ) -> None:
        """Run every flow on its schedule, and serve run triggers, run status and data URLs over HTTP.

        Runs on one account wait for each other (never past its rate limit); a flow still running
        when its time comes again is skipped; flows that missed their time while the service was
        down run once at start. Every endpoint but /health needs a token: set ACFLOW_SERVICE_TOKEN,
        or one is made on the first start and printed once.
        Example: acflow serve --config acflow.yaml --port 8350
        """
        from .server import serve

        raise typer.Exit(serve(config, mirror=mirror, host=host, port=port, grace=grace, parallel=parallel,
                               new_token=new_token, schedules=not no_schedules, ui=ui, verbose=verbose, mcp=mcp,
                               workers=workers,
                               say=lambda text: err.print(text, highlight=False, soft_wrap=True)))

    @app.command("runs")
    @handles_errors
    def runs_cmd(
        flow: Annotated[str | None, typer.Argument(help="Only this flow's runs.", show_default=False)] = None,
        config: ConfigOpt = DEFAULT_CONFIG, mirror: MirrorOpt = None,
        status: Annotated[str | None, typer.Option("--status", help="Only runs with this status: success, "
                                                   "failed, skipped, unchanged, running, queued.")] = None,
        limit: Annotated[int, typer.Option("--limit", min=1, help="The newest N runs.")] = 50,
        as_json: Annotated[bool, typer.Option("--json", help="Print the runs as JSON.")] = False,
    ) -> None:
        """The run history: every run of every flow (scheduled, manual, by webhook or API), newest first.

        Example: acflow runs deals --status failed
        """
        from rich.table import Table

        from .history import STATUSES
        from .server import read_history

        if status is not None and status not in STATUSES:
            from ..errors import ConfigError

            raise ConfigError(f"--status {status!r}: use one of {', '.join(STATUSES)}")
        records = read_history(config, mirror, flow, status, limit)
        if as_json:
            print(json.dumps([r.to_dict() for r in records], indent=2))
            return
        table = Table(title=f"runs{' of ' + flow if flow else ''}", title_justify="left")
        for name in ("run", "flow", "trigger", "started", "seconds", "status", "read", "written", "requests",
                     "429s", "error"):
            table.add_column(name, overflow="fold")
        for r in records:
            table.add_row(r.run_id, r.flow, r.trigger, (r.started or r.queued).strftime("%Y-%m-%d %H:%M:%S"),
                          "" if r.seconds is None else f"{r.seconds:.1f}", r.status,
                          f"{sum(r.rows_read.values()):,}", f"{sum(r.rows_written.values()):,}",
                          f"{r.requests:,}", f"{r.rate_limited:,}", r.error or "")
        out.print(table)
        if not records:
            err.print("No runs yet.", highlight=False)

    urls_app = typer.Typer(name="urls", invoke_without_command=True,
                           help="The data URLs of flows with serve: (for BI tools and spreadsheets).")
    app.add_typer(urls_app, name="urls")

    @urls_app.callback()
    @handles_errors
    def urls_cmd(
        ctx: typer.Context, config: ConfigOpt = DEFAULT_CONFIG, mirror: MirrorOpt = None,
        base: Annotated[str, typer.Option("--base", help="The service's address as the BI tool reaches it.")]
        = f"http://127.0.0.1:{DEFAULT_PORT}",
    ) -> None:
        """List the data URLs of flows with serve: csv/json. A flow's token is printed once, when it is made
        (here, the first time); `acflow urls rotate FLOW` makes a new one.

        Example: acflow urls --base https://acflow.example.com
        """
        if ctx.invoked_subcommand is not None:
            return
        from .server import list_urls

        for line in list_urls(config, mirror, base):
            out.print(line, highlight=False, soft_wrap=True)

    @urls_app.command("rotate")
    @handles_errors
    def rotate_cmd(
        flow: Annotated[str, typer.Argument(help="The flow whose data URL token is replaced.")],
        config: ConfigOpt = DEFAULT_CONFIG, mirror: MirrorOpt = None,
        base: Annotated[str, typer.Option("--base", help="The service's address as the BI tool reaches it.")]
        = f"http://127.0.0.1:{DEFAULT_PORT}",
    ) -> None:
        """Make a new token for a flow's data URLs; the old URLs stop working at once.

        Example: acflow urls rotate deals
        """
        from .server import rotate

        for line in rotate(config, mirror, flow, base):
            out.print(line, highlight=False, soft_wrap=True)
