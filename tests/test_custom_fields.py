"""Custom fields as columns (custom_fields.py): named, typed, incremental, end to end against the sandbox."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import acflow
from acflow import custom_fields as cf
from acflow.catalog import CATALOG
from acflow.cli import app

# ---- names and types, without a server ------------------------------------------------------------


def test_names_from_titles_or_perstags():
    assert cf.base_name("  Company   Size ", "COMPANY_SIZE", "3", "title") == "Company Size"
    assert cf.base_name("Company Size", "COMPANY_SIZE", "3", "perstag") == "company_size"
    assert cf.base_name("", "", "3", "title") == "field_3"
    assert cf.base_name("Tab\there\nand there", "", "3", "title") == "Tab here and there"
    long = cf.base_name("é" * 40, "", "3", "title")
    assert len(long.encode()) <= cf.MAX_NAME_BYTES and long == "é" * 31  # cut on a character, not a byte


def test_taken_names_get_the_field_id_and_the_older_field_keeps_the_plain_name():
    fields = [("12", "Region", "", "text"), ("4", "Region", "", "text"), ("7", "EMAIL", "", "text"),
              ("9", "Region_12", "", "text")]
    names, moved = cf.assign(fields, "title", cf.reserved(CATALOG["contacts"]), {})
    assert names == {"4": "Region", "7": "EMAIL_7", "9": "Region_12", "12": "Region_12_2"} and moved == []


def test_a_pinned_name_is_kept_through_a_rename_and_released_when_its_field_goes():
    taken = cf.reserved(CATALOG["contacts"])
    pins = {"4": ("Plan", "Plan"), "5": ("Old", "Old")}
    names, moved = cf.assign([("4", "Tier", "", "text"), ("6", "Old", "", "text")], "title", taken, pins)
    assert names == {"4": "Plan", "6": "Old"} and moved == []  # field 5 is gone: its name is free again
    names, moved = cf.assign([("4", "Tier", "", "text")], "title", taken | {"plan"}, pins)
    assert names == {"4": "Tier"} and moved == ["4"]  # a new column of the entity took it


@pytest.mark.parametrize(("kind", "text", "expected"), [
    ("date", "2026-03-01", dt.date(2026, 3, 1)),
    ("date", "0000-00-00", None),
    ("datetime", "2026-03-01 09:00:00", dt.datetime(2026, 3, 1, 15, 0, tzinfo=dt.UTC)),  # Chicago, winter
    ("datetime", "2026-03-01T09:00:00+02:00", dt.datetime(2026, 3, 1, 7, 0, tzinfo=dt.UTC)),
    ("number", "12.5", 12.5),
    ("number", "n/a", None),
    ("checkbox", "||Email||SMS||", ["Email", "SMS"]),
    ("listbox", "Email", ["Email"]),
    ("checkbox", "", None),
    ("dropdown", "Gold", "Gold"),
    ("textarea", "", ""),
    ("some future type", "x", "x"),
])
def test_values_are_typed_from_the_field_type(kind, text, expected):
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    sql = cf.typed(cf.kind_of(kind), "v", "America/Chicago")
    got = con.execute(f"SELECT ({sql})::{cf.kind_of(kind).value} FROM (SELECT ?::VARCHAR AS v)", [text]).fetchone()[0]
    if isinstance(got, dt.datetime):
        got = got.astimezone(dt.UTC)
    assert got == expected


def test_currency_values_are_in_major_units_of_their_currency():
    con = duckdb.connect()
    sql = cf.typed(cf.Kind.CURRENCY, "v", "UTC", currency="c")
    got = con.execute(f"SELECT {sql} FROM (VALUES ('150000', 'usd'), ('1500', 'JPY'), ('1500', 'kwd')) t(v, c)"
                      ).fetchall()
    assert [r[0] for r in got] == [Decimal("1500.000"), Decimal("1500.000"), Decimal("1.500")]


@pytest.mark.parametrize("name", ["contacts", "deals", "accounts"])
def test_field_sets_name_columns_the_catalog_has(name):
    fs = cf.SETS[name]
    if cf.field_set(name) is None:
        pytest.skip(f"{fs.meta} or {fs.data} is not in the catalog yet")
    meta, data = CATALOG[fs.meta].columns, CATALOG[fs.data].columns
    assert {fs.title, fs.tag, fs.type, "id"} <= set(meta)
    assert {fs.owner, fs.field, fs.value, "id"} | ({fs.currency} if fs.currency else set()) <= set(data)


# ---- end to end --------------------------------------------------------------------------------------


def new_field(sandbox, title: str, kind: str) -> int:
    tag = title.upper().replace(" ", "_")
    return sandbox.edit("fields", create=[{"title": title, "type": kind, "perstag": tag}])["created"][0]


def set_values(sandbox, field: int, values: dict[int, str]) -> dict[int, int]:
    """{contact: value} -> {contact: the value row's id}."""
    done = sandbox.edit("fieldValues", create=[{"contact": str(c), "field": str(field), "value": v}
                                               for c, v in values.items()])
    return dict(zip(values, done["created"], strict=True))


def read_duckdb(path: Path, table: str = "contacts") -> tuple[dict[str, str], dict[int, dict[str, Any]]]:
    with duckdb.connect(str(path), read_only=True) as con:
        types = dict(con.execute(f"SELECT column_name, data_type FROM information_schema.columns "
                                 f"WHERE table_name = '{table}'").fetchall())
        cur = con.execute(f"SELECT * FROM {table}")
        names = [d[0] for d in cur.description]
        return types, {r[0]: dict(zip(names, r, strict=True)) for r in cur.fetchall()}


def read_sqlite(path: Path, table: str = "contacts") -> tuple[dict[str, str], dict[int, dict[str, Any]]]:
    with sqlite3.connect(path) as con:
        types = {r[1]: r[2] for r in con.execute(f"PRAGMA table_info({table})")}
        cur = con.execute(f"SELECT * FROM {table}")
        names = [d[0] for d in cur.description]
        return types, {r[0]: dict(zip(names, r, strict=True)) for r in cur.fetchall()}


def read_postgres(url: str, table: str = "contacts") -> tuple[dict[str, str], dict[int, dict[str, Any]]]:
    import psycopg

    with psycopg.connect(url) as con:
        types = dict(con.execute("SELECT column_name, data_type FROM information_schema.columns "
                                 "WHERE table_name = %s", [table]).fetchall())
        cur = con.execute(f'SELECT * FROM "{table}"')
        names = [d.name for d in cur.description]
        return types, {r[0]: dict(zip(names, r, strict=True)) for r in cur.fetchall()}


@pytest.fixture(params=["duckdb", "sqlite", "postgresql"])
def database(request, tmp_path):
    """(destination URI, reader, how it shows a DATE and a list) for each database merge is tested on."""
    if request.param == "duckdb":
        path = tmp_path / "crm.duckdb"
        return f"duckdb:///{path}", lambda: read_duckdb(path), (lambda d: d), (lambda xs: xs)
    if request.param == "sqlite":
        path = tmp_path / "crm.db"
        return (f"sqlite:///{path}", lambda: read_sqlite(path), (lambda d: d.isoformat()),
                (lambda xs: f"[{', '.join(xs)}]"))  # the SQLite writer's text for a list
    pytest.importorskip("acflow.destinations.postgres", reason="the PostgreSQL writer is not there yet")
    url = request.getfixturevalue("postgres_url")
    table = f"contacts_{tmp_path.name[-8:].replace('-', '_')}"
    return (f"{url}?table={table}", lambda: read_postgres(url, table), (lambda d: d), (lambda xs: xs))


def test_a_field_is_created_filled_changed_renamed_and_deleted_and_merges_follow(sandbox, account, tmp_path,
                                                                                database):
    uri, read, as_date, as_list = database
    mirror = tmp_path / "mirror.duckdb"
    plan = new_field(sandbox, "Plan", "dropdown")
    renewal = new_field(sandbox, "Renewal", "date")
    topics = new_field(sandbox, "Topics", "checkbox")
    seats = new_field(sandbox, "Seats", "number")
    ids = set_values(sandbox, plan, {3: "Gold", 5: "Silver"})
    set_values(sandbox, renewal, {3: "2026-03-01"})
    set_values(sandbox, topics, {3: "||Email||SMS||"})
    set_values(sandbox, seats, {3: "12", 5: "many"})

    first = acflow.export("contacts", to=uri, mode="merge", account=account, mirror=mirror)
    assert first.rows == len(sandbox.snapshot("contacts"))
    types, rows = read()
    assert {"Plan", "Renewal", "Topics", "Seats"} <= set(types)
    assert rows[3]["Plan"] == "Gold" and rows[5]["Plan"] == "Silver" and rows[7]["Plan"] is None
    assert rows[3]["Renewal"] == as_date(dt.date(2026, 3, 1))
    assert rows[3]["Topics"] == as_list(["Email", "SMS"]) and rows[3]["Seats"] == 12
    assert rows[5]["Seats"] is None  # "many" is not a number: left empty, and said
    assert any("'Seats'" in n and "'many'" in n for n in first.notes), first.notes

    # a value changes (the sandbox moves the contact's udate with it, by default): the contact is written
    sandbox.edit("fieldValues", update=[{"id": ids[3], "value": "Platinum"}])
    second = acflow.export("contacts", to=uri, mode="merge", account=account, mirror=mirror)
    assert second.rows == 1
    _, rows = read()
    assert rows[3]["Plan"] == "Platinum" and rows[5]["Plan"] == "Silver" and len(rows) == first.rows

    # renamed in ActiveCampaign: the column keeps its name, and the rename is said
    sandbox.edit("fields", update=[{"id": plan, "title": "Tier"}])
    third = acflow.export("contacts", to=uri, mode="merge", account=account, mirror=mirror)
    assert any("renamed 'Plan' -> 'Tier'" in n for n in third.notes), third.notes
    types, rows = read()
    assert "Tier" not in types and rows[3]["Plan"] == "Platinum"

    # a new field: a new column in the table that is there
    region = new_field(sandbox, "Region", "text")
    set_values(sandbox, region, {7: "EU"})
    acflow.export("contacts", to=uri, mode="merge", account=account, mirror=mirror)
    types, rows = read()
    assert rows[7]["Region"] == "EU" and rows[3]["Region"] is None and rows[3]["Plan"] == "Platinum"

    # deleted (its values go with it): said, and its column no longer filled
    done = sandbox.edit("fields", delete=[plan])
    assert sorted(done["cascaded"]["fieldValues"]) == sorted(ids.values())
    last = acflow.export("contacts", to=uri, mode="merge", account=account, mirror=mirror)
    assert last.rows == 2  # the two contacts that had a value
    assert any(f"custom field {plan} ('Tier') was deleted" in n for n in last.notes), last.notes
    _, rows = read()
    assert rows[3]["Plan"] is None and rows[5]["Plan"] is None and rows[7]["Region"] == "EU"
    # a replace writes what exists now: no column for the deleted field
    out = tmp_path / "contacts.parquet"
    acflow.export("contacts", to=str(out), account=account, mirror=mirror)
    assert "Plan" not in pq.read_schema(out).names and "Region" in pq.read_schema(out).names


def test_append_adds_a_row_for_a_contact_whose_value_changed(sandbox, account, tmp_path):
    mirror, out = tmp_path / "mirror.duckdb", tmp_path / "log.duckdb"
    plan = new_field(sandbox, "Plan", "dropdown")
    ids = set_values(sandbox, plan, {3: "Gold"})
    acflow.export("contacts", to=f"duckdb:///{out}", mode="append", account=account, mirror=mirror)
    again = acflow.export("contacts", to=f"duckdb:///{out}", mode="append", account=account, mirror=mirror)
    assert again.rows == 0  # nothing changed: nothing appended, fields and values included
    sandbox.edit("fieldValues", update=[{"id": ids[3], "value": "Silver"}])
    third = acflow.export("contacts", to=f"duckdb:///{out}", mode="append", account=account, mirror=mirror)
    assert third.rows == 1
    with duckdb.connect(str(out), read_only=True) as con:
        assert con.execute('SELECT "Plan" FROM contacts WHERE id = 3 ORDER BY _extracted_at').fetchall() == [
            ("Gold",), ("Silver",)]


@pytest.mark.parametrize("parent", ["contacts", "deals", "accounts"])
def test_generated_fields_become_typed_columns_and_the_long_table_stays(sandbox, account, tmp_path, parent):
    fs = cf.field_set(parent)
    if fs is None:
        pytest.skip(f"{parent} have no custom fields in the catalog yet")
    mirror = tmp_path / "mirror.duckdb"
    out = tmp_path / f"{parent}.parquet"
    result = acflow.export(parent, to=str(out), account=account, mirror=mirror)
    assert [e.entity for e in result.sync.entities] == [parent, fs.meta, fs.data]
    fields = {str(f["id"]): f for f in _api(sandbox, fs.meta)}
    schema = pq.read_schema(out)
    arrow = {cf.Kind.TEXT: "string", cf.Kind.DATE: "date32[day]", cf.Kind.LIST: "list<element: string>",
             cf.Kind.DATETIME: "timestamp[us, tz=UTC]", cf.Kind.NUMBER: "double",
             cf.Kind.CURRENCY: "decimal128(38, 3)"}
    for f in fields.values():
        assert str(schema.field(f[fs.title]).type) == arrow[cf.kind_of(f[fs.type])], f
    by_id = {r["id"]: r for r in pq.read_table(out).to_pylist()}
    values = _api(sandbox, fs.data)
    assert values, "the sandbox has values"
    for v in values[:300]:
        f = fields[str(v[fs.field])]
        got = by_id[int(v[fs.owner])][f[fs.title]]
        assert got is not None and got == expected(cf.kind_of(f[fs.type]), v[fs.value], got), (f, v, got)
    long = tmp_path / "values.csv"
    acflow.export(fs.data, to=str(long), account=account, mirror=mirror)
    assert len(long.read_text(encoding="utf-8-sig").splitlines()) == len(values) + 1


@pytest.mark.parametrize("parent", ["deals", "accounts"])
def test_deal_and_account_fields_follow_their_records_through_merges(sandbox, account, tmp_path, parent):
    fs = cf.field_set(parent)
    if fs is None:
        pytest.skip(f"{parent} have no custom fields in the catalog yet")
    mirror, out = tmp_path / "mirror.duckdb", tmp_path / "crm.duckdb"
    fid = int(sandbox.edit(fs.meta, create=[{fs.title: "Budget Q3", fs.type: "currency",
                                             fs.tag: "%BUDGET_Q3%"}])["created"][0])
    record = int(_api(sandbox, parent)[2]["id"])
    metum = next(k for k in CATALOG[fs.data].columns if k.endswith("MetumId"))
    value = sandbox.edit(fs.data, create=[{fs.owner: record, fs.field: fid, metum: fid, fs.value: "250000",
                                           fs.currency: "jpy"}])["created"][0]
    export = lambda: acflow.export(parent, to=f"duckdb:///{out}", mode="merge", account=account,  # noqa: E731
                                   mirror=mirror, custom_field_names="perstag")
    export()
    _, rows = read_duckdb(out, parent)
    assert rows[record]["budget_q3"] == Decimal("250000")  # yen have no minor unit
    sandbox.edit(fs.data, update=[{"id": value, fs.value: "300000"}])
    assert export().rows == 1
    assert read_duckdb(out, parent)[1][record]["budget_q3"] == Decimal("300000")
    sandbox.edit(fs.meta, delete=[fid])
    last = export()
    assert last.rows == 1 and any("was deleted" in n for n in last.notes), last.notes
    assert read_duckdb(out, parent)[1][record]["budget_q3"] is None


def expected(kind: cf.Kind, sent: str, got: Any) -> Any:
    """What a column holds for the value sent (a date-time: any, its zone is tested above)."""
    if kind is cf.Kind.NUMBER:
        return float(sent)
    if kind is cf.Kind.DATE:
        return dt.date.fromisoformat(sent)
    if kind is cf.Kind.LIST:
        return [x for x in sent.split("||") if x]
    if kind is cf.Kind.CURRENCY:
        return Decimal(sent) / 100  # the sandbox's are usd, in cents
    return got if kind is cf.Kind.DATETIME else sent


def _api(sandbox, path: str) -> list[dict[str, Any]]:
    import httpx

    out: list[dict[str, Any]] = []
    with httpx.Client(base_url=sandbox.url + "/api/3", headers={"Api-Token": sandbox.admin_key}) as client:
        while batch := client.get(path, params={"limit": 100, "offset": len(out)}).json()[path]:
            out += batch
    return out


def test_colliding_titles_and_perstag_names(sandbox, account, tmp_path):
    mirror = tmp_path / "mirror.duckdb"
    email = new_field(sandbox, "Email", "text")
    twin = new_field(sandbox, "Industry", "text")  # the sandbox has an Industry field already
    set_values(sandbox, email, {3: "other@example.com"})
    set_values(sandbox, twin, {3: "Retail"})
    out = tmp_path / "c.duckdb"
    acflow.export("contacts", to=f"duckdb:///{out}", account=account, mirror=mirror)
    types, rows = read_duckdb(out)
    assert rows[3][f"Email_{email}"] == "other@example.com" and "@" in rows[3]["email"]
    assert rows[3][f"Industry_{twin}"] == "Retail" and "Industry" in types
    tags = tmp_path / "t.duckdb"
    acflow.export("contacts", to=f"duckdb:///{tags}", account=account, mirror=mirror, custom_field_names="perstag")
    types, rows = read_duckdb(tags)
    assert rows[3][f"email_{email}"] == "other@example.com" and "company_size" in types


def test_off_leaves_the_columns_out_and_syncs_no_fields(sandbox, account, tmp_path):
    mirror = tmp_path / "mirror.duckdb"
    out = tmp_path / "c.parquet"
    result = acflow.export("contacts", to=str(out), account=account, mirror=mirror, custom_fields="off")
    assert [e.entity for e in result.sync.entities] == ["contacts"]
    assert set(pq.read_schema(out).names) <= set(CATALOG["contacts"].columns) | {"sandbox_newer_field"}


def test_the_cli_takes_custom_fields_and_refuses_a_wrong_value(sandbox, tmp_path):
    env = {"ACTIVECAMPAIGN_API_URL": sandbox.url, "ACTIVECAMPAIGN_API_KEY": sandbox.admin_key}
    out = tmp_path / "c.csv"
    runner = CliRunner()
    bad = runner.invoke(app, ["export", "contacts", "--to", str(out), "--custom-fields", "wide",
                              "--mirror", str(tmp_path / "m.duckdb")], env=env)
    assert bad.exit_code == 2 and "custom_fields takes columns | long | off, not 'wide'" in bad.output
    plan = new_field(sandbox, "Plan", "dropdown")
    set_values(sandbox, plan, {3: "Gold"})
    ok = runner.invoke(app, ["export", "contacts", "--to", str(out), "--json", "--custom-field-names", "perstag",
                             "--mirror", str(tmp_path / "m.duckdb")], env=env)
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output)["notes"] == []
    assert "plan" in out.read_text(encoding="utf-8-sig").splitlines()[0].split(",")


