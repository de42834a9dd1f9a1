"""`acflow sandbox serve`: the sandbox from the command line (a thin wrapper over `serve`).

One size flag per catalog entity is generated from CATALOG (`--contacts`,
`--dealgroups`...), so a new entity gets its flag without touching this file.
"""

from __future__ import annotations

import inspect
from typing import Any, Optional

import typer
from rich.markup import escape

from acflow.catalog import CATALOG
from acflow.sandbox.churn import parse_churn
from acflow.sandbox.clock import USER_ZONE
from acflow.sandbox.faults import parse_spec
from acflow.sandbox.runner import account_names
from acflow.sandbox.runner import serve as serve_forever
from acflow.sandbox.server import ADMIN_KEY, DEFAULT_PORT, RESTRICTED_KEY, Config, SandboxServer
from acflow.sandbox.world import DEFAULT_SIZES

# "rich" like acflow's root app, which decides the markup of mounted commands too; brackets escaped.
app = typer.Typer(add_completion=False, rich_markup_mode="rich", no_args_is_help=True)


@app.callback()
def sandbox() -> None:
    """An offline ActiveCampaign API v3 server for trying and testing flows.

    Example: acflow sandbox serve --contacts 5000 --latency-ms 80
    """


SERVE_HELP = "\n\n".join([
    "Serve an ActiveCampaign-compatible API v3 with generated data, until Ctrl-C.",
    "Give clients the printed URL as the API URL and one of the printed keys: the admin key sees"
    " everything; the restricted key's user manages only odd-numbered pipelines, so its deals in the"
    ' others come back as stubs {"id", "title", "isDisabled": true} and its dealStages and dealGroups'
    " lists omit them.",
    "Data is generated from --seed (same seed and sizes, same records) and ends on 2026-01-01 in the"
    " account's --timezone; changes (POST /_sandbox/mutate, --churn) use the wall clock.",
    "Paging: limit (default 20, max 100) and offset; contacts also orders[id]=ASC|DESC with"
    " id_greater and id_less; orders[cdate]=ASC|DESC everywhere, ties by id. Contacts and deals take"
    " filters[created_after|created_before|updated_after|updated_before] by DAY: only the value's"
    " date counts, against the account-local date; *_after includes that day, *_before excludes it.",
    "Rate limit: a sliding 1-second window of --rate-limit requests for both keys together; above"
    " it 429 (or --rate-limit-status 503) with Retry-After, RateLimit-Limit and RateLimit-Remaining.",
    "--faults SPEC: comma-separated KIND=RULE[@SCOPE]. KIND is 429, 500, 502, 503, 504, 403 (a valid"
    " key refused), reset (connection aborted), truncate (200 with half the JSON), cut (connection"
    " closed mid-body), empty (200 with no body) or slow (answer after --slow-seconds); latency=MS"
    " adds a delay. RULE is a probability per request (seeded: runs repeat), every:N or next:N."
    " SCOPE is an entity (contacts) or a path prefix.",
    "--churn SPEC: ENTITY=PER_SECOND,... (e.g. contacts=20,deals=5): a mix of creates, updates,"
    " hard deletes and, for contacts, soft deletes while clients read.",
    "Control endpoints (no key, not rate limited, not counted): GET /_sandbox/stats,"
    " POST /_sandbox/mutate, GET /_sandbox/snapshot/ENTITY, POST /_sandbox/reset,"
    " GET|POST|DELETE /_sandbox/faults, GET|POST /_sandbox/settings.",
    "Example: acflow sandbox serve --contacts 100000 --faults 503=0.02,reset=0.01",
])


def _size_params() -> list[inspect.Parameter]:
    params = []
    for name, entity in CATALOG.items():
        flags = [f"--{name.lower()}"] + ([f"--{name}"] if name != name.lower() else [])
        params.append(inspect.Parameter(
            f"size_{name.lower()}", inspect.Parameter.KEYWORD_ONLY, annotation=Optional[int],  # noqa: UP045
            default=typer.Option(None, *flags, min=0, show_default=False,
                                 help=f"How many {name} (default {DEFAULT_SIZES[name]}). {entity.description}"),
        ))
    return params


