"""What one cell of a Google sheet holds, column by column: the SQL that reads a mirror column as a
sheet value, the number format that shows it, and the few values Google cannot take as they are.

- ids (the catalog's id columns: id, contact, owner, orgid... also under a join's prefix) as text:
  a sheet never shows 1.2E+15 for one nor adds them up, and lookups between sheets match
- numbers as numbers (decimals as doubles, which is what a sheet holds); integers past 2^53 and
  NaN/Infinity as text, since a sheet's double would change or refuse them
- timestamps as date-times (serial days since 1899-12-30) in the flow's time zone, UTC without one,
  with the zone in the number format; dates as dates; `rate` and `*_rate` as percentages
- booleans as TRUE/FALSE; text, JSON, lists and structs as text, cut at 50,000 characters (Google's
  limit per cell, counted in UTF-16 units) with a marker and a warning naming the column
"""

from __future__ import annotations

import logging
import math
from typing import Any

from ..sqltext import quote as sql_quote

log = logging.getLogger("acflow")

MAX_CELL_CHARS = 50_000  # per cell
CUT = " … [cut by acflow: {:,} characters]"
_ZONED = ("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ")
_BIG_INTS = ("BIGINT", "UBIGINT", "HUGEINT", "UHUGEINT")
_INTS = (*_BIG_INTS, "INTEGER", "SMALLINT", "TINYINT", "UINTEGER", "USMALLINT", "UTINYINT")
_NUMBERS = ("DOUBLE", "FLOAT", "REAL")
_SPECIAL = {math.inf: "Infinity", -math.inf: "-Infinity"}

_ID_NAMES: frozenset[str] | None = None


def _is_id(name: str) -> bool:
    """The catalog's id columns (id, contact, owner, orgid...), also under a join's prefix (contact_id)."""
    global _ID_NAMES
    if _ID_NAMES is None:
        from ..catalog import CATALOG, ColType

        _ID_NAMES = frozenset(n.lower() for e in CATALOG.values() for n, t in e.columns.items() if t is ColType.ID)
    low = name.lower()
    return low in _ID_NAMES or any(low.endswith("_" + n) for n in _ID_NAMES)


class Column:
    """How one column is selected (SQL over the mirror) and shown (a number format, or None)."""

    def __init__(self, name: str, ctype: str, zone: str | None) -> None:
        self.name, self.check = name, ""
        q = sql_quote(name)
        self.format: dict[str, str] | None = None
        if ctype.startswith("TIMESTAMP"):
            zoned = ctype in _ZONED
            label = (zone or "UTC") if zoned else zone
            moment = f"timezone('{(zone or 'UTC').replace(chr(39), '')}', {q})" if zoned else f"CAST({q} AS TIMESTAMP)"
            self.sql = f"epoch_us({moment}) / 86400000000.0 + 25569"  # days since 1899-12-30: a sheet's date-time
            self.format = {"type": "DATE_TIME", "pattern": "yyyy-mm-dd hh:mm:ss" + (f' "{label}"' if label else "")}
        elif ctype == "DATE":
            self.sql = f"datediff('day', DATE '1899-12-30', {q})"
            self.format = {"type": "DATE", "pattern": "yyyy-mm-dd"}
        elif ctype in _INTS and _is_id(name):
            self.sql = f"CAST({q} AS VARCHAR)"
        elif ctype in _INTS or ctype in _NUMBERS or ctype.startswith("DECIMAL") or ctype == "BOOLEAN":
            self.sql = f"CAST({q} AS DOUBLE)" if ctype.startswith("DECIMAL") else q
            self.check = "int" if ctype in _BIG_INTS else "float" if ctype in _NUMBERS else ""
            if ctype != "BOOLEAN" and (name == "rate" or name.endswith("_rate")):
                self.format = {"type": "PERCENT", "pattern": "0.00%"}
        else:
            self.sql = q if ctype == "VARCHAR" else f"CAST({q} AS VARCHAR)"  # JSON, lists, structs: as text
            self.check = "text"


class Values:
    """The rows as JSON arrays Google takes: numbers past 2^53 and NaN as text (a sheet's numbers are
    doubles), text cut at 50,000 characters (counted as Google does, in UTF-16 units)."""

    def __init__(self, columns: list[Column]) -> None:
        self.columns = columns
        self.texts = [i for i, c in enumerate(columns) if c.check == "text"]
        self.ints = [i for i, c in enumerate(columns) if c.check == "int"]
        self.floats = [i for i, c in enumerate(columns) if c.check == "float"]
        self.cut: dict[str, int] = {}

    def fix(self, row: tuple[Any, ...]) -> list[Any]:
        out = list(row)
        for i in self.texts:
            v = out[i]
            if v is not None and len(v) > MAX_CELL_CHARS // 2:
                out[i] = self._cut(self.columns[i].name, v)
        for i in self.ints:
            v = out[i]
            if v is not None and not -(2**53) <= v <= 2**53:
                out[i] = str(v)
        for i in self.floats:
            v = out[i]
            if v is not None and not math.isfinite(v):
                out[i] = "NaN" if math.isnan(v) else _SPECIAL[v]
        return out

    def _cut(self, name: str, text: str) -> str:
        if _utf16(text) <= MAX_CELL_CHARS:
            return text
        mark = CUT.format(len(text))
        keep = MAX_CELL_CHARS - len(mark)
        head = text[:keep]
        while (extra := _utf16(head) - keep) > 0:
            head = head[:len(head) - extra]
        self.cut[name] = self.cut.get(name, 0) + 1
        return head + mark

    def warn(self, where: str) -> None:
        for name, count in self.cut.items():
            log.warning("%s: %s cell%s of column %r held more than %s characters, Google Sheets' limit per cell, "
                        "and %s cut, ending with \"… [cut by acflow: N characters]\"", where, f"{count:,}",
                        "s" if count > 1 else "", name, f"{MAX_CELL_CHARS:,}", "were" if count > 1 else "was")


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2




def id_text(value: Any) -> str:
    """An id as text, however the sheet holds it (46, 46.0 or "46")."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()