FLOWS = """
accounts:
  main: {{url: "{url}", key_env: ACFLOW_TEST_KEY, rate_limit: 1000}}
flows:
  plans:
    source: contacts
    select: [id, email, Plan]
    filter: ["Plan IS NOT NULL"]
    to: {out}/plans.csv
  plain:
    source: contacts
    custom_fields: off
    to: {out}/plain.parquet
  deals_with_plans:
    source: deals
    join: {{entity: contacts, on: {{contact: id}}, columns: [Plan]}}
    filter: ["contact_Plan IS NOT NULL"]
    to: {out}/deals.csv
"""


def test_flows_select_filter_and_join_on_custom_field_columns(sandbox, account, tmp_path):
    plan = new_field(sandbox, "Plan", "dropdown")
    set_values(sandbox, plan, {3: "Gold", 5: "Silver"})
    config = tmp_path / "acflow.yaml"
    config.write_text(FLOWS.format(url=sandbox.url, out=tmp_path / "out"))
    with pytest.raises(acflow.ConfigError) as refused:  # no mirror yet: no custom field known
        acflow.validate(config)
    assert "unknown column 'Plan'" in str(refused.value)
    assert "run `acflow sync contacts fieldValues fields` first" in str(refused.value)
    acflow.sync(["contacts", "fields", "fieldValues"], account=account, mirror=tmp_path / ".acflow" / "mirror.duckdb")
    summary = acflow.run(config=config, accounts={"main": account})
    assert summary.ok, summary.to_dict()
    assert (tmp_path / "out" / "plans.csv").read_text(encoding="utf-8-sig").splitlines()[1:] and sorted(
        line.split(",")[0] for line in (tmp_path / "out" / "plans.csv").read_text(
            encoding="utf-8-sig").splitlines()[1:]) == ["3", "5"]
    assert "Plan" not in pq.read_schema(tmp_path / "out" / "plain.parquet").names
    deals = (tmp_path / "out" / "deals.csv").read_text(encoding="utf-8-sig").splitlines()
    assert deals[0].endswith("contact_Plan") and all(line.endswith((",Gold", ",Silver")) for line in deals[1:])
    assert acflow.validate(config)["plans"] == ["id", "email", "Plan"]  # the mirror knows the field now

    sandbox.edit("fields", update=[{"id": plan, "title": "Tier"}])
    again = acflow.run(["plans"], config=config, accounts={"main": account})
    assert again.ok and any("renamed 'Plan' -> 'Tier'" in n for n in again.flows[0].notes)


