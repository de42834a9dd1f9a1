"""The MCP server: tools, resources and prompts over the mirror and the flows (the official SDK).

Tools answer in a Markdown table (what an assistant reads) with the same rows as structured
JSON. Every read goes through reader.MirrorReader (read-only, bounded); the tools that write,
a run or a sync, exist only with --allow-runs. Errors are one line, as the CLI's.
"""

from __future__ import annotations

import contextlib
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

try:
    import anyio
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError
    from mcp.server.mcpserver.resources import Resource
    from mcp_types import CallToolResult, TextContent, ToolAnnotations
    from pydantic import Field
except ImportError:  # the optional extra, or a 1.x SDK (FastMCP) that lacks MCPServer
    from ..errors import ConfigError

    raise ConfigError("acflow mcp needs the MCP SDK 2.x: pip install 'acflow[mcp]'") from None

from .. import __version__
from ..errors import AcflowError
from . import describe as about
from . import render
from .reader import ACCOUNT_COLUMN, FLOW_PREFIX, Limits, MirrorReader, Result
from .sqlguard import check

INSTRUCTIONS = """\
acflow's copy of ActiveCampaign data (the mirror), read-only. Start with list_entities (what is synced, \
how fresh) and list_flows; call describe before querying an entity or flow: it gives the columns' \
meaning and the traps. Query with DuckDB SQL over the views: one per entity (deals, contacts, campaigns, \
lists, ...: current rows, derived columns such as deals.amount and campaigns.open_rate, looked-up names \
such as stage_name) and one per flow (flow_<name>: what the flow writes). Rules that keep answers right: \
rates from uniqueopens and uniquelinkclicks, money from amount (never value, which is in cents) and never \
summed across currencies, restricted deals (isDisabled = 1) counted apart, contacts filtered on deleted = 0."""

READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True,
                            open_world_hint=False)


