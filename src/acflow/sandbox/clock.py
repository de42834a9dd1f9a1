"""The account's clock: epoch seconds to the date strings ActiveCampaign sends.

Records are stored as int64 epoch seconds (UTC) and formatted a page at a time
with numpy, because calling ``datetime.fromtimestamp(tz=...)`` per field would
make rendering a million contacts take minutes. The zone's UTC offsets are
looked up in a table of DST transitions built once per zone.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np

DEFAULT_ZONE = "America/Chicago"
USER_ZONE = "Europe/Berlin"  # the admin key's user's own zone (localZoneid), unlike the account's
# Generated data ends here (account-local midnight); mutations use the wall clock.
REFERENCE_DATE = (2026, 1, 1)
ZERO_DATETIME = "0000-00-00 00:00:00"
ZERO_DATE = "0000-00-00"
DAY = 86_400

_SCAN_FROM = int(datetime(1995, 1, 1, tzinfo=UTC).timestamp())
_SCAN_TO = int(datetime(2045, 1, 1, tzinfo=UTC).timestamp())


def _offset(zone: ZoneInfo, t: int) -> int:
    off = datetime.fromtimestamp(t, zone).utcoffset()
    return int(off.total_seconds()) if off is not None else 0


@lru_cache(maxsize=8)
def _transitions(zone_name: str) -> tuple[np.ndarray, np.ndarray]:
    """Start times and offsets of each period with a constant UTC offset."""
    zone = ZoneInfo(zone_name)
    starts, offsets = [_SCAN_FROM], [_offset(zone, _SCAN_FROM)]
    step = DAY // 2  # no zone changes offset twice within 12 hours
    t = _SCAN_FROM
    while t < _SCAN_TO:
        nxt = t + step
        off = _offset(zone, nxt)
        if off != offsets[-1]:
            lo, hi = t, nxt  # offset(lo) is the old one, offset(hi) the new one
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if _offset(zone, mid) == offsets[-1]:
                    lo = mid
                else:
                    hi = mid
            starts.append(hi)
            offsets.append(off)
        t = nxt
    return np.array(starts, dtype=np.int64), np.array(offsets, dtype=np.int64)


def _offset_text(seconds: int) -> str:
    sign = "-" if seconds < 0 else "+"
    minutes = abs(seconds) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


class Clock:
    """Formats and buckets epoch seconds in one account's time zone."""

    def __init__(self, zone: str = DEFAULT_ZONE) -> None:
        self.zone_name = zone
        self.zone = ZoneInfo(zone)
        self._starts, self._offsets = _transitions(zone)
        self._texts = {int(o): _offset_text(int(o)) for o in np.unique(self._offsets)}
        y, m, d = REFERENCE_DATE
        self.reference = int(datetime(y, m, d, tzinfo=self.zone).timestamp())

    def now(self) -> int:
        """Wall-clock seconds, never before the generated data (so new edits sort last)."""
        return max(int(time.time()), self.reference + 1)

    def offsets(self, t: np.ndarray) -> np.ndarray:
        i = np.searchsorted(self._starts, t, side="right") - 1
        return self._offsets[np.clip(i, 0, len(self._offsets) - 1)]

    def local_days(self, t: np.ndarray) -> np.ndarray:
        """Account-local calendar day numbers (days since 1970-01-01), for DAY-granular filters."""
        t = np.asarray(t, dtype=np.int64)
        return (t + self.offsets(t)) // DAY

    def iso(self, t: np.ndarray) -> list[str]:
        """`2024-01-05T10:11:12-06:00`: the account's offset, as cdate/udate carry it."""
        t = np.asarray(t, dtype=np.int64)
        off = self.offsets(t)
        text = np.datetime_as_string((t + off).astype("datetime64[s]")).tolist()
        texts = self._texts
        return [s + texts[o] for s, o in zip(text, off.tolist(), strict=True)]

    def naive(self, t: np.ndarray) -> list[str]:
        """`2024-01-05 10:11:12` in the account's zone (created_timestamp, deal edate)."""
        t = np.asarray(t, dtype=np.int64)
        text = np.datetime_as_string((t + self.offsets(t)).astype("datetime64[s]")).tolist()
        return [s.replace("T", " ") for s in text]

    def dates(self, t: np.ndarray) -> list[str]:
        """`2024-01-05`, the account-local date (bounced_date, rating_tstamp)."""
        t = np.asarray(t, dtype=np.int64)
        return np.datetime_as_string((t + self.offsets(t)).astype("datetime64[s]"), unit="D").tolist()


def parse_day(value: str) -> int | None:
    """`2025-03-10` or `2025-03-10T15:00:00Z` -> day number; the time part is ignored (DAY granularity)."""
    try:
        d = datetime.strptime(value.strip()[:10], "%Y-%m-%d")
    except ValueError:
        return None
    return (d - datetime(1970, 1, 1)).days
