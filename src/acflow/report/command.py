"""`acflow report`: registered by cli.py; imports only typer here (the rest inside the command).

No `from __future__ import annotations`: typer reads the option types defined inside register().
"""

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    from ..cli import ApiKey, ApiUrl, ConfigOpt, JsonOpt, MirrorOrConfig, TimeoutOpt, handles_errors

    @app.command("report")
    @handles_errors
    def report_cmd(
        account: Annotated[str | None, typer.Option(
            "--account", show_default=False,
            help="An account's name in acflow.yaml, or its API URL (default: the file's first account, else "
                 "ACTIVECAMPAIGN_API_URL, else the mirror's only account).")] = None,
        to: Annotated[Path, typer.Option("--to", help="The HTML file to write (one file, opens offline).")]
        = Path("report.html"),
        since: Annotated[str, typer.Option("--since", help="The period: 90d, 12w, a date (2025-01-01) or all. "
                                           "Up to 26 weeks is shown week by week, longer month by month.")]
        = "365d",
        sync: Annotated[bool, typer.Option("--sync", help="Sync what the report reads first (campaigns, contacts, "
                                           "lists, contactLists, deals, pipelines, stages, users, forms). Without "
                                           "it no ActiveCampaign request is made.")] = False,
        mirror: MirrorOrConfig = None, config: ConfigOpt = Path("acflow.yaml"),
        api_url: ApiUrl = None, api_key: ApiKey = None, as_json: JsonOpt = False, timeout: TimeoutOpt = 60.0,
    ) -> None:
        """Write an HTML report of e-mail performance, lists and contacts, the deal pipeline and forms.

        Figures come from the local mirror, computed as the seeds advise (unique opens and clicks,
        hard and soft bounces apart, amounts per currency, restricted deals counted); each says
        how it was computed. The file has its charts and data inline and prints cleanly to PDF.
        Example: acflow report --since 90d --to report.html
        """
        import json

        from ..cli import _print_sync, err, out
        from ..display import progress_bars
        from . import report

        chosen: object = account
        if account is None and (api_url or api_key) and sync:
            from ..account import Account

            chosen = Account.resolve(api_url, api_key)
        elif account is None and api_url:
            chosen = api_url
        given = config if config.exists() or config != Path("acflow.yaml") else None
        with progress_bars(err, enabled=sync and not as_json) as on_progress:
            result = report(chosen, to=to, since=since, mirror=mirror, config=given,  # type: ignore[arg-type]
                            sync=sync, timeout=timeout, on_progress=on_progress)
        if as_json:
            print(json.dumps(result.to_dict(), default=str, indent=2))
            return
        if result.sync is not None:
            _print_sync(result.sync)
        empty = [f.title for f in result.figures.values() if f.empty]
        out.print(f"Wrote the report of {result.account} ({result.window.words()}) to {result.path}: "
                  f"{len(result.figures) - len(empty)} of {len(result.figures)} figures with data.",
                  highlight=False, soft_wrap=True)
        for f in result.figures.values():
            if f.note and f.name == "restricted" and f.table.num_rows and f.rows()[0]["restricted_deals"]:
                err.print(f"[yellow]Note:[/yellow] {f.note}", highlight=False, soft_wrap=True)
