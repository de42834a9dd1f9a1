"""What a spreadsheet is, as the Sheets API v4 shows it: sheets with grids, cells with typed values
and formats, A1 ranges, and the requests acflow sends, with the limits and errors Google applies.

Everything here runs on the stand-in's event loop thread, one request at a time, so a
spreadsheets.batchUpdate is applied whole or not at all (the sheets it touches are cloned, the
requests applied to the clones in order, the clones swapped in at the end), as Google's reference
promises: "the updates in the request will be applied together atomically".
"""

from __future__ import annotations

import ast
import datetime as dt
import operator
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

MAX_CELLS = 10_000_000  # per spreadsheet, all sheets' grids (rows x columns), empty cells included
MAX_COLUMNS = 18_278  # per sheet (column ZZZ)
MAX_CELL_CHARS = 50_000  # per cell, counted in UTF-16 units as Google's servers count string length
MAX_BODY = 10_485_760  # bytes of one request body
DEFAULT_ROWS, DEFAULT_COLUMNS = 1000, 26  # a new sheet's grid
EPOCH = dt.datetime(1899, 12, 30)  # serial number 0


class SheetsError(Exception):
    """An error answer: HTTP status, google.rpc status name, message, optional details."""

    def __init__(self, code: int, status: str, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.code, self.status, self.message, self.details = code, status, message, details

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message, "status": self.status}
        if self.details:
            error["details"] = self.details
        return {"error": error}


def invalid(message: str) -> SheetsError:
    return SheetsError(400, "INVALID_ARGUMENT", message)


class Formula(str):
    """A cell holding a formula (only USER_ENTERED text starting with = becomes one)."""

    def value(self) -> Any:
        return _evaluate(self[1:])


_OPS: dict[type, Callable[..., Any]] = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
                                        ast.Div: operator.truediv, ast.USub: operator.neg, ast.UAdd: operator.pos}


def _evaluate(text: str) -> Any:
    """Arithmetic formulas compute (=1+1 is 2, as in a sheet); anything else is #NAME?."""
    def walk(node: ast.AST) -> Any:
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](walk(node.left), walk(node.right))
        if isinstance(node, ast.UnaryOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](walk(node.operand))
        raise ValueError
    try:
        return walk(ast.parse(text, mode="eval").body)
    except (SyntaxError, ValueError, ZeroDivisionError, RecursionError):
        return "#NAME?"


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


# ---- A1 notation -----------------------------------------------------------------------------------
def col_index(letters: str) -> int:
    n = 0
    for ch in letters.upper():
        n = n * 26 + (ord(ch) - 64)
    return n - 1


def col_letters(index: int) -> str:
    out = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        out = chr(65 + rem) + out
    return out


def quote_title(title: str) -> str:
    return title if re.fullmatch(r"[A-Za-z0-9_]+", title) else "'" + title.replace("'", "''") + "'"


_REF = re.compile(r"^([A-Za-z]{0,3})(\d{0,7})$")


@dataclass
class Area:
    """A rectangle of one sheet: rows [r0, r1), columns [c0, c1); None ends are open (to the grid's end)."""

    sheet: Sheet
    r0: int
    r1: int | None
    c0: int
    c1: int | None
    single: bool = False  # written as one cell (A5): a write may extend from it

    def rows_end(self) -> int:
        return self.sheet.rows if self.r1 is None else self.r1

    def cols_end(self) -> int:
        return self.sheet.cols if self.c1 is None else self.c1

    def a1(self) -> str:
        r1, c1 = self.rows_end(), self.cols_end()
        return f"{quote_title(self.sheet.title)}!{col_letters(self.c0)}{self.r0 + 1}:{col_letters(c1 - 1)}{r1}"


def _split(a1: str) -> tuple[str | None, str | None]:
    """'Sheet name'!A1:B2 -> (title, "A1:B2"); Sheet1 -> ("Sheet1", None) or (None, "A1") for a cell."""
    if a1.startswith("'"):
        i, title = 1, ""
        while i < len(a1):
            if a1[i] == "'":
                if a1[i + 1:i + 2] == "'":
                    title, i = title + "'", i + 2
                    continue
                break
            title, i = title + a1[i], i + 1
        rest = a1[i + 1:]
        if rest and not rest.startswith("!"):
            raise invalid(f"Unable to parse range: {a1}")
        return title, rest[1:] or None
    if "!" in a1:
        title, rest = a1.rsplit("!", 1)
        return title, rest or None
    return None, a1


