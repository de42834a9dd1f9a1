"""A stand-in for the Google Sheets API v4 and Google's OAuth 2.0 token endpoint, on loopback.

Google's API cannot be reached from the test machines, so acflow's Sheets destination is tested
against this server. It models only what acflow calls, but models it as Google documents it:

- spreadsheets.get (with `fields` masks; sheet properties leave out hidden false and frozenRowCount 0)
- spreadsheets.batchUpdate, applied atomically: addSheet, deleteSheet, updateSheetProperties
  (rowCount applied and checked before columnCount), appendDimension, insertDimension,
  deleteDimension, updateCells, repeatCell, copyPaste (PASTE_NORMAL / PASTE_VALUES / PASTE_FORMAT)
- values.get, values.batchGet (valueRenderOption, majorDimension; trailing empties left out),
  values.update, values.batchUpdate, values.append (INSERT_ROWS / OVERWRITE), values.clear;
  valueInputOption RAW stores text as text, USER_ENTERED parses it as typed (=1+1 runs,
  00123 becomes 123, 2024-01-15 becomes a date); null in `values` skips a cell
- limits and their errors: 10,000,000 cells per spreadsheet, 18,278 columns per sheet, 50,000
  characters per cell, 10 MiB per request, "exceeds grid limits" for writes past the grid, a frozen
  row count below the row count, not deleting every row or every visible sheet
- OAuth 2.0: a service account's RS256 JWT (jwt-bearer grant) checked against its public key,
  refresh_token and authorization_code (PKCE S256) grants, an auto-approving consent page;
  401 UNAUTHENTICATED for a missing, wrong or expired access token
- sharing: 404 NOT_FOUND for an unknown spreadsheet, 403 PERMISSION_DENIED "The caller does not have
  permission" for one not shared (or shared read-only, on a write); SERVICE_DISABLED when the API
  is off in the project
- quotas per sliding minute: 60 read and 60 write requests per user, 300 per project; over them,
  429 RESOURCE_EXHAUSTED with Google's body (ErrorInfo RATE_LIMIT_EXCEEDED, quota_limit
  WriteRequestsPerMinutePerUser...) and no Retry-After header, as Google answers

Sources, checked while writing it:
- The discovery document, googleapis/google-api-python-client
  googleapiclient/discovery_cache/documents/sheets.v4.json: methods, paths (flatPath), parameters,
  ValueRange ("Null values will be skipped"; "For output, empty trailing rows and columns will not
  be included"), batchUpdate's atomicity, the response shapes.
- https://developers.google.com/sheets/api/limits: 300 read / 300 write requests per minute per
  project, 60 per minute per user per project, 429 "Too many requests" and exponential backoff,
  "we recommend a 2 MB maximum payload".
- CopyPasteRequest.destination (Google's generated reference, e.g. googleapis.dev/dotnet
  Google.Apis.Sheets.v4.Data.CopyPasteRequest): "If the range covers a span that's a multiple of
  the source's height or width, then the data will be repeated ... If the range is smaller than
  the source range, the entire source data will still be copied".
- Google's error texts as quoted in public bug reports: "This action would increase the number of
  cells in the workbook above the limit of 10000000 cells." (pygsheets #589, gspread #950), the
  429 body with ErrorInfo metadata (n8n #16750, Sage-Bionetworks/data_curator #110), "Invalid
  data[4]: Your input contains more than the maximum of 50000 characters in a single cell."
  (auto-archiver logs), "Range (Solar!Y1) exceeds grid limits. Max rows: 981, max columns: 24"
  (home-assistant #104198), "Request payload size exceeds the limit: 10485760 bytes."
  (psgsuite #62), rowCount applied before the cell check (gspread-dataframe #37/#38).
Not verified against Google (no account here): the column-limit message text, whether
PASTE_VALUES of a blank cell clears the destination (modelled: it does; acflow clears first
anyway), and the exact texts of "You can't freeze all visible rows" style refusals.

    with SheetsStandIn() as api:
        key = api.service_account()            # a service-account JSON, its token_uri the stand-in
        book = api.create(editors=[key["client_email"]])
        ... write with ACFLOW_SHEETS_ENDPOINT=api.url ...
        api.values(book, "Deals")              # what a reader would see (UNFORMATTED_VALUE)
        api.fail(503, method="values.update")  # the next values.update fails once
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from typing import Any

from .model import Formula, Sheet, Spreadsheet, parse_range, read_values
from .server import Fault, Quota, Runner

__all__ = ["Fault", "Formula", "SheetsStandIn"]


class SheetsStandIn:
    """The Sheets API v4 stand-in on a free loopback port (a thread of its own)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._runner = Runner(host, port)

    def __enter__(self) -> SheetsStandIn:
        self._runner.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._runner.stop()

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        return self._runner.call(fn, *args, **kwargs)

    @property
    def url(self) -> str:
        """The API root (what ACFLOW_SHEETS_ENDPOINT takes): http://127.0.0.1:PORT."""
        return self._runner.server.url

    @property
    def token_url(self) -> str:
        return f"{self.url}/token"

    # ---- credentials ------------------------------------------------------------------------------
    def service_account(self, email: str = "acflow-writer@standin-project.iam.gserviceaccount.com") -> dict[str, Any]:
        """A new service account's key file (JSON, as Google Cloud Console downloads it)."""
        return dict(self._call(self._runner.server.new_service_account, email))

    def oauth_client(self) -> dict[str, Any]:
        """A "Desktop app" OAuth client's JSON (client_secret_....json), its endpoints the stand-in."""
        client_id = f"{secrets.randbelow(10**12)}-standin.apps.googleusercontent.com"
        secret = "GOCSPX-" + secrets.token_urlsafe(20)
        self._call(self._runner.server.clients.__setitem__, client_id, secret)
        return {"installed": {"client_id": client_id, "project_id": "standin-project",
                              "auth_uri": f"{self.url}/o/oauth2/auth", "token_uri": self.token_url,
                              "client_secret": secret, "redirect_uris": ["http://localhost"]}}

    @property
    def user_email(self) -> str:
        """Who signs in on the consent page (the principal of user tokens)."""
        return self._runner.server.user_email

    def token(self, principal: str) -> str:
        """An access token for `principal`, as if it had signed in (a test's own reader)."""
        return str(self._call(self._runner.server.mint, principal))

    def expire_tokens(self) -> None:
        """Every access token given so far stops working (clients must refresh)."""
        self._call(lambda: self._runner.server.tokens.clear())

    # ---- spreadsheets ------------------------------------------------------------------------------
    def create(self, book_id: str | None = None, title: str = "acflow test",
               sheets: Sequence[str | tuple[str, int, int]] = ("Sheet1",), editors: Iterable[str] = (),
               viewers: Iterable[str] = (), time_zone: str = "Etc/GMT") -> str:
        """A spreadsheet with these sheets (title, or (title, rows, columns)); returns its id."""
        book_id = book_id or "1" + secrets.token_urlsafe(32).replace("-", "x").replace("_", "y")[:43]

        def make() -> str:
            book = Spreadsheet(book_id, title, time_zone)
            for s in sheets:
                name, rows, cols = (s, 1000, 26) if isinstance(s, str) else s
                book.add_sheet(name, rows, cols)
            book.editors.update(editors)
            book.viewers.update(viewers)
            self._runner.server.books[book_id] = book
            return book_id
        return str(self._call(make))

    def share(self, book_id: str, principal: str, role: str = "writer") -> None:
        def do() -> None:
            book = self._runner.server.books[book_id]
            (book.editors if role == "writer" else book.viewers).add(principal)
        self._call(do)

    def book(self, book_id: str) -> Spreadsheet:
        """The spreadsheet itself (read it from tests only while no request runs)."""
        return self._runner.server.books[book_id]

    def put(self, book_id: str, sheet: str, rows: list[list[Any]], at: str = "A1") -> None:
        """Cells as a user would have left them (values stored as given; the grid grown to hold them,
        as a user inserting rows or columns would)."""
        def do() -> None:
            book = self.book(book_id)
            target = book.sheet_named(sheet)
            assert target is not None, f"no sheet {sheet!r}"
            ref = parse_range(book, f"{_quote(sheet)}!A1:{at}")
            r0, c0 = ref.rows_end() - 1, ref.cols_end() - 1
            target.rows = max(target.rows, r0 + len(rows))
            target.cols = max(target.cols, c0 + max((len(r) for r in rows), default=0))
            for i, row in enumerate(rows):
                for j, value in enumerate(row):
                    target.put(r0 + i, c0 + j, value)
        self._call(do)

    def values(self, book_id: str, sheet: str, render: str = "UNFORMATTED_VALUE") -> list[list[Any]]:
        """What values.get answers for the whole sheet."""
        return list(self._call(lambda: read_values(parse_range(self.book(book_id), _quote(sheet)), render)))

    def cell(self, book_id: str, a1: str) -> Any:
        """The stored value of one cell: str (text), int/float, bool, Formula, or None."""
        def do() -> Any:
            area = parse_range(self.book(book_id), a1)
            return area.sheet.get(area.r0, area.c0)
        return self._call(do)

    def number_format(self, book_id: str, a1: str) -> dict[str, Any] | None:
        def do() -> Any:
            area = parse_range(self.book(book_id), a1)
            return area.sheet.format_of(area.r0, area.c0, "userEnteredFormat.numberFormat")
        return self._call(do)

    def sheets(self, book_id: str) -> list[Sheet]:
        return list(self._call(lambda: [s.clone() for s in self.book(book_id).sheets]))

    def sheet(self, book_id: str, title: str) -> Sheet:
        found = next((s for s in self.sheets(book_id) if s.title == title), None)
        assert found is not None, f"no sheet {title!r}"
        return found

    # ---- behaviour ---------------------------------------------------------------------------------
    def fail(self, kind: str | int, nth: int = 1, times: int = 1, method: str | None = None,
             delay: float = 0.0) -> None:
        """See Fault: e.g. fail(503, nth=3, method="values.update"), fail("drop", method=
        "spreadsheets.batchUpdate"), fail("slow", delay=2)."""
        self._call(self._runner.server.faults.append, Fault(str(kind), nth, times, method, delay))

    def clear_faults(self) -> None:
        self._call(lambda: self._runner.server.faults.clear())

    def set_latency(self, seconds: float) -> None:
        """Every API request is answered this much later (a reader's too)."""
        self._call(setattr, self._runner.server, "latency", seconds)

    def set_quota(self, writes: int | None = 60, reads: int | None = 60, project: int | None = 300,
                  window: float = 60.0, retry_after: float | None = None) -> None:
        """Requests per user per `window` seconds (None: no limit); Google's are 60 and 300 a minute."""
        def do() -> None:
            server = self._runner.server
            server.writes, server.reads = Quota(writes, project, window), Quota(reads, project, window)
            server.retry_after = retry_after
        self._call(do)

    def set_api_enabled(self, enabled: bool) -> None:
        self._call(setattr, self._runner.server, "api_enabled", enabled)

    def stats(self) -> dict[str, Any]:
        return dict(self._call(self._runner.server.stats.to_dict))

    def reset(self) -> None:
        """No spreadsheets, faults, latency or quota use; Google's quotas; stats zeroed (accounts kept)."""
        self._call(self._runner.server.reset)


def _quote(title: str) -> str:
    return "'" + title.replace("'", "''") + "'"
