"""`acflow ui`: the web UI alone, over the same service as `acflow serve` but with no schedules."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    from ..cli import err, handles_errors, out

    @app.command("ui")
    @handles_errors
    def ui(
        config: Annotated[Path, typer.Option("--config", "-c", help="the acflow.yaml to show and edit")] = Path(
            "acflow.yaml"),
        host: Annotated[str, typer.Option("--host", help="the address to listen on (loopback unless told)")] = (
            "127.0.0.1"),
        port: Annotated[int, typer.Option("--port", help="the port to listen on")] = 8080,
        mirror: Annotated[Path | None, typer.Option("--mirror", help="the mirror (default: acflow.yaml's)")] = None,
    ) -> None:
        """The web UI alone: every flow and run, preview, Run now, and a form that edits acflow.yaml.

        Flows run only when started (Run now, the API); `acflow serve` shows the same pages and also runs
        the schedules. Log in with the service token (printed here the first time) or the UI password
        (ACFLOW_UI_PASSWORD sets it on the first start; stored hashed beside the mirror).
        Example: acflow ui --config acflow.yaml --port 8080
        """
        import uvicorn

        from ..listening import address, listening
        from ..service.app import build_app
        from ..service.core import Service
        from ..service.tokens import service_token

        sock = listening(host, port)  # a taken port is one line (before a token is made and not shown)
        service = Service(config, mirror=mirror, schedules=False)
        token = service_token(service.tokens)
        app_ = build_app(service)
        if token:
            err.print(f"The service token (shown once; log in with it, then set a UI password): {token}",
                      highlight=False, soft_wrap=True)
        out.print(f"acflow UI on {address(sock)}/ for {config} (Ctrl-C stops it)", highlight=False,
                  soft_wrap=True)
        try:
            uvicorn.Server(uvicorn.Config(app_, log_level="warning", server_header=False)).run(sockets=[sock])
        finally:
            service.stop()
