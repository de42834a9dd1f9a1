"""Flows as code: the starter flows against the sandbox, every output read back with a real reader."""

from __future__ import annotations

import json
import math
import shutil
import sqlite3
from decimal import Decimal

import duckdb
import openpyxl
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

import acflow
from acflow.account import Account
from acflow.catalog import CATALOG
from acflow.config import load
from acflow.custom_fields import companions
from acflow.mirror import account_schema
from acflow.run import list_flows, preview_flow
from acflow.starter import init

DIGITS = {"jpy": 0, "kwd": 3}


@pytest.fixture(scope="module")
def starter_run(sandbox_server, tmp_path_factory):
    """The starter acflow.yaml, run once against the sandbox; the tests below read its outputs."""
    sandbox_server.reset()
    folder = tmp_path_factory.mktemp("starter")
    config = init(folder / "acflow.yaml")
    account = Account(sandbox_server.url, sandbox_server.admin_key, rate_limit=1000)
    summary = acflow.run(config=config, accounts={"main": account})
    stats = sandbox_server.stats()
    shutil.copyfile(folder / ".acflow" / "mirror.duckdb", folder / "truth.duckdb")  # read beside the run's
    mirror = duckdb.connect(str(folder / "truth.duckdb"), read_only=True)
    mirror.execute("SET TimeZone = 'UTC'")
    schema = account_schema(account.url)
    yield folder, summary, stats, mirror, schema, sandbox_server
    mirror.close()


def rows_of(con, sql):
    cur = con.execute(sql)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def test_starter_run_is_ok_and_syncs_each_entity_once(starter_run):
    _folder, summary, stats, *_ = starter_run
    assert summary.ok, summary.to_dict()
    assert [f.status for f in summary.flows] == ["ok"] * 8
    by_path = stats["by_path"]
    assert by_path["/api/3/users/me"] == 1  # one account check for the whole run
    # four flows read deals; they were fetched once (400 deals: 4 pages plus paging checks)
    assert by_path["/api/3/deals"] <= math.ceil(400 / 100) + 2
    synced = [e["entity"] for e in summary.syncs[0].to_dict()["entities"]]
    custom = {c.name for e in ("contacts", "deals") for c in companions(CATALOG[e], "columns")}  # fields...
    assert len(synced) == len(set(synced)) and set(synced) == {
        "campaigns", "contacts", "deals", "lists", "segments", "forms", "users", "dealStages", "dealGroups", *custom}


def test_campaign_performance_csv(starter_run):
    folder, _, _, mirror, schema, _ = starter_run
    raw = (folder / "out" / "campaign_performance.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbfid,name,status_label,")  # the BOM Excel needs
    table = pacsv.read_csv(folder / "out" / "campaign_performance.csv")
    rows = table.to_pylist()
    truth = {r["id"]: r for r in rows_of(mirror, f'SELECT * FROM "{schema}".campaigns')}
    users = {r["id"]: r for r in rows_of(mirror, f'SELECT * FROM "{schema}".users')}
    assert len(rows) == sum(1 for r in truth.values() if r["send_amt"] > 0) > 0
    for r in rows:
        t = truth[r["id"]]
        # unique opens and clicks, not the inflated totals; rounded to 4 places
        assert r["open_rate"] == pytest.approx(t["uniqueopens"] / t["send_amt"], abs=0.00005 + 1e-12)
        assert r["click_rate"] == pytest.approx(t["uniquelinkclicks"] / t["send_amt"], abs=0.00005 + 1e-12)
        assert (r["hardbounces"], r["softbounces"]) == (t["hardbounces"], t["softbounces"])
        owner = users[t["userid"]]
        assert r["owner_name"] == f"{owner['firstName']} {owner['lastName']}"
    dates = [r["sdate"] for r in rows if r["sdate"] is not None]
    assert dates == sorted(dates, reverse=True)


def test_active_contacts_parquet_drops_deleted(starter_run):
    folder, _, _, mirror, schema, _ = starter_run
    table = pq.read_table(folder / "out" / "active_contacts.parquet")
    deleted = mirror.execute(f'SELECT count(*) FROM "{schema}".contacts WHERE deleted = 1').fetchone()[0]
    active = [r[0] for r in mirror.execute(
        f'SELECT id FROM "{schema}".contacts WHERE deleted = 0 ORDER BY id').fetchall()]
    assert deleted > 0
    assert table.column("id").to_pylist() == active
    assert table.column_names == ["id", "email", "firstName", "lastName", "phone", "orgname", "cdate", "udate",
                                  "bounced_hard", "bounced_soft"]


