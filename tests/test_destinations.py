import pytest

from acflow.destinations import parse
from acflow.errors import ConfigError


@pytest.mark.parametrize("uri, kind, table", [
    ("deals.csv", "csv", None), ("out/deals.JSONL", "jsonl", None), ("d.parquet", "parquet", None),
    ("duckdb:///tmp/x.duckdb", "duckdb", "deals"), ("duckdb:///tmp/x.duckdb?table=pipeline", "duckdb", "pipeline"),
    ("duckdb:///rel.duckdb", "duckdb", "deals"), ("book.xlsx", "xlsx", "deals"),
    ("sqlite:///rel.db", "sqlite", "deals"), ("sqlite:////tmp/x.db?table=pipeline", "sqlite", "pipeline"),
])
def test_destination_uris(uri, kind, table):
    dest = parse(uri, "deals")
    assert dest.kind == kind and dest.table == table


def test_duckdb_paths_follow_sqlalchemy():
    assert str(parse("duckdb:///rel/x.duckdb", "d").path) == "rel/x.duckdb"
    assert str(parse("duckdb:////tmp/x.duckdb", "d").path) == "/tmp/x.duckdb"
    assert str(parse("duckdb:////tmp/x.duckdb?table=t", "d").path) == "/tmp/x.duckdb"
    assert str(parse("sqlite:///rel/x.db", "d").path) == "rel/x.db"
    assert str(parse("sqlite:////tmp/x.db", "d").path) == "/tmp/x.db"


@pytest.mark.parametrize("uri, message", [
    ("deals.txt", "cannot tell the format of 'deals.txt': end the file name with .csv, .jsonl, .parquet or "
                  ".xlsx, or write duckdb:///path.duckdb or sqlite:///path.db"),
    ("ftp://x/deals.csv", "unknown destination scheme ftp://; use .csv, .jsonl, .parquet, .xlsx files, "
                          "duckdb:///path.duckdb, sqlite:///path.db, postgresql://user@host/db, mysql://user@host/db, "
                          "snowflake://account/db, bigquery://project/dataset, gsheets://SPREADSHEET_ID?sheet=NAME"),
    ("sqlite://", "destination 'sqlite://' names no file: write sqlite:///path/to/file.db"),
    ("duckdb://", "destination 'duckdb://' names no file: write duckdb:///path/to/file.duckdb"),
])
def test_bad_destinations_say_what_to_write(uri, message):
    with pytest.raises(ConfigError) as info:
        parse(uri, "deals")
    assert str(info.value) == message
    assert info.value.exit_code == 2


def test_csv_append_of_rows_with_a_new_column_adds_it_and_keeps_the_old_rows_exactly(tmp_path):
    """A custom field made in ActiveCampaign is a new column: the CSV gains it, empty in old rows."""
    import csv

    from acflow import destinations
    from acflow.mirror import Mirror

    target = tmp_path / "contacts.csv"
    dest = parse(str(target), "contacts")
    options = destinations.WriteOptions(bom=True, neutralize=True)
    old = ("SELECT 1::BIGINT AS id, 'a, \"quoted\"\nline' AS name, '=1+1' AS formula, "
           "TIMESTAMPTZ '2024-01-15 10:00:00+00' AS cdate")
    new = ("SELECT 2::BIGINT AS id, 'b' AS name, 'x' AS formula, TIMESTAMPTZ '2024-02-01 08:30:00+00' AS cdate, "
           "'Large' AS \"Company Size\"")
    with Mirror(tmp_path / "m.duckdb") as db:
        destinations.write(db, old, dest, "replace", options=options)
        destinations.write(db, new, dest, "append", options=options)
        destinations.write(db, new.replace("2::BIGINT", "3::BIGINT"), dest, "append", options=options)
    after = target.read_bytes()
    assert after.startswith(b"\xef\xbb\xbf") and after.count(b"\xef\xbb\xbf") == 1
    with target.open(newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.reader(fh))
    assert rows == [["id", "name", "formula", "cdate", "Company Size"],
                    ["1", 'a, "quoted"\nline', "'=1+1", "2024-01-15 10:00:00", ""],
                    ["2", "b", "x", "2024-02-01 08:30:00", "Large"],
                    ["3", "b", "x", "2024-02-01 08:30:00", "Large"]]
