"""CSV and XLSX for spreadsheets: formula safety that damages nothing, and sheets that read well.

What LibreOffice itself makes of these files is in test_libreoffice.py; here the files are read
back with csv and openpyxl.
"""

from __future__ import annotations

import csv
import datetime as dt

import duckdb
import openpyxl
import pytest

import acflow
from acflow import destinations
from acflow.mirror import Mirror
from acflow.spreadsheet import needs_prefix, protected_sql
from acflow.workbook import MAX_WIDTH, SAMPLE, Sheet, write_workbook

HOSTILE = ['=HYPERLINK("http://x","y")', "=cmd|' /C calc'!A0", "@SUM(A1)", "+A1*2", "-2+3",
           "\t=1+1", "\rcr", "+1-744-589-8618", "-(2)+3", "- 2 + 3", "+1/2", "-abc", "=1"]
HARMLESS = ["+17445898618", "+1 (744) 589-8618", "+1 744 589 8618", "+1.744.589.8618", "-12.5", "-5",
            "+", "-", "--", "Ann", "1+2", "(744) 589-8618", "", " =1", "ann@example.com"]


@pytest.mark.parametrize("value", HOSTILE)
def test_text_a_spreadsheet_would_run_or_compute_gets_the_prefix(value):
    assert needs_prefix(value)


@pytest.mark.parametrize("value", HARMLESS)
def test_phone_numbers_signed_numbers_and_plain_text_are_left_as_they_are(value):
    assert not needs_prefix(value)


def test_sql_and_python_judge_every_value_alike():
    """Headers are checked in Python, values in DuckDB: one rule, two engines."""
    values = HOSTILE + HARMLESS
    got = duckdb.connect().execute(f"SELECT {protected_sql('v')} FROM unnest(?) t(v)", [values]).fetchall()
    assert [r[0] for r in got] == [("'" + v if needs_prefix(v) else v) for v in values]


ROWS = ("SELECT * FROM (VALUES "
        "(2, '=HYPERLINK(\"http://x\",\"y\")', '+17445898618', 'usd', 1500.5::DECIMAL(38, 3), 0.2345, "
        "    TIMESTAMPTZ '2024-01-15 10:00:00+00', DATE '2025-08-02', 'x'), "
        "(1, '-2+3', '+1 (744) 589-8618', 'jpy', 1500::DECIMAL(38, 3), 0.5, "
        "    TIMESTAMPTZ '2024-07-15 12:00:00+02', NULL, 'y'), "
        "(3, '@SUM(A1)', '-12.5', 'KWD', 1.5::DECIMAL(38, 3), NULL, NULL, DATE '2019-06-14', 'z')"
        ") v(id, name, phone, currency, amount, open_rate, cdate, bounced_date, \"=cmd|' /C calc'!A0\")")


def write(tmp_path, name: str, query: str = ROWS, **options) -> None:
    with Mirror(tmp_path / "m.duckdb") as mirror:
        destinations.write(mirror, query, destinations.parse(str(tmp_path / name), "r"), "replace",
                           options=destinations.WriteOptions(**options))


