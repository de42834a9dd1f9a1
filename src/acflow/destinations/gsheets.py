"""Google Sheets: `gsheets://SPREADSHEET_ID?sheet=NAME`, or the spreadsheet's address as the browser
shows it (https://docs.google.com/spreadsheets/d/ID/edit#gid=N: that tab).

Every write first builds the new rows in a hidden sheet of the same spreadsheet (about 2 MB a
request), then applies them to the target sheet in ONE spreadsheets.batchUpdate, which Google applies
atomically: a reader sees the old table or the new one, never an empty or half-written sheet, and a
failure before that last request leaves the sheet as it was. The target keeps its sheet id, so
formulas, charts and Looker Studio sources that point at it keep working.

- replace: the sheet becomes the table (header + rows, grid trimmed to fit, extra columns removed).
- append: the rows (with `_extracted_at`) go below the last row that holds anything; new columns
  are added at the right; columns of the sheet that the rows lack stay empty in them.
- merge: rows whose id is in the sheet's `id` column are updated in place (only the flow's own
  columns: columns a user added are left alone), new ids go at the end, ids gone from
  ActiveCampaign are deleted.

Values are written RAW (text stays text whatever it looks like: 00123, +1 744..., =SUM(...));
gsheets_cells.py says what each column becomes. Requests: gsheets_api.py; credentials: google_auth.py.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import secrets
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import orjson

from ..errors import ConfigError, DestinationError
from ..sqltext import quote as sql_quote
from .base import Destination, Rows, Server, WriteOptions, need
from .gsheets_api import CHUNK_BYTES, SheetsClient, SheetsFailure, a1, grid_range, paste, quote_title, sheet_props
from .gsheets_cells import Column, Values, id_text

log = logging.getLogger("acflow")

MODES = ("replace", "append", "merge")
EXTRA = "gsheets"
MAX_CELLS = 10_000_000  # per spreadsheet, every sheet's grid counted (empty cells too)
MAX_COLUMNS = 18_278  # per sheet
STAGING = "acflow-staging"  # the hidden sheet a write builds its rows in
UNCHANGED = "the sheet is unchanged"
ADVICE = ("filter the flow (filter:), select fewer columns (select:), or write to a database "
          "(duckdb:///file.duckdb, postgresql://..., bigquery://...)")
_BOOK_ID = re.compile(r"^[A-Za-z0-9_-]{10,200}$")


# ---- the URI ---------------------------------------------------------------------------------------
def parse(text: str, default_table: str, *, sheet: str | None = None, base: Path | None = None) -> Destination:
    need("google.auth", EXTRA, "gsheets://")
    need("requests", EXTRA, "gsheets://")  # google-auth's transport, which its [requests] extra brings
    parts = urlsplit(text.strip())
    browser = parts.scheme.lower() == "https"
    if browser:
        found = re.match(r"^/spreadsheets/(?:u/\d+/)?d/([^/]+)", parts.path)
        if found is None:
            raise ConfigError(f"{text!r} is not a spreadsheet's address: copy it from the browser with the "
                              "spreadsheet open (https://docs.google.com/spreadsheets/d/ID/edit)")
        book = found.group(1)
        query = parse_qsl(parts.query, keep_blank_values=True) + parse_qsl(parts.fragment, keep_blank_values=True)
    else:
        book = unquote(parts.netloc or parts.path.lstrip("/"))
        query = parse_qsl(parts.query, keep_blank_values=True)
        unknown = sorted({k for k, _ in query} - {"sheet", "gid", "credentials"})
        if unknown:
            raise ConfigError(f"destination {text!r}: unknown parameter {unknown[0]!r}; gsheets:// takes "
                              "?sheet=NAME (or gid=N) and credentials=PATH")
    if not _BOOK_ID.match(book):
        raise ConfigError(f"destination {text!r} names no spreadsheet: write gsheets://SPREADSHEET_ID?sheet=NAME "
                          "(the ID is the part after /d/ in the spreadsheet's address)")
    params = dict(query)
    name, gid = params.get("sheet") or None, params.get("gid") or None
    if name is not None:
        if len(name) > 100:
            raise ConfigError(f"sheet name {name[:40]!r}...: Google Sheets takes at most 100 characters")
        gid = None
    elif gid is not None:
        if not gid.isdigit():
            raise ConfigError(f"destination {text!r}: gid={gid!r} is not a sheet id (digits, as in #gid=0)")
    else:
        name = default_table
    extra: list[tuple[str, str]] = [("gid", gid)] if gid is not None else []
    if params.get("credentials"):
        path = Path(params["credentials"]).expanduser()
        extra.append(("credentials", str(base / path if base is not None and not path.is_absolute() else path)))
    return Destination("gsheets", table=name, server=Server("gsheets", database=book, params=tuple(extra)))


def describe(dest: Destination) -> str:
    assert dest.server is not None
    where = f"sheet={quote(dest.table, safe='')}" if dest.table else f"gid={dest.server.param('gid')}"
    return f"gsheets://{dest.server.database}?{where}"


def check(dest: Destination) -> None:
    """`acflow validate --connect`: the credentials work, the spreadsheet is there and they may edit it
    (a no-op edit: the sheet's title set to itself)."""
    creds = _credentials(dest)
    with SheetsClient(creds.credentials, creds.identity) as api:
        job = _Job(api, dest, creds, [], "replace", 0)
        try:
            props = job.sheets()
            target = job.find(props) or (props[0] if props else None)
            if target is not None:
                api.batch_update(job.book, [sheet_props(target.get("sheetId", 0), title=target["title"])])
        except SheetsFailure as exc:
            raise DestinationError(job.explain(exc)) from None


def _credentials(dest: Destination) -> Any:
    from .google_auth import resolve

    assert dest.server is not None
    return resolve(dest.server.param("credentials"))


# ---- requests of a spreadsheets.batchUpdate ------------------------------------------------------------
def _runs(items: Iterable[tuple[int, int]]) -> Iterator[tuple[int, int, int]]:
    """(source, target) pairs -> (source start, target start, length) of runs where both go up by one."""
    run: list[int] | None = None
    for s, t in items:
        if run is not None and s == run[0] + run[2] and t == run[1] + run[2]:
            run[2] += 1
            continue
        if run is not None:
            yield run[0], run[1], run[2]
        run = [s, t, 1]
    if run is not None:
        yield run[0], run[1], run[2]


def _runs_of(numbers: Iterable[int]) -> Iterator[tuple[int, int]]:
    """Sorted numbers -> (start, length) of runs of consecutive ones."""
    for start, _, n in _runs((k, k) for k in numbers):
        yield start, n


def _blocks(positions: Iterable[int]) -> list[tuple[int, int]]:
    return [(start, start + n) for start, n in _runs_of(sorted(positions))]


# ---- a write ---------------------------------------------------------------------------------------------
def write(rows: Rows, dest: Destination, mode: str, options: WriteOptions) -> int:
    zone = options.zone  # the flow's time zone
    columns = [Column(n, t, zone) for n, t in rows.columns]
    if mode == "merge" and "id" not in [c.name for c in columns]:
        raise DestinationError(f"cannot merge into {describe(dest)}: the rows have no id column; use mode: replace "
                               f"or append; {UNCHANGED}")
    total = rows.count()
    creds = _credentials(dest)
    with SheetsClient(creds.credentials, creds.identity) as api, _Progress(describe(dest), total) as shown:
        job = _Job(api, dest, creds, columns, mode, total, shown)
        try:
            job.run(rows)
        except SheetsFailure as exc:
            raise DestinationError(job.explain(exc)) from None
        finally:
            job.values.warn(describe(dest))
    return total


class _Job:
    """One write: read the sheet's shape, check the limits, build the staging sheet, commit."""

    def __init__(self, api: SheetsClient, dest: Destination, creds: Any, columns: list[Column], mode: str,
                 total: int, progress: Callable[[int], None] | None = None) -> None:
        assert dest.server is not None
        self.api, self.creds, self.columns, self.mode, self.total = api, creds, columns, mode, total
        self.book, self.name, self.gid = dest.server.database or "", dest.table, dest.server.param("gid")
        self.where = describe(dest)
        self.values = Values(columns)
        self.progress = progress or (lambda done: None)
        self.staging: int | None = None
        self.partly = False  # merge's commit was split and its first part applied

    # reading
    def sheets(self) -> list[dict[str, Any]]:
        return [s["properties"] for s in self.api.spreadsheet(self.book, "sheets.properties").get("sheets", [])]

    def find(self, sheets: list[dict[str, Any]]) -> dict[str, Any] | None:
        if self.name is not None:  # Google's titles are unique regardless of case
            return next((s for s in sheets if s["title"].lower() == self.name.lower()), None)
        found = next((s for s in sheets if str(s.get("sheetId", 0)) == self.gid), None)
        if found is None:
            raise DestinationError(f"cannot write {self.where}: the spreadsheet has no sheet with gid {self.gid}; "
                                   "copy the address again with the tab open, or write ?sheet=NAME")
        return found

    def _shape(self, title: str, rows: int, cols: int) -> tuple[list[str], int]:
        """The header row and how many rows from the top hold anything (trailing empty rows are not data)."""
        head, last = self.api.batch_get(self.book, [a1(title, 0, 0, 1, cols), a1(title, rows - 1, 0, rows, cols)])
        if last and last[0]:
            return [str(v) for v in (head[0] if head else [])], rows
        everything = self.api.batch_get(self.book, [quote_title(title)])[0]
        return [str(v) for v in (everything[0] if everything else [])], len(everything)

    def _ids(self, title: str, col: int, used: int) -> dict[str, list[int]]:
        """The sheet's id column: id (as text) -> the rows that hold it."""
        found: dict[str, list[int]] = {}
        if used <= 1:
            return found
        for i, cell in enumerate(self.api.batch_get(self.book, [a1(title, 1, col, used, col + 1)])[0], start=1):
            if cell and cell[0] != "":
                found.setdefault(id_text(cell[0]), []).append(i)
        return found

    # the plan
    def run(self, rows: Rows) -> None:
        sheets = self.sheets()
        target = self.find(sheets)
        title = target["title"] if target else (self.name or "")
        tag = hashlib.sha1(title.lower().encode()).hexdigest()[:8]
        stale = [s for s in sheets if s["title"].startswith(f"{STAGING} {tag} ")]
        others = sum(_cells(s) for s in sheets if s is not target and s not in stale)
        ours = [c.name for c in self.columns]
        header, used = self._read(target) if target is not None and self.mode != "replace" else ([], 0)
        if header and self.total == 0 and not rows.gone and all(n in header for n in ours):
            return  # nothing to add, update or delete
        layout = header + [n for n in ours if n not in header]
        if not self._fits(target, others, layout, header, used):
            assert target is not None
            return self._in_place(rows, target, others)
        staging_title = f"{STAGING} {tag} {os.getpid()}-{secrets.token_hex(3)}"
        taken = {s.get("sheetId", 0) for s in sheets}
        staging = secrets.randbelow(2**31 - 2) + 1
        while staging in taken:
            staging = secrets.randbelow(2**31 - 2) + 1
        self.staging = staging
        try:
            self.api.batch_update(self.book, [{"deleteSheet": {"sheetId": s.get("sheetId", 0)}} for s in stale] + [
                {"addSheet": {"properties": {"sheetId": staging, "title": staging_title, "hidden": True,
                                             "gridProperties": {"rowCount": max(self.total + 1, 2),
                                                                "columnCount": len(layout)}}}}],
                applied=lambda: self._exists(staging))
            position = {n: layout.index(n) for n in ours}
            ids = self._stage(rows, staging_title, layout, position)
            if target is None:
                self._commit_new(title)
            elif self.mode == "replace":
                self._commit_replace(target)
            else:
                self._commit_rows(target, layout, header, used, position, ids, rows.gone)
            self.staging = None
        finally:
            if self.staging is not None:
                self._drop_staging()

    def _read(self, target: dict[str, Any]) -> tuple[list[str], int]:
        """append and merge: the sheet's header and rows in use, which must make sense for the mode."""
        grid = target.get("gridProperties", {})
        header, used = self._shape(target["title"], grid.get("rowCount", 1), grid.get("columnCount", 1))
        while header and header[-1] == "":
            header.pop()
        if used and not header:
            raise DestinationError(f"cannot {self.mode} into {self.where}: its first row is empty but rows "
                                   f"below hold data; use mode: replace, or another sheet; {UNCHANGED}")
        if self.mode == "merge" and header and "id" not in header:
            raise DestinationError(f"cannot merge into {self.where}: its header has no id column; write it "
                                   f"once with mode: replace, or merge into another sheet; {UNCHANGED}")
        return header, used

    def _fits(self, target: dict[str, Any] | None, others: int, layout: list[str], header: list[str],
              used: int) -> bool:
        """Google's limits, checked before any write, with the numbers: the sheet as it will be (refused
        when over), and while the staging copy exists too (False: replace in place instead)."""
        grid = (target or {}).get("gridProperties", {})
        rows = max(used + self.total + (0 if header else 1), 2)  # merge: as if every row were new
        cols = len(layout) if self.mode == "replace" or not header else max(grid.get("columnCount", 0), len(layout))
        if cols > MAX_COLUMNS:
            raise DestinationError(f"cannot write {self.where}: {cols:,} columns; a Google sheet holds at most "
                                   f"{MAX_COLUMNS:,}; select fewer columns (select:) or write to a database; "
                                   f"{UNCHANGED}")
        final = rows * cols
        if others + final > MAX_CELLS:
            held = f" and the spreadsheet's other sheets hold {others:,}" if others else ""
            raise DestinationError(f"cannot write {self.where}: the sheet would be {rows:,} rows x {cols} columns "
                                   f"= {final:,} cells{held}; a spreadsheet holds at most {MAX_CELLS:,} cells; "
                                   f"{ADVICE}; {UNCHANGED}")
        stage = max(self.total + 1, 2) * len(layout)
        peak = others + stage + (max(_cells(target), final) if target is not None else 0)
        if peak <= MAX_CELLS:
            return True
        if self.mode == "replace" and target is not None:
            return False
        raise DestinationError(f"cannot {self.mode} into {self.where}: the new rows need room for a temporary "
                               f"copy ({stage:,} cells) and the spreadsheet would then hold {peak:,} cells, over "
                               f"Google's {MAX_CELLS:,}; {ADVICE}; {UNCHANGED}")

    def _stage(self, rows: Rows, title: str, layout: list[str], position: dict[str, int],
               blanks: bool = False) -> list[str]:
        """Header and rows into the staging sheet, ~2 MB a request; returns the rows' ids (merge).
        `blanks`: write "" for empty values (null would leave an old value in place)."""
        width = len(layout)
        same = layout == [c.name for c in self.columns]
        spots = [position[c.name] for c in self.columns]
        id_at = next((i for i, c in enumerate(self.columns) if c.name == "id"), None)
        ids: list[str] = []

        def encoded() -> Iterator[bytes]:
            yield orjson.dumps(layout)
            select = ", ".join(f"{c.sql} AS {sql_quote(c.name)}" for c in self.columns)
            cur = rows.con.execute(f"SELECT {select} FROM ({rows.query})")
            while batch := cur.fetchmany(5000):
                for raw in batch:
                    row = self.values.fix(raw)
                    if self.mode == "merge" and id_at is not None:
                        ids.append(id_text(row[id_at]))
                    if blanks:
                        row = ["" if v is None else v for v in row]
                    if not same:
                        placed: list[Any] = [None] * width
                        for spot, value in zip(spots, row, strict=True):
                            placed[spot] = value
                        row = placed
                    yield orjson.dumps(row)

        at, chunk, size = 0, [], 0
        for line in encoded():
            if chunk and size + len(line) > CHUNK_BYTES - 64:
                self._send(title, at, width, chunk)
                at, chunk, size = at + len(chunk), [], 0
            chunk.append(line)
            size += len(line) + 1
        if chunk:
            self._send(title, at, width, chunk)
        return ids

    def _send(self, title: str, at: int, width: int, chunk: list[bytes]) -> None:
        body = b'{"majorDimension":"ROWS","values":[' + b",".join(chunk) + b"]}"
        self.api.update(self.book, a1(title, at, 0, at + len(chunk), width), body)
        self.progress(max(at + len(chunk) - 1, 0))

    # committing: one atomic batchUpdate (merge: more when it is large, the staging sheet removed last)
    def _formats(self, sheet: int, rows: int, positions: dict[str, int], reset: bool) -> list[dict[str, Any]]:
        """Bold header; the number formats of time, date and rate columns (replace: the others' cleared)."""
        out = [{"repeatCell": {"range": grid_range(sheet, 0, 1, 0, max(positions.values()) + 1),
                               "cell": {"userEnteredFormat": {"textFormat": {"bold": True}}},
                               "fields": "userEnteredFormat.textFormat.bold"}}]
        spots = sorted((positions[c.name], c.format) for c in self.columns if c.format is not None or reset)
        group: list[tuple[int, Any]] = []
        for spot, number in [*spots, (-1, "end")]:
            if group and (spot != group[-1][0] + 1 or number != group[0][1]):
                c0, first = group[0]
                out.append({"repeatCell": {"range": grid_range(sheet, 1, rows, c0, group[-1][0] + 1),
                                           "cell": {"userEnteredFormat": {"numberFormat": first}} if first else {},
                                           "fields": "userEnteredFormat.numberFormat"}})
                group = []
            group.append((spot, number))
        return out

    def _commit_new(self, title: str) -> None:
        assert self.staging is not None
        staging = self.staging
        rows = max(self.total + 1, 2)
        requests = [sheet_props(staging, title=title, hidden=False, frozen=1),
                    *self._formats(staging, rows, {c.name: i for i, c in enumerate(self.columns)}, False)]
        self.api.batch_update(self.book, requests, applied=lambda: self._named(staging, title))

    def _commit_replace(self, target: dict[str, Any]) -> None:
        assert self.staging is not None
        tid, grid = target.get("sheetId", 0), target.get("gridProperties", {})
        rows, cols = max(self.total + 1, 2), len(self.columns)
        requests = self._resize(tid, grid, rows, cols, 1)
        requests += paste(self.staging, 0, self.total + 1, 0, cols, tid, 0, 0)
        requests += self._formats(tid, rows, {c.name: i for i, c in enumerate(self.columns)}, True)
        self._finish([requests])

    def _commit_rows(self, target: dict[str, Any], layout: list[str], header: list[str], used: int,
                     position: dict[str, int], ids: list[str], gone: Iterable[Any]) -> None:
        assert self.staging is not None
        staging, tid = self.staging, target.get("sheetId", 0)
        grid = target.get("gridProperties", {})
        width, title = len(layout), target["title"]
        updates: list[tuple[int, int]] = []  # (staging row, sheet row)
        fresh: list[int] = []
        where = self._ids(title, layout.index("id"), used) if self.mode == "merge" and header else {}
        for i in range(1, self.total + 1):
            found = where.get(ids[i - 1]) if self.mode == "merge" else None
            if found:
                updates += [(i, r) for r in found]
            else:
                fresh.append(i)
        doomed = sorted({r for g in gone for r in where.get(id_text(g), [])})
        start = used if header else 0
        first = fresh if header else [0, *fresh]  # a sheet without a header gets ours
        rows = max(start + len(first), len(doomed) + 2, 2)
        cols = max(grid.get("columnCount", 1), width) if header else width
        frozen = min(max(grid.get("frozenRowCount", 0), 1), rows - 1)
        requests = self._resize(tid, grid, rows, cols, frozen)
        if header and len(layout) > len(header):  # new columns: their header cells
            requests += paste(staging, 0, 1, len(header), width, tid, 0, len(header))
        blocks = _blocks(position.values())
        for s, t, n in _runs(sorted(updates, key=lambda u: u[1])):
            requests += [p for c0, c1 in blocks for p in paste(staging, s, s + n, c0, c1, tid, t, c0)]
        last: list[dict[str, Any]] = []
        for s, t, n in _runs((s, start + k) for k, s in enumerate(first)):
            last += paste(staging, s, s + n, 0, width, tid, t, 0)
        for r0, n in reversed(list(_runs_of(doomed))):  # bottom up, so the rows above keep their numbers
            last.append({"deleteDimension": {"range": {"sheetId": tid, "dimension": "ROWS", "startIndex": r0,
                                                       "endIndex": r0 + n}}})
        last += self._formats(tid, rows - len(doomed), position, False)
        self._finish(_split(requests, last))

    def _resize(self, sheet: int, grid: dict[str, Any], rows: int, cols: int, frozen: int) -> list[dict[str, Any]]:
        """Shrink first, then grow: Google checks the cell limit after each dimension, so growing rows
        before columns shrink could pass the limit on the way to a size that fits."""
        old_r, old_c = grid.get("rowCount", 1), grid.get("columnCount", 1)
        out = []
        if rows < old_r or cols < old_c:
            out.append(sheet_props(sheet, rows=min(rows, old_r), cols=min(cols, old_c), frozen=0))
        out.append(sheet_props(sheet, rows=rows, cols=cols, frozen=frozen))
        return out

    def _finish(self, batches: list[list[dict[str, Any]]]) -> None:
        assert self.staging is not None
        staging = self.staging
        for i, batch in enumerate(batches):
            if i == len(batches) - 1:
                batch = [*batch, {"deleteSheet": {"sheetId": staging}}]
                self.api.batch_update(self.book, batch, applied=lambda: not self._exists(staging))
            else:
                self.api.batch_update(self.book, batch)  # pastes only: sending one twice is harmless
                self.partly = True

    # the fallback and the clean-up
    def _in_place(self, rows: Rows, target: dict[str, Any], others: int) -> None:
        """Replace with no room for a staging copy: the new rows are written over the old ones from the
        top, then what lies below is removed. Never empty, but readers see new rows above old ones
        until it is done, and a failure leaves them so."""
        tid, grid, title = target.get("sheetId", 0), target.get("gridProperties", {}), target["title"]
        rows_needed, cols = max(self.total + 1, 2), len(self.columns)
        big = max(grid.get("rowCount", 1), rows_needed) * max(grid.get("columnCount", 1), cols)
        if others + big > MAX_CELLS:
            raise DestinationError(f"cannot write {self.where}: no room to write the new rows beside or over the old "
                                   f"ones ({others + big:,} cells, over Google's {MAX_CELLS:,}); empty the sheet first "
                                   f"or write to another sheet; {ADVICE}; {UNCHANGED}")
        log.warning("%s: the spreadsheet has no room for a temporary copy of the rows; writing over the old rows in "
                    "place: readers see new rows above old ones until the write ends", self.where)
        self.api.batch_update(self.book, [sheet_props(tid, rows=max(grid.get("rowCount", 1), rows_needed),
                                                 cols=max(grid.get("columnCount", 1), cols))])
        self.mode = "replace"
        self._stage(rows, title, [c.name for c in self.columns], {c.name: i for i, c in enumerate(self.columns)},
                    blanks=True)
        requests = self._resize(tid, {"rowCount": max(grid.get("rowCount", 1), rows_needed),
                                      "columnCount": max(grid.get("columnCount", 1), cols)}, rows_needed, cols, 1)
        requests += self._formats(tid, rows_needed, {c.name: i for i, c in enumerate(self.columns)}, True)
        self.api.batch_update(self.book, requests)

    def _exists(self, sheet: int) -> bool:
        return any(s.get("sheetId", 0) == sheet for s in self.sheets())

    def _named(self, sheet: int, title: str) -> bool:
        return any(s.get("sheetId", 0) == sheet and s["title"] == title for s in self.sheets())

    def _drop_staging(self) -> None:
        """Best effort: a staging sheet left behind is removed by the next write of this sheet anyway."""
        staging, self.staging = self.staging, None
        try:
            self.api.batch_update(self.book, [{"deleteSheet": {"sheetId": staging}}])
        except Exception as exc:  # the write's own error is what the user needs to see
            log.debug("could not remove the staging sheet %s: %s", staging, type(exc).__name__)

    # failures
    def explain(self, exc: SheetsFailure) -> str:
        """One line: what failed, what to do, and what became of the sheet."""
        who = self.creds.service_account
        said = f" (Google said: {exc.message.splitlines()[0][:200]})" if exc.message else ""
        if exc.status == 0:
            why = ("Google's quota of 60 write requests a minute per user stayed exhausted; run again in a few "
                   "minutes, or ask for a higher quota in Google Cloud Console" if "429" in exc.message else
                   f"Google Sheets did not answer as it should ({exc.message}); try again later")
        elif exc.status == 401:
            why = (f"Google refused the credentials from {self.creds.source}{said}; for a service account create a "
                   "new key, for a user run `acflow auth google` again")
        elif exc.status == 403 and exc.reason == "SERVICE_DISABLED":
            why = ("the Google Sheets API is off in the credentials' Google Cloud project: enable it at "
                   f"https://console.cloud.google.com/apis/library/sheets.googleapis.com{said}")
        elif exc.status == 403:
            why = (f"{who} may not edit this spreadsheet: share it with {who} as Editor" if who else
                   f"{self.creds.identity} may not edit this spreadsheet: ask its owner to share it as Editor")
        elif exc.status == 404:
            why = (f"no spreadsheet with id {self.book}, or it is not shared with {who or self.creds.identity}: copy "
                   "the id from the spreadsheet's address (docs.google.com/spreadsheets/d/ID/edit)")
        else:
            why = f"Google Sheets refused a request ({exc.status} {exc.code}){said}"
        if self.partly:
            return (f"cannot write {self.where}: {why}; some rows were already updated in place, each whole; run "
                    "again to finish (rows are matched by id)")
        return f"cannot write {self.where}: {why}; {UNCHANGED}"


def _split(first: list[dict[str, Any]], last: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The commit as one batch, or, past ~2 MB of requests, the in-place updates in parts first."""
    if len(orjson.dumps(first)) + len(orjson.dumps(last)) <= CHUNK_BYTES:
        return [first + last]
    parts: list[list[dict[str, Any]]] = [[]]
    size = 0
    for request in first:
        line = len(orjson.dumps(request))
        if parts[-1] and size + line > CHUNK_BYTES:
            parts.append([])
            size = 0
        parts[-1].append(request)
        size += line
    return [*parts, last]


def _cells(sheet: dict[str, Any] | None) -> int:
    grid = (sheet or {}).get("gridProperties", {})
    return int(grid.get("rowCount", 0)) * int(grid.get("columnCount", 0))


class _Progress:
    """Rows written so far: a line on a terminal's stderr at most every few seconds (rich's live
    display of the sync shows it above its bars), else a log line per request (shown with --verbose)."""

    EVERY = 3.0  # seconds between two lines on a terminal

    def __init__(self, where: str, total: int) -> None:
        self.where, self.total = where, total
        self.terminal = sys.stderr.isatty()
        self.last = time.monotonic()

    def __enter__(self) -> Callable[[int], None]:
        return self.update

    def update(self, done: int) -> None:
        line = f"{self.where}: {done:,} of {self.total:,} rows written"
        if not self.terminal:
            log.info("%s", line)
        elif time.monotonic() - self.last >= self.EVERY or done >= self.total:
            self.last = time.monotonic()
            print(line, file=sys.stderr, flush=True)

    def __exit__(self, *exc: object) -> None:
        return None