def test_deals_pipeline_xlsx_amounts_and_names(starter_run):
    folder, _, _, mirror, schema, _ = starter_run
    book = openpyxl.load_workbook(folder / "out" / "acflow.xlsx", read_only=True)
    assert book.sheetnames == ["Deals pipeline", "Lists", "Segments"]
    sheet = list(book["Deals pipeline"].iter_rows(values_only=True))
    header, body = sheet[0], sheet[1:]
    assert header == ("id", "title", "amount", "currency", "status_label", "pipeline_name", "stage_name",
                      "owner_name", "winProbability", "cdate", "mdate")
    truth = {r["id"]: r for r in rows_of(mirror, f"""
        SELECT d.*, s.title AS stage_title, g.title AS group_title, u.firstName || ' ' || u.lastName AS owner
        FROM "{schema}".deals d LEFT JOIN "{schema}"."dealStages" s ON d.stage = s.id
        LEFT JOIN "{schema}"."dealGroups" g ON d."group" = g.id LEFT JOIN "{schema}".users u ON d.owner = u.id""")}
    assert len(body) == len(truth) == 400
    currencies = set()
    for row in body:
        r = dict(zip(header, row, strict=True))
        t = truth[r["id"]]
        currencies.add(t["currency"])
        expected = Decimal(t["value"]) / 10 ** DIGITS.get(t["currency"], 2)
        assert Decimal(str(r["amount"])) == expected
        assert r["status_label"] == {0: "open", 1: "won", 2: "lost"}[t["status"]]
        names = (r["stage_name"], r["pipeline_name"], r["owner_name"])
        assert names == (t["stage_title"], t["group_title"], t["owner"])
    assert {"usd", "jpy", "kwd"} <= currencies
    lists = list(book["Lists"].iter_rows(values_only=True))
    assert len(lists) - 1 == mirror.execute(f'SELECT count(*) FROM "{schema}".lists').fetchone()[0]


def test_deals_with_contacts_duckdb_has_the_emails(starter_run):
    folder, _, _, mirror, schema, _ = starter_run
    emails = dict(mirror.execute(f'SELECT id, email FROM "{schema}".contacts').fetchall())
    with duckdb.connect(str(folder / "out" / "acflow.duckdb"), read_only=True) as db:
        rows = db.execute("SELECT id, contact, contact_email FROM deals_with_contacts").fetchall()
    assert len(rows) == 400
    assert sum(1 for _, c, _ in rows if c in emails) > 300
    for _, contact, email in rows:
        assert email == emails.get(contact)


def test_deals_by_stage_sqlite_aggregates(starter_run):
    folder, _, _, mirror, schema, _ = starter_run
    with sqlite3.connect(folder / "out" / "acflow.db") as db:
        rows = db.execute("SELECT currency, sum(deals), sum(total_amount) FROM deals_by_stage GROUP BY 1").fetchall()
        types = {r[1]: r[2] for r in db.execute("PRAGMA table_info(deals_by_stage)")}
    assert types["deals"] == "INTEGER" and types["total_amount"] == "REAL"
    truth = mirror.execute(f"""SELECT currency, count(*), sum(value) FROM "{schema}".deals WHERE status = 0
                               GROUP BY 1""").fetchall()
    assert {c: n for c, n, _ in rows} == {c: n for c, n, _ in truth}
    for currency, _, total in rows:
        value = next(v for c, _, v in truth if c == currency)
        assert total == pytest.approx(float(value) / 10 ** DIGITS.get(currency, 2))


def test_forms_jsonl_keeps_nested_json(starter_run):
    folder, *_ = starter_run
    lines = [json.loads(line) for line in (folder / "out" / "forms.jsonl").read_text().splitlines()]
    assert len(lines) > 0
    assert any(isinstance(r["cfields"], list | dict) for r in lines)


def test_flow_log_and_no_key_anywhere(starter_run):
    folder, _summary, _, _, _, sandbox = starter_run
    flows = list_flows(folder / "acflow.yaml")
    assert {f["flow"]: (f["status"], f["rows"]) for f in flows}["deals_pipeline"] == ("ok", 400)
    for path in folder.rglob("*"):
        if path.is_file():
            assert sandbox.admin_key.encode() not in path.read_bytes(), path