def parse_range(book: Spreadsheet, a1: str) -> Area:
    """An A1 range of this spreadsheet, or Google's "Unable to parse range" error."""
    title, rest = _split(a1.strip())
    if title is None and rest is not None and book.sheet_named(rest) is not None:
        title, rest = rest, None  # a bare sheet name
    sheet = book.sheet_named(title) if title is not None else book.first_visible()
    if sheet is None:
        raise invalid(f"Unable to parse range: {a1}")
    if rest is None:
        return Area(sheet, 0, None, 0, None)
    parts = rest.split(":")
    if len(parts) > 2 or not all(parts):
        raise invalid(f"Unable to parse range: {a1}")
    refs = []
    for part in parts:
        m = _REF.match(part)
        if m is None or not (m.group(1) or m.group(2)):
            raise invalid(f"Unable to parse range: {a1}")
        refs.append((col_index(m.group(1)) if m.group(1) else None, int(m.group(2)) - 1 if m.group(2) else None))
    (ca, ra), (cb, rb) = refs[0], refs[-1]
    if len(refs) == 1:
        if ca is None or ra is None:
            raise invalid(f"Unable to parse range: {a1}")
        return Area(sheet, ra, ra + 1, ca, ca + 1, single=True)
    if (ra is not None and ra < 0) or (rb is not None and rb < 0):
        raise invalid(f"Unable to parse range: {a1}")
    r0 = ra if ra is not None else 0
    c0 = ca if ca is not None else 0
    r1 = rb + 1 if rb is not None else None
    c1 = cb + 1 if cb is not None else None
    if (ra is None) != (rb is None) and ra is None:
        raise invalid(f"Unable to parse range: {a1}")
    return Area(sheet, r0, r1, c0, c1)


def grid_error(sheet: Sheet, row: int, col: int) -> SheetsError:
    return invalid(f"Range ({quote_title(sheet.title)}!{col_letters(col)}{row + 1}) exceeds grid limits. "
                   f"Max rows: {sheet.rows}, max columns: {sheet.cols}")


def check_inside(area: Area, rows: int | None = None, cols: int | None = None) -> None:
    """An area (or `rows` x `cols` written from its corner) must lie within the sheet's grid."""
    end_r = area.r0 + rows if rows is not None else area.rows_end()
    end_c = area.c0 + cols if cols is not None else area.cols_end()
    if end_r > area.sheet.rows or end_c > area.sheet.cols:
        raise grid_error(area.sheet, min(end_r, area.sheet.rows + 1) - 1 if end_r > area.sheet.rows else area.r0,
                         end_c - 1 if end_c > area.sheet.cols else area.c0)


# ---- field masks -----------------------------------------------------------------------------------
def mask_paths(mask: str) -> list[str]:
    """"a,b(c,d.e),f.g" -> ["a", "b.c", "b.d.e", "f.g"] (Google's field-mask syntax)."""
    paths: list[str] = []
    stack: list[str] = []
    token = ""
    for ch in mask.replace(" ", "") + ",":
        if ch == "(":
            stack.append(token)
            token = ""
        elif ch in ",)":
            if token:
                paths.append(".".join([*[s for s in stack if s], token]))
            token = ""
            if ch == ")":
                stack.pop()
        else:
            token += ch
    return paths


def apply_mask(data: Any, paths: Iterable[str]) -> Any:
    """Keep only the masked fields of a response (lists are walked through)."""
    tree: dict[str, Any] = {}
    for path in paths:
        node = tree
        for part in path.split("."):
            node = node.setdefault(part, {})

    def walk(value: Any, node: dict[str, Any]) -> Any:
        if not node or "*" in node:
            return value
        if isinstance(value, list):
            return [walk(v, node) for v in value]
        if isinstance(value, dict):
            return {k: walk(value[k], sub) for k, sub in node.items() if k in value}
        return value
    return walk(data, tree)