def test_preview_shows_the_custom_fields_of_the_rows_it_shows(sandbox, account):
    plan = new_field(sandbox, "Plan", "checkbox")
    first = [int(c["id"]) for c in _api(sandbox, "contacts")[:3]]
    set_values(sandbox, plan, {first[0]: "||Gold||Silver||"})
    before = sandbox.stats()["requests"]
    rows = acflow.preview("contacts", account=account, limit=3).to_pylist()
    assert sandbox.stats()["requests"] - before == 2 + 1 + 3  # who am I, a page; the fields; a request a row
    assert [r["id"] for r in rows] == first and rows[0]["Plan"] == ["Gold", "Silver"] and rows[1]["Plan"] is None
    fields = {f["title"] for f in _api(sandbox, "fields")}
    assert fields <= set(rows[0])
    plain = acflow.preview("contacts", account=account, limit=3, custom_fields="off").to_pylist()
    assert not fields & set(plain[0])
    deals = acflow.preview("deals", account=account, limit=2, custom_field_names="perstag").to_pylist()
    tags = {f["personalization"].strip("%").lower() for f in _api(sandbox, "dealCustomFieldMeta")
            if f["personalization"]}
    assert tags and tags <= set(deals[0])


def test_long_writes_the_values_beside_the_records(sandbox, account, tmp_path):
    mirror, out = tmp_path / "mirror.duckdb", tmp_path / "crm.duckdb"
    plan = new_field(sandbox, "Plan", "dropdown")
    ids = set_values(sandbox, plan, {3: "Gold"})
    first = acflow.export("contacts", to=f"duckdb:///{out}", mode="merge", account=account, mirror=mirror,
                          custom_fields="long")
    types, contacts = read_duckdb(out, "contacts")
    _, values = read_duckdb(out, "contacts_custom_fields")
    assert "Plan" not in types and len(contacts) == first.rows
    assert len(values) == len(_api(sandbox, "fieldValues"))
    assert {k: values[ids[3]][k] for k in ("contact", "field", "value", "field_title", "field_type")} == {
        "contact": 3, "field": plan, "value": "Gold", "field_title": "Plan", "field_type": "dropdown"}
    assert any("custom field values written to" in n for n in first.notes)
    sandbox.edit("fields", update=[{"id": plan, "title": "Tier"}])
    again = acflow.export("contacts", to=f"duckdb:///{out}", mode="merge", account=account, mirror=mirror,
                          custom_fields="long")
    assert again.rows == 0 and any(n.startswith("contacts: 1 custom field values") for n in again.notes)
    assert read_duckdb(out, "contacts_custom_fields")[1][ids[3]]["field_title"] == "Tier"
    csv = tmp_path / "contacts.csv"
    acflow.export("contacts", to=str(csv), account=account, mirror=mirror, custom_fields="long")
    assert (tmp_path / "contacts_custom_fields.csv").exists()
    with pytest.raises(acflow.ConfigError, match="custom_fields long writes a second table"):
        acflow.export("contacts", to=str(tmp_path / "c.xlsx"), account=account, mirror=mirror, custom_fields="long")


