"""The account's time zone, learnt from the account's own dates.

ActiveCampaign writes every date of an account in the account's zone: ISO dates
carry its offset (`-05:00` in a Chicago summer, `-06:00` in its winter) and the
naive fields (`created_timestamp`, deal `edate`, ...) show the same local clock
(catalog.TWINS). The API user's `localZoneid` is only that user's preference and
can be any zone, so it is a last guess, never the answer.

Each ISO date is one piece of evidence: at that instant the account's offset was
this. The zones that agree with every piece are the candidates; the zone used is
the best-known of them (the user's own zone if it agrees, the zone kept from
earlier syncs, then a short list of common zones). Evidence is gathered from
every batch before its naive values are read, and what it left is kept per
account in the mirror, so later syncs and naive-only entities start right.
"""

from __future__ import annotations

import dataclasses
import functools
import threading
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

# Tie-breaks among zones that agree with every date seen: the ones accounts are most often in.
COMMON = (
    "UTC", "America/New_York", "America/Chicago", "America/Denver", "America/Phoenix",
    "America/Los_Angeles", "America/Anchorage", "Pacific/Honolulu", "America/Toronto",
    "America/Vancouver", "America/Halifax", "America/St_Johns", "America/Mexico_City",
    "America/Bogota", "America/Lima", "America/Santiago", "America/Sao_Paulo",
    "America/Argentina/Buenos_Aires", "Europe/London", "Europe/Dublin", "Europe/Lisbon",
    "Europe/Berlin", "Europe/Paris", "Europe/Madrid", "Europe/Rome", "Europe/Amsterdam",
    "Europe/Warsaw", "Europe/Athens", "Europe/Helsinki", "Europe/Istanbul", "Europe/Moscow",
    "Africa/Lagos", "Africa/Johannesburg", "Africa/Cairo", "Africa/Nairobi", "Asia/Jerusalem",
    "Asia/Dubai", "Asia/Karachi", "Asia/Kolkata", "Asia/Dhaka", "Asia/Bangkok", "Asia/Jakarta",
    "Asia/Singapore", "Asia/Shanghai", "Asia/Hong_Kong", "Asia/Manila", "Asia/Tokyo",
    "Asia/Seoul", "Australia/Perth", "Australia/Darwin", "Australia/Adelaide",
    "Australia/Brisbane", "Australia/Sydney", "Australia/Melbourne", "Pacific/Auckland",
)
_REGIONS = ("Africa/", "America/", "Antarctica/", "Asia/", "Atlantic/", "Australia/", "Europe/",
            "Indian/", "Pacific/")
_ISO_WITH_OFFSET = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$"
DAY = 86_400
BUCKET = 7 * DAY  # one piece of evidence per offset and week: a year of dates costs ~100 checks, not ~700
SETTLED, SETTLED_EVERY = 100, 8
SAMPLE = 200  # dates looked at per column and batch: evidence enough, at a tenth of a batch's typing time


def valid(name: str) -> bool:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
        return False
    return True


@functools.cache
def _all_zones() -> tuple[str, ...]:
    return tuple(sorted(z for z in zoneinfo.available_timezones()
                        if z not in ("Factory", "localtime", "posixrules") and valid(z)))


@functools.cache
def _zone(name: str) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(name)


def offset_at(name: str, epoch: int) -> int:
    """The zone's UTC offset in seconds at that instant."""
    off = datetime.fromtimestamp(epoch, _zone(name)).utcoffset()
    return int(off.total_seconds()) if off is not None else 0


def _rank(name: str) -> tuple[int, int, str]:
    if name in COMMON:
        return 0, COMMON.index(name), name
    return (1 if name.startswith(_REGIONS) else 2), 0, name


