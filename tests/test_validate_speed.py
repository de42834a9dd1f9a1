"""`acflow validate` binds many flows' formulas and filters in one DuckDB statement.

The answer must be the one binding each step on its own gives: the same columns and SQL
for good flows, the same message at the same line for each bad one, and few statements.
"""

from __future__ import annotations

import contextlib
import gc

import duckdb
import pytest

from acflow import flows
from acflow.config import load
from acflow.errors import ConfigError, ConfigErrors, shorten

HEAD = "version: 1\naccounts:\n  main: {url: https://acme.api-us1.com, key_env: AC_KEY}\nflows:\n"
SOURCES = [("deals", "value / 100.0", "status = {i} % 3", "id, title, x"),
           ("contacts", "length(email)", "id > {i}", "id, email, x"),
           ("campaigns", "send_amt * 2", "send_amt >= {i}", "id, name, x")]


def flow(i: int, formulas: str | None = None, filters: str | None = None, select: str | None = None,
         source: str | None = None) -> str:
    entity, formula, condition, columns = SOURCES[i % len(SOURCES)]
    formulas = formulas if formulas is not None else f"{{x: {formula}}}"
    filters = filters if filters is not None else condition.format(i=i)
    return (f"  flow_{i}:\n    source: {source or entity}\n    formulas: {formulas}\n    filter: {filters}\n"
            f"    select: [{select or columns}]\n    to: out/flow_{i}.csv\n")


