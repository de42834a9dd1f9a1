"""Which SQL an assistant may run over the mirror, decided before anything runs.

DuckDB's own parser reads the text (no regular expressions): exactly one statement, of type
SELECT (DESCRIBE, SHOW and SUMMARIZE are SELECTs too), whose parse tree, walked from
`json_serialize_sql`, calls no table function outside a short list of harmless ones (no
read_csv, read_parquet, read_text, glob, query...), no function that reads the environment,
names no file or URL in place of a table ('x.csv', 'https://...'), and reads only the views
acflow made (entities and flows) or tables of the mirror's `main` schema: never the raw
per-account tables. A CTE, a subquery, a comment or odd letter case changes nothing: the
parser has already undone them. What passes still runs on a read-only connection with external
access, extensions and configuration locked (reader.HARDENED): a second door, not the first.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError

# Table functions that read nothing but their arguments or the catalog's names.
TABLE_FUNCTIONS = frozenset({
    "range", "generate_series", "unnest", "repeat", "json_each", "json_tree", "duckdb_tables",
    "duckdb_columns", "duckdb_views", "duckdb_schemas", "duckdb_types", "duckdb_constraints",
    "pg_timezone_names", "icu_calendar_names",
})
# Functions refused wherever they appear, beside every table function not allowed above.
SCALARS_REFUSED = frozenset({"getenv", "nextval", "setseed", "current_setting", "getvariable"})
SCHEMAS = frozenset({"", "main"})  # a table named with another schema is a raw account table
CATALOGS = frozenset({"", "temp"})
MAX_SQL = 100_000  # characters


class SqlRefused(ConfigError):
    """The SQL was not run: what it tried, and what to write instead."""


@dataclass(frozen=True)
class Checked:
    sql: str
    tables: frozenset[str]  # unqualified names it reads (views acflow makes on demand: flow_*)


def check(sql: str) -> Checked:
    """The statement, or SqlRefused saying why; nothing is run, the text is only parsed."""
    import duckdb

    if len(sql) > MAX_SQL:
        raise SqlRefused(f"the query is {len(sql):,} characters long; at most {MAX_SQL:,}")
    parser = duckdb.connect()  # in memory, no file: parsing only
    try:
        try:
            statements = parser.extract_statements(sql)
        except duckdb.Error as exc:
            raise SqlRefused(f"DuckDB cannot parse the query: {_first_line(exc)}") from None
        if len(statements) != 1:
            raise SqlRefused(f"write exactly one SELECT statement (found {len(statements)})")
        kind = statements[0].type.name
        if kind != "SELECT":
            raise SqlRefused(f"only SELECT is allowed, read-only: this is a {kind} statement")
        tree = json.loads(parser.execute("SELECT json_serialize_sql(?)", [sql]).fetchone()[0])
    finally:
        parser.close()
    if tree.get("error"):
        raise SqlRefused("only plain SELECT queries are allowed (write PIVOT and the like as a SELECT with "
                         f"FILTER or CASE): {tree.get('error_message', 'not a plain SELECT')}")
    tables: set[str] = set()
    for node in _nodes(tree):
        _check_node(node, tables)
    return Checked(sql, frozenset(tables))


def _nodes(value: Any) -> Iterator[dict[str, Any]]:
    """Every object of the parse tree, however deep (CTEs, subqueries, lambdas, joins)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _check_node(node: dict[str, Any], tables: set[str]) -> None:
    kind = node.get("type")
    name = node.get("function_name")
    if isinstance(name, str):
        low = name.lower()
        if low in SCALARS_REFUSED or low in _refused_table_functions():
            raise SqlRefused(_not_allowed(name))
    if kind == "TABLE_FUNCTION":
        function = node.get("function") or {}
        fname = str(function.get("function_name", "")).lower()
        if fname not in TABLE_FUNCTIONS:
            raise SqlRefused(_not_allowed(fname))
    elif kind == "BASE_TABLE":
        table = str(node.get("table_name", ""))
        schema = str(node.get("schema_name", "")).lower()
        catalog = str(node.get("catalog_name", "")).lower()
        if any(ch in table for ch in "./\\:*?~'\"") or not table:
            raise SqlRefused(f"{table!r} looks like a file or an address: only tables and views can be read")
        if schema not in SCHEMAS or catalog not in CATALOGS:
            shown = ".".join(p for p in (catalog, schema, table) if p)
            raise SqlRefused(f"{shown}: read the views (e.g. `deals`, `flow_deals_pipeline`), not the raw "
                             "tables of other schemas")
        tables.add(table.lower())


@functools.cache
def _refused_table_functions() -> frozenset[str]:
    """Every table function and pragma DuckDB knows, except the harmless ones: a newer DuckDB's
    new file readers are refused without a change here."""
    import duckdb

    con = duckdb.connect()
    try:
        rows = con.execute("SELECT DISTINCT lower(function_name) FROM duckdb_functions() "
                           "WHERE function_type IN ('table', 'table_macro', 'pragma')").fetchall()
    finally:
        con.close()
    return frozenset(r[0] for r in rows) - TABLE_FUNCTIONS


def _not_allowed(function: str) -> str:
    return (f"{function.lower()}() is not allowed: queries read the views list_entities and list_flows name, "
            "not files, addresses or settings")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