def _banner(server: SandboxServer) -> None:
    c = server.config
    limit = f"{c.rate_limit:g} requests/s ({c.rate_limit_status})" if c.rate_limit else "off"
    typer.echo(
        f"ActiveCampaign sandbox at {server.url}  (the API URL; clients call {server.url}/api/3/...)\n"
        f"  admin key:      {c.admin_key}\n"
        f"  restricted key: {c.restricted_key}  (manages odd-numbered pipelines only)\n"
        f"  seed {c.seed}, rate limit {limit}, latency {c.latency_ms:g} ms, "
        f"faults {', '.join(server.faults.describe()) or 'none'}\n"
        f"  records: " + ", ".join(f"{n} {k}" for k, n in server.world.sizes.items()) + "\n"
        f"  stats:   {server.url}/_sandbox/stats\n"
        + (f"  accounts: {len(server.tenants)} more at {server.url}/acct/NAME (NAME-admin-key): "
           f"{', '.join(list(server.tenants)[:3])}{', ...' if len(server.tenants) > 3 else ''}\n"
           if server.tenants else "") +
        "Press Ctrl-C to stop."
    )


def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(DEFAULT_PORT, help="Port to listen on (0 picks a free one)."),
    seed: int = typer.Option(1, help="Seed of the generated data."),
    latency_ms: float = typer.Option(0.0, "--latency-ms", min=0, help="Delay before each API answer."),
    jitter: float = typer.Option(0.2, min=0, max=1, help="Latency varies by +-this share."),
    rate_limit: float = typer.Option(5.0, "--rate-limit", min=0, help="Requests/second per account; 0 = off."),
    rate_limit_status: int = typer.Option(429, "--rate-limit-status", help="429, or 503 as some accounts send."),
    faults: str = typer.Option("", help='Fault SPEC, e.g. "429=0.02,503=every:7,reset=next:2@contacts".'),
    slow_seconds: float = typer.Option(30.0, "--slow-seconds", min=0, help="How long a `slow` fault waits."),
    churn: str = typer.Option("", help='Mutations per second while serving, e.g. "contacts=20,deals=5".'),
    admin_key: str = typer.Option(ADMIN_KEY, "--admin-key", help="API key that sees everything."),
    restricted_key: str = typer.Option(RESTRICTED_KEY, "--restricted-key", help="API key of a restricted user."),
    timezone: str = typer.Option("America/Chicago", help="The account's time zone (dates carry its offset)."),
    user_timezone: str = typer.Option(USER_ZONE, "--user-timezone",
                                      help="The admin key's user's own zone (its localZoneid), which real "
                                           "accounts show can differ from the account's."),
    more_accounts: int = typer.Option(0, "--more-accounts", min=0,
                                 help="Serve this many more accounts beside the first, acct01...: each at "
                                      "URL/acct/NAME with key NAME-admin-key, its own data, rate limit and stats."),
    cache_mb: int = typer.Option(256, "--cache-mb", min=0,
                                 help="Memory for rendered records per entity (more: faster repeat reads)."),
    **sizes: Any,
) -> None:
    if rate_limit_status not in (429, 503):
        raise typer.BadParameter("must be 429 or 503", param_hint="--rate-limit-status")
    for flag, check in (("--faults", lambda: parse_spec(faults)), ("--churn", lambda: parse_churn(churn))):
        try:
            check()
        except ValueError as e:
            raise typer.BadParameter(str(e), param_hint=flag) from None
    by_flag = {f"size_{name.lower()}": name for name in CATALOG}
    chosen = {by_flag[k]: v for k, v in sizes.items() if v is not None}
    try:
        config = Config(host, port, seed, chosen, latency_ms, jitter, rate_limit, rate_limit_status,
                        faults or None, slow_seconds, churn or None, admin_key, restricted_key, timezone,
                        cache_mb=cache_mb, user_timezone=user_timezone, accounts=account_names(more_accounts))
    except ValueError as e:
        raise typer.BadParameter(str(e)) from None
    try:
        serve_forever(config, on_ready=_banner)
    except OSError as e:
        typer.echo(f"Error: cannot listen on {host}:{port} ({e.strerror}); choose another --port.", err=True)
        raise typer.Exit(2) from None


serve.__signature__ = inspect.signature(serve).replace(  # type: ignore[attr-defined]
    parameters=[p for p in inspect.signature(serve).parameters.values() if p.kind != p.VAR_KEYWORD]
    + _size_params())
serve.__doc__ = SERVE_HELP
app.command("serve", help=escape(SERVE_HELP))(serve)