def test_records_still_go_out_when_their_custom_fields_cannot_be_read(tmp_path):
    from acflow.account import Account
    from acflow.sandbox import Sandbox

    with Sandbox(port=0, sizes={"contacts": 150, "fieldValues": 200}, rate_limit=0,
                 restricted_denied=("fieldValues",)) as sb:
        account = Account(sb.url, sb.restricted_key, rate_limit=1000)
        out = tmp_path / "c.parquet"
        result = acflow.export("contacts", to=str(out), account=account, mirror=tmp_path / "m.duckdb")
    assert pq.read_table(out).num_rows == result.rows == 150
    assert not result.ok and result.sync.result("fieldValues").status == "failed"  # said, and exit 1
    assert result.notes == [f"contacts: custom fields left out: fieldValues did not sync "
                            f"({result.sync.result('fieldValues').error})"]
    assert "Company Size" not in pq.read_schema(out).names


MULTI = """
accounts:
  us: {{url: "{url}", key_env: ACFLOW_TEST_KEY, rate_limit: 1000}}
  eu: {{url: "{url2}", key_env: ACFLOW_TEST_KEY, rate_limit: 1000}}
flows:
  both:
    source: {{entity: contacts, accounts: [us, eu], account_column: source}}
    select: [source, id, Plan]
    filter: ["Plan IS NOT NULL"]
    to: {out}/both.csv
"""


