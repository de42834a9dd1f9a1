import pytest

from acflow.destinations import parse
from acflow.errors import ConfigError


@pytest.mark.parametrize("uri, kind, table", [
    ("deals.csv", "csv", None), ("out/deals.JSONL", "jsonl", None), ("d.parquet", "parquet", None),
    ("duckdb:///tmp/x.duckdb", "duckdb", "deals"), ("duckdb:///tmp/x.duckdb?table=pipeline", "duckdb", "pipeline"),
    ("duckdb:///rel.duckdb", "duckdb", "deals"),
])
def test_destination_uris(uri, kind, table):
    dest = parse(uri, "deals")
    assert dest.kind == kind and dest.table == table


def test_duckdb_paths_follow_sqlalchemy():
    assert str(parse("duckdb:///rel/x.duckdb", "d").path) == "rel/x.duckdb"
    assert str(parse("duckdb:////tmp/x.duckdb", "d").path) == "/tmp/x.duckdb"
    assert str(parse("duckdb:////tmp/x.duckdb?table=t", "d").path) == "/tmp/x.duckdb"


@pytest.mark.parametrize("uri, message", [
    ("deals.txt", "cannot tell the format of 'deals.txt': end the file name with .csv, .jsonl or .parquet, "
                  "or write duckdb:///path.duckdb"),
    ("ftp://x/deals.csv", "unknown destination scheme ftp://; use .csv, .jsonl, .parquet files and "
                          "duckdb:///path.duckdb"),
    ("duckdb://", "destination 'duckdb://' names no file: write duckdb:///path/to/file.duckdb"),
])
def test_bad_destinations_say_what_to_write(uri, message):
    with pytest.raises(ConfigError) as info:
        parse(uri, "deals")
    assert str(info.value) == message
    assert info.value.exit_code == 2