def read_csv(path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        return list(csv.reader(fh))


def test_csv_prefixes_only_what_would_run_and_protects_the_header(tmp_path):
    write(tmp_path, "r.csv", bom=True, neutralize=True)
    header, *rows = read_csv(tmp_path / "r.csv")
    assert header[-1] == "'=cmd|' /C calc'!A0"  # a field name from the API is a cell too
    assert [(r[1], r[2]) for r in rows] == [("'=HYPERLINK(\"http://x\",\"y\")", "+17445898618"),
                                            ("'-2+3", "+1 (744) 589-8618"), ("'@SUM(A1)", "-12.5")]


def test_csv_keeps_formulas_when_asked(tmp_path):
    write(tmp_path, "r.csv", neutralize=False)
    header, *rows = read_csv(tmp_path / "r.csv")
    assert header[-1] == "=cmd|' /C calc'!A0"
    assert [r[1] for r in rows] == ['=HYPERLINK("http://x","y")', "-2+3", "@SUM(A1)"]


def test_csv_appends_under_a_protected_header(tmp_path):
    """The header in the file is the protected one; an append compares it with the same."""
    out = tmp_path / "r.csv"
    options = destinations.WriteOptions(neutralize=True)
    with Mirror(tmp_path / "m.duckdb") as mirror:
        dest = destinations.parse(str(out), "r")
        destinations.write(mirror, ROWS, dest, "append", options=options)
        destinations.write(mirror, ROWS, dest, "append", options=options)
    header, *rows = read_csv(out)  # (a second append raises if the headers differ)
    assert header[-1].startswith("'=") and len([r for r in rows if r]) == 6


def test_csv_timestamps_and_dates_read_as_spreadsheets_import_them(tmp_path):
    write(tmp_path, "r.csv")
    header, *rows = read_csv(tmp_path / "r.csv")
    at = {h: i for i, h in enumerate(header)}
    assert [r[at["cdate"]] for r in rows] == ["2024-01-15 10:00:00", "2024-07-15 10:00:00", ""]  # UTC
    assert [r[at["bounced_date"]] for r in rows] == ["2025-08-02", "", "2019-06-14"]


def test_jsonl_keeps_iso_timestamps_with_z(tmp_path):
    write(tmp_path, "r.jsonl")
    assert '"cdate":"2024-01-15T10:00:00Z"' in (tmp_path / "r.jsonl").read_text()


def sheet_rows(path, sheet: str = "r") -> list[list[openpyxl.cell.Cell]]:
    return [list(r) for r in openpyxl.load_workbook(path)[sheet].iter_rows()]


def test_xlsx_text_is_string_cells_exactly_as_sent(tmp_path):
    """String cells never run, so nothing is prefixed, with or without neutralising."""
    for neutralize in (True, False):
        write(tmp_path, "r.xlsx", neutralize=neutralize)
        header, *rows = sheet_rows(tmp_path / "r.xlsx")
        assert (header[-1].value, header[-1].data_type) == ("=cmd|' /C calc'!A0", "s")
        cells = [c for r in rows for c in r[1:3]]
        assert [c.value for c in cells] == ['=HYPERLINK("http://x","y")', "+17445898618", "-2+3",
                                            "+1 (744) 589-8618", "@SUM(A1)", "-12.5"]
        assert {c.data_type for c in cells} == {"s"}


def test_xlsx_numbers_dates_and_times_have_formats_that_read_well(tmp_path):
    write(tmp_path, "r.xlsx")
    header, *rows = sheet_rows(tmp_path / "r.xlsx")
    at = {c.value: i for i, c in enumerate(header)}
    amounts = [(r[at["amount"]].value, r[at["amount"]].number_format) for r in rows]
    assert amounts == [(1500.5, "#,##0.00"), (1500, "#,##0"), (1.5, "#,##0.000")]  # usd, jpy, KWD
    assert (rows[0][at["open_rate"]].value, rows[0][at["open_rate"]].number_format) == (0.2345, "0.00%")
    times = [(r[at["cdate"]].value, r[at["cdate"]].number_format) for r in rows[:2]]
    assert times == [(dt.datetime(2024, 1, 15, 10), 'yyyy-mm-dd hh:mm:ss "UTC"'),
                     (dt.datetime(2024, 7, 15, 10), 'yyyy-mm-dd hh:mm:ss "UTC"')]
    dates = [(c.value, c.number_format) for c in (r[at["bounced_date"]] for r in rows) if c.value]
    assert dates == [(dt.datetime(2025, 8, 2), "yyyy-mm-dd"), (dt.datetime(2019, 6, 14), "yyyy-mm-dd")]
    assert rows[0][at["id"]].number_format == "General"


def test_xlsx_header_is_frozen_filtered_and_columns_fit(tmp_path):
    long = "x" * 500
    query = f"SELECT range AS id, CASE WHEN range = 3 THEN '{long}' ELSE 'ab' END AS note FROM range(5)"
    write(tmp_path, "r.xlsx", query)
    sheet = openpyxl.load_workbook(tmp_path / "r.xlsx")["r"]
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == "A1:B6"
    widths = {k: v.width for k, v in sheet.column_dimensions.items()}
    assert len("id") + 3 <= widths["A"] < 10  # the header and its filter button
    assert MAX_WIDTH <= widths["B"] < MAX_WIDTH + 1  # long text: wide, bounded


def test_xlsx_widths_come_from_a_bounded_sample(tmp_path):
    """Rows are streamed (constant memory), so widths are set from the first rows only."""
    query = f"SELECT CASE WHEN range = {SAMPLE + 10} THEN repeat('w', 40) ELSE 'ab' END AS n FROM range({SAMPLE + 20})"
    write(tmp_path, "r.xlsx", query)
    sheet = openpyxl.load_workbook(tmp_path / "r.xlsx")["r"]
    assert sheet.column_dimensions["A"].width < 10
    assert sheet.max_row == SAMPLE + 21


def test_xlsx_naive_timestamps_carry_the_flows_zone(tmp_path):
    """A flow with `timezone:` hands over local times; the sheet says which zone they are in."""
    query = ("SELECT timezone('Europe/Paris', TIMESTAMPTZ '2024-01-15 10:00:00+00') AS local_time, "
             "TIMESTAMPTZ '2024-01-15 10:00:00+00' AS cdate")
    with Mirror(tmp_path / "m.duckdb") as mirror:
        write_workbook(mirror, tmp_path / "z.xlsx", [Sheet("z", query, zone="Europe/Paris")])
        write_workbook(mirror, tmp_path / "u.xlsx", [("u", query, True)])
    paris = sheet_rows(tmp_path / "z.xlsx", "z")[1]
    assert [(c.value, c.number_format) for c in paris] == [
        (dt.datetime(2024, 1, 15, 11), 'yyyy-mm-dd hh:mm:ss "Europe/Paris"'),
        (dt.datetime(2024, 1, 15, 11), 'yyyy-mm-dd hh:mm:ss "Europe/Paris"')]
    plain = sheet_rows(tmp_path / "u.xlsx", "u")[1]
    assert [c.number_format for c in plain] == ["yyyy-mm-dd hh:mm:ss", 'yyyy-mm-dd hh:mm:ss "UTC"']


def test_xlsx_without_header_has_no_frozen_row_or_filter(tmp_path):
    write(tmp_path, "r.xlsx", header=False)
    sheet = openpyxl.load_workbook(tmp_path / "r.xlsx")["r"]
    assert sheet.freeze_panes is None and sheet.auto_filter.ref is None
    assert sheet["A1"].value == 2


def test_exports_are_ordered_by_id(sandbox, account, tmp_path):
    """Updated records go to the end of the mirror's table; the export is still in id order."""
    mirror = tmp_path / "m.duckdb"
    acflow.export("contacts", to=str(tmp_path / "first.csv"), account=account, mirror=mirror)
    sandbox.mutate("contacts", update=30, create=5)
    for name in ("c.csv", "c.xlsx"):
        acflow.export("contacts", to=str(tmp_path / name), account=account, mirror=mirror)
    ids = [int(r[0]) for r in read_csv(tmp_path / "c.csv")[1:]]
    cells = [r[0].value for r in sheet_rows(tmp_path / "c.xlsx", "contacts")[1:]]
    assert ids == sorted(ids) == cells and len(ids) == len(sandbox.snapshot("contacts"))


def test_xlsx_scratch_files_stay_beside_the_workbook(tmp_path, monkeypatch):
    """xlsxwriter's constant-memory files go to a folder beside the target, never the shared /tmp
    (here made unusable), and nothing is left behind."""
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no-such-tmp"))
    out = tmp_path / "out"
    out.mkdir()
    with Mirror(tmp_path / "m.duckdb") as mirror:
        write_workbook(mirror, out / "r.xlsx", [Sheet("r", "SELECT range AS id FROM range(3)")])
    assert [c.value for c in openpyxl.load_workbook(out / "r.xlsx")["r"]["A"]] == ["id", 0, 1, 2]
    assert sorted(p.name for p in out.iterdir() if not p.name.endswith("lock")) == ["r.xlsx"]


def test_a_flow_with_a_timezone_names_it_in_its_xlsx_cells(tmp_path, sandbox, monkeypatch):
    import openpyxl

    import acflow

    monkeypatch.setenv("ACFLOW_TEST_KEY", sandbox.admin_key)
    path = tmp_path / "acflow.yaml"
    path.write_text(
        f"accounts:\n  main: {{url: {sandbox.url}, key_env: ACFLOW_TEST_KEY, rate_limit: 1000}}\n"
        "flows:\n  deals:\n    source: {entity: deals}\n    to: out.xlsx\n    timezone: Europe/Paris\n")
    acflow.run(config=str(path), mirror=tmp_path / "m.duckdb")
    ws = openpyxl.load_workbook(tmp_path / "out.xlsx").active
    header = [c.value for c in ws[1]]
    cell = ws.cell(row=2, column=header.index("cdate") + 1)
    assert cell.is_date and '"Europe/Paris"' in cell.number_format