# ---- sheets and spreadsheets -------------------------------------------------------------------------
@dataclass
class Sheet:
    sheet_id: int
    title: str
    index: int = 0
    rows: int = DEFAULT_ROWS
    cols: int = DEFAULT_COLUMNS
    frozen_rows: int = 0
    hidden: bool = False
    values: list[list[Any]] = field(default_factory=list)  # ragged rows; None is an empty cell
    # formats per column: (r0, r1, field path, value) in the order they were set; the last match wins
    formats: dict[int, list[tuple[int, int, str, Any]]] = field(default_factory=dict)

    def clone(self) -> Sheet:
        return Sheet(self.sheet_id, self.title, self.index, self.rows, self.cols, self.frozen_rows, self.hidden,
                     [list(r) for r in self.values], {c: list(v) for c, v in self.formats.items()})

    def properties(self) -> dict[str, Any]:
        """As Google sends them: sheetId and index always (gspread reads both without a default), but
        hidden only when true and frozenRowCount only when set (gspread reads those with defaults)."""
        grid: dict[str, Any] = {"rowCount": self.rows, "columnCount": self.cols}
        if self.frozen_rows:
            grid["frozenRowCount"] = self.frozen_rows
        props: dict[str, Any] = {"sheetId": self.sheet_id, "title": self.title, "index": self.index,
                                 "sheetType": "GRID"}
        props["gridProperties"] = grid
        if self.hidden:
            props["hidden"] = True
        return props

    # cells
    def get(self, r: int, c: int) -> Any:
        if r < len(self.values):
            row = self.values[r]
            if c < len(row):
                return row[c]
        return None

    def put(self, r: int, c: int, value: Any) -> None:
        while len(self.values) <= r:
            self.values.append([])
        row = self.values[r]
        if c >= len(row):
            if value is None:
                return
            row.extend([None] * (c + 1 - len(row)))
        row[c] = value

    def format_of(self, r: int, c: int, path: str) -> Any:
        for r0, r1, p, value in reversed(self.formats.get(c, ())):
            if r0 <= r < r1 and (p == path or path.startswith(p + ".")):
                return value if p == path else _dig(value, path[len(p) + 1:])
        return None

    def set_format(self, r0: int, r1: int, c: int, path: str, value: Any) -> None:
        runs = [f for f in self.formats.get(c, []) if not (f[2] == path and r0 <= f[0] and f[1] <= r1)]
        runs.append((r0, r1, path, value))
        self.formats[c] = runs

    # dimensions
    def delete_rows(self, r0: int, r1: int) -> None:
        del self.values[r0:r1]
        n = r1 - r0
        for c, runs in self.formats.items():
            kept = []
            for a, b, p, v in runs:
                a2 = a if a < r0 else max(r0, a - n)
                b2 = b if b <= r0 else max(r0, b - n)
                if b2 > a2:
                    kept.append((a2, b2, p, v))
            self.formats[c] = kept
        self.rows -= n

    def insert_rows(self, r: int, n: int) -> None:
        if r < len(self.values):
            self.values[r:r] = [[] for _ in range(n)]
        for c, runs in self.formats.items():
            self.formats[c] = [(a + n if a >= r else a, b + n if b > r else b, p, v) for a, b, p, v in runs]
        self.rows += n

    def delete_cols(self, c0: int, c1: int) -> None:
        for row in self.values:
            del row[c0:c1]
        n = c1 - c0
        self.formats = {(c if c < c0 else c - n): runs for c, runs in self.formats.items() if not c0 <= c < c1}
        self.cols -= n

    def insert_cols(self, c: int, n: int) -> None:
        for row in self.values:
            if c < len(row):
                row[c:c] = [None] * n
        self.formats = {(k + n if k >= c else k): runs for k, runs in self.formats.items()}
        self.cols += n


