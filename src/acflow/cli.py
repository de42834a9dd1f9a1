"""The `acflow` command: thin wrappers over the library (see README, "Python API").

Only this module turns an AcflowError into one stderr line and its exit code:
0 success, 1 a run failed, 2 bad usage or configuration, 3 the key was refused,
130 stopped by Ctrl-C, 143 stopped by SIGTERM. Under --json the error is a JSON
object on stdout instead.

Start-up is kept short (`acflow --help` in about 0.2 s): this module imports only
typer and rich; pyarrow, DuckDB, aiohttp, pydantic and the sandbox load inside the
commands that use them (tests/test_startup.py checks it).
"""

from __future__ import annotations

import sys

STARTING = "Interrupted while starting: nothing was done.\n"  # a Ctrl-C before any command ran


def _quit_while_starting(signum: int, frame: object) -> None:
    sys.stderr.write(STARTING)
    raise SystemExit(130)


if __name__ == "__main__":  # `python -m acflow.cli`: the parts' commands import this module by its name
    sys.modules.setdefault("acflow.cli", sys.modules[__name__])

if __name__ == "__main__" or sys.argv[0].rsplit("/", 1)[-1] == "acflow":  # the command, not an import
    import signal as _signal

    # Ctrl-C while this module is still defining the commands: main() takes over once it runs
    _signal.signal(_signal.SIGINT, _quit_while_starting)

try:  # Ctrl-C while the command starts: one line, not a traceback of whatever was importing
    import functools
    import json
    import logging
    import os
    import shlex
    import shutil
    import signal
    from collections.abc import Callable
    from datetime import timedelta
    from pathlib import Path
    from typing import TYPE_CHECKING, Annotated, Any, TypeVar

    import typer
    from rich.console import Console
    from rich.markup import escape
    from typer.core import TyperGroup

    from . import __version__
    from .errors import AcflowError, ConfigError, shorten
except KeyboardInterrupt:
    sys.stderr.write(STARTING)
    raise SystemExit(130) from None

if TYPE_CHECKING:
    from rich.table import Table

# The library's defaults, repeated here so that --help needs no import of them (a test keeps them equal).
URL_ENV = "ACTIVECAMPAIGN_API_URL"
KEY_ENV = "ACTIVECAMPAIGN_API_KEY"
DEFAULT_MIRROR = Path(".acflow") / "mirror.duckdb"
DEFAULT_CONFIG = Path("acflow.yaml")
DESTINATIONS = ("a .csv, .jsonl, .parquet or .xlsx file, duckdb:///path.duckdb[?table=NAME], "
                "sqlite:///path.db[?table=NAME], postgresql://user@host:5432/db[?table=NAME&schema=NAME], "
                "mysql://user@host:3306/db[?table=NAME], snowflake://user@account/db/schema[?table=NAME], "
                "bigquery://project/dataset[?table=NAME], gsheets://SPREADSHEET_ID?sheet=NAME")
SANDBOX_HELP = ("An ActiveCampaign-compatible API server for trying and testing flows.\n\n"
                "Example: acflow sandbox serve --contacts 5000")


def _sandbox_group() -> Any:
    from .sandbox.cli import app as sandbox_app

    group = typer.main.get_command(sandbox_app)
    group.help = SANDBOX_HELP
    return group


class _SandboxEntry(TyperGroup):
    """`acflow sandbox` in the command list; the real group (its server, aiohttp.web) loads when used."""

    def make_context(self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any) -> Any:
        return _sandbox_group().make_context(info_name, args, parent=parent, **extra)


class _Commands(TyperGroup):
    """The root group, with `sandbox` mounted lazily."""

    def list_commands(self, ctx: Any) -> list[str]:
        return [*super().list_commands(ctx), "sandbox"]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name == "sandbox":
            return _SandboxEntry(name="sandbox", help=SANDBOX_HELP)
        return super().get_command(ctx, cmd_name)


def _version(value: bool) -> None:
    if value:
        print(f"acflow {__version__}")
        raise typer.Exit()


app = typer.Typer(
    name="acflow",
    help="ActiveCampaign data into files and databases: complete, typed, within the rate limit.\n\n"
    "Example: acflow export deals --to deals.csv",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=_Commands,
)


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print acflow's version and exit.")] = False,
) -> None:
    """ActiveCampaign data into files and databases: complete, typed, within the rate limit.

    Example: acflow export deals --to deals.csv
    """