def build_server(reader: MirrorReader, *, allow_runs: bool = False) -> MCPServer:
    """The MCP server over one mirror (and acflow.yaml's flows, if given)."""
    server: MCPServer = MCPServer("acflow", title="acflow: ActiveCampaign data", version=__version__,
                                  instructions=INSTRUCTIONS, log_level="WARNING")
    limits = reader.limits

    def table(text_head: str, result: Result, extra: dict[str, Any] | None = None) -> CallToolResult:
        body = render.markdown(result)
        text = f"{text_head}\n\n{body}" if text_head else body
        return CallToolResult(content=[TextContent(type="text", text=text)],
                              structured_content={**(extra or {}), **render.structured(result)})

    def guarded(fn: Any) -> Any:
        """AcflowError -> a tool error of one line (the CLI's message), never a traceback."""
        import functools

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except AcflowError as exc:
                raise ToolError(str(exc)) from None
        return wrapper

    @server.tool(title="List synced entities", annotations=READ_ONLY)
    @guarded
    def list_entities() -> CallToolResult:
        """The accounts and entities the mirror holds: rows (current, not removed), when last synced and
        fully synced, and the view to query each by (e.g. `deals`)."""
        now = datetime.now(UTC)
        with reader.session() as s:
            rows = []
            for h in s.held:
                view = s.entity_view(h.entity)
                rows.append((h.account, h.entity, view, h.rows, h.synced_at, h.full_synced_at,
                             _age(now, h.synced_at)))
        result = Result([("account", "VARCHAR"), ("entity", "VARCHAR"), ("view", "VARCHAR"), ("rows", "BIGINT"),
                         ("synced_at", "TIMESTAMPTZ"), ("full_synced_at", "TIMESTAMPTZ"), ("age", "VARCHAR")], rows)
        accounts = sorted({r[0] for r in rows})
        head = f"Mirror {reader.path}: {len(accounts)} account(s), {len(rows)} entity table(s)."
        if len(accounts) > 1:
            head += f" Views hold every account's rows; the column {ACCOUNT_COLUMN} says whose."
        return table(head, result, {"accounts": accounts})

    @server.tool(title="List flows", annotations=READ_ONLY)
    @guarded
    def list_flows() -> CallToolResult:
        """The flows of acflow.yaml: source, destination, mode, last run, and the view to query each
        output by (flow_<name>)."""
        cfg = reader.config()
        if cfg is None:
            return table("No acflow.yaml was given (--config): no flows.", Result([("flow", "VARCHAR")], []))
        with reader.session() as s:
            last = s.last_flow_runs()
        rows = []
        for name, spec in cfg.flows.items():
            src = spec.source
            source = f"flow {src.flow}" if src.flow else f"{src.entity} ({', '.join(cfg.account_names(name))})"
            ended, status, count = last.get(name, (None, None, None))
            rows.append((name, FLOW_PREFIX + name, source, redact(spec.to), spec.mode, ended, status, count))
        result = Result([("flow", "VARCHAR"), ("view", "VARCHAR"), ("source", "VARCHAR"),
                         ("destination", "VARCHAR"), ("mode", "VARCHAR"), ("last_run", "TIMESTAMPTZ"),
                         ("status", "VARCHAR"), ("rows", "BIGINT")], rows)
        return table(f"{len(rows)} flow(s) in {cfg.path}.", result)

    @server.tool(title="Describe an entity or flow", annotations=READ_ONLY)
    @guarded
    def describe(name: str) -> CallToolResult:
        """The columns of an entity (deals, campaigns, contacts, ...) or a flow: type, meaning, whether
        derived, and the advice that keeps answers right (unique opens, amount not value, ...)."""
        with reader.session() as s:
            head, result, extra = _describe(s, name)
        return table(head, result, extra)

    @server.tool(title="Run a read-only SQL query", annotations=READ_ONLY)
    @guarded
    def query(sql: str, max_rows: int | None = None) -> CallToolResult:
        """One DuckDB SELECT over the views: one per entity (deals, contacts, campaigns, lists,
        segments, forms, dealStages, ...; current rows with derived columns such as amount, status_label,
        open_rate and looked-up names such as stage_name) and one per flow (flow_<name>). Read-only:
        writes, ATTACH, COPY, files, URLs, extensions, SET and several statements are refused before
        anything runs. Bounded: max_rows (at most the server's limit), bytes and seconds; a result cut
        short says so."""
        checked = check(sql)
        with reader.session() as s:
            s.flow_views_for(checked.tables)
            result = s.run(checked.sql, max_rows=max_rows)
        return table("", result)

    @server.tool(title="Preview a flow", annotations=READ_ONLY)
    @guarded
    def preview_flow(flow: str, limit: int = 10) -> CallToolResult:
        """A flow's first rows as a run would write them (compiled over the mirror; nothing is
        fetched or written)."""
        limit = max(1, min(int(limit), limits.rows))
        with reader.session() as s:
            view = s.flow_view(flow)
            result = s.run(f'SELECT * FROM "{view}" LIMIT {limit}')
        return table(f"Flow {flow} (view {view}), first {limit} rows:", result)

    if allow_runs:
        _run_tools(server, reader)
    _resources(server, reader)
    _prompts(server)
    return server