# --- transformations beyond the starter -------------------------------------------------------

CUSTOM = """\
accounts:
  us: {{url: "{url}", key_env: ACFLOW_TEST_KEY, rate_limit: 1000}}
  eu: {{url: "{url2}", key_env: ACFLOW_TEST_KEY, rate_limit: 1000}}
flows:
  both:
    source: {{entity: lists, accounts: [us, eu]}}
    select: [account, id, name]
    sort: [account, id]
    to: both.csv
    csv: {{bom: false, delimiter: ";"}}
  won:
    source: {{entity: deals, account: us}}
    formulas:
      dollars: value / 100.0
      big: dollars > 1000
    filter: [status = 1, "currency = 'usd'"]
    select: [id, title, dollars, big, cdate]
    rename: {{title: deal}}
    types: {{id: text}}
    timezone: Europe/Paris
    sort: id desc
    to: won.parquet
  won_count:
    source: {{flow: won}}
    group_by: [big]
    aggregate: {{n: count(*), total: sum(dollars), top: max(dollars)}}
    sort: big
    to: won_count.jsonl
    only_if_changed: true
"""


@pytest.fixture
def custom(sandbox, tmp_path, monkeypatch):
    monkeypatch.setenv("ACFLOW_TEST_KEY", sandbox.admin_key)
    url2 = sandbox.url.replace("127.0.0.1", "localhost")
    path = tmp_path / "acflow.yaml"
    path.write_text(CUSTOM.format(url=sandbox.url, url2=url2))
    return path


def test_multi_account_append_formulas_flow_source(custom, sandbox, tmp_path):
    summary = acflow.run(config=custom)
    assert summary.ok, summary.to_dict()
    both = pacsv.read_csv(tmp_path / "both.csv", parse_options=pacsv.ParseOptions(delimiter=";")).to_pylist()
    n_lists = len(sandbox.snapshot("lists"))
    assert len(both) == 2 * n_lists
    assert [r["account"] for r in both] == ["eu"] * n_lists + ["us"] * n_lists
    assert not (tmp_path / "both.csv").read_bytes().startswith(b"\xef\xbb\xbf")

    won = pq.read_table(tmp_path / "won.parquet")
    assert won.column_names == ["id", "deal", "dollars", "big", "cdate"]
    assert str(won.schema.field("id").type) == "string"
    assert str(won.schema.field("cdate").type) == "timestamp[us]"  # naive, in Europe/Paris
    ids = [int(i) for i in won.column("id").to_pylist()]
    assert ids == sorted(ids, reverse=True) and ids
    db = duckdb.connect(str(tmp_path / ".acflow" / "mirror.duckdb"), read_only=True)
    schema = account_schema(sandbox.url)
    truth = dict(db.execute(
        f"SELECT id, value FROM \"{schema}\".deals WHERE status = 1 AND currency = 'usd'").fetchall())
    paris = dict(db.execute(f"SELECT id, timezone('Europe/Paris', cdate) FROM \"{schema}\".deals").fetchall())
    db.close()
    assert set(ids) == set(truth)
    for r in won.to_pylist():
        assert r["dollars"] == truth[int(r["id"])] / 100.0
        assert r["big"] == (r["dollars"] > 1000)
        assert r["cdate"] == paris[int(r["id"])]

    counts = [json.loads(line) for line in (tmp_path / "won_count.jsonl").read_text().splitlines()]
    assert sum(c["n"] for c in counts) == len(truth)
    assert sum(c["total"] for c in counts) == pytest.approx(sum(truth.values()) / 100.0)

    before = (tmp_path / "won_count.jsonl").stat().st_mtime_ns
    again = acflow.run(["won_count"], config=custom)
    assert again.result("won_count").status == "unchanged"
    assert (tmp_path / "won_count.jsonl").stat().st_mtime_ns == before