def _dig(value: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


class Spreadsheet:
    def __init__(self, spreadsheet_id: str, title: str = "Untitled spreadsheet", time_zone: str = "Etc/GMT",
                 locale: str = "en_US") -> None:
        self.id, self.title, self.time_zone, self.locale = spreadsheet_id, title, time_zone, locale
        self.sheets: list[Sheet] = []
        self.editors: set[str] = set()
        self.viewers: set[str] = set()
        self._next_id = 1_000_000_000

    # lookup
    def sheet_named(self, title: str | None) -> Sheet | None:
        if title is None:
            return None
        return next((s for s in self.sheets if s.title.lower() == title.lower()), None)

    def sheet_by_id(self, sheet_id: Any) -> Sheet | None:
        return next((s for s in self.sheets if s.sheet_id == sheet_id), None)

    def first_visible(self) -> Sheet | None:
        return next((s for s in sorted(self.sheets, key=lambda s: s.index) if not s.hidden), None)

    def cells(self) -> int:
        return sum(s.rows * s.cols for s in self.sheets)

    def add_sheet(self, title: str, rows: int = DEFAULT_ROWS, cols: int = DEFAULT_COLUMNS, sheet_id: int | None = None,
                  hidden: bool = False, index: int | None = None, frozen_rows: int = 0) -> Sheet:
        if sheet_id is None:
            sheet_id = 0 if not self.sheets else self._next_id
            self._next_id += 7919
        sheet = Sheet(sheet_id, title, len(self.sheets) if index is None else index, rows, cols, frozen_rows, hidden)
        self.sheets.insert(min(sheet.index, len(self.sheets)), sheet)
        self._reindex()
        return sheet

    def _reindex(self) -> None:
        for i, s in enumerate(self.sheets):
            s.index = i

    def to_json(self) -> dict[str, Any]:
        return {"spreadsheetId": self.id,
                "properties": {"title": self.title, "locale": self.locale, "autoRecalc": "ON_CHANGE",
                               "timeZone": self.time_zone},
                "sheets": [{"properties": s.properties()} for s in self.sheets],
                "spreadsheetUrl": f"https://docs.google.com/spreadsheets/d/{self.id}/edit"}

    # limits
    def check_limits(self, where: str) -> None:
        for s in self.sheets:
            if s.cols > MAX_COLUMNS:
                raise invalid(f"{where}This action would increase the number of columns in the sheet above the "
                              f"limit of {MAX_COLUMNS} columns.")
        if self.cells() > MAX_CELLS:
            raise invalid(f"{where}This action would increase the number of cells in the workbook above the "
                          f"limit of {MAX_CELLS} cells.")


# ---- values ---------------------------------------------------------------------------------------
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")


def entered(value: Any, option: str) -> Any:
    """A value as the sheet stores it: RAW keeps it as sent; USER_ENTERED parses it as if typed
    (=... runs as a formula, 00123 becomes 123, 2024-01-15 becomes a date)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return float(value) if abs(value) > 2**53 else value  # a double, as every Sheets number
    if not isinstance(value, str):
        raise invalid(f"Invalid value: {value!r}")
    if option == "RAW":
        return value
    if value.startswith("'"):
        return value[1:]
    if value.startswith("=") and len(value) > 1:
        return Formula(value)
    if _NUMBER.match(value.strip()):
        number = float(value)
        return int(number) if number.is_integer() and abs(number) < 2**53 else number
    if value.upper() in ("TRUE", "FALSE"):
        return value.upper() == "TRUE"
    m = _DATE.match(value.strip())
    if m:
        try:
            return (dt.datetime(int(m[1]), int(m[2]), int(m[3])) - EPOCH).days
        except ValueError:
            return value
    return value


def check_length(value: Any, where: str) -> None:
    if isinstance(value, str) and len(value) > MAX_CELL_CHARS // 2 and utf16_len(value) > MAX_CELL_CHARS:
        raise invalid(f"{where}Your input contains more than the maximum of {MAX_CELL_CHARS} characters in a single "
                      "cell.")


def write_values(area: Area, values: list[list[Any]], option: str, major: str = "ROWS", where: str = "") -> int:
    """values.update's core: checks shape, grid and cell sizes first, then writes (null skips a cell)."""
    if option not in ("RAW", "USER_ENTERED"):
        raise invalid(f"Invalid value at 'value_input_option' ({option!r})")
    if not isinstance(values, list) or not all(isinstance(r, list) for r in values):
        raise invalid("Invalid JSON payload received. 'values' must be a list of lists.")
    if major == "COLUMNS":
        width = max((len(r) for r in values), default=0)
        values = [[col[i] if i < len(col) else None for col in values] for i in range(width)]
    rows, cols = len(values), max((len(r) for r in values), default=0)
    if not area.single:
        check_inside(area)  # a range written out in full must lie within the grid, however little is sent
        if area.r1 is not None and area.r0 + rows > area.r1:
            raise invalid(f"Requested writing within range [{area.a1()}], but tried writing to row "
                          f"[{area.r0 + rows}]")
        if area.c1 is not None and area.c0 + cols > area.c1:
            raise invalid(f"Requested writing within range [{area.a1()}], but tried writing to column "
                          f"[{col_letters(area.c0 + cols - 1)}]")
    check_inside(area, rows, cols)
    for row in values:
        for value in row:
            check_length(value, where)
    sheet = area.sheet
    written = 0
    for i, row in enumerate(values):
        for j, value in enumerate(row):
            if value is None:
                continue  # "Null values will be skipped"
            sheet.put(area.r0 + i, area.c0 + j, None if value == "" else entered(value, option))
            written += 1
    return written


def _serial_text(serial: float, pattern: str) -> str:
    moment = EPOCH + dt.timedelta(days=serial)
    out, i = "", 0
    tokens = [("yyyy", "%Y"), ("dd", "%d"), ("hh", "%H"), ("ss", "%S"), ("mm", None)]
    while i < len(pattern):
        if pattern[i] == '"':
            j = pattern.index('"', i + 1)
            out, i = out + pattern[i + 1:j], j + 1
            continue
        for token, code in tokens:
            if pattern.startswith(token, i):
                if token == "mm":  # minutes after hours, else months
                    code = "%M" if re.search(r"h+[^a-z]*$", pattern[:i]) else "%m"
                out, i = out + moment.strftime(code or ""), i + len(token)
                break
        else:
            out, i = out + pattern[i], i + 1
    return out


def rendered(sheet: Sheet, r: int, c: int, render: str) -> Any:
    value = sheet.get(r, c)
    if isinstance(value, Formula):
        if render == "FORMULA":
            return str(value)
        value = value.value()
    if render != "FORMATTED_VALUE" or value is None:
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        number_format = sheet.format_of(r, c, "userEnteredFormat.numberFormat") or {}
        kind = number_format.get("type")
        if kind in ("DATE", "DATE_TIME", "TIME"):
            return _serial_text(value, number_format.get("pattern") or
                                {"DATE": "yyyy-mm-dd", "TIME": "hh:mm:ss"}.get(kind, "yyyy-mm-dd hh:mm:ss"))
        if kind == "PERCENT":
            return f"{value * 100:.2f}%"
        return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else repr(float(value))
    return value


def read_values(area: Area, render: str = "FORMATTED_VALUE", major: str = "ROWS") -> list[list[Any]]:
    """values.get's core: trailing empty rows and columns left out, empty cells inside as ""."""
    check_inside(area)
    sheet = area.sheet
    r_end, c_end = area.rows_end(), area.cols_end()
    rows: list[list[Any]] = []
    for r in range(area.r0, min(r_end, len(sheet.values))):
        row = [rendered(sheet, r, c, render) for c in range(area.c0, min(c_end, area.c0 + len(sheet.values[r])))]
        while row and row[-1] is None:
            row.pop()
        rows.append(["" if v is None else v for v in row])
    while rows and not rows[-1]:
        rows.pop()
    if major == "COLUMNS":
        width = max((len(r) for r in rows), default=0)
        rows = [[r[i] if i < len(r) else "" for r in rows] for i in range(width)]
        for col in rows:
            while col and col[-1] == "":
                col.pop()
    return rows


# ---- spreadsheets.batchUpdate -----------------------------------------------------------------------
def grid_area(book: Spreadsheet, grid: dict[str, Any], where: str) -> Area:
    sheet = book.sheet_by_id(grid.get("sheetId", 0))
    if sheet is None:
        raise invalid(f"{where}No grid with id: {grid.get('sheetId', 0)}")
    r0, c0 = grid.get("startRowIndex", 0), grid.get("startColumnIndex", 0)
    return Area(sheet, r0, grid.get("endRowIndex"), c0, grid.get("endColumnIndex"))


def _cell_value(data: dict[str, Any]) -> Any:
    v = data.get("userEnteredValue")
    if not v:
        return None
    if "formulaValue" in v:
        return Formula(v["formulaValue"])
    for key in ("stringValue", "numberValue", "boolValue"):
        if key in v:
            return v[key]
    return None


class Batch:
    """One spreadsheets.batchUpdate, applied to clones of the sheets it touches."""

    def __init__(self, book: Spreadsheet) -> None:
        self.book = book
        self.sheets = list(book.sheets)
        self.cloned: set[int] = set()
        self.work = Spreadsheet(book.id, book.title, book.time_zone, book.locale)
        self.work.sheets = self.sheets
        self.work._next_id = book._next_id

    def mutable(self, sheet: Sheet) -> Sheet:
        if id(sheet) in self.cloned:
            return sheet
        copy = sheet.clone()
        self.cloned.add(id(copy))
        self.sheets[self.sheets.index(sheet)] = copy
        return copy

    def area(self, grid: dict[str, Any], where: str) -> Area:
        area = grid_area(self.work, grid, where)
        area.sheet = self.mutable(area.sheet)
        return area

    def apply(self, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        replies = []
        for i, request in enumerate(requests):
            if not isinstance(request, dict) or len(request) != 1:
                raise invalid(f"Invalid requests[{i}]: must set exactly one kind of request.")
            (kind, body), = request.items()
            handler = getattr(self, f"_{kind}", None)
            if handler is None:
                raise invalid(f"Invalid JSON payload received. Unknown name \"{kind}\" at 'requests[{i}]': "
                              "Cannot find field.")
            where = f"Invalid requests[{i}].{kind}: "
            replies.append(handler(body, where) or {})
            self.work.check_limits(where)
        self.book.sheets = self.sheets
        self.book._next_id = self.work._next_id
        self.book._reindex()
        return replies

    # the requests acflow sends
    def _addSheet(self, body: dict[str, Any], where: str) -> dict[str, Any]:
        props = body.get("properties", {})
        grid = props.get("gridProperties", {})
        title = props.get("title") or f"Sheet{len(self.sheets) + 1}"
        if self.work.sheet_named(title) is not None:
            raise invalid(f'{where}A sheet with the name "{title}" already exists. Please enter another name.')
        if "sheetId" in props and self.work.sheet_by_id(props["sheetId"]) is not None:
            raise invalid(f"{where}Sheet with id {props['sheetId']} already exists.")
        frozen = grid.get("frozenRowCount", 0)
        rows = grid.get("rowCount", DEFAULT_ROWS)
        if frozen and frozen >= rows:
            raise invalid(f"{where}You can't freeze all visible rows on the sheet.")
        sheet = self.work.add_sheet(title, rows, grid.get("columnCount", DEFAULT_COLUMNS),
                                    props.get("sheetId"), bool(props.get("hidden")), props.get("index"), frozen)
        self.cloned.add(id(sheet))
        return {"addSheet": {"properties": sheet.properties()}}

    def _deleteSheet(self, body: dict[str, Any], where: str) -> None:
        sheet = self.work.sheet_by_id(body.get("sheetId"))
        if sheet is None:
            raise invalid(f"{where}No sheet with id: {body.get('sheetId')}")
        if not any(not s.hidden for s in self.sheets if s is not sheet):
            raise invalid(f"{where}You can't remove all the visible sheets in a document.")
        self.sheets.remove(sheet)
        self.work._reindex()

    def _updateSheetProperties(self, body: dict[str, Any], where: str) -> None:
        props = body.get("properties", {})
        fields = body.get("fields")
        if not fields:
            raise invalid(f"{where}At least one field must be specified.")
        sheet = self.work.sheet_by_id(props.get("sheetId", 0))
        if sheet is None:
            raise invalid(f"{where}No grid with id: {props.get('sheetId', 0)}")
        sheet = self.mutable(sheet)
        paths = mask_paths(fields)
        if "*" in paths:
            paths = ["title", "index", "hidden", "gridProperties.rowCount", "gridProperties.columnCount",
                     "gridProperties.frozenRowCount"]
        grid = props.get("gridProperties", {})
        for path in paths:
            if path == "title":
                other = self.work.sheet_named(props.get("title", ""))
                if other is not None and other.sheet_id != sheet.sheet_id:
                    raise invalid(f'{where}A sheet with the name "{props["title"]}" already exists. '
                                  "Please enter another name.")
                if not props.get("title"):
                    raise invalid(f"{where}The sheet title must not be empty.")
                sheet.title = props["title"]
            elif path == "index":
                self.sheets.remove(sheet)
                self.sheets.insert(min(props.get("index", 0), len(self.sheets)), sheet)
                self.work._reindex()
            elif path == "hidden":
                if props.get("hidden") and not any(not s.hidden for s in self.sheets if s is not sheet):
                    raise invalid(f"{where}You can't hide all visible sheets in a document.")
                sheet.hidden = bool(props.get("hidden"))
            elif path in ("gridProperties.rowCount", "gridProperties.columnCount"):
                count = grid.get(path.split(".")[1], 0)
                if count < 1:
                    raise invalid(f"{where}Invalid {path}: {count}")
                if path.endswith("rowCount"):
                    if count < sheet.rows:
                        sheet.delete_rows(count, sheet.rows)
                    sheet.rows = count
                else:
                    if count < sheet.cols:
                        sheet.delete_cols(count, sheet.cols)
                    sheet.cols = count
                self.work.check_limits(where)  # applied one by one, each checked (rows first, then columns)
            elif path == "gridProperties.frozenRowCount":
                sheet.frozen_rows = grid.get("frozenRowCount", 0)
            elif path == "gridProperties":
                self._updateSheetProperties({"properties": props, "fields": "gridProperties(rowCount,columnCount,"
                                             "frozenRowCount)"}, where)
            else:
                raise invalid(f"{where}Unsupported field: {path}")
        if sheet.frozen_rows and sheet.frozen_rows >= sheet.rows:
            raise invalid(f"{where}You can't freeze all visible rows on the sheet.")

    def _dimension(self, body: dict[str, Any], where: str) -> tuple[Sheet, str, int, int]:
        rng = body.get("range", body)
        sheet = self.work.sheet_by_id(rng.get("sheetId", 0))
        if sheet is None:
            raise invalid(f"{where}No grid with id: {rng.get('sheetId', 0)}")
        return self.mutable(sheet), rng.get("dimension"), rng.get("startIndex", 0), rng.get("endIndex", 0)

    def _appendDimension(self, body: dict[str, Any], where: str) -> None:
        sheet, dimension, _, _ = self._dimension(body, where)
        length = body.get("length", 0)
        if length < 1:
            raise invalid(f"{where}length must be at least 1")
        if dimension == "ROWS":
            sheet.insert_rows(sheet.rows, length)
        else:
            sheet.insert_cols(sheet.cols, length)

    def _insertDimension(self, body: dict[str, Any], where: str) -> None:
        sheet, dimension, start, end = self._dimension(body, where)
        limit = sheet.rows if dimension == "ROWS" else sheet.cols
        if not 0 <= start < end or start > limit:
            raise invalid(f"{where}Invalid range")
        if dimension == "ROWS":
            sheet.insert_rows(start, end - start)
        else:
            sheet.insert_cols(start, end - start)

    def _deleteDimension(self, body: dict[str, Any], where: str) -> None:
        sheet, dimension, start, end = self._dimension(body, where)
        limit = sheet.rows if dimension == "ROWS" else sheet.cols
        if not 0 <= start < end or end > limit:
            raise invalid(f"{where}Invalid range: {dimension} {start}:{end} of {limit}")
        if end - start == limit:
            what = "rows" if dimension == "ROWS" else "columns"
            raise invalid(f"{where}You can't delete all the {what} on the sheet.")
        if dimension == "ROWS":
            sheet.delete_rows(start, end)
            if sheet.frozen_rows and sheet.frozen_rows >= sheet.rows:
                raise invalid(f"{where}You can't delete all the rows on the sheet that are not frozen.")
        else:
            sheet.delete_cols(start, end)

    def _updateCells(self, body: dict[str, Any], where: str) -> None:
        fields = body.get("fields")
        if not fields:
            raise invalid(f"{where}At least one field must be specified.")
        paths = mask_paths(fields)
        rows = body.get("rows", [])
        if "start" in body:
            start = body["start"]
            area = self.area({**start, "endRowIndex": start.get("rowIndex", 0) + len(rows),
                              "startRowIndex": start.get("rowIndex", 0),
                              "startColumnIndex": start.get("columnIndex", 0),
                              "endColumnIndex": start.get("columnIndex", 0)
                              + max((len(r.get("values", [])) for r in rows), default=0)}, where)
        else:
            area = self.area(body.get("range", {}), where)
        check_inside(area)
        sheet = area.sheet
        for r in range(area.r0, area.rows_end()):
            data = rows[r - area.r0].get("values", []) if r - area.r0 < len(rows) else []
            for c in range(area.c0, area.cols_end()):
                cell = data[c - area.c0] if c - area.c0 < len(data) else {}
                if "userEnteredValue" in paths or "*" in paths:
                    value = _cell_value(cell)
                    check_length(value, where)
                    sheet.put(r, c, value)
        for path in paths:
            if path.startswith("userEnteredFormat"):
                for c in range(area.c0, area.cols_end()):
                    sheet.set_format(area.r0, area.rows_end(), c, path, None)  # rows written: see repeatCell
                    for i, row in enumerate(rows):
                        cells = row.get("values", [])
                        if c - area.c0 < len(cells):
                            value = _dig(cells[c - area.c0], path)
                            sheet.set_format(area.r0 + i, area.r0 + i + 1, c, path, value)

    def _repeatCell(self, body: dict[str, Any], where: str) -> None:
        fields = body.get("fields")
        if not fields:
            raise invalid(f"{where}At least one field must be specified.")
        area = self.area(body.get("range", {}), where)
        check_inside(area)
        cell = body.get("cell", {})
        for path in mask_paths(fields):
            if path == "userEnteredValue":
                for r in range(area.r0, area.rows_end()):
                    for c in range(area.c0, area.cols_end()):
                        area.sheet.put(r, c, _cell_value(cell))
                continue
            for c in range(area.c0, area.cols_end()):
                area.sheet.set_format(area.r0, area.rows_end(), c, path, _dig(cell, path))

    def _copyPaste(self, body: dict[str, Any], where: str) -> None:
        source = grid_area(self.work, body.get("source", {}), where)
        destination = self.area(body.get("destination", {}), where)
        paste = body.get("pasteType", "PASTE_NORMAL")
        if paste not in ("PASTE_NORMAL", "PASTE_VALUES", "PASTE_FORMAT"):
            raise invalid(f"{where}Unsupported pasteType {paste}")
        check_inside(source)
        height, width = source.rows_end() - source.r0, source.cols_end() - source.c0
        dest_h = destination.rows_end() - destination.r0
        dest_w = destination.cols_end() - destination.c0
        # a destination that is a multiple of the source repeats it; a smaller one still takes it whole
        times_r = dest_h // height if dest_h % height == 0 and dest_h > height else 1
        times_c = dest_w // width if dest_w % width == 0 and dest_w > width else 1
        check_inside(destination, height * times_r, width * times_c)
        src = source.sheet
        block = [[src.get(source.r0 + i, source.c0 + j) for j in range(width)] for i in range(height)]
        block_formats = {j: [(a - source.r0, b - source.r0, p, v) for a, b, p, v in src.formats.get(source.c0 + j, [])
                             if b > source.r0 and a < source.r0 + height] for j in range(width)}
        dst = destination.sheet
        for tr in range(times_r):
            for tc in range(times_c):
                r_base, c_base = destination.r0 + tr * height, destination.c0 + tc * width
                if paste != "PASTE_FORMAT":
                    for i, row in enumerate(block):
                        for j, value in enumerate(row):
                            if isinstance(value, Formula) and paste == "PASTE_VALUES":
                                value = value.value()
                            dst.put(r_base + i, c_base + j, value)
                if paste != "PASTE_VALUES":
                    for j, runs in block_formats.items():
                        dst.set_format(r_base, r_base + height, c_base + j, "userEnteredFormat", None)
                        for a, b, p, v in runs:
                            dst.set_format(r_base + max(a, 0), r_base + min(b, height), c_base + j, p, v)

    def _autoResizeDimensions(self, body: dict[str, Any], where: str) -> None:
        self._dimension(body.get("dimensions", {}), where)  # column widths are not modelled