def _describe(s: Any, name: str) -> tuple[str, Result, dict[str, Any]]:
    from .. import catalog
    from ..flows import entity_of

    cfg = s.reader.config()
    if cfg is not None and name.removeprefix(FLOW_PREFIX) in cfg.flows and catalog.find(name) is None:
        flow = name.removeprefix(FLOW_PREFIX)
        view = s.flow_view(flow)
        root = entity_of(cfg, flow)
        cols = s._columns(f'(SELECT * FROM "{view}")')
        spec = cfg.flows[flow]
        steps = {k: v for k, v in spec.model_dump(exclude_none=True, exclude_defaults=True).items()
                 if k not in ("to", "schedule")}
        head = (f"Flow {flow}: view {view}, from {root.name}; {len(cols)} columns.\n"
                f"Steps: {json.dumps(steps, default=str)}\n"
                f"Advice ({root.name}): {about.advice(root.name) or 'none'}")
        rows = [(c, t, about.meaning(root.name, c), c in root.derived) for c, t in cols.items()]
        kind, entity_name = "flow", root.name
    else:
        entity = catalog.find(name)
        if entity is None:
            flows = f" Flows: {', '.join(cfg.flows)}." if cfg is not None else ""
            raise AcflowError(f"{name!r} is neither an entity nor a flow.{catalog.suggest(name)}{flows}")
        view = s.entity_view(entity.name)
        if view is not None:
            cols = s._columns(f'(SELECT * FROM "{view}")')
            synced = "synced"
        else:
            cols = {c: t.value for c, t in entity.columns.items()} | dict.fromkeys(entity.derived, "derived")
            synced = "not synced yet (types are the catalog's; `acflow sync " + entity.name + "` fetches it)"
        head = (f"Entity {entity.name}: {entity.description} View: {view or 'none'}, {synced}.\n"
                f"Advice: {about.advice(entity.name) or 'none'}")
        rows = [(c, t, about.meaning(entity.name, c), c in entity.derived) for c, t in cols.items()]
        kind, entity_name = "entity", entity.name
    result = Result([("column", "VARCHAR"), ("type", "VARCHAR"), ("meaning", "VARCHAR"), ("derived", "BOOLEAN")],
                    rows)
    return head, result, {"kind": kind, "entity": entity_name, "view": view,
                          "advice": about.advice(entity_name)}


def _run_tools(server: MCPServer, reader: MirrorReader) -> None:
    """--allow-runs: a flow run or a sync, started by the assistant. They fetch from the API (the
    keys come from the environment, as for `acflow run`) and write the mirror and destinations."""
    writes = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False,
                             open_world_hint=True)

    @server.tool(title="Run flows", annotations=writes)
    def run_flows(flows: list[str] | None = None) -> str:
        """Run flows of acflow.yaml (default: all): sync what they read, then write their destinations."""
        from ..run import run

        cfg = reader.config()
        if cfg is None:
            raise ToolError("no acflow.yaml was given (--config): no flows to run")
        try:
            with reader.exclusive():
                summary = run(flows or None, config=cfg, mirror=reader.path)
        except AcflowError as exc:
            raise ToolError(str(exc)) from None
        lines = [f"{f.flow}: {f.status}, {f.rows:,} rows -> {redact(f.destination)}"
                 + (f" ({f.error})" if f.error else "") for f in summary.flows]
        return "\n".join([f"Run {summary.run_id}: {'ok' if summary.ok else 'failed'} in {summary.seconds:g} s",
                          *lines])

    @server.tool(title="Sync entities", annotations=writes)
    def sync(entities: list[str] | None = None, account: str | None = None) -> str:
        """Bring entities of the mirror up to date from ActiveCampaign (default: the six seed entities),
        for an account of acflow.yaml (default: its first), or ACTIVECAMPAIGN_API_URL/KEY without one."""
        from ..account import Account
        from ..sync import sync as do_sync

        try:
            cfg = reader.config()
            if cfg is not None and cfg.spec.accounts:
                name = account or next(iter(cfg.spec.accounts))
                if name not in cfg.spec.accounts:
                    raise ToolError(f"no account {name!r} in {cfg.path}: {', '.join(cfg.spec.accounts)}")
                acct = cfg.account(name)
            else:
                acct = Account.resolve()
            with reader.exclusive():
                summary = do_sync(entities or None, account=acct, mirror=reader.path)
        except AcflowError as exc:
            raise ToolError(str(exc)) from None
        lines = [f"{e.entity}: {e.status}, {e.rows:,} rows" + (f" ({e.error})" if e.error else "")
                 for e in summary.entities]
        return "\n".join([f"Sync of {acct.url}: {'ok' if summary.ok else 'failed'}", *lines])


class _FlowOutput(Resource):
    """A flow's output, compiled over the mirror and bounded; `_meta` says whether it was cut short."""

    reader: Any = Field(default=None, exclude=True)
    flow: str = ""
    form: str = "csv"

    async def read(self) -> str:
        text, note = await anyio.to_thread.run_sync(flow_output, self.reader, self.flow, self.form)
        self.meta = {"truncated": note is not None, "note": note}
        return text


