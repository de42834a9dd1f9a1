"""`acflow mcp`: typer only here; the SDK, DuckDB and the server load when the command runs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

TOKEN_ENV = "ACFLOW_MCP_TOKEN"


def register(app: typer.Typer) -> None:
    from ..cli import DEFAULT_CONFIG, handles_errors

    @app.command("mcp")
    @handles_errors
    def mcp_cmd(
        config: Annotated[Path, typer.Option("--config", "-c", envvar="ACFLOW_CONFIG",
                                             help="The flows file (its flows become views, previews and "
                                                  "resources; without it, entities only).")] = DEFAULT_CONFIG,
        mirror: Annotated[Path | None, typer.Option(
            "--mirror", envvar="ACFLOW_MIRROR", show_default=False,
            help="The local mirror (a DuckDB file). Default: acflow.yaml's mirror:, or .acflow/mirror.duckdb.")] = None,
        http: Annotated[bool, typer.Option("--http", help="Serve streamable HTTP at /mcp instead of stdio.")] = False,
        host: Annotated[str, typer.Option("--host", help="With --http: the address to listen on (loopback unless "
                                          "you mean others to reach it; the token is always required).")
                        ] = "127.0.0.1",
        port: Annotated[int, typer.Option("--port", min=0, max=65535, help="With --http: the port (0: any free).")
                        ] = 8765,
        allow_runs: Annotated[bool, typer.Option("--allow-runs", help="Also offer tools that run flows and sync "
                                                 "(they fetch from the API and write). Off: read-only.")] = False,
        max_rows: Annotated[int, typer.Option("--max-rows", min=1, help="Rows one answer holds at most.")] = 500,
        max_bytes: Annotated[int, typer.Option("--max-bytes", min=1000, help="Bytes of rows one answer holds at "
                                               "most.")] = 200_000,
        max_seconds: Annotated[float, typer.Option("--max-seconds", min=0.1, help="Seconds a query may run before "
                                                   "it is stopped.")] = 10.0,
    ) -> None:
        """Serve the mirror and the flows to AI assistants over the Model Context Protocol: read-only SQL,
        column descriptions, flow previews and outputs, bounded.

        Over stdio by default (for desktop assistants); --http serves streamable HTTP on 127.0.0.1 with a
        bearer token (ACFLOW_MCP_TOKEN, or one generated and printed at start).
        Example: acflow mcp --config acflow.yaml
        """
        from ..errors import ConfigError
        from .reader import Limits, MirrorReader

        cfg_path: Path | None = config
        if not config.exists():
            if config != DEFAULT_CONFIG or os.environ.get("ACFLOW_CONFIG"):
                raise ConfigError(f"{config} does not exist: give the flows file with --config")
            cfg_path = None  # no acflow.yaml here: entities only
        if mirror is None:
            if cfg_path is not None:
                from ..config import load

                mirror = load(cfg_path).mirror_path()
            else:
                mirror = Path(".acflow") / "mirror.duckdb"
        limits = Limits(rows=max_rows, bytes=max_bytes, seconds=max_seconds)
        reader = MirrorReader(mirror, cfg_path, limits)
        if not http:
            from .server import serve_stdio

            serve_stdio(reader, allow_runs=allow_runs)
            return
        import secrets

        from . import http as transport
        from .server import build_server

        token = os.environ.get(TOKEN_ENV) or None
        shown = None
        if token is None:
            token = shown = secrets.token_urlsafe(32)
        server = build_server(reader, allow_runs=allow_runs)
        server.streamable_http_app(host=host)
        transport.serve(transport.TokenGate(server.session_manager, token), host, port, token_shown=shown)