def test_a_flow_over_two_accounts_unions_their_custom_columns(sandbox, tmp_path, monkeypatch):
    plan = new_field(sandbox, "Plan", "dropdown")
    set_values(sandbox, plan, {3: "Gold"})
    monkeypatch.setenv("ACFLOW_TEST_KEY", sandbox.admin_key)
    config = tmp_path / "acflow.yaml"
    config.write_text(MULTI.format(url=sandbox.url, url2=sandbox.url.replace("127.0.0.1", "localhost"),
                                   out=tmp_path / "out"))
    acflow.sync(["contacts", "fields", "fieldValues"], api_url=sandbox.url, api_key=sandbox.admin_key,
                mirror=tmp_path / ".acflow" / "mirror.duckdb")
    summary = acflow.run(config=config)
    assert summary.ok, summary.to_dict()
    lines = (tmp_path / "out" / "both.csv").read_text(encoding="utf-8-sig").splitlines()
    assert sorted(lines[1:]) == ["eu,3,Gold", "us,3,Gold"]


KEPT = """
accounts:
  main: {{url: "{url}", key_env: ACFLOW_TEST_KEY, rate_limit: 1000}}
flows:
  merged:
    source: contacts
    to: duckdb:///{out}/crm.duckdb
    mode: merge
  replaced:
    source: contacts
    to: {out}/contacts.parquet
"""


def test_a_deleted_fields_column_stays_empty_in_merge_flows_and_leaves_replace_flows(sandbox, account, tmp_path):
    plan = new_field(sandbox, "Plan", "dropdown")
    set_values(sandbox, plan, {3: "Gold"})
    config = tmp_path / "acflow.yaml"
    config.write_text(KEPT.format(url=sandbox.url, out=tmp_path))
    assert acflow.run(config=config, accounts={"main": account}).ok
    assert read_duckdb(tmp_path / "crm.duckdb", "merged")[1][3]["Plan"] == "Gold"
    sandbox.edit("fields", delete=[plan])
    summary = acflow.run(config=config, accounts={"main": account})
    assert summary.ok and any("was deleted" in n for f in summary.flows for n in f.notes)
    assert acflow.validate(config)["merged"][-1] == "Plan"  # written empty, so an upsert cannot keep old values
    assert read_duckdb(tmp_path / "crm.duckdb", "merged")[1][3]["Plan"] is None
    assert "Plan" not in pq.read_schema(tmp_path / "contacts.parquet").names
