"""Hostile SQL: refused before it runs (DuckDB's parser, sqlguard.check), and shut out again at run time
by the hardened read-only connection should anything pass the first door."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("mcp", reason="the mcp extra (pip install 'acflow[mcp]') is not installed")

from test_mcp import build_mirror, call, server_for, text

from acflow.errors import AcflowError
from acflow.mcp.reader import MirrorReader
from acflow.mcp.sqlguard import SqlRefused, check

# {tmp}: a folder of the test's own, so a statement that did write would leave a file there.
HOSTILE = [
    # writes and schema changes
    "DROP TABLE deals",
    "INSERT INTO main.x VALUES (1)",
    "UPDATE deals SET value = 0",
    "DELETE FROM deals",
    "CREATE TABLE x AS SELECT 1",
    "CREATE MACRO m() AS 1",
    "ALTER TABLE deals ADD COLUMN x INT",
    "CHECKPOINT",
    "VACUUM",
    "BEGIN TRANSACTION",
    # other databases, files out and in
    "ATTACH '{tmp}/other.duckdb' AS o",
    "DETACH mirror",
    "USE memory",
    "COPY deals TO '{tmp}/out.csv'",
    "COPY (SELECT * FROM deals) TO '{tmp}/out.parquet' (FORMAT parquet)",
    "EXPORT DATABASE '{tmp}/dump'",
    "IMPORT DATABASE '{tmp}/dump'",
    "-- a comment first\nCOPY deals TO '{tmp}/commented.csv'",
    # extensions and settings
    "INSTALL httpfs",
    "LOAD httpfs",
    "SET enable_external_access = true",
    "RESET lock_configuration",
    "PRAGMA enable_profiling",
    "CALL pragma_version()",
    # several statements, hidden behind comments
    "SELECT 1; DROP TABLE deals",
    "SELECT 1 /* harmless; */; ATTACH '{tmp}/x.duckdb'",
    # file readers, in every disguise
    "SELECT * FROM read_csv('/etc/passwd')",
    "select * from READ_CSV_AUTO('/etc/passwd')",
    "/* read */ SeLeCt * FrOm ReAd_CsV('/etc/passwd')",
    "FROM read_csv(['/etc/passwd'])",
    "WITH x AS (SELECT * FROM read_parquet('{tmp}/a.parquet')) SELECT * FROM x",
    "WITH a AS (SELECT 1), b AS (SELECT * FROM a, read_json_auto('{tmp}/a.json')) SELECT * FROM b",
    "SELECT * FROM deals WHERE id IN (SELECT 1 FROM read_json('{tmp}/a.json'))",
    "SELECT (SELECT count(*) FROM read_csv('/etc/passwd')) AS n",
    "SELECT * FROM (SELECT * FROM (SELECT * FROM read_ndjson('{tmp}/x.ndjson'))) t",
    "SELECT * FROM deals, LATERAL (SELECT * FROM read_parquet(deals.title))",
    "SELECT content FROM read_text('/etc/passwd')",
    "SELECT * FROM read_blob('/etc/hostname')",
    "SELECT * FROM glob('/etc/*')",
    "SELECT * FROM sniff_csv('/etc/passwd')",
    "SELECT * FROM parquet_metadata('{tmp}/a.parquet')",
    "SELECT * FROM '/etc/passwd'",
    "SELECT * FROM \"{tmp}/data.csv\"",
    "SELECT * FROM 'https://example.com/x.csv'",
    "SELECT * FROM read_csv('https://example.com/x.csv')",
    "SELECT * FROM iceberg_scan('s3://bucket/table')",
    "SUMMARIZE SELECT * FROM read_csv('/etc/passwd')",
    "DESCRIBE SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM query('SELECT * FROM read_csv(''/etc/passwd'')')",
    "SELECT * FROM query_table('deals')",
    "SELECT * FROM json_execute_serialized_sql('{{}}')",
    # the environment, secrets, sequences
    "SELECT getenv('ACTIVECAMPAIGN_API_KEY')",
    "SELECT current_setting('temp_directory')",
    "SELECT * FROM duckdb_secrets()",
    "SELECT * FROM duckdb_settings()",
    "SELECT nextval('_acflow.loads')",
    # the raw per-account tables (credential columns, removed rows) and the meta schema
    "SELECT twitter_token_secret FROM {schema}.lists",
    "SELECT * FROM mirror.{schema}.deals",
    "WITH x AS (SELECT * FROM {schema}.users) SELECT * FROM x",
    "SELECT * FROM _acflow.runs",
    # nothing at all
    "",
    "-- only a comment",
]


@pytest.fixture(scope="module")
def synced(sandbox_server: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return build_mirror(sandbox_server, tmp_path_factory.mktemp("mcp_sql"))


@pytest.fixture
def hostile_args(tmp_path: Path, synced: dict[str, Any]) -> dict[str, str]:
    return {"tmp": str(tmp_path), "schema": synced["schema"]}


@pytest.mark.parametrize("statement", HOSTILE)
def test_refused_before_anything_runs(statement, hostile_args):
    with pytest.raises(SqlRefused):
        check(statement.format(**hostile_args))


def test_there_are_at_least_twenty_hostile_statements():
    assert len(HOSTILE) >= 20


def test_refusals_say_why_in_one_line():
    cases = {
        "DROP TABLE deals": "only SELECT is allowed, read-only: this is a DROP statement",
        "SELECT 1; SELECT 2": "write exactly one SELECT statement (found 2)",
        "WITH x AS (SELECT * FROM read_csv('/etc/passwd')) SELECT * FROM x":
            "read_csv() is not allowed: queries read the views list_entities and list_flows name, not files, "
            "addresses or settings",
        "SELECT * FROM '/etc/passwd'": "'/etc/passwd' looks like a file or an address: only tables and views can "
                                       "be read",
        "SELECT * FROM acme.deals": "acme.deals: read the views (e.g. `deals`, `flow_deals_pipeline`), not the "
                                    "raw tables of other schemas",
        "SELEC 1": "DuckDB cannot parse the query: Parser Error: syntax error at or near \"SELEC\"",
    }
    for sql, message in cases.items():
        with pytest.raises(SqlRefused) as info:
            check(sql)
        assert str(info.value) == message


@pytest.mark.parametrize("sql", [
    "SELECT count(*) FROM deals",
    "from deals limit 1",
    "WITH open AS (SELECT * FROM deals WHERE status = 0) SELECT currency, sum(amount) FROM open GROUP BY 1",
    "SELECT * FROM flow_deals_by_stage",
    "DESCRIBE deals",
    "SHOW TABLES",
    "SUMMARIZE campaigns",
    "SELECT * FROM range(3)",
    "SELECT table_name FROM duckdb_tables()",
    "SELECT 'read_csv(''/etc/passwd'')' AS just_text",  # a function's name inside a string is only text
    "SELECT 1; -- a trailing comment",
])
def test_plain_reads_pass_and_run(sql, synced):
    checked = check(sql)
    server = server_for(synced)
    result = call(server, "query", {"sql": checked.sql})
    assert not result.is_error, text(result)


def test_hostile_statements_through_the_server_change_nothing(synced, hostile_args, tmp_path):
    before = hashlib.sha256(synced["mirror"].read_bytes()).hexdigest()
    server = server_for(synced)
    for statement in HOSTILE:
        result = call(server, "query", {"sql": statement.format(**hostile_args)})
        assert result.is_error, statement
        assert "root:" not in text(result)  # /etc/passwd never read
    assert list(tmp_path.iterdir()) == []
    assert hashlib.sha256(synced["mirror"].read_bytes()).hexdigest() == before


@pytest.mark.parametrize("sql", [
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM read_text('/etc/passwd')",
    "COPY (SELECT 1) TO '{tmp}/out.csv'",
    "ATTACH '{tmp}/other.duckdb' AS o",
    "INSTALL httpfs",
    "LOAD httpfs",
    "SET enable_external_access = true",
    "SET lock_configuration = false",
    "INSERT INTO _acflow.about VALUES (99, 'x')",
    "CREATE TABLE main.x AS SELECT 1",
])
def test_the_connection_refuses_even_what_the_guard_would_let_through(sql, synced, hostile_args, tmp_path):
    """The second door: statements run straight on a session, past sqlguard, still fail."""
    reader = MirrorReader(synced["mirror"], synced["config"])
    with reader.session() as s, pytest.raises(AcflowError):
        s.run(sql.format(**hostile_args))
    assert list(tmp_path.iterdir()) == []