def offsets_in(values: pa.Array) -> list[tuple[int, int]]:
    """(epoch seconds, offset seconds) of the ISO dates with an offset among `values`: one per
    offset and week (a week with a daylight-saving change gives one per side of it), so a batch of
    thousands of records gives a few dozen to check."""
    if not pa.types.is_string(values.type) or values.null_count == len(values):
        return []
    iso = values.filter(pc.fill_null(pc.match_substring_regex(values, _ISO_WITH_OFFSET), False))
    if not len(iso):
        return []
    utc = pc.strptime(iso, format="%Y-%m-%dT%H:%M:%S%z", unit="s", error_is_null=True)
    local = pc.strptime(pc.utf8_slice_codeunits(iso, 0, 19), format="%Y-%m-%dT%H:%M:%S", unit="s",
                        error_is_null=True)
    epoch = pc.cast(pc.cast(utc, pa.timestamp("s")), pa.int64())
    offset = pc.subtract(pc.cast(local, pa.int64()), epoch)
    table = pa.table({"t": epoch, "o": offset, "d": pc.divide(epoch, BUCKET)}).drop_null()
    grouped = table.group_by(["o", "d"]).aggregate([("t", "min")])
    return list(zip(grouped.column("t_min").to_pylist(), grouped.column("o").to_pylist(), strict=True))