def test_append_mode_adds_a_run_timestamp(sandbox, account, tmp_path):
    path = tmp_path / "acflow.yaml"
    path.write_text("accounts: {main: {url: x, key_env: NOPE}}\n"
                    "flows:\n  l:\n    source: lists\n    select: [id, name]\n    to: l.csv\n    mode: append\n")
    acflow.run(config=path, accounts={"main": account})
    acflow.run(config=path, accounts={"main": account}, sync=False)
    rows = pacsv.read_csv(tmp_path / "l.csv").to_pylist()
    n = len(sandbox.snapshot("lists"))
    assert len(rows) == 2 * n
    assert len({r["_extracted_at"] for r in rows}) == 2


def test_a_locked_destination_keeps_the_old_data_and_the_mirror(sandbox, account, tmp_path):
    path = tmp_path / "acflow.yaml"
    path.write_text("accounts: {main: {url: x, key_env: NOPE}}\n"
                    "flows:\n  s:\n    source: segments\n    to: sqlite:///s.db\n"
                    "  blocked:\n    source: lists\n    to: file/l.csv\n")
    (tmp_path / "file").write_text("a file, not a folder")
    first = acflow.run(["s"], config=path, accounts={"main": account})
    assert first.ok
    n = len(sandbox.snapshot("segments"))
    holder = sqlite3.connect(tmp_path / "s.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another program holds the database
    try:
        failed = acflow.run(config=path, accounts={"main": account})
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert not failed.ok
    assert failed.result("s").error == (
        f"cannot write sqlite:///{tmp_path}/s.db?table=s: database is locked; the destination is unchanged; "
        "the mirror is kept: fix it, then `acflow run s --no-sync` writes without downloading")
    assert failed.result("blocked").error == (
        f"cannot write {tmp_path}/file/l.csv: File exists; the destination is unchanged; the mirror is kept: "
        "fix it, then `acflow run blocked --no-sync` writes without downloading")
    with sqlite3.connect(tmp_path / "s.db") as db:
        assert db.execute("SELECT count(*) FROM s").fetchone()[0] == n  # the previous table is intact
    sandbox.reset()
    retry = acflow.run(["s"], config=path, accounts={"main": account}, sync=False)
    assert retry.ok and retry.result("s").rows == n
    assert sandbox.stats()["requests"] == 0  # the retry needed no download


def test_preview_flow(sandbox, account, tmp_path):
    config = init(tmp_path / "acflow.yaml")
    table = preview_flow(
        "deals_with_contacts", config=config, accounts={"main": account}, limit=3)
    assert table.num_rows == 3
    assert table.column_names[-3:] == ["contact_email", "contact_firstName", "contact_lastName"]
    assert not (tmp_path / "out").exists()  # nothing written


def test_validate_returns_the_output_columns(tmp_path):
    config = init(tmp_path / "acflow.yaml")
    columns = acflow.validate(config)
    assert columns["deals_by_stage"] == ["pipeline_name", "stage_name", "currency", "deals", "total_amount",
                                         "average_amount"]
    assert load(config).flows["deals_with_contacts"].join[0].on == {"contact": "id"}


# --- spreadsheet safety and text options ------------------------------------------------------

RISKY = ("SELECT * FROM (VALUES (1, '=HYPERLINK(\"http://x\")', 'Ann'), (2, '+1 555', '-5'), "
         "(3, '@SUM(A1)', chr(9) || 'tab'), (4, chr(13) || 'cr', 'plain')) v(id, name, note)")


@pytest.mark.parametrize("neutralize", [True, False])
def test_formulas_are_neutralized_in_csv_and_xlsx(tmp_path, neutralize):
    from acflow import destinations
    from acflow.mirror import Mirror

    options = destinations.WriteOptions(bom=True, neutralize=neutralize)
    with Mirror(tmp_path / "m.duckdb") as mirror:
        destinations.write(mirror, RISKY, destinations.parse(str(tmp_path / "r.csv"), "r"), "replace",
                           options=options)
        destinations.write(mirror, RISKY, destinations.parse(str(tmp_path / "r.xlsx"), "r"), "replace",
                           options=options)
    csv_rows = pacsv.read_csv(tmp_path / "r.csv").to_pylist()
    xlsx_rows = list(openpyxl.load_workbook(tmp_path / "r.xlsx")["r"].iter_rows(values_only=True))[1:]
    q = "'" if neutralize else ""
    sent = [(1, '=HYPERLINK("http://x")', "Ann"), (2, "+1 555", "-5"), (3, "@SUM(A1)", "\ttab"), (4, "\rcr", "plain")]
    # CSV: a ' only where a spreadsheet would run the text; a phone number or -5 runs nothing
    expected = [(1, f'{q}=HYPERLINK("http://x")', "Ann"), (2, "+1 555", "-5"),
                (3, f"{q}@SUM(A1)", f"{q}\ttab"), (4, f"{q}\rcr", "plain")]
    assert [(r["id"], r["name"], r["note"]) for r in csv_rows] == expected
    # XLSX: string cells never run, so the text is as sent either way (a CR is stored as _x000D_)
    assert [tuple(v.replace("_x000D_", "\r") if isinstance(v, str) else v for v in r) for r in xlsx_rows] == sent
    cells = openpyxl.load_workbook(tmp_path / "r.xlsx")["r"]
    assert cells["B2"].data_type == "s"  # a string cell, never a formula


def test_csv_without_header_and_bom_with_a_delimiter(tmp_path):
    from acflow import destinations
    from acflow.mirror import Mirror

    options = destinations.WriteOptions(header=False, bom=False, delimiter=";")
    with Mirror(tmp_path / "m.duckdb") as mirror:
        destinations.write(mirror, "SELECT 1 AS a, 'x,y' AS b", destinations.parse(str(tmp_path / "o.csv"), "o"),
                           "replace", options=options)
    assert (tmp_path / "o.csv").read_bytes() == b"1;x,y\n"


# --- the CLI ----------------------------------------------------------------------------------

def test_cli_init_run_flows_preview(sandbox, tmp_path):
    from test_cli import acflow_cmd

    env = {"ACTIVECAMPAIGN_API_URL": sandbox.url, "ACTIVECAMPAIGN_API_KEY": sandbox.admin_key}
    config = tmp_path / "acflow.yaml"
    assert acflow_cmd("init", "--config", str(config)).returncode == 0
    again = acflow_cmd("init", "--config", str(config))
    assert (again.returncode, again.stderr) == (
        2, f"Error: {config} already exists: edit it, or pass --force to overwrite it\n")
    config.write_text(config.read_text().replace("key_env: ACTIVECAMPAIGN_API_KEY",
                                                 "key_env: ACTIVECAMPAIGN_API_KEY\n    rate_limit: 1000"))
    result = acflow_cmd("run", "segments", "forms", "--config", str(config), "--json", env=env)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert {f["flow"]: (f["status"], f["rows"]) for f in summary["flows"]} == {
        "segments": ("ok", len(sandbox.snapshot("segments"))),
        "forms": ("ok", len(sandbox.snapshot("forms"))),
        # the workbook's other sheets are written with it: the workbook is written whole
        "deals_pipeline": ("ok", len(sandbox.snapshot("deals"))),
        "lists": ("ok", len(sandbox.snapshot("lists"))),
    }
    listed = json.loads(acflow_cmd("flows", "--config", str(config), "--json").stdout)
    assert {f["flow"]: f["status"] for f in listed} == {
        "campaign_performance": None, "active_contacts": None, "deals_pipeline": "ok", "deals_with_contacts": None,
        "deals_by_stage": None, "lists": "ok", "segments": "ok", "forms": "ok"}
    sandbox.reset()
    shown = acflow_cmd("preview", "deals_pipeline", "--limit", "2", "--no-sync", "--json", "--config", str(config),
                       env=env)
    assert shown.returncode == 0, shown.stderr
    rows = json.loads(shown.stdout)
    assert len(rows) == 2 and set(rows[0]) >= {"amount", "stage_name", "pipeline_name", "owner_name"}
    assert sandbox.stats()["requests"] == 0


@pytest.mark.parametrize("every, second", [("7d", "incremental"), ("0m", "full")])
def test_full_refresh_every_reaches_the_syncs(sandbox, account, tmp_path, every, second):
    config = tmp_path / "acflow.yaml"
    config.write_text(f"full_refresh_every: {every}\naccounts:\n  main: {{url: {sandbox.url}, key_env: K}}\n"
                      "flows:\n  deals:\n    source: deals\n    to: out/deals.csv\n")
    first = acflow.run(config=config, accounts={"main": account})
    again = acflow.run(config=config, accounts={"main": account})
    fetches = [s.result("deals").fetch for s in (*first.syncs, *again.syncs)]
    assert fetches == ["full", second]
