"""What spreadsheets do with the text of a CSV file: which values they would run, which they read as dates.

Excel runs a CSV cell as a formula when it starts with = + - or @ (LibreOffice when it starts with =,
and also + - @ when typed), and tab or CR starts hide the same trick from a quick look. Contact names
and form fields come from the public, so such text gets a leading ' in CSV (OWASP's advice). A value
made only of digits, spaces and + - ( ) . / runs nothing: phone numbers (+17445898618,
+1 (744) 589-8618) and signed numbers (-12.5) are left exactly as they are, unless the value as a
whole is a sum a spreadsheet would compute (-2+3 gives 1, +1-744-589-8618 gives -9950): that would
change it, so it keeps the '. XLSX needs none of this: its text cells are string cells, which Excel
and LibreOffice never evaluate (tests/test_libreoffice.py checks it).

One rule, written once as regular expressions that Python's re and DuckDB's RE2 read alike, so a
header checked in Python and a value checked in SQL are judged the same way.
"""

from __future__ import annotations

import re

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # what a spreadsheet may run as a formula
# only digits, spaces and + - ( ) . /: no name, reference, function or string to run
NUMERIC_CHARS = r"[0-9 +\-()./]*"
_NUMBER = r"[-+ ]*\(*[ ]*[0-9]+(\.[0-9]+)?[ ]*\)*"
# numbers joined by + - or /, as a whole: what a spreadsheet would compute into another value
ARITHMETIC = rf"{_NUMBER}([ ]*[-+/]{_NUMBER})+[ ]*"
CSV_TIMESTAMP = "%Y-%m-%d %H:%M:%S"  # Excel reads it as a date-time; LibreOffice with "Detect special numbers"

_numeric = re.compile(NUMERIC_CHARS)
_arithmetic = re.compile(ARITHMETIC)


def needs_prefix(text: str) -> bool:
    """True when a spreadsheet opening the CSV would run `text` or compute it into something else."""
    if not text.startswith(FORMULA_START):
        return False
    return not _numeric.fullmatch(text) or bool(_arithmetic.fullmatch(text))


def protected(text: str) -> str:
    """`text` as a CSV cell (or header) a spreadsheet shows but never runs."""
    return "'" + text if needs_prefix(text) else text


def _literal(pattern: str) -> str:
    return "'" + pattern.replace("'", "''") + "'"


def protected_sql(q: str) -> str:
    """SQL giving `protected(q)` for a text expression `q` (DuckDB, the whole column at once)."""
    starts = ", ".join(f"chr({ord(c)})" for c in FORMULA_START)
    runs = (f"left({q}, 1) IN ({starts}) AND (NOT regexp_full_match({q}, {_literal(NUMERIC_CHARS)}) "
            f"OR regexp_full_match({q}, {_literal(ARITHMETIC)}))")
    return f"CASE WHEN {runs} THEN chr(39) || {q} ELSE {q} END"


def csv_timestamp_sql(q: str, zoned: bool) -> str:
    """SQL for a CSV timestamp cell: `2024-01-15 10:00:00` (UTC when zoned; a flow's local time when
    not), which spreadsheets import as a date-time, unlike ISO's `T...Z`; fractions only if any."""
    src = f"timezone('UTC', {q})" if zoned else q
    return (f"CASE WHEN microsecond({q}) % 1000000 = 0 THEN strftime({src}, '{CSV_TIMESTAMP}') "
            f"ELSE strftime({src}, '{CSV_TIMESTAMP}.%f') END")