@dataclass
class Evidence:
    """What the dates seen so far leave: kept per account in the mirror between syncs."""

    candidates: tuple[str, ...] = ()  # zones agreeing with every date seen; () = nothing seen yet
    dates: int = 0  # distinct (offset, week) pieces of evidence
    offsets: tuple[int, ...] = ()  # distinct offsets seen, in seconds
    first: datetime | None = None
    last: datetime | None = None
    unexplained: int = 0  # dates no zone agreeing with the others explains (the account's zone changed?)

    def to_json(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "first": self.first and self.first.isoformat(),
                "last": self.last and self.last.isoformat()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Evidence:
        """What to_json gave, as the mirror kept it (lists for tuples); unknown keys are ignored."""
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        for key in ("candidates", "offsets"):
            known[key] = tuple(known.get(key) or ())
        for key in ("first", "last"):
            known[key] = datetime.fromisoformat(known[key]) if known.get(key) else None
        return cls(**known)


def _fmt_offset(seconds: int) -> str:
    sign = "-" if seconds < 0 else "+"
    h, m = divmod(abs(seconds) // 60, 60)
    return f"{sign}{h:02d}:{m:02d}"


@dataclass
class AccountZone:
    """The zone naive timestamps of one account are read in, and why.

    `override` is the user's word (acflow.yaml `timezone:`, `--account-timezone`); `stored` and
    `stored_zone` what earlier syncs learnt and chose; `user_zone` the API user's `localZoneid`
    (anything, checked here), a guess of last resort. Typing threads call observe() with each
    batch's raw dates before reading its naive ones."""

    override: str | None = None
    stored: Evidence | None = None
    stored_zone: str | None = None
    user_zone: Any = None
    evidence: Evidence = field(default_factory=Evidence)
    _seen: set[tuple[int, int]] = field(default_factory=set, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _disagree: int = 0  # dates whose offset the overriding zone does not have
    _calls: int = 0

    def __post_init__(self) -> None:
        if self.user_zone is not None and not valid(self.user_zone):
            self.user_zone = None
        if self.stored is not None and self.stored.candidates:
            self.evidence = dataclasses.replace(self.stored)

    @property
    def learnt(self) -> bool:
        return bool(self.evidence.candidates)

    def observe(self, *columns: pa.Array | Iterable[Any]) -> None:
        """Take the ISO dates among these raw values (a sample of each column) as evidence. Once
        the dates have settled the zone (SETTLED pieces of evidence), one batch in
        SETTLED_EVERY is looked at: still enough to notice dates that disagree."""
        self._calls += 1
        if self._calls % SETTLED_EVERY and self.evidence.dates >= SETTLED:
            return
        arrays = []
        for values in columns:
            arr = values if isinstance(values, pa.Array) else _strings(values)
            if arr is None or not pa.types.is_string(arr.type):
                continue
            if len(arr) > SAMPLE:  # spread over the batch: its oldest and newest records too
                step = len(arr) / SAMPLE
                arr = arr.take(pa.array([int(i * step) for i in range(SAMPLE)] + [len(arr) - 1]))
            arrays.append(arr.cast(pa.string()))
        if not arrays:
            return
        pieces = [p for p in offsets_in(pa.concat_arrays(arrays)) if p not in self._seen]
        if pieces:
            with self._lock:
                for piece in pieces:
                    self._add(*piece)

    def _add(self, epoch: int, offset: int) -> None:
        if (epoch, offset) in self._seen:
            return
        self._seen.add((epoch, offset))
        ev = self.evidence
        if self.override and offset_at(self.override, epoch) != offset:
            self._disagree += 1
        pool = ev.candidates or _all_zones()
        kept = tuple(z for z in pool if offset_at(z, epoch) == offset)
        if not kept:  # no zone explains this date with the others: keep what the others say
            ev.unexplained += 1
            return
        when = datetime.fromtimestamp(epoch, UTC)
        ev.candidates = kept
        ev.dates += 1
        ev.offsets = tuple(sorted({*ev.offsets, offset}))
        ev.first = min(ev.first, when) if ev.first else when
        ev.last = max(ev.last, when) if ev.last else when

    @property
    def learnt_zone(self) -> str | None:
        """The zone the dates say, whatever the override: the earlier choice or the user's zone
        where they fit, else the best-known zone that does; None before any date."""
        candidates = self.evidence.candidates
        if not candidates:
            return None
        for preferred in (self.stored_zone, self.user_zone):
            if preferred in candidates:
                return preferred
        return min(candidates, key=_rank)

    @property
    def zone(self) -> str:
        return self.override or self.learnt_zone or self.stored_zone or self.user_zone or "UTC"

    @property
    def source(self) -> str:
        if self.override:
            return "set"
        if self.learnt:
            return "learnt"
        return "guessed"

    def confidence(self) -> str:
        """`set` (the user's word), `sure` (every zone that fits the dates seen gives the same
        offsets for the last two years and the dates' span), `likely` (they differ outside the
        dates seen), `guess` (no dates seen yet)."""
        if self.override:
            return "set"
        if not self.learnt:
            return "guess"
        zone, ev = self.zone, self.evidence
        now = datetime.now(UTC)
        start = min(ev.first or now, now - timedelta(days=730))
        end = max(ev.last or now, now)
        points = range(int(start.timestamp()), int(end.timestamp()) + DAY, 14 * DAY)
        mine = [offset_at(zone, t) for t in points]
        same = all([offset_at(z, t) for t in points] == mine for z in ev.candidates)
        return "sure" if same else "likely"

    def note(self) -> str | None:
        """One line for the summary where the zone in use deserves a word, else None."""
        ev = self.evidence
        if self.override and self._disagree:
            return (f"{self._disagree} dates carry offsets {self.override} does not have at their time; "
                    f"the dates suggest {self.learnt_zone or 'nothing yet'}: check timezone: for this account")
        if self.override:
            return None
        if not self.learnt:
            return (f"no dated records seen yet: naive times read in {self.zone} (the API user's zone, a "
                    "guess); set timezone: for this account if it is another")
        parts = []
        if self.confidence() == "likely":
            others = [z for z in ev.candidates if z != self.zone][:3]
            parts.append(f"offsets {', '.join(_fmt_offset(o) for o in ev.offsets)} also fit "
                         f"{', '.join(others)}: set timezone: if the account is in one of those")
        if self.user_zone and self.user_zone not in ev.candidates:
            parts.append(f"the API user's own zone {self.user_zone} is not the account's (ignored)")
        if ev.unexplained:
            parts.append(f"{ev.unexplained} dates fit no single zone with the others (did the account's "
                         "zone change?)")
        return "; ".join(parts) or None

    def report(self) -> dict[str, Any]:
        ev = self.evidence
        return {
            "zone": self.zone, "source": self.source, "confidence": self.confidence(),
            "offsets": [_fmt_offset(o) for o in ev.offsets], "dates_seen": ev.dates,
            "candidates": len(ev.candidates), "user_zone": self.user_zone, "note": self.note(),
        }


def _strings(values: Iterable[Any]) -> pa.Array | None:
    texts = [v for v in values if isinstance(v, str)]
    return pa.array(texts, type=pa.string()) if texts else None