def flow_output(reader: MirrorReader, flow: str, form: str) -> tuple[str, str | None]:
    """(text, why it was cut short or None): the flow's rows as CSV or JSON, within the limits."""
    from ..errors import ConfigError

    if form not in ("csv", "json"):
        raise ConfigError(f"flows are served as .csv or .json, not .{form}")
    with reader.session() as s:
        view = s.flow_view(flow)
        result = s.run(f'SELECT * FROM "{view}"')
    return (render.to_csv(result) if form == "csv" else render.to_json(result, flow)), result.truncated


def entity_schema(reader: MirrorReader, name: str) -> str:
    with reader.session() as s:
        head, result, extra = _describe(s, name)
    columns = [{"name": c, "type": t, "meaning": m, "derived": d} for c, t, m, d in result.rows]
    return json.dumps({**extra, "summary": head, "columns": columns}, indent=1)


def _resources(server: MCPServer, reader: MirrorReader) -> None:
    """Each flow's output (CSV and JSON) and each entity's schema, listed; templates for the rest."""
    from .. import catalog

    cfg = None
    with contextlib.suppress(AcflowError):  # a broken acflow.yaml: the tools say what is wrong when called
        cfg = reader.config()
    for flow in cfg.flows if cfg is not None else []:
        for form, mime in (("csv", "text/csv"), ("json", "application/json")):
            server.add_resource(_FlowOutput(
                uri=f"acflow://flows/{flow}.{form}", name=f"{flow}.{form}", title=f"Flow {flow} ({form.upper()})",
                description=f"The output of flow {flow}, compiled over the mirror: at most {reader.limits.rows:,} "
                            "rows (the JSON form and the resource's _meta say when there were more).",
                mime_type=mime, reader=reader, flow=flow, form=form))
    try:
        with reader.session() as s:
            held = sorted({h.entity for h in s.held})
    except AcflowError:
        held = [e.name for e in catalog.CATALOG.values() if e.seed]  # busy now: the seed entities
    for name in held:
        server.add_resource(_schema_resource(reader, name))

    @server.resource("acflow://flows/{flow}.csv", name="flow_csv", mime_type="text/csv",
                     description="Any flow's output as CSV (bounded).")
    def flow_csv(flow: str) -> str:
        return flow_output(reader, flow, "csv")[0]

    @server.resource("acflow://flows/{flow}.json", name="flow_json", mime_type="application/json",
                     description="Any flow's output as JSON (bounded; says when truncated).")
    def flow_json(flow: str) -> str:
        return flow_output(reader, flow, "json")[0]

    @server.resource("acflow://entities/{entity}/schema", name="entity_schema", mime_type="application/json",
                     description="Any entity's columns: type, meaning, derived, and advice.")
    def any_schema(entity: str) -> str:
        return entity_schema(reader, entity)


def _schema_resource(reader: MirrorReader, name: str) -> Resource:
    from mcp.server.mcpserver.resources import FunctionResource

    return FunctionResource.from_function(
        lambda: entity_schema(reader, name), uri=f"acflow://entities/{name}/schema", name=f"{name} schema",
        title=f"Entity {name}: columns", description=f"The columns of {name}: type, meaning, derived, advice.",
        mime_type="application/json")


