"""The period a report covers, and the weeks or months its charts over time are cut into.

Periods are calendar weeks (Monday) or months in the account's own time zone (the zone the
mirror learnt from its dates), so a campaign sent on the 31st at 23:00 in Chicago counts in
that month, as ActiveCampaign's own screens show it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from ..errors import ConfigError

WEEKLY_UP_TO = timedelta(days=183)  # a window this short or shorter is shown week by week
DEFAULT_SINCE = "365d"


@dataclass(frozen=True)
class Window:
    start: datetime | None  # None: all the history the mirror holds
    end: datetime
    zone: str  # IANA zone of the account: what a day, week and month are in
    grain: str  # "week" | "month"
    since: str  # as the user wrote it

    def where(self, column: str) -> str:
        """SQL: `column` (a timestamp with time zone) falls in the window."""
        upper = f"{column} < TIMESTAMPTZ '{self.end.isoformat()}'"
        return upper if self.start is None else f"{column} >= TIMESTAMPTZ '{self.start.isoformat()}' AND {upper}"

    def local(self, column: str) -> str:
        """SQL: `column` as the account's wall clock (a plain timestamp)."""
        return f"timezone('{self.zone}', {column})"

    def period(self, column: str) -> str:
        """SQL: the first day of the week or month `column` falls in, in the account's zone."""
        return f"CAST(date_trunc('{self.grain}', {self.local(column)}) AS DATE)"

    def periods(self, first: str) -> str:
        """SQL: every period from the one of `first` (an SQL timestamp with time zone, e.g. the
        earliest row's; the window's start when it has one) to the window's end, one row each."""
        begin = f"TIMESTAMPTZ '{self.start.isoformat()}'" if self.start is not None else first
        end = f"TIMESTAMPTZ '{self.end.isoformat()}'"
        return (f"SELECT CAST(p AS DATE) AS period FROM range(date_trunc('{self.grain}', {self.local(begin)}), "
                f"date_trunc('{self.grain}', {self.local(end)}) + INTERVAL 1 {self.grain}, "
                f"INTERVAL 1 {self.grain}) AS t(p)")

    def words(self) -> str:
        """The window for a sentence: 'from 2025-09-04 to 2025-12-03' or 'up to 2025-12-03'."""
        end = (self.end - timedelta(microseconds=1)).date().isoformat()
        if self.start is None:
            return f"all history up to {end}"
        return f"from {self.start.date().isoformat()} to {end}"


_SPAN = re.compile(r"^(\d+)([dw])$")


def parse_since(text: str | None, zone: str, now: datetime | None = None) -> Window:
    """`90d`, `12w`, a date (`2025-01-01`) or `all` -> the Window from then until now."""
    end = (now or datetime.now(UTC)).astimezone(UTC)
    raw = (text or DEFAULT_SINCE).strip().lower()
    start: datetime | None
    if raw == "all":
        start = None
    elif m := _SPAN.match(raw):
        n = int(m.group(1))
        if n <= 0:
            raise ConfigError(f"--since {text!r} must be longer than 0 days")
        start = end - timedelta(days=n * (7 if m.group(2) == "w" else 1))
    else:
        try:
            day = date.fromisoformat(raw)
        except ValueError:
            raise ConfigError(f"--since {text!r} is not a period: write a number of days or weeks (90d, 12w), "
                              "a date (2025-01-01) or all") from None
        start = datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(zone)).astimezone(UTC)
        if start >= end:
            raise ConfigError(f"--since {text!r} is not in the past")
    grain = "week" if start is not None and end - start <= WEEKLY_UP_TO else "month"
    return Window(start, end, zone, grain, raw)
