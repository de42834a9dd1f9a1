"""URI scheme or file suffix -> the writer module and the kind it makes. A new destination is one
module beside this one and one line here; modules are imported only when their kind is used."""

from __future__ import annotations

import importlib
from types import ModuleType

# scheme -> (module, kind)
SCHEMES: dict[str, tuple[str, str]] = {
    "duckdb": ("duckdb", "duckdb"),
    "sqlite": ("sqlite", "sqlite"),
    "postgresql": ("postgres", "postgresql"),
    "postgres": ("postgres", "postgresql"),
    "mysql": ("mysql", "mysql"),
    "mariadb": ("mysql", "mysql"),
    "snowflake": ("snowflake", "snowflake"),
    "bigquery": ("bigquery", "bigquery"),
    "gsheets": ("gsheets", "gsheets"),
}
# web addresses pasted from a browser -> (module, kind)
PREFIXES: dict[str, tuple[str, str]] = {
    "https://docs.google.com/spreadsheets/": ("gsheets", "gsheets"),
}
# file suffix -> (module, kind)
SUFFIXES: dict[str, tuple[str, str]] = {
    ".csv": ("files", "csv"),
    ".jsonl": ("files", "jsonl"),
    ".parquet": ("files", "parquet"),
    ".xlsx": ("xlsx", "xlsx"),
}
KINDS: dict[str, str] = {kind: module for module, kind in (*SCHEMES.values(), *SUFFIXES.values())}

SUPPORTED = (".csv, .jsonl, .parquet, .xlsx files, duckdb:///path.duckdb, sqlite:///path.db, "
             "postgresql://user@host/db, mysql://user@host/db, snowflake://account/db, bigquery://project/dataset, "
             "gsheets://SPREADSHEET_ID?sheet=NAME")


def module(name: str) -> ModuleType:
    return importlib.import_module(f"{__package__}.{name}")


def writer(kind: str) -> ModuleType:
    return module(KINDS[kind])