def step_by_step(config) -> tuple[dict[str, flows.Compiled], list[str]]:
    """Every flow compiled as before batches: each step bound on its own."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    pairs = set()
    for name in config.flows:
        with contextlib.suppress(ConfigError):
            pairs |= flows.needs(config, name)
    compiler = flows.Compiler(config, con, flows.empty_tables(con, config, pairs))
    compiled, errors = {}, []
    for name in config.flows:
        try:
            compiled[name] = compiler.compile(name)
        except ConfigError as exc:
            errors.append(str(exc))
    con.close()
    return compiled, [shorten(e) for e in sorted(dict.fromkeys(errors), key=flows._line)]


@pytest.fixture
def compilers(monkeypatch):
    """The compilers validate() makes, to count the statements they bound."""
    made = []

    class Counted(flows.Compiler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(flows, "Compiler", Counted)
    return made


def check_same(path, text: str, compilers) -> list[str]:
    """validate() answers as step-by-step binding does; returns its errors."""
    path.write_text(text)
    config = load(path)
    expected, expected_errors = step_by_step(config)
    compilers.clear()
    try:
        got, errors = flows.validate(config), []
    except ConfigErrors as exc:
        got, errors = {}, exc.errors
    assert errors == expected_errors
    if not errors:
        assert list(got) == list(expected)  # in file order
        for name, compiled in got.items():
            assert (compiled.sql, compiled.columns, compiled.json_columns) == (
                expected[name].sql, expected[name].columns, expected[name].json_columns), name
    return errors


def test_many_good_flows_bind_in_a_few_statements(tmp_path, compilers):
    text = HEAD + "".join(flow(i) for i in range(600))
    assert check_same(tmp_path / "acflow.yaml", text, compilers) == []
    # 3 sources, 1,200 expressions in batches of 200: a dozen statements, not 1,200
    assert compilers[0].binds <= 12


def test_one_bad_formula_and_one_bad_filter_among_many_are_reported_at_their_lines(tmp_path, compilers):
    parts = [flow(i) for i in range(400)]
    parts[137] = flow(137, formulas="{x: valeu / 100.0}")
    parts[290] = flow(290, filters="sent_amt >= 3")
    path = tmp_path / "acflow.yaml"
    errors = check_same(path, HEAD + "".join(parts), compilers)
    line = HEAD.count("\n") + 137 * 6 + 3
    assert errors[0].startswith(f"{path}:{line}: flows.flow_137.formulas.x: formula 'valeu / 100.0': "
                                "Referenced column \"valeu\" not found")
    assert errors[1].startswith(f"{path}:{HEAD.count(chr(10)) + 290 * 6 + 4}: flows.flow_290.filter[0]: "
                                "filter 'sent_amt >= 3': ")
    assert len(errors) == 2
    # the two culprits are found by halving their batches, not by binding 400 flows one by one
    assert compilers[0].binds < 60


CASES = {
    "reads an earlier formula": "{a: value / 100.0, x: a * 2}",
    "filter reads a formula": "{x: value / 100.0}\n    filter: x > 1",
    "reads a column its formula replaced": "{title: length(title), x: title}",
    "replaces a column, another case": "{VALUE: value * 2, x: 'id + 1'}",
    "replaces its own formula": "{x: value, X: 'text'}",
    "whole row": "{x: value, y: to_json(t)}",
    "star": "{x: value, y: struct_pack(*)}",
    "aggregate": "{x: sum(value)}",
    "window": "{x: row_number() OVER (ORDER BY id)}",
    "comment": '{x: "value -- comment"}',
    "semicolon": '{x: "1); SELECT (1"}',
    "wrong type": "{x: value || 1 + 'a'}",
    "empty": "{x: ''}",
    "unclosed bracket": '{x: "(value"}',
    "reads a name of the batch": "{x: _acflow_1}",
    "quotes with doubled quotes": "{x: \"'it''s'\"}",
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_a_flow_among_many_answers_as_step_by_step(tmp_path, compilers, case):
    formulas = CASES[case]
    filters = None
    if "\n    filter: " in formulas:
        formulas, filters = formulas.split("\n    filter: ")
    parts = [flow(i) for i in range(60)]
    parts[30] = flow(30, formulas=formulas, filters=filters, select="id, x")
    check_same(tmp_path / "acflow.yaml", HEAD + "".join(parts), compilers)


def test_unclosed_quotes_in_two_flows_cannot_close_each_other(tmp_path, compilers):
    parts = [flow(i) for i in range(20)]
    parts[5] = flow(5, formulas="{x: \"'a\"}", select="id")
    parts[8] = flow(8, formulas="{x: \"b'\"}", select="id")
    parts[11] = flow(11, filters="\"'x\"")
    parts[14] = flow(14, filters="\"y'\"")
    errors = check_same(tmp_path / "acflow.yaml", HEAD + "".join(parts), compilers)
    assert [e.split(": ")[1] for e in errors] == [
        "flows.flow_5.formulas.x", "flows.flow_8.formulas.x", "flows.flow_11.filter[0]", "flows.flow_14.filter[0]"]


def test_flows_reading_flows_and_several_filters(tmp_path, compilers):
    parts = [flow(i) for i in range(30)]
    parts.append("  later:\n    source: {flow: flow_0}\n    formulas: {y: x * 2}\n"
                 "    filter: [y > 1, id < 5]\n    to: out/later.csv\n")
    parts.append("  last:\n    source: {flow: later}\n    formulas: {z: y + 1, w: id}\n"
                 "    types: {z: text}\n    to: out/last.csv\n")
    check_same(tmp_path / "acflow.yaml", HEAD + "".join(parts), compilers)


def test_scan_finds_what_an_expression_reads():
    assert flows._scan("value / 100.0") == ({"value"}, False)
    assert flows._scan('"My Col" + x') == ({"my col", "x"}, False)
    assert flows._scan("send_amt * 2")[1] is False
    assert flows._scan("hash(*)")[1] is True
    assert flows._scan("t.id")[1] is True
    for outside in ("'a", "b'", "x -- c", "x /* c */", "1; 2", "(x", "x)", "$1", "E'\\''", ""):
        assert flows._scan(outside) is None, outside


def test_flows_with_and_without_formulas_come_back_in_file_order(tmp_path, compilers):
    parts = []
    for i in range(40):
        entity = SOURCES[i % len(SOURCES)][0]
        parts.append(flow(i) if i % 3 else f"  flow_{i}:\n    source: {entity}\n    to: out/flow_{i}.csv\n")
    check_same(tmp_path / "acflow.yaml", HEAD + "".join(parts), compilers)


def test_the_cycle_collector_runs_again_after_load_and_validate_even_on_errors(tmp_path):
    path = tmp_path / "acflow.yaml"
    path.write_text(HEAD + flow(0, formulas="{x: valeu}"))
    with pytest.raises(ConfigErrors):
        flows.validate(load(path))
    assert gc.isenabled()
    path.write_text(HEAD + "  a: {source: deals}\n")
    with pytest.raises(ConfigError):
        load(path)
    assert gc.isenabled()


TYPED = {
    "text": "    types: {id: text}\n",
    "several": "    types: {id: 'decimal(12, 2)', x: double, title: json}\n",
    "zone": "    timezone: Europe/Paris\n",
    "zone and cast": "    types: {cdate: timestamp, id: bool}\n    timezone: America/New_York\n",
    "a time as a number": "    types: {cdate: int}\n",
}


@pytest.mark.parametrize("case", TYPED, ids=list(TYPED))
def test_types_and_zones_are_probed_once_per_type_and_answer_as_the_whole_query(tmp_path, compilers, case):
    parts = [flow(i) for i in range(60)]
    for i in range(0, 60, 3):  # deals
        parts[i] = parts[i].replace("    select: [id, title, x]\n", "    select: [id, title, x, cdate]\n" + TYPED[case])
    check_same(tmp_path / "acflow.yaml", HEAD + "".join(parts), compilers)
    assert compilers[0].binds <= 12  # not one a flow


def test_a_probe_that_fails_leaves_the_whole_query_to_bind():
    con = duckdb.connect()
    compiler = flows.Compiler(None, con, lambda account, entity: entity)
    assert compiler._probe([("BIGINT", "t.v"), ("BIGINT", "CAST(t.v AS VARCHAR)")]) == ["BIGINT", "VARCHAR"]
    assert compiler._probe([("NO_SUCH_TYPE", "CAST(t.v AS VARCHAR)")]) is None
