"""acflow.yaml checks: every mistake gives exit 2 and file:line: field: what to write, before any request."""

from __future__ import annotations

import pytest
from test_cli import acflow_cmd

from acflow.config import load
from acflow.errors import ConfigError
from acflow.flows import validate

BASE = """\
accounts:
  main: {url: https://acme.api-us1.com, key_env: AC_KEY}
flows:
  deals:
    source: deals
    lookups: [stage]
    join: {entity: contacts, on: {contact: id}, columns: [email]}
    formulas: {dollars: value / 100.0}
    filter: status = 1
    select: [id, title, dollars, stage_name, contact_email]
    sort: id
    to: out/deals.csv
"""

CASES = [
    ("source: deals", "source: deal",
     "5: flows.deals.source.entity: unknown entity 'deal'. Did you mean 'deals'?"),
    ("lookups: [stage]", "lookups: [stages]",
     "6: flows.deals.lookups[0]: no lookup 'stages' for deals. Did you mean 'stage'? "
     "Lookups for deals: stage, pipeline, owner"),
    ("columns: [email]", "columns: [emial]",
     "7: flows.deals.join[0].columns[0]: unknown column 'emial' in contacts. Did you mean 'email'?"),
    ("on: {contact: id}", "on: {contacts: id}",
     "7: flows.deals.join[0].on.contacts: unknown column 'contacts' in deals. Did you mean 'contact'?"),
    ("on: {contact: id}", "on: {contact: uid}",
     "7: flows.deals.join[0].on.contact: unknown column 'uid' in contacts. Did you mean 'id'?"),
    ("value / 100.0", "valeu / 100.0",
     "8: flows.deals.formulas.dollars: formula 'valeu / 100.0': Referenced column \"valeu\" not found in FROM "
     "clause! Candidate bindings: \"value\", \"cdate\", \"edate\", \"mdate\", \"stage\""),
    ("value / 100.0", "value / ",
     "8: flows.deals.formulas.dollars: formula 'value /': syntax error at or near \")\""),
    ("filter: status = 1", "filter: status = 1 AND",
     "9: flows.deals.filter[0]: filter 'status = 1 AND': syntax error at or near \")\""),
    ("select: [id, title", "select: [id, titel",
     "10: flows.deals.select[1]: unknown column 'titel' in deals. Did you mean 'title'?"),
    ("sort: id", "sort: amount",
     "11: flows.deals.sort[0]: unknown column 'amount' in the output of deals. Columns: id, title, dollars, "
     "stage_name, contact_email"),
    ("to: out/deals.csv", "to: out/deals.txt",
     "12: flows.deals.to: cannot tell the format of 'out/deals.txt': end the file name with .csv, .jsonl, "
     ".parquet or .xlsx, or write duckdb:///path.duckdb or sqlite:///path.db"),
    ("to: out/deals.csv", "to: out/deals.csv\n    mode: merge",
     "13: flows.deals.mode: csv destinations take mode: replace or append, not 'merge'"),
    ("    filter:", "    fitler:", "9: flows.deals.fitler: unknown field 'fitler'. Did you mean 'filter'?"),
    ("key_env: AC_KEY}", "key: abc}",
     "2: accounts.main.key: a key is never written in acflow.yaml: write key_env: VARIABLE, the environment "
     "variable that holds it"),
    ("    source: deals\n", "    source: {entity: deals, account: other}\n",
     "5: flows.deals.source.account: no account named 'other'. Accounts: main"),
    ("    sort: id\n", "    sort: id\n    timezone: Mars/Base\n",
     "12: flows.deals.timezone: unknown time zone 'Mars/Base': write an IANA name like Europe/Paris or "
     "America/New_York"),
    ("    sort: id\n", "    sort: id\n    types: {id: money}\n",
     "12: flows.deals.types.id: unknown type 'money': write one of text, string, int, integer, float, double, "
     "number, bool, boolean, date, timestamp, json or decimal(P, S)"),
    ("    sort: id\n", "    sort: id\n    aggregate: {n: count(*), t: sum(title)}\n",
     "12: flows.deals.aggregate.t: aggregate 'sum(title)': No function matches the given name and argument "
     "types 'sum(VARCHAR)'. You might need to add explicit type casts."),
    ("    source: deals\n", "    source: {flow: deals}\n",
     "5: flows.deals.source.flow: flows read each other in a loop: deals -> deals"),
    ("    sort: id\n", "    sort: id\n    sheet: Deals\n",
     "12: flows.deals.sheet: sheet: is for .xlsx destinations; leave it out"),
    ("accounts:", "accounts:\n  two: {url: https://b.api-us1.com, key_env: B}",
     "6: flows.deals.source: several accounts are configured: write account: NAME (one of two, main) or "
     "accounts: [...]"),
    ("    sort: id\n", "    sort: id\n    rename: {id: title}\n",
     "12: flows.deals.rename: two output columns are named 'title': rename one"),
    ("    sort: id\n", "    sort: id\n    mode: upsert\n",
     "12: flows.deals.mode: Input should be 'replace', 'append' or 'merge'"),
    ("    to: out/deals.csv\n", "", "4: flows.deals.to: this field is required"),
    ("    sort: id\n", "    sort: id\n   bad indent\n",
     "12: not valid YAML: did not find expected key"),
    ("https://acme.api-us1.com", "http://acme.api-us1.com", None),  # checked when the key is read (run)
    ("accounts:\n", "full_refresh_every: weekly\naccounts:\n",
     "1: full_refresh_every: 'weekly' is not a duration: write a number and d, h or m (7d), or never"),
    ("accounts:\n", "full_refresh_every: 12h\naccounts:\n", None),
]


