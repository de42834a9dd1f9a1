"""acflow mcp in process, with the SDK's own client over memory streams, against a mirror synced from
the sandbox: every tool's answer checked against plain SQL, limits, previews, resources, prompts,
a busy mirror, and no key anywhere in what an assistant is told."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import duckdb
import pytest

from acflow.account import Account
from acflow.catalog import MINOR_UNITS
from acflow.mirror import account_schema
from acflow.run import preview_flow, run
from acflow.starter import STARTER

mcp = pytest.importorskip("mcp", reason="the mcp extra (pip install 'acflow[mcp]') is not installed")

from mcp import Client  # noqa: E402

from acflow.mcp.reader import Limits, MirrorReader  # noqa: E402
from acflow.mcp.server import build_server  # noqa: E402


def build_mirror(sandbox_server: Any, folder: Path) -> dict[str, Any]:
    """The starter flows run once against the sandbox: a mirror, its acflow.yaml and destinations.
    The yaml names the account by url_env, unset here: the mirror's only account stands in (as for
    the demo's mirror, whose sandbox address changes each run)."""
    sandbox_server.reset()
    config = folder / "acflow.yaml"
    config.write_text(STARTER, encoding="utf-8")
    mirror = folder / ".acflow" / "mirror.duckdb"
    account = Account(sandbox_server.url, sandbox_server.admin_key, rate_limit=1000)
    summary = run(config=config, accounts={"main": account}, mirror=mirror)
    assert summary.ok, summary.to_dict()
    return {"dir": folder, "config": config, "mirror": mirror, "account": account,
            "schema": account_schema(account.url), "key": sandbox_server.admin_key}