def _prompts(server: MCPServer) -> None:
    """The seeds' standard dashboard questions, with the way to answer them right."""

    @server.prompt(title="E-mail performance", description="Campaign open, click, bounce and unsubscribe rates.")
    def email_performance(period: str = "the last 90 days") -> str:
        return (f"Using the acflow tools, report e-mail performance for campaigns sent in {period}. Call "
                "describe('campaigns') first. Use only campaigns with send_amt > 0, by sdate. For each: name, sdate, "
                "send_amt, open_rate, click_rate, click_to_open_rate (they use uniqueopens and uniquelinkclicks: "
                "never compute rates from opens or linkclicks, which count repeats), hard_bounce_rate and "
                "soft_bounce_rate kept apart, unsubscribe_rate. Then the totals over the period, computed as "
                "sum(uniqueopens) / sum(send_amt) and so on (not an average of rates), and the best and worst "
                "campaigns by unique click rate. Example: SELECT name, sdate, send_amt, open_rate, click_rate FROM "
                "campaigns WHERE send_amt > 0 ORDER BY sdate DESC")

    @server.prompt(title="Pipeline by stage", description="Open deals and amounts per pipeline and stage.")
    def pipeline_by_stage(pipeline: str = "every pipeline") -> str:
        return (f"Using the acflow tools, show the open sales pipeline by stage for {pipeline}. Call "
                "describe('deals') first. Count open deals (status_label = 'open') and sum amount (major units; "
                "never value, which is in cents) per pipeline_name, stage_name and currency: never add amounts of "
                "different currencies. Count restricted deals (isDisabled = 1) apart and leave them out of the "
                "totals; say how many there are. Add won and lost counts and amounts for context, and the owners "
                "(owner_name) with the most open amount. Example: SELECT pipeline_name, stage_name, currency, "
                "count(*) AS deals, sum(amount) AS amount FROM deals WHERE status_label = 'open' AND "
                "coalesce(isDisabled, 0) = 0 GROUP BY ALL ORDER BY ALL")

    @server.prompt(title="List health", description="Subscribers, unsubscribes and bounces per list.")
    def list_health() -> str:
        return ("Using the acflow tools, report the health of the mailing lists. Call describe('lists') first, and "
                "describe('contactLists') if list_entities shows it synced. Per list: name, active_subscribers, "
                "and from contactLists the counts per status_label (subscribed, unsubscribed, bounced, unconfirmed) "
                "and the unsubscribes and bounces of the last 30 days (udate). From contacts (deleted = 0 only): how "
                "many have bounced_hard = 1 or bounced_soft = 1. Flag lists whose unsubscribe or bounce share is "
                "high, and say what the data cannot tell (contactLists not synced, counts the API did not send).")


_USERINFO = re.compile(r"(//[^/:@]*):[^/@]*@")
_SECRET_PARAM = re.compile(r"([?&](?:[^=&]*(?:token|secret|password|key)[^=&]*)=)[^&]*", re.IGNORECASE)


def redact(destination: str) -> str:
    """A destination as shown to an assistant: without a password in the URI or a token in its query."""
    return _SECRET_PARAM.sub(r"\1***", _USERINFO.sub(r"\1:***@", destination))


def _age(now: datetime, then: datetime | None) -> str | None:
    if then is None:
        return None
    minutes = max(0, int((now - then).total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h"
    return f"{minutes // (24 * 60)} days"


# -- transports ------------------------------------------------------------------------------------
def serve_stdio(reader: MirrorReader, *, allow_runs: bool = False) -> None:
    """For desktop assistants: JSON-RPC on stdin/stdout (nothing else may be printed there)."""
    server = build_server(reader, allow_runs=allow_runs)
    anyio.run(server.run_stdio_async)


def asgi_app(config_path: str | Path | None, mirror_path: str | Path, token: str, *, allow_runs: bool = False,
             limits: Limits | None = None, host: str = "127.0.0.1") -> Any:
    """The streamable-HTTP endpoint as an ASGI app behind the bearer token (acflow serve mounts it at /mcp).

    It answers on whatever path it is mounted at. Its session manager must run for the app's life:
    it does when the app gets ASGI lifespan events itself; a host whose lifespan does not reach
    mounted apps (Starlette's Mount) enters `app.lifespan()` in its own lifespan."""
    from .http import TokenGate

    reader = MirrorReader(mirror_path, config_path, limits)
    server = build_server(reader, allow_runs=allow_runs)
    server.streamable_http_app(host=host)  # makes the session manager, with DNS-rebinding protection on loopback
    return TokenGate(server.session_manager, token)