err = Console(stderr=True)
out = Console()

F = TypeVar("F", bound=Callable[..., Any])

ApiUrl = Annotated[str | None, typer.Option("--api-url", envvar=URL_ENV, show_envvar=True,
                                            help="The account's API URL (Settings > Developer).")]
ApiKey = Annotated[str | None, typer.Option("--api-key", envvar=KEY_ENV, show_envvar=True,
                                            show_default=False, help="The account's API key. The environment "
                                            "variable ACTIVECAMPAIGN_API_KEY keeps the key out of the process list.")]
MirrorOpt = Annotated[Path, typer.Option("--mirror", envvar="ACFLOW_MIRROR",
                                         help="The local mirror (a DuckDB file).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print a machine-readable summary on stdout.")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Log every request (keys redacted).")]
TimeoutOpt = Annotated[float, typer.Option("--timeout", help="Seconds to wait for one answer. A request that gets "
                                           "none is tried --attempts times, at most 30 s apart, then given up: "
                                           "attempts x timeout + (attempts - 1) x 30 s at most, about 12 min with "
                                           "the defaults.")]
RateOpt = Annotated[float, typer.Option("--rate-limit", help="Requests per second the account allows.")]
ZoneOpt = Annotated[str | None, typer.Option(
    "--account-timezone", help="The account's time zone (IANA, e.g. America/Chicago) for the naive times "
    "ActiveCampaign sends; by default learnt from the offsets of the account's own dates.", show_default=False)]
AttemptsOpt = Annotated[int, typer.Option("--attempts", min=1, help="Tries per request before giving up "
                                           "(--timeout says how long that takes at most).")]
FullOpt = Annotated[bool, typer.Option("--full", help="Fetch everything, not only what changed (finds "
                                       "records deleted from ActiveCampaign).")]
CustomFieldsOpt = Annotated[str, typer.Option(
    "--custom-fields", help="columns | long | off: contacts, deals and accounts get a column per custom field "
    "(columns); or their values go to a second table beside them, one row per record and field (long: "
    "contacts_custom_fields; export only); or neither (off).")]
CustomNamesOpt = Annotated[str, typer.Option("--custom-field-names", help="title | perstag: what custom field "
                                             "columns are named after (a column keeps its first name).")]
FullEveryOpt = Annotated[str, typer.Option("--full-every", help="Fetch contacts and deals in full when the "
                                           "last full fetch is older than this (7d, 12h; never).")]


def _duration(text: str) -> timedelta | None:
    from .sync import parse_duration

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise ConfigError(f"--full-every {exc}") from None


_stopped_by: list[int] = []  # the signal that stopped the command, if one did


def _on_sigterm(signum: int, frame: Any) -> None:
    """SIGTERM stops the command as Ctrl-C does (asyncio cancels, transactions roll back), then exit 143."""
    _stopped_by.append(signum)
    handler = signal.getsignal(signal.SIGINT)
    if callable(handler):
        handler(signal.SIGINT, frame)
    else:
        raise KeyboardInterrupt


def _fail(exc: AcflowError, as_json: bool) -> typer.Exit:
    """One line per error (ConfigErrors holds every mistake of a file), or one JSON object."""
    lines = getattr(exc, "errors", None) or [shorten(str(exc))]
    if as_json:
        extra = {"errors": lines} if len(lines) > 1 else {}
        print(json.dumps({"ok": False, "error": "\n".join(lines), "exit_code": exc.exit_code, **extra}))
    else:
        for line in lines:
            err.print(f"[red]Error:[/red] {escape(line)}", highlight=False, soft_wrap=True)
    return typer.Exit(exc.exit_code)


class _StartupInterrupt(BaseException):
    """Ctrl-C before a command runs; not a KeyboardInterrupt, which typer turns into a silent exit 130."""


def _interrupted_at_start(signum: int, frame: Any) -> None:
    raise _StartupInterrupt


def handles_errors(fn: F) -> F:
    """AcflowError -> one line on stderr (a JSON object on stdout under --json) and its exit code."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        as_json = bool(kwargs.get("as_json"))
        if signal.getsignal(signal.SIGINT) is _interrupted_at_start:  # the command runs: Ctrl-C as usual
            signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            return fn(*args, **kwargs)
        except AcflowError as exc:
            raise _fail(exc, as_json) from None
        except KeyboardInterrupt:
            terminated = signal.SIGTERM in _stopped_by
            code = 143 if terminated else 130
            message = ("Stopped by SIGTERM" if terminated else "Interrupted") + ": nothing half-written was kept."
            if as_json:
                print(json.dumps({"ok": False, "error": message, "exit_code": code}))
            else:
                err.print(message, highlight=False, soft_wrap=True)
            raise typer.Exit(code) from None
    return wrapper  # type: ignore[return-value]


def _logging(verbose: bool) -> None:
    if verbose:
        from rich.logging import RichHandler

        handler = RichHandler(console=err, show_path=False, markup=False)
        logging.basicConfig(level=logging.WARNING, handlers=[handler], format="%(message)s", force=True)
        logging.getLogger("acflow").setLevel(logging.DEBUG)
    else:
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s", force=True)


def _print_sync(sync_summary: Any) -> None:
    """A sync's table, then its notes (restricted stubs, columns kept as text) and errors."""
    from .display import summary_table

    out.print(summary_table(sync_summary))
    for note in sync_summary.advice():
        err.print(f"[yellow]Note:[/yellow] {note}", highlight=False, soft_wrap=True)
    for e in sync_summary.entities:
        if e.error:
            err.print(f"[red]Error:[/red] {e.entity}: {e.error}", highlight=False, soft_wrap=True)


def _report(summary: Any, as_json: bool, sync_summary: Any) -> None:
    if as_json:
        print(json.dumps(summary.to_dict(), default=str, indent=2))
    else:
        _print_sync(sync_summary)
    if not summary.ok:
        raise typer.Exit(1)


@app.command("sync")
@handles_errors
def sync_cmd(
    entities: Annotated[list[str] | None, typer.Argument(
        help="Entities to sync (default: the six: campaigns contacts lists deals segments forms).",
        show_default=False)] = None,
    api_url: ApiUrl = None, api_key: ApiKey = None, mirror: MirrorOpt = DEFAULT_MIRROR,
    as_json: JsonOpt = False, verbose: VerboseOpt = False, timeout: TimeoutOpt = 60.0,
    rate_limit: RateOpt = 5.0, attempts: AttemptsOpt = 8, full: FullOpt = False, full_every: FullEveryOpt = "7d",
    account_timezone: ZoneOpt = None,
) -> None:
    """Copy the chosen entities into the local mirror: everything the first time, then only what changed.

    Example: acflow sync contacts deals --api-url https://acme.api-us1.com
    """
    from .account import Account
    from .display import progress_bars
    from .sync import sync

    _logging(verbose)
    account = Account.resolve(api_url, api_key, rate_limit, account_timezone)
    every = _duration(full_every)
    with progress_bars(err, enabled=not as_json) as on_progress:
        summary = sync(entities, account=account, mirror=mirror, timeout=timeout, attempts=attempts,
                       full=full, full_every=every, on_progress=on_progress)
    _report(summary, as_json, summary)


@app.command("export")
@handles_errors
def export_cmd(
    entity: Annotated[str, typer.Argument(help="The entity to export, e.g. deals.")],
    to: Annotated[str, typer.Option("--to", help=f"Destination: {DESTINATIONS}.")],
    mode: Annotated[str, typer.Option("--mode", help="replace | append | merge (merge: databases, Google Sheets).")]
    = "replace",
    raw: Annotated[bool, typer.Option("--raw", help="Leave out derived columns (amount, status_label, rates).")]
    = False,
    api_url: ApiUrl = None, api_key: ApiKey = None, mirror: MirrorOpt = DEFAULT_MIRROR,
    as_json: JsonOpt = False, verbose: VerboseOpt = False, timeout: TimeoutOpt = 60.0,
    rate_limit: RateOpt = 5.0, attempts: AttemptsOpt = 8, full: FullOpt = False, full_every: FullEveryOpt = "7d",
    account_timezone: ZoneOpt = None,
    no_bom: Annotated[bool, typer.Option("--no-bom", help="CSV without the UTF-8 byte order mark Excel wants.")]
    = False,
    keep_formulas: Annotated[bool, typer.Option("--keep-formulas", help="Leave text starting with = + - @ as "
                                                "it is (by default it is prefixed with ' in CSV and XLSX).")]
    = False,
    custom_fields: CustomFieldsOpt = "columns", custom_field_names: CustomNamesOpt = "title",
) -> None:
    """Sync one entity and write it to one destination, atomically. replace writes the whole
    current table; append and merge write only what changed since this destination's last export.

    Example: acflow export deals --to duckdb:///crm.duckdb --mode merge
    """
    from .account import Account
    from .display import progress_bars
    from .export import export

    _logging(verbose)
    account = Account.resolve(api_url, api_key, rate_limit, account_timezone)
    every = _duration(full_every)
    with progress_bars(err, enabled=not as_json) as on_progress:
        summary = export(entity, to, mode=mode, account=account, raw=raw, mirror=mirror, timeout=timeout,
                         attempts=attempts, full=full, full_every=every, bom=not no_bom,
                         neutralize=not keep_formulas, custom_fields=custom_fields,
                         custom_field_names=custom_field_names, on_progress=on_progress)
    if not as_json:
        out.print(f"Wrote {summary.rows:,} {summary.entity} to {summary.destination} ({summary.mode}).")
        _notes(summary.notes)
    _report(summary, as_json, summary.sync)


def _notes(notes: list[str]) -> None:
    for note in notes:
        err.print(f"[yellow]Note:[/yellow] {escape(note)}", highlight=False, soft_wrap=True)


@app.command("preview")
@handles_errors
def preview_cmd(
    name: Annotated[str, typer.Argument(help="A flow of acflow.yaml, or an entity.", metavar="FLOW|ENTITY")],
    limit: Annotated[int, typer.Option("--limit", min=1, max=100, help="Rows to show.")] = 10,
    columns: Annotated[str | None, typer.Option("--columns", show_default=False,
                                                help="Only these columns, comma-separated: id,email,firstName."
                                                )] = None,
    raw: Annotated[bool, typer.Option("--raw", help="Leave out derived columns (entities).")] = False,
    custom_fields: CustomFieldsOpt = "columns", custom_field_names: CustomNamesOpt = "title",
    config: ConfigOpt = DEFAULT_CONFIG, mirror: MirrorOrConfig = None,
    no_sync: NoSyncOpt = False,
    api_url: ApiUrl = None, api_key: ApiKey = None, as_json: JsonOpt = False,
    verbose: VerboseOpt = False, timeout: TimeoutOpt = 60.0, rate_limit: RateOpt = 5.0,
    account_timezone: ZoneOpt = None,
) -> None:
    """Show the first rows of a flow (synced, transformed, not written) or of an entity (two requests).

    A name that is a flow of acflow.yaml is the flow; otherwise it is an entity. Rows too wide for the
    terminal are shown one record at a time, a field a line. Contacts, deals and accounts show their
    custom fields too, for one more request and one per row (--custom-fields off: none).
    Example: acflow preview contacts --limit 5 --columns id,email,firstName
    """
    from .display import pick_columns, preview_view

    _logging(verbose)
    if _is_flow(config, name):
        from .run import preview_flow

        table = preview_flow(name, config=config, limit=limit, mirror=mirror, sync=not no_sync,
                             timeout=timeout)
        title = f"flow {name}"
    else:
        from .account import Account
        from .preview import preview

        table = preview(name, account=Account.resolve(api_url, api_key, rate_limit, account_timezone),
                        limit=limit, raw=raw, timeout=timeout, custom_fields=custom_fields,
                        custom_field_names=custom_field_names)
        title = name
    names = pick_columns(table.column_names, columns, title)
    rows = table.select(names).to_pylist()
    if as_json:
        print(json.dumps(rows, default=str, indent=2))
        return
    out.print(preview_view(rows, names, title, out.width))


def _is_flow(config: Path, name: str) -> bool:
    if not config.exists():
        return False
    from .config import load

    return name in load(config).flows


ConfigOpt = Annotated[Path, typer.Option("--config", "-c", envvar="ACFLOW_CONFIG",
                                         help="The flows file.")]
MirrorOrConfig = Annotated[Path | None, typer.Option(
    "--mirror", envvar="ACFLOW_MIRROR", show_default=False,
    help="The local mirror (a DuckDB file). Default: acflow.yaml's mirror:, or .acflow/mirror.duckdb beside it.")]
NoSyncOpt = Annotated[bool, typer.Option("--no-sync", help="Use the mirror as it is: no request (a retry "
                                         "after a destination failed).")]


def _flow_table(summary: Any) -> Table:
    from rich.table import Table

    table = Table(title=f"flows  ({summary.seconds:.1f} s)", title_justify="left")
    for name, justify in (("flow", "left"), ("destination", "left"), ("mode", "left"), ("rows", "right"),
                          ("status", "left")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for f in summary.flows:
        status = {"ok": "[green]ok", "unchanged": "[cyan]unchanged"}.get(f.status, f"[red]{f.status}")
        table.add_row(f.flow, f.destination, f.mode, f"{f.rows:,}", status)
    return table


@app.command("init")
@handles_errors
def init_cmd(
    config: ConfigOpt = DEFAULT_CONFIG,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a starter acflow.yaml with the recommended flows (campaigns, contacts, deals, lists...).

    Example: acflow init && acflow validate && acflow run
    """
    from .starter import init

    path = init(config, force=force)
    out.print(f"Wrote {path}. Set ACTIVECAMPAIGN_API_URL and ACTIVECAMPAIGN_API_KEY, then: acflow run",
              highlight=False)


@app.command("validate")
@handles_errors
def validate_cmd(
    config: ConfigOpt = DEFAULT_CONFIG,
    as_json: JsonOpt = False,
    connect: Annotated[bool, typer.Option(
        "--connect", help="Also connect to each database destination and check that the user may create tables "
                          "there (still no ActiveCampaign request).")] = False,
) -> None:
    """Check acflow.yaml without any request: schema, entities, columns, formulas, joins, destinations.

    Example: acflow validate --config acflow.yaml --connect
    """
    import os

    from .config import load
    from .flows import check_connections, validate

    cfg = load(config)
    compiled = validate(cfg)
    if connect:
        check_connections(cfg)
    missing = sorted({v for a in cfg.spec.accounts.values() for v in (a.key_env, a.url_env)
                      if v and not os.environ.get(v)})
    if as_json:
        print(json.dumps({"ok": True, "flows": {n: [c for c, _ in f.columns] for n, f in compiled.items()},
                          "unset_environment": missing}, indent=2))
        return
    out.print(f"{config}: {len(compiled)} flows OK: {', '.join(compiled)}", highlight=False)
    for name in missing:
        err.print(f"[yellow]Note:[/yellow] {name} is not set; `acflow run` will need it", highlight=False)


@app.command("run")
@handles_errors
def run_cmd(
    flows: Annotated[list[str] | None, typer.Argument(help="Flows to run (default: all).", show_default=False)]
    = None,
    config: ConfigOpt = DEFAULT_CONFIG, mirror: MirrorOrConfig = None, no_sync: NoSyncOpt = False,
    as_json: JsonOpt = False, verbose: VerboseOpt = False, timeout: TimeoutOpt = 60.0,
    attempts: AttemptsOpt = 8,
) -> None:
    """Sync what the flows read (each account and entity once), then write every flow.

    Example: acflow run deals_pipeline active_contacts --config acflow.yaml
    """
    from .display import progress_bars
    from .run import run

    _logging(verbose)
    with progress_bars(err, enabled=not as_json) as on_progress:
        summary = run(flows, config=config, mirror=mirror, sync=not no_sync, timeout=timeout,
                      attempts=attempts, on_progress=on_progress)
    if as_json:
        print(json.dumps(summary.to_dict(), default=str, indent=2))
    else:
        for s in summary.syncs:
            _print_sync(s)
        out.print(_flow_table(summary))
        for f in summary.flows:
            _notes(f.notes)
            if f.error:
                err.print(f"[red]Error:[/red] {f.flow}: {f.error}", highlight=False, soft_wrap=True)
    if not summary.ok:
        raise typer.Exit(1)


@app.command("flows")
@handles_errors
def flows_cmd(
    config: ConfigOpt = DEFAULT_CONFIG, mirror: MirrorOrConfig = None, as_json: JsonOpt = False,
) -> None:
    """List the flows of acflow.yaml with their source, destination, schedule (in words, and the next run
    acflow serve makes) and last run.

    Example: acflow flows --config acflow.yaml
    """
    from rich.table import Table

    from .run import list_flows

    rows = list_flows(config, mirror)
    if as_json:
        print(json.dumps(rows, default=str, indent=2))
        return
    table = Table(title=f"flows in {config}", title_justify="left")
    for name in ("flow", "source", "destination", "mode", "schedule", "next run", "last run", "rows", "status"):
        table.add_column(name)
    for r in rows:
        last = r["last_run"].strftime("%Y-%m-%d %H:%M:%S %Z") if r["last_run"] else "never"
        upcoming = r["next_run"].strftime("%Y-%m-%d %H:%M %Z") if r["next_run"] else ""
        table.add_row(r["flow"], r["source"], r["destination"], r["mode"], r["schedule"] or "on demand",
                      upcoming, last, "" if r["rows"] is None else f"{r['rows']:,}", r["status"] or "")
    out.print(table)


@app.command("entities")
@handles_errors
def entities_cmd(
    as_json: JsonOpt = False,
) -> None:
    """List the entities acflow knows: what a full read costs in requests, whether syncs after the
    first read only what changed, and whether a restricted (non-admin) user's key sees them.

    The API serves 5 requests a second per account: 1 request / 100 records is 30,000 records a
    minute; an entity read link by link (linkData) costs a request per link whatever it holds.
    Example: acflow entities
    """
    from rich.markup import escape
    from rich.table import Table

    from . import catalog

    rows = [catalog.summary(e) for e in catalog.CATALOG.values()]
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table(title="ActiveCampaign entities", title_justify="left")
    for name in ("entity", "path", "cost", "incremental", "restricted key", "description"):
        table.add_column(name)
    for r in rows:
        name = str(r["entity"]) + (f" ({', '.join(r['aliases'])})" if r["aliases"] else "")  # type: ignore[arg-type]
        table.add_row(*(escape(str(v)) for v in (name, r["path"], r["cost"], r["incremental"], r["restricted_key"],
                                                 r["description"])))
    out.print(table)


@app.command("demo")
@handles_errors
def demo_cmd(
    directory: Annotated[Path, typer.Option("--dir", help="Where the demo writes its files.")]
    = Path("acflow-demo"),
    contacts: Annotated[int, typer.Option("--contacts", min=0, help="Contacts in the sandbox.")] = 2000,
    as_json: JsonOpt = False,
) -> None:
    """Start the built-in sandbox, sync all six entities and run the starter flows into ./acflow-demo/.

    Writes acflow.yaml (acflow init's) there too. Needs no account and no network beyond loopback.
    Example: acflow demo
    """
    from .demo import run_demo
    from .display import progress_bars

    with progress_bars(err, enabled=not as_json) as on_progress:
        result = run_demo(directory, contacts=contacts, on_progress=on_progress)
    if as_json:
        print(json.dumps(result.to_dict(), default=str, indent=2))
    else:
        _print_sync(result.sync)
        out.print(_flow_table(result.run))
        for f in result.run.flows:
            if f.error:
                err.print(f"[red]Error:[/red] {f.flow}: {f.error}", highlight=False, soft_wrap=True)
        out.print(f"Rate-limit use: {result.rate_use:.2f} of the sandbox's {result.rate_limit:g} "
                  f"requests/s, {result.rate_limited} answers 429.")
        for line in _demo_hints(directory, result):
            out.print(line, highlight=False, soft_wrap=True, markup=False)
    if not result.ok:
        raise typer.Exit(1)


def _short(path: str) -> str:
    """A path as short as it is unambiguous from here: relative under the current folder."""
    relative = os.path.relpath(path)
    if relative.startswith(".."):
        return path
    return relative if os.sep in relative else os.path.join(".", relative)


def _me() -> str:
    """How to call acflow again as the user just did: `acflow` when that is on PATH, else its path."""
    argv0 = sys.argv[0]
    if Path(argv0).name == "acflow":
        found = shutil.which("acflow")
        if found and os.path.exists(argv0) and os.path.samefile(found, argv0):
            return "acflow"
        return _short(argv0)
    return f"{_short(sys.executable)} -m acflow.cli"


def _demo_hints(directory: Path, result: Any) -> list[str]:
    """Commands that work as printed in a fresh shell: no sandbox, account or duckdb CLI needed."""
    again = f"{_me()} demo" + ("" if directory == Path("acflow-demo") else f" --dir {shlex.quote(str(directory))}")
    lines = [""]
    if result.kept_config:
        lines.append(f"Your edited {result.config} was used as it is (acflow demo never overwrites it).")
    lines += [f"The flows are in {result.config}. Edit it, then run them again (your edits are kept):",
              f"  $ {again}"]
    database = directory / "out" / "acflow.duckdb"
    if any(f.flow == "deals_with_contacts" and f.status == "ok" for f in result.run.flows) and database.exists():
        code = (f'import duckdb; duckdb.connect("{database}", read_only=True).sql("SELECT status_label, count(*) '
                'AS deals FROM deals_with_contacts GROUP BY 1 ORDER BY 1").show()')
        lines += ["Look at a result (DuckDB, from Python):", f"  $ {_short(sys.executable)} -c {shlex.quote(code)}"]
    return lines


auth_app = typer.Typer(name="auth", no_args_is_help=True,
                       help="Sign in to the services acflow writes to.\n\n"
                       "Example: acflow auth google --client-secrets client_secret.json")
app.add_typer(auth_app, name="auth")


@auth_app.command("google")
@handles_errors
def auth_google_cmd(
    client_secrets: Annotated[Path, typer.Option(
        "--client-secrets", help="The OAuth client of type \"Desktop app\" (JSON) from Google Cloud Console > APIs & "
        "Services > Credentials.")],
    no_browser: Annotated[bool, typer.Option("--no-browser", help="Print the sign-in address instead of opening "
                                             "a browser (it must still be opened on this machine).")] = False,
    port: Annotated[int, typer.Option("--port", min=0, help="The loopback port Google sends the browser back to "
                                      "(0: any free one).")] = 0,
) -> None:
    """Sign in to Google once, so that gsheets:// destinations write to Google Sheets as you.

    The refresh token is saved, readable by you only, in ~/.config/acflow/google-token.json (or
    ACFLOW_GOOGLE_TOKEN); a service-account key (GOOGLE_APPLICATION_CREDENTIALS or credentials:)
    is used instead when one is set. See the README's "Google Sheets" section.
    Example: acflow auth google --client-secrets ~/Downloads/client_secret_1234.json
    """
    from .destinations.google_auth import login

    path = login(client_secrets, open_browser=not no_browser, port=port)
    out.print(f"Signed in. The token is in {path} (readable by you only); gsheets:// destinations now write as "
              "you, unless GOOGLE_APPLICATION_CREDENTIALS or credentials: names a service account.",
              highlight=False, soft_wrap=True)


# The commands of the larger parts live beside their code: acflow/<part>/command.py has
# `register(app)`, adding its commands to this app; it imports only typer and this module at
# load time (the rest inside the commands), so --help stays fast.
PARTS = ("service", "ui", "report", "mcp", "workers")


def _register_parts() -> None:
    import importlib
    import importlib.util

    for part in PARTS:
        name = f"{__package__}.{part}.command"
        if importlib.util.find_spec(f"{__package__}.{part}") is None or importlib.util.find_spec(name) is None:
            continue  # a part still being built
        importlib.import_module(name).register(app)


_register_parts()


def main() -> None:
    """The `acflow` entry point: SIGTERM stops a command as Ctrl-C does; either before one runs is one line."""
    signal.signal(signal.SIGINT, _interrupted_at_start)
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        app(prog_name="acflow")
    except (KeyboardInterrupt, _StartupInterrupt):
        sys.stderr.write(STARTING)
        raise SystemExit(143 if signal.SIGTERM in _stopped_by else 130) from None
    finally:  # the command is over: a late Ctrl-C must not turn its exit code into a signal's
        signal.signal(signal.SIGINT, signal.SIG_IGN)


if __name__ == "__main__":
    main()
    sys.exit(0)