@pytest.fixture(scope="module")
def synced(sandbox_server: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return build_mirror(sandbox_server, tmp_path_factory.mktemp("mcp"))


def server_for(synced: dict[str, Any], **limits: Any) -> Any:
    reader = MirrorReader(synced["mirror"], synced["config"], Limits(**limits))
    return build_server(reader)


def with_client(server: Any, fn: Callable[[Client], Awaitable[Any]]) -> Any:
    """Runs `fn(client)` with the SDK's client connected in process over memory streams."""
    async def go() -> Any:
        async with Client(server, mode="legacy") as client:
            return await fn(client)
    return anyio.run(go)


def call(server: Any, tool: str, args: dict[str, Any] | None = None) -> Any:
    return with_client(server, lambda c: c.call_tool(tool, args or {}))


def text(result: Any) -> str:
    return "\n".join(c.text for c in result.content if hasattr(c, "text"))


def plain(synced: dict[str, Any], sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    """The same question asked of the mirror file directly."""
    con = duckdb.connect(str(synced["mirror"]), read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def server(synced: dict[str, Any]) -> Any:
    return server_for(synced)


def test_the_sdk_is_not_shadowed_by_our_package():
    """`acflow.mcp` imports the SDK absolutely: its MCPServer is the SDK's."""
    import acflow.mcp.server as ours

    assert ours.MCPServer.__module__.startswith("mcp.server.mcpserver")
    assert Path(mcp.__file__).parent.name == "mcp" and "acflow" not in mcp.__file__


def test_tools_offered_read_only_by_default(server):
    tools = with_client(server, lambda c: c.list_tools()).tools
    names = {t.name for t in tools}
    assert names == {"list_entities", "list_flows", "describe", "query", "preview_flow"}
    assert all(t.annotations.read_only_hint for t in tools)


def test_list_entities_matches_the_mirror_state(server, synced):
    result = call(server, "list_entities")
    assert not result.is_error
    got = {(r[0], r[1]): r[3] for r in result.structured_content["rows"]}
    state = plain(synced, "SELECT account, entity, rows FROM _acflow.state")
    assert got == {(a, e): n for a, e, n in state}
    for (_account, entity), rows in got.items():  # the state's count is the current rows' count
        (count,) = plain(synced, f'SELECT count(*) FROM "{synced["schema"]}"."{entity}" '
                                 "WHERE _acflow_deleted_at IS NULL")[0]
        assert rows == count, entity
    assert ("deals", "deals") in {(r[1], r[2]) for r in result.structured_content["rows"]}
    assert result.structured_content["accounts"] == [synced["account"].url]
    assert "| deals | deals | 400 |" in text(result)


def test_list_flows_names_every_flow_and_its_last_run(server, synced):
    result = call(server, "list_flows")
    rows = {r[0]: r for r in result.structured_content["rows"]}
    assert list(rows) == ["campaign_performance", "active_contacts", "deals_pipeline", "deals_with_contacts",
                          "deals_by_stage", "lists", "segments", "forms"]
    last = dict(plain(synced, "SELECT flow, rows FROM _acflow.flows"))
    assert {name: r[7] for name, r in rows.items()} == last
    assert rows["deals_by_stage"][1] == "flow_deals_by_stage" and rows["deals_by_stage"][6] == "ok"


def test_describe_an_entity_gives_types_meaning_and_the_seeds_advice(server, synced):
    result = call(server, "describe", {"name": "deals"})
    body = result.structured_content
    cols = {r[0]: r for r in body["rows"]}
    # types are the mirror's own (the raw table) for raw columns
    raw = dict(plain(synced, f'SELECT column_name, column_type FROM (DESCRIBE "{synced["schema"]}".deals)'))
    for name, (_, duck_type, _, derived) in cols.items():
        if name in raw:
            assert duck_type == raw[name] and not derived, name
    assert cols["amount"][1] == "DECIMAL(38,3)" and cols["amount"][3] is True
    assert "major units" in cols["amount"][2] and "use amount" in cols["value"][2]
    assert cols["status_label"][3] is True and {"stage_name", "pipeline_name", "owner_name"} <= set(cols)
    assert "never value" in body["advice"] and "isDisabled = 1" in body["advice"]
    campaigns = call(server, "describe", {"name": "campaigns"}).structured_content
    assert "uniqueopens and uniquelinkclicks" in campaigns["advice"]
    rates = {r[0]: r[2] for r in campaigns["rows"]}
    assert rates["open_rate"] == "uniqueopens / send_amt" and rates["click_rate"] == "uniquelinkclicks / send_amt"
    assert "deleted = 0" in call(server, "describe", {"name": "contacts"}).structured_content["advice"]


def test_describe_a_flow_and_an_entity_not_synced(server):
    flow = call(server, "describe", {"name": "deals_by_stage"})
    cols = [r[0] for r in flow.structured_content["rows"]]
    assert cols == ["pipeline_name", "stage_name", "currency", "deals", "total_amount", "average_amount"]
    assert flow.structured_content["kind"] == "flow" and "status_label = 'open'" in text(flow)
    tags = call(server, "describe", {"name": "tags"})
    assert not tags.is_error and "not synced yet" in text(tags)
    wrong = call(server, "describe", {"name": "deal"})
    assert wrong.is_error and "'deal' is neither an entity nor a flow. Did you mean 'deals'?" in text(wrong)


def test_query_answers_as_plain_sql_does(server, synced):
    """Open pipeline by stage, as an assistant asks it, against the raw table and the catalog's minor units."""
    sql = ("SELECT stage, currency, count(*) AS deals, sum(amount) AS total FROM deals WHERE status_label = 'open' "
           "GROUP BY ALL ORDER BY ALL")
    result = call(server, "query", {"sql": sql})
    assert not result.is_error and not result.structured_content["truncated"]
    got = [(r[0], r[1], r[2], Decimal(r[3])) for r in result.structured_content["rows"]]
    raw = plain(synced, f'SELECT stage, currency, value FROM "{synced["schema"]}".deals '
                        "WHERE status = 0 AND _acflow_deleted_at IS NULL")
    expected: dict[tuple[int, str], list[Any]] = {}
    for stage, currency, value in raw:
        cents = Decimal(10) ** MINOR_UNITS.get(currency.lower(), 2)
        entry = expected.setdefault((stage, currency), [0, Decimal(0)])
        entry[0] += 1
        entry[1] += Decimal(value) / cents
    assert got == [(s, c, n, total) for (s, c), (n, total) in sorted(expected.items())]
    assert text(result).splitlines()[0] == "| stage | currency | deals | total |"


def test_campaign_rates_are_the_unique_ones(server, synced):
    result = call(server, "query", {"sql": "SELECT id, open_rate, click_rate FROM campaigns WHERE send_amt > 0"})
    got = {r[0]: (r[1], r[2]) for r in result.structured_content["rows"]}
    raw = plain(synced, f'SELECT id, uniqueopens, uniquelinkclicks, send_amt FROM "{synced["schema"]}".campaigns '
                        "WHERE send_amt > 0 AND _acflow_deleted_at IS NULL")
    assert got and set(got) == {r[0] for r in raw}
    for i, opens, clicks, sent in raw:  # rounded to 4 places (half away from zero, as DuckDB rounds)
        assert got[i] == (pytest.approx(opens / sent, abs=5.1e-5), pytest.approx(clicks / sent, abs=5.1e-5))


def test_query_reads_flow_outputs_as_views(server, synced):
    result = call(server, "query", {"sql": "SELECT * FROM flow_deals_by_stage"})
    written = duckdb.connect()
    try:
        rows = written.execute("SELECT * FROM sqlite_scan(?, 'deals_by_stage')",
                               [str(synced["dir"] / "out" / "acflow.db")]).fetchall()
    except duckdb.Error:  # no sqlite extension available offline: the flow's own view, compiled by run
        rows = None
    finally:
        written.close()
    got = [tuple(r) for r in result.structured_content["rows"]]
    assert len(got) == 22 and [c["name"] for c in result.structured_content["columns"]][:3] == [
        "pipeline_name", "stage_name", "currency"]
    if rows is not None:
        assert [(r[0], r[1], r[2], r[3]) for r in got] == [(r[0], r[1], r[2], r[3]) for r in rows]


def test_a_result_over_the_row_limit_is_truncated_and_says_so(synced):
    small = server_for(synced, rows=25)
    result = call(small, "query", {"sql": "SELECT id FROM contacts ORDER BY id"})
    body = result.structured_content
    assert body["row_count"] == 25 and body["truncated"] is True
    assert [r[0] for r in body["rows"]] == [r[0] for r in plain(
        synced, f'SELECT id FROM "{synced["schema"]}".contacts WHERE _acflow_deleted_at IS NULL ORDER BY id LIMIT 25')]
    assert text(result).endswith("Truncated: more than 25 rows: the first 25 are shown; aggregate, filter or add "
                                 "a LIMIT.")
    asked = call(small, "query", {"sql": "SELECT id FROM contacts", "max_rows": 5}).structured_content
    assert asked["row_count"] == 5 and asked["truncated"] is True
    exact = call(small, "query", {"sql": "SELECT id FROM contacts LIMIT 25"}).structured_content
    assert exact["row_count"] == 25 and exact["truncated"] is False


def test_a_result_over_the_byte_limit_is_truncated_and_says_so(synced):
    small = server_for(synced, bytes=2000)
    result = call(small, "query", {"sql": "SELECT * FROM contacts"})
    body = result.structured_content
    assert body["truncated"] is True and 0 < body["row_count"] < 50
    assert "bytes after" in body["note"] and len(text(result).encode()) < 20_000


def test_a_slow_query_is_stopped_at_the_time_limit(synced):
    quick = server_for(synced, seconds=1.0)

    async def go(client: Client) -> tuple[Any, Any]:
        slow = await client.call_tool("query", {"sql": "SELECT count(*) FROM range(1000000) a, range(1000000) b "
                                                       "WHERE a.range + b.range = -1"})
        after = await client.call_tool("query", {"sql": "SELECT count(*) FROM deals"})
        return slow, after

    slow, after = with_client(quick, go)
    assert slow.is_error and "stopped at the time limit (1 s)" in text(slow)
    assert not after.is_error and after.structured_content["rows"] == [[400]]  # the server carries on


def test_preview_flow_is_what_run_previews(server, synced):
    result = call(server, "preview_flow", {"flow": "deals_pipeline", "limit": 5})
    table = preview_flow("deals_pipeline", config=synced["config"], mirror=synced["mirror"], limit=5, sync=False,
                         accounts={"main": synced["account"]})
    assert [c["name"] for c in result.structured_content["columns"]] == table.column_names
    from acflow.mcp.render import jsonable

    assert result.structured_content["rows"] == [[jsonable(v) for v in row.values()] for row in table.to_pylist()]
    missing = call(server, "preview_flow", {"flow": "nope"})
    assert missing.is_error and "no flow named 'nope'" in text(missing)


def test_flow_outputs_are_resources_as_the_run_wrote_them(server, synced):
    async def go(client: Client) -> Any:
        listed = [str(r.uri) for r in (await client.list_resources()).resources]
        csv_text = await client.read_resource("acflow://flows/campaign_performance.csv")
        js = await client.read_resource("acflow://flows/active_contacts.json")
        schema = await client.read_resource("acflow://entities/deals/schema")
        templates = [t.uri_template for t in (await client.list_resource_templates()).resource_templates]
        return listed, csv_text, js, schema, templates

    listed, csv_text, js, schema, templates = with_client(server, go)
    assert "acflow://flows/deals_by_stage.csv" in listed and "acflow://entities/deals/schema" in listed
    assert "acflow://flows/{flow}.json" in templates
    ours = list(csv.reader(io.StringIO(csv_text.contents[0].text)))
    written = list(csv.reader((synced["dir"] / "out" / "campaign_performance.csv").open(encoding="utf-8-sig")))
    assert ours[0] == written[0] and len(ours) == len(written) == 31
    assert [r[0] for r in ours] == [r[0] for r in written]  # same campaigns, same order
    assert csv_text.contents[0].meta == {"truncated": False, "note": None}
    body = json.loads(js.contents[0].text)
    assert body["row_count"] == 481 and body["truncated"] is False
    assert body["row_count"] == plain(synced, f'SELECT count(*) FROM "{synced["schema"]}".contacts '
                                              "WHERE deleted = 0 AND _acflow_deleted_at IS NULL")[0][0]
    cols = {c["name"]: c for c in json.loads(schema.contents[0].text)["columns"]}
    assert cols["amount"]["derived"] is True and cols["value"]["type"] == "BIGINT"


def test_a_flow_output_over_the_limit_says_so(synced):
    small = server_for(synced, rows=10)
    res = with_client(small, lambda c: c.read_resource("acflow://flows/active_contacts.json"))
    body = json.loads(res.contents[0].text)
    assert body["row_count"] == 10 and body["truncated"] is True and "more than 10 rows" in body["note"]
    assert res.contents[0].meta["truncated"] is True


def test_prompts_are_the_seeds_questions(server):
    async def go(client: Client) -> Any:
        names = [p.name for p in (await client.list_prompts()).prompts]
        texts = [(await client.get_prompt(n, {})).messages[0].content.text for n in names]
        return names, texts

    names, texts = with_client(server, go)
    assert names == ["email_performance", "pipeline_by_stage", "list_health"]
    assert "uniqueopens" in texts[0] and "never value" in texts[1] and "isDisabled = 1" in texts[1]
    assert "deleted = 0" in texts[2]


def test_credential_columns_are_never_shown(server, synced):
    raw = {r[0] for r in plain(synced, f'SELECT column_name FROM (DESCRIBE "{synced["schema"]}".lists)')}
    assert {"twitter_token", "twitter_token_secret", "facebook_session"} <= raw
    shown = {r[0] for r in call(server, "describe", {"name": "lists"}).structured_content["rows"]}
    assert not shown & {"twitter_token", "twitter_token_secret", "facebook_session"} and "name" in shown
    result = call(server, "query", {"sql": "SELECT twitter_token FROM lists"})
    assert result.is_error and "twitter_token" in text(result)


def test_no_api_key_in_any_answer(server, synced):
    """The mirror holds no key; nothing an assistant can ask returns one anyway."""
    key = synced["key"]

    async def everything(client: Client) -> list[str]:
        out = []
        for tool, args in [("list_entities", {}), ("list_flows", {}), ("describe", {"name": "deals"}),
                           ("describe", {"name": "users"}), ("query", {"sql": "SELECT * FROM users"}),
                           ("query", {"sql": "SELECT * FROM duckdb_tables()"}),
                           ("query", {"sql": "SELECT * FROM duckdb_columns()"}),
                           ("preview_flow", {"flow": "deals_with_contacts"}),
                           ("query", {"sql": "SELECT * FROM read_text('/proc/self/environ')"})]:
            r = await client.call_tool(tool, args)
            out += [text(r), json.dumps(r.structured_content, default=str)]
        for res in (await client.list_resources()).resources:
            out += [c.text for c in (await client.read_resource(str(res.uri))).contents]
        for p in (await client.list_prompts()).prompts:
            out.append(str(await client.get_prompt(p.name, {})))
        return out

    answers = with_client(server, everything)
    assert len(answers) > 40 and not any(key in a for a in answers)
    assert key.encode() not in synced["mirror"].read_bytes()


def test_a_mirror_being_written_is_a_clear_busy_answer(synced, tmp_path):
    """Another process holds the mirror for writing (a sync): the request waits a little, then says so."""
    copy = tmp_path / "mirror.duckdb"
    shutil.copy(synced["mirror"], copy)
    writer = subprocess.Popen([sys.executable, "-c", "import duckdb, sys; con = duckdb.connect(sys.argv[1]); "
                               "print('open', flush=True); sys.stdin.read()", str(copy)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "open"
        busy = build_server(MirrorReader(copy, synced["config"], Limits(busy_wait=0.3)))
        result = call(busy, "query", {"sql": "SELECT count(*) FROM deals"})
        assert result.is_error
        assert f"mirror {copy} is being written by another acflow process (PID {writer.pid})" in text(result)
    finally:
        writer.stdin.close()
        writer.wait(timeout=30)
    after = call(busy, "query", {"sql": "SELECT count(*) FROM deals"})
    assert after.structured_content["rows"] == [[400]]


def test_the_server_holds_no_connection_between_requests(server, synced):
    """A sync may open the mirror for writing whenever no request is running."""
    call(server, "query", {"sql": "SELECT count(*) FROM deals"})
    con = duckdb.connect(str(synced["mirror"]))  # would fail if a read-only connection were still open
    con.close()


def test_a_missing_mirror_is_one_line(tmp_path):
    from acflow.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        MirrorReader(tmp_path / "none.duckdb")
    assert str(info.value) == (f"mirror {tmp_path / 'none.duckdb'} does not exist: run `acflow sync` or "
                               "`acflow run` first, or give --mirror")


def test_runs_are_offered_only_when_allowed(synced, tmp_path, monkeypatch, sandbox):
    folder = tmp_path / "copy"
    shutil.copytree(synced["dir"], folder)
    reader = MirrorReader(folder / ".acflow" / "mirror.duckdb", folder / "acflow.yaml")
    allowed = build_server(reader, allow_runs=True)
    names = {t.name for t in with_client(allowed, lambda c: c.list_tools()).tools}
    assert {"run_flows", "sync"} <= names
    monkeypatch.setenv("ACTIVECAMPAIGN_API_URL", sandbox.url)
    monkeypatch.setenv("ACTIVECAMPAIGN_API_KEY", sandbox.admin_key)
    sandbox.mutate("deals", create=7)
    result = call(allowed, "run_flows", {"flows": ["deals_pipeline"]})
    assert not result.is_error and "deals_pipeline: ok, 407 rows" in text(result)
    synced_deals = call(allowed, "sync", {"entities": ["deals"]})
    assert not synced_deals.is_error and "deals: ok" in text(synced_deals)
    count = call(allowed, "query", {"sql": "SELECT count(*) FROM deals"}).structured_content["rows"]
    assert count == [[407]] and sandbox.admin_key not in text(result) + text(synced_deals)