@pytest.mark.parametrize("old, new, expected", CASES, ids=[c[1].strip()[:40] for c in CASES])
def test_each_mistake_names_its_line_and_field(tmp_path, old, new, expected):
    assert old in BASE
    path = tmp_path / "acflow.yaml"
    path.write_text(BASE.replace(old, new, 1))
    if expected is None:
        validate(load(path))
        return
    with pytest.raises(ConfigError) as info:
        validate(load(path))
    assert str(info.value) == f"{path}:{expected}"
    assert info.value.exit_code == 2


def test_the_base_file_is_valid(tmp_path):
    path = tmp_path / "acflow.yaml"
    path.write_text(BASE)
    compiled = validate(load(path))
    assert [c for c, _ in compiled["deals"].columns] == ["id", "title", "dollars", "stage_name", "contact_email"]


def test_cli_validate_and_run_exit_2_before_any_request(sandbox, tmp_path):
    path = tmp_path / "acflow.yaml"
    path.write_text(BASE.replace("https://acme.api-us1.com", sandbox.url).replace("select: [id, title",
                                                                                 "select: [id, titel"))
    expected = (f"Error: {path}:10: flows.deals.select[1]: unknown column 'titel' in deals. "
                "Did you mean 'title'?\n")
    for command in ("validate", "run"):
        result = acflow_cmd(command, "--config", str(path), env={"AC_KEY": sandbox.admin_key})
        assert (result.returncode, result.stderr) == (2, expected), command
    assert sandbox.stats()["requests"] == 0


def test_a_missing_key_variable_is_named(sandbox, tmp_path):
    path = tmp_path / "acflow.yaml"
    path.write_text(BASE.replace("https://acme.api-us1.com", sandbox.url))
    result = acflow_cmd("run", "--config", str(path))
    assert result.returncode == 2
    assert result.stderr == (f"Error: {path}:2: accounts.main.key_env: environment variable AC_KEY is not set: "
                             "export AC_KEY=... (the key from Settings > Developer)\n")
    assert sandbox.stats()["requests"] == 0


def test_missing_file(tmp_path):
    result = acflow_cmd("run", "--config", str(tmp_path / "nope.yaml"))
    assert result.returncode == 2
    assert result.stderr == (f"Error: {tmp_path}/nope.yaml not found: write one with `acflow init`, "
                             "or pass --config PATH\n")


def test_unknown_flow_name(tmp_path):
    path = tmp_path / "acflow.yaml"
    path.write_text(BASE)
    result = acflow_cmd("run", "deal", "--config", str(path))
    assert result.returncode == 2
    assert result.stderr == f"Error: {path}: no flow named 'deal'. Did you mean 'deals'? Flows: deals\n"


