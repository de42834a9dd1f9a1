"""What a real spreadsheet makes of our CSV and XLSX: LibreOffice headless opens them and saves them
again as .xlsx (read back with openpyxl: values and cell types) or as text as shown on screen.

Hostile values from the public must neither run nor change (beyond CSV's documented ' prefix);
phone numbers and negative numbers must come out as sent. Needs `soffice`; skipped without it,
except under CI, where a missing LibreOffice is a failure (.ci/run installs it).
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import shutil
import subprocess
from pathlib import Path

import openpyxl
import pytest

from acflow import destinations
from acflow.mirror import Mirror

SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")
if SOFFICE is None:
    if os.environ.get("CI"):
        pytest.fail("soffice is missing: install libreoffice-calc-nogui (.ci/run does)", pytrace=False)
    pytest.skip("soffice (LibreOffice) is not installed", allow_module_level=True)

HOSTILE = ['=HYPERLINK("http://x","y")', "=cmd|' /C calc'!A0", "@SUM(A1)", "+A1*2", "-2+3",
           "\t=1+1", "\r=1+1", "=1+1"]
EXACT = ["+17445898618", "+1 (744) 589-8618", "-12.5", "-5"]
# CSV import options (LibreOffice's filter tokens): comma, ", UTF-8, from line 1, default columns,
# language 1033, quoted fields not forced to text, special numbers detected, ..., formulas evaluated:
# the most eager reading a user can choose, so what survives it survives the others.
EAGER_CSV = "CSV:44,34,76,1,,1033,false,true,false,false,false,-1,true"


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''").replace("\t", "' || chr(9) || '").replace("\r", "' || chr(13) || '") + "'"


def _query(values: list[str]) -> str:
    rows = ", ".join(f"({i}, {_sql_text(v)})" for i, v in enumerate(values, 1))
    return (f"SELECT id, text, TIMESTAMPTZ '2024-01-15 10:00:00+00' AS cdate, DATE '2025-08-02' AS bounced_date "
            f"FROM (VALUES {rows}) v(id, text)")


@pytest.fixture(scope="module")
def profile(tmp_path_factory) -> Path:
    """A LibreOffice user profile of our own: no clash with another soffice on the machine."""
    return tmp_path_factory.mktemp("lo-profile")


def convert(profile: Path, source: Path, to: str, infilter: str | None = None) -> Path:
    out = source.parent / f"lo-{to.split(':')[0]}"
    args = [SOFFICE, f"-env:UserInstallation={profile.as_uri()}", "--headless", "--norestore"]
    args += [f"--infilter={infilter}"] if infilter else []
    subprocess.run([*args, "--convert-to", to, "--outdir", str(out), str(source)],
                   check=True, capture_output=True, timeout=300)
    converted = out / f"{source.stem}.{to.split(':')[0]}"
    assert converted.exists(), f"LibreOffice wrote no {converted.name}"
    return converted


def write(tmp_path: Path, name: str, query: str, neutralize: bool = True) -> Path:
    with Mirror(tmp_path / "m.duckdb") as mirror:
        destinations.write(mirror, query, destinations.parse(str(tmp_path / name), "r"), "replace",
                           options=destinations.WriteOptions(bom=True, neutralize=neutralize))
    return tmp_path / name


def cells(path: Path) -> list[list[openpyxl.cell.Cell]]:
    return [list(r) for r in openpyxl.load_workbook(path).active.iter_rows()]


def test_xlsx_text_neither_runs_nor_changes_in_libreoffice(tmp_path, profile):
    source = write(tmp_path, "r.xlsx", _query(HOSTILE + EXACT))
    _, *rows = cells(convert(profile, source, "xlsx"))
    texts = [r[1] for r in rows]
    assert [c.data_type for c in texts] == ["s"] * len(texts)  # no formula, no number
    assert [c.value.replace("_x000D_", "\r") for c in texts] == HOSTILE + EXACT


def test_xlsx_formats_as_libreoffice_shows_them(tmp_path, profile):
    query = ("SELECT * FROM (VALUES (1, 'usd', 1500.5::DECIMAL(38, 3), 0.2345, TIMESTAMPTZ '2024-01-15 10:00:00+00', "
             "DATE '2025-08-02'), (2, 'jpy', 1500, 0.5, NULL, NULL), (3, 'kwd', 1.5, NULL, NULL, NULL)) "
             "v(id, currency, amount, open_rate, cdate, bounced_date)")
    source = write(tmp_path, "f.xlsx", query)
    shown = convert(profile, source, 'csv:Text - txt - csv (StarCalc):44,34,76,1,,1033,false,true,true')
    with shown.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows[1:] == [["1", "usd", "1,500.50", "23.45%", "2024-01-15 10:00:00 UTC", "2025-08-02"],
                        ["2", "jpy", "1,500", "50.00%", "", ""],
                        ["3", "kwd", "1.500", "", "", ""]]


def test_csv_hostile_values_stay_text_with_the_prefix_in_libreoffice(tmp_path, profile):
    source = write(tmp_path, "r.csv", _query(HOSTILE + EXACT))
    _, *rows = cells(convert(profile, source, "xlsx", EAGER_CSV))
    by_text = {sent: r[1] for sent, r in zip(HOSTILE + EXACT, rows, strict=True)}
    for value in HOSTILE:  # LibreOffice reads a CR inside a quoted CSV field as a line break
        assert (by_text[value].data_type, by_text[value].value) == ("s", "'" + value.replace("\r", "\n"))
    assert (by_text["+1 (744) 589-8618"].data_type, by_text["+1 (744) 589-8618"].value) == ("s", "+1 (744) 589-8618")
    # a spreadsheet reads these as the numbers they are, with no ' to see; the file holds them as sent
    assert [by_text[v].value for v in ("+17445898618", "-12.5", "-5")] == [17445898618, -12.5, -5]
    lines = (tmp_path / "r.csv").read_text(encoding="utf-8-sig").splitlines()
    assert [line.split(",")[1] for line in lines[-4:]] == EXACT


def test_csv_without_the_prefix_would_run_in_libreoffice(tmp_path, profile):
    """Why the prefix: the same file with --keep-formulas gets a live formula."""
    source = write(tmp_path, "r.csv", _query(['=HYPERLINK("http://x","y")']), neutralize=False)
    _, row = cells(convert(profile, source, "xlsx", EAGER_CSV))
    assert row[1].data_type == "f"


def test_csv_header_named_like_a_formula_stays_text(tmp_path, profile):
    source = write(tmp_path, "h.csv", "SELECT 1 AS \"=1+1\", 2 AS id")
    header, _ = cells(convert(profile, source, "xlsx", EAGER_CSV))
    assert [(c.value, c.data_type) for c in header] == [("'=1+1", "s"), ("id", "s")]


def test_csv_timestamps_and_dates_import_as_dates(tmp_path, profile):
    source = write(tmp_path, "t.csv", _query(["x"]))
    _, row = cells(convert(profile, source, "xlsx", EAGER_CSV))
    assert (row[2].value, row[3].value) == (dt.datetime(2024, 1, 15, 10), dt.datetime(2025, 8, 2))
    assert row[2].is_date and row[3].is_date