def test_the_readme_example_is_valid(tmp_path):
    from pathlib import Path

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    example = readme.split("```yaml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "acflow.yaml"
    path.write_text(example)
    compiled = validate(load(path))
    assert [c for c, _ in compiled["open_by_stage"].columns] == ["stage_name", "currency", "deals", "total",
                                                                 "average"]
    assert compiled["all_lists"].columns[0][0] == "account"


def test_a_missing_flow_lists_the_flows(tmp_path):
    path = tmp_path / "acflow.yaml"
    path.write_text(BASE + BASE.split("flows:\n", 1)[1].replace("  deals:", "  won_deals:"))
    result = acflow_cmd("run", "NOSUCHFLOW", "--config", str(path))
    assert (result.returncode, result.stderr) == (2, f"Error: {path}: no flow named 'NOSUCHFLOW'. "
                                                     "Flows: deals, won_deals\n")


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8-sig"])
def test_utf16_and_utf8_with_a_bom_are_read(tmp_path, encoding):
    path = tmp_path / "acflow.yaml"
    path.write_bytes(BASE.replace("out/deals.csv", "out/défauts.csv").encode(encoding))
    assert str(load(path).flows["deals"].to) == "out/défauts.csv"


def test_latin1_is_refused_naming_the_encoding_to_use(tmp_path):
    path = tmp_path / "acflow.yaml"
    path.write_bytes(BASE.replace("out/deals.csv", "out/défauts.csv").encode("latin-1"))
    result = acflow_cmd("validate", "--config", str(path))
    assert (result.returncode, result.stderr) == (
        2, f"Error: {path}:12: byte 0xe9 is not UTF-8 (the file looks like Latin-1 or Windows-1252): "
        "save it as UTF-8\n")


def test_utf16_without_a_bom_is_refused(tmp_path):
    path = tmp_path / "acflow.yaml"
    path.write_bytes(BASE.encode("utf-16-le"))
    result = acflow_cmd("validate", "--config", str(path))
    assert result.returncode == 2
    assert result.stderr.endswith("the file looks like UTF-16 without a byte order mark; save it as UTF-8\n")


@pytest.mark.parametrize("deep", ["flows: " + "[" * 100_000 + "]" * 100_000,
                                  "flows:\n" + "".join(" " * i + f"k{i}:\n" for i in range(1, 5000))])
def test_yaml_nested_100000_deep_is_one_line(tmp_path, deep):
    path = tmp_path / "acflow.yaml"
    path.write_text(deep)
    result = acflow_cmd("validate", "--config", str(path))
    assert result.returncode == 2
    assert result.stderr.startswith(f"Error: {path}:") and "nesting depth" in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_duplicate_flow_names_are_refused_with_both_lines(tmp_path):
    path = tmp_path / "acflow.yaml"
    path.write_text(BASE + BASE.split("flows:\n", 1)[1])
    with pytest.raises(ConfigError) as info:
        load(path)
    assert str(info.value) == (f"{path}:13: flows.deals: two flows are named 'deals' (lines 4 and 13): "
                               "rename or remove one")


def test_validate_reports_every_error_in_one_pass(tmp_path):
    path = tmp_path / "acflow.yaml"
    second = BASE.split("flows:\n", 1)[1].replace("  deals:", "  more_deals:")
    path.write_text((BASE + second).replace("    filter:", "    fitler:"))  # schema mistakes, in both flows
    result = acflow_cmd("validate", "--config", str(path))
    assert (result.returncode, result.stderr) == (2, f"Error: {path}:9: flows.deals.fitler: unknown field "
                                                     "'fitler'. Did you mean 'filter'?\n"
                                                     f"Error: {path}:18: flows.more_deals.fitler: unknown field "
                                                     "'fitler'. Did you mean 'filter'?\n")
    path.write_text((BASE + second).replace("select: [id, title", "select: [id, titel", 1)
                    .replace("to: out/deals.csv", "to: out/deals.txt", 2))  # mistakes the catalog finds
    result = acflow_cmd("validate", "--config", str(path))
    assert result.returncode == 2
    assert [line.split(": ", 3)[1:3] for line in result.stderr.splitlines()] == [
        [f"{path}:10", "flows.deals.select[1]"], [f"{path}:12", "flows.deals.to"],
        [f"{path}:21", "flows.more_deals.to"]], result.stderr


def test_an_error_quotes_a_huge_formula_by_a_prefix(tmp_path):
    path = tmp_path / "acflow.yaml"
    formula = "valeu" + " + 1" * 1_000_000  # 4 MB
    path.write_text(BASE.replace("value / 100.0", formula))
    result = acflow_cmd("validate", "--config", str(path))
    assert result.returncode == 2
    assert len(result.stderr) < 2500 and result.stderr.count("\n") == 1
    assert f"{path}:8: flows.deals.formulas.dollars: formula 'valeu + 1 + 1" in result.stderr
    assert "4,000,005 characters" in result.stderr
