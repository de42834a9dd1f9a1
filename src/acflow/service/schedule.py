"""The `schedule:` block of acflow.yaml: when a flow runs, in words, and as an APScheduler trigger.

Schedules are written on the wall clock of a time zone (Coupler's way: every 30m, Mon–Fri, 08:00–18:00).
Each is compiled to cron-like rules over a calendar without daylight saving, and `LocalTimeTrigger` maps
that calendar's ticks to real instants. That one mapping decides the change days, because APScheduler
3.11 alone runs a daily 02:30 twice on a fall-back night:

- a time the clock skips (02:30 on a spring-forward night) runs once, when the clock resumes (03:00);
- a time the clock shows twice (02:30 on a fall-back night) runs once, the first time, for clock times
  (`at:`, `every: 1d`/`1w`, a cron with a fixed hour); `every: 30m`/`2h` (and a cron whose hour is `*`)
  runs at each real tick, so its runs stay 30 real minutes apart through the repeated hour;
- no two runs are ever at the same instant.

APScheduler is imported only by the functions that need it: config validation reads this module.
"""

from __future__ import annotations

import functools
import re
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, WrapValidator, field_validator, model_validator

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # index = datetime.weekday()
DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
MAX_DAY = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)  # Feb 29: a cron has no year, so leap years count
# `every:` must divide the hour, the day or the week evenly, so its runs fall on the same clock times every
# hour and every day (every 45m would drift through the hour; every 5h through the day). 5m is the floor:
# a run reads the API, and faster than that it would overlap itself.
EVERY = ("5m", "10m", "15m", "20m", "30m", "1h", "2h", "3h", "4h", "6h", "8h", "12h", "1d", "1w")
ALLOWED = ", ".join(EVERY)
_UNITS = {"m": 1, "min": 1, "mins": 1, "minute": 1, "minutes": 1, "h": 60, "hr": 60, "hrs": 60, "hour": 60,
          "hours": 60, "d": 1440, "day": 1440, "days": 1440, "w": 10080, "wk": 10080, "week": 10080,
          "weeks": 10080}
_WORDS = {"hourly": "1h", "daily": "1d", "weekly": "1w"}
_MACROS = {"@hourly": "0 * * * *", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@weekly": "0 0 * * 0",
           "@monthly": "0 0 1 * *", "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *"}
_OFF = ("off", "never", "none", "no", "false", "")
_TIME = re.compile(r"^(\d{1,2})(?::(\d{2}))?\s*(am|pm)?$")
_SHORTHAND = ('write schedule: "every 30m", "every 1d at 07:30", "every 2h on mon-fri between 08:00-18:00 '
              'in Europe/Berlin", or a mapping like {every: 1d, at: "07:30"}')


def _minutes(value: Any, what: str) -> int:
    """A clock time as minutes after midnight. YAML 1.1 reads an unquoted 7:30 as the number 450 (base 60)."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(f'{what} must be a time like "07:30"')
    if isinstance(value, int):
        if 60 <= value < 1440:  # what YAML made of H:MM
            return value
        raise ValueError(f'{value} is not a time: write it in quotes on the 24-hour clock, like "07:30"')
    match = _TIME.match(value.strip().lower())
    if not match or (match[2] is None and match[3] is None):
        raise ValueError(f'{value[:40]!r} is not a time: write HH:MM on the 24-hour clock, like "07:30"')
    hour, minute = int(match[1]), int(match[2] or 0)
    if match[3]:
        if not 1 <= hour <= 12:
            raise ValueError(f"{value[:40]!r} is not a time: with am/pm the hour is 1-12; or write 24-hour HH:MM")
        hour = hour % 12 + (12 if match[3] == "pm" else 0)
    if hour > 23 or minute > 59:
        raise ValueError(f'{value[:40]!r} is not a time: write HH:MM from 00:00 to 23:59, like "07:30"')
    return hour * 60 + minute


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _day(token: str) -> int:
    word = token.strip().lower()
    for i, name in enumerate(DAY_NAMES):
        if len(word) >= 3 and name.lower().startswith(word):
            return i
    if word in ("tues", "weds", "thur", "thurs"):
        return DAYS.index(word[:3])
    raise ValueError(f"{token.strip()[:20]!r} is not a day: write mon, tue, wed, thu, fri, sat, sun, a range "
                     "like mon-fri, or weekdays / weekends")


def _days(value: Any) -> tuple[int, ...]:
    items = value if isinstance(value, (list, tuple)) else [value]
    found: set[int] = set()
    for item in items:
        if not isinstance(item, str):
            raise ValueError(f"{item!r} is not a day: write day names like [mon, wed, fri] or a range like "
                             "mon-fri (not numbers)")
        for part in item.split(","):
            word = part.strip().lower()
            if word in ("weekdays", "workdays"):
                found.update(range(5))
            elif word in ("weekends", "weekend"):
                found.update((5, 6))
            elif word in ("daily", "all", "every day", "everyday", "*"):
                found.update(range(7))
            elif "-" in word or "–" in word:
                first, _, last = word.replace("–", "-").partition("-")
                a, b = _day(first), _day(last)
                found.update(i % 7 for i in range(a, b + (7 if b < a else 0) + 1))  # fri-mon wraps the week
            else:
                found.add(_day(part))
    return tuple(sorted(found))


def _zone(name: str) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(name)


class ScheduleSpec(BaseModel):
    """One `schedule:` block, in canonical form (every "30m", days ("mon", ...), at ("07:30",))."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    every: str | None = None
    days: tuple[str, ...] | None = None
    between: str | None = None
    at: tuple[str, ...] | None = None
    timezone: str = "UTC"  # not the machine's zone: a schedule means the same on a laptop and a server
    cron: str | None = None
    off: bool = False

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if value is None or value is False or (isinstance(value, str) and value.strip().lower() in _OFF):
            return {"off": True}
        if value is True:
            raise ValueError('write schedule: off, or a schedule like {every: 1d, at: "07:30"}')
        if isinstance(value, str):
            value = _parse_shorthand(value)
        if isinstance(value, dict) and value.get("every") is None and value.get("cron") is None \
                and value.get("at") is not None and not value.get("off"):
            value = {**value, "every": "1d"}  # `at: "07:30"` alone is daily
        return value

    @field_validator("every", mode="before")
    @classmethod
    def _every(cls, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise ValueError(f"write an interval: one of {ALLOWED}")
        if isinstance(value, int):
            raise ValueError(f"{value} needs a unit: write {value}m (minutes) or {value}h (hours); allowed: "
                             f"{ALLOWED}")
        text = value.strip().lower()
        if text in _WORDS:
            return _WORDS[text]
        match = re.fullmatch(r"(\d{1,6})\s*([a-z]+)", text)
        if not match or match[2] not in _UNITS:
            raise ValueError(f"{value[:30]!r} is not an interval: write one of {ALLOWED}")
        total = int(match[1]) * _UNITS[match[2]]
        canonical = (f"{total // 10080}w" if total % 10080 == 0 else f"{total // 1440}d" if total % 1440 == 0
                     else f"{total // 60}h" if total % 60 == 0 else f"{total}m")
        if canonical in EVERY:
            return canonical
        if 0 < total < 5:
            raise ValueError(f"{value} is too often: a run reads the API and takes a while; write 5m or more "
                             f"(allowed: {ALLOWED})")
        raise ValueError(f"{value} does not divide the hour, day or week evenly, so its runs would fall at "
                         f"different clock times; write one of {ALLOWED}, or cron: for other times")

    @field_validator("days", mode="before")
    @classmethod
    def _days(cls, value: Any) -> Any:
        return None if value is None else tuple(DAYS[i] for i in _days(value))

    @field_validator("at", mode="before")
    @classmethod
    def _at(cls, value: Any) -> Any:
        if value is None:
            return None
        items = value.split(",") if isinstance(value, str) else value if isinstance(value, (list, tuple)) \
            else [value]
        if not items:
            raise ValueError('write a time like "07:30", or a list like ["07:30", "13:30"]')
        return tuple(_hhmm(m) for m in sorted({_minutes(item, "at") for item in items}))

    @field_validator("between", mode="before")
    @classmethod
    def _between(cls, value: Any) -> Any:
        if value is None:
            return None
        text = value.replace("–", "-").replace(" to ", "-") if isinstance(value, str) else ""
        parts = text.split("-")
        if len(parts) != 2:
            raise ValueError('write a window like "08:00-18:00" (from-to on the 24-hour clock)')
        start = _minutes(parts[0], "between")
        end = 1440 if parts[1].strip() == "24:00" else _minutes(parts[1], "between")
        if start == end:
            raise ValueError(f"{value!r} is an empty window: write from-to, like \"08:00-18:00\"")
        return f"{_hhmm(start)}-{'24:00' if end == 1440 else _hhmm(end)}"

    @field_validator("timezone", mode="before")
    @classmethod
    def _timezone(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().upper() in ("UTC", "Z", "GMT", "ETC/UTC"):
            return "UTC"
        try:
            _zone(value.strip())
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError, AttributeError):
            raise ValueError(f"unknown time zone {str(value)[:60]!r}: write an IANA name like Europe/Berlin or "
                             "America/New_York, or leave timezone: out for UTC") from None
        return value.strip()

    @field_validator("cron", mode="before")
    @classmethod
    def _cron(cls, value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, str):
            raise ValueError('write cron in quotes, 5 fields: minute hour day month weekday, like "0 6 * * 1-5"')
        text = " ".join(value.split())
        _cron_fields(_MACROS.get(text.lower(), text))  # raises with the field to fix
        return text

    @model_validator(mode="after")
    def _consistent(self) -> ScheduleSpec:
        given = [name for name in ("every", "days", "between", "at", "cron") if getattr(self, name) is not None]
        if self.off:
            if given:
                raise ValueError(f"schedule: off stands alone; leave out {', '.join(given)}")
            return self
        if self.cron is not None:
            if len(given) > 1:
                raise ValueError(f"cron: stands alone (with timezone:); leave out {', '.join(given[:-1])}, or "
                                 "drop cron: and use every:")
            return self
        if self.every is None:
            raise ValueError('write every: (one of ' + ALLOWED + '), at: "07:30" for daily, or cron: "0 6 * * 1-5"')
        daily = self.every in ("1d", "1w")
        if self.at is not None and not daily:
            raise ValueError(f"at: is for every: 1d or 1w; every: {self.every} already runs on the clock "
                             f"({_ticks_example(self.every)}); limit it with between:, or use cron: for other times")
        if self.between is not None and daily:
            raise ValueError(f'between: limits a shorter every: (30m, 2h); every: {self.every} runs at: "07:30"')
        if self.every == "1w" and self.days is not None and len(self.days) != 1:
            raise ValueError("every: 1w runs on one day: write days: [mon]; for several days a week write "
                             "every: 1d with days: [mon, thu]")
        return self


def _ticks_example(every: str) -> str:
    step = _step(every)
    return ", ".join(_hhmm(m) for m in range(0, 3 * step, step)) + ", …"


def _null_is_off(value: Any, handler: Any) -> Any:
    return handler({"off": True}) if value is None else handler(value)


# A flow's (or the default) `schedule:` field: absent is None (the flow takes the default);
# written as off, false or null, it is ScheduleSpec(off=True).
Schedule = Annotated[ScheduleSpec | None, WrapValidator(_null_is_off)]


def _parse_shorthand(text: str) -> dict[str, Any]:
    """"every 30m on mon-fri between 08:00-18:00 in Europe/Berlin", "daily at 07:30", or a crontab line."""
    stripped = text.strip()
    if stripped.lower().startswith("cron "):
        return {"cron": stripped[5:]}
    if stripped.lower() in _MACROS or (len(stripped.split()) == 5 and re.match(r"^[\d*?]", stripped)):
        return {"cron": stripped}
    words = stripped.split()
    keys = {"every": "every", "at": "at", "on": "days", "days": "days", "between": "between", "in": "timezone",
            "timezone": "timezone"}
    found: dict[str, Any] = {}
    i = 0
    while i < len(words):
        word = words[i].lower()
        if word in _WORDS and "every" not in found:
            found["every"] = _WORDS[word]
            i += 1
        elif word in keys and i + 1 < len(words) and keys[word] not in found:
            value = words[i + 1]
            if word == "every" and i + 2 < len(words) and value.isdigit() and words[i + 2].lower() in _UNITS:
                value, i = value + words[i + 2], i + 1  # "every 30 minutes"
            found[keys[word]] = value
            i += 2
        else:
            raise ValueError(f"{text[:60]!r}: cannot read {words[i][:20]!r}; {_SHORTHAND}")
    if not found:
        raise ValueError(_SHORTHAND)
    return found


# --- cron fields ---------------------------------------------------------------------------------------------

_FIELDS = (("minute", 0, 59, ()), ("hour", 0, 23, ()), ("day of month", 1, 31, ()), ("month", 1, 12, MONTHS),
           ("day of week", 0, 7, ("sun", "mon", "tue", "wed", "thu", "fri", "sat")))
_CRON_HELP = 'write 5 fields: minute hour day-of-month month day-of-week, like "0 6 * * 1-5"'


def _cron_value(text: str, field: int) -> int:
    name, low, high, names = _FIELDS[field]
    word = text.lower()
    if names and word[:3] in names and len(word) >= 3:
        return names.index(word[:3]) + (1 if field == 3 else 0)
    if not word.isdigit():
        raise ValueError(f"cron {name} {text[:20]!r} is not a number; {_CRON_HELP}")
    number = int(word)
    if not low <= number <= high:
        raise ValueError(f"cron {name} {number} is out of range {low}-{high}; {_CRON_HELP}")
    return number


def _cron_field(text: str, field: int) -> frozenset[int]:
    name, low, high, _ = _FIELDS[field]
    values: set[int] = set()
    for item in text.split(","):
        body, _, step_text = item.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise ValueError(f"cron {name} {item[:20]!r}: the step after / must be a number above 0")
            step = int(step_text)
        if body in ("*", "?"):
            first, last = low, high if field != 4 else 6
        elif "-" in body:
            a, _, b = body.partition("-")
            first, last = _cron_value(a, field), _cron_value(b, field)
            if first > last:
                raise ValueError(f"cron {name} {item[:20]!r} runs backwards: write it as two ranges, like "
                                 f"{b}-{high},{low}-{a}" if field != 4 else f"cron {name} {item!r} runs backwards")
        else:
            first = _cron_value(body, field)
            last = (high if field != 4 else 6) if step_text else first
        values.update(range(first, last + 1, step))
    if field == 4:
        values = {v % 7 for v in values}  # 7 is Sunday too
    return frozenset(values)


def _cron_fields(text: str) -> list[frozenset[int]]:
    parts = text.split()
    if len(parts) != 5:
        raise ValueError(f"cron {text[:60]!r} has {len(parts)} fields; {_CRON_HELP}")
    return [_cron_field(part, i) for i, part in enumerate(parts)]


# --- rules: the schedule as cron-like rules over a calendar without daylight saving ---------------------------


@dataclass(frozen=True)
class _Rule:
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: tuple[int, ...] | None = None  # day of month; None: any
    months: tuple[int, ...] | None = None
    weekdays: tuple[int, ...] | None = None  # 0 = Monday

    def possible(self) -> bool:
        if not (self.minutes and self.hours) or self.weekdays == ():
            return False
        return self.days is None or any(d <= MAX_DAY[m - 1] for d in self.days for m in self.months or range(1, 13))


def _step(every: str) -> int:
    return int(every[:-1]) * {"m": 1, "h": 60, "d": 1440, "w": 10080}[every[-1]]


def _window(between: str | None) -> tuple[int, int] | None:
    if between is None:
        return None
    start, end = between.split("-")
    return _minutes(start, "between"), 1440 if end == "24:00" else _minutes(end, "between")


def _ticks(spec: ScheduleSpec) -> list[int]:
    """The minutes of the day on which an `every:` schedule runs."""
    assert spec.every is not None
    if spec.every in ("1d", "1w"):
        return [_minutes(t, "at") for t in spec.at or ("00:00",)]
    step = _step(spec.every)
    window = _window(spec.between)
    ticks = range(0, 1440, step)
    if window is None:
        return list(ticks)
    start, end = window
    if start <= end:
        return [m for m in ticks if start <= m <= end]  # both ends inclusive: 08:00-18:00 runs at 18:00
    return [m for m in ticks if m >= start or m <= end]  # 22:00-06:00 crosses midnight


def _group(ticks: list[int], weekdays: tuple[int, ...] | None) -> list[_Rule]:
    by_hour: dict[int, set[int]] = {}
    for m in ticks:
        by_hour.setdefault(m // 60, set()).add(m % 60)
    hours_of: dict[tuple[int, ...], list[int]] = {}
    for hour, minutes in sorted(by_hour.items()):
        hours_of.setdefault(tuple(sorted(minutes)), []).append(hour)
    return [_Rule(minutes, tuple(hours), weekdays=weekdays) for minutes, hours in hours_of.items()]


@functools.lru_cache(maxsize=256)
def _rules(spec: ScheduleSpec) -> tuple[_Rule, ...]:
    """Every rule the schedule fires on, impossible ones included (never_fires names them)."""
    if spec.cron is not None:
        minutes, hours, days, months, weekdays = _cron_fields(_MACROS.get(spec.cron.lower(), spec.cron))
        fields = _MACROS.get(spec.cron.lower(), spec.cron).split()
        dom_star, dow_star = fields[2][0] in "*?", fields[4][0] in "*?"
        sort = lambda values, full: None if len(values) == full else tuple(sorted(values))  # noqa: E731
        m, h, mo = tuple(sorted(minutes)), tuple(sorted(hours)), sort(months, 12)
        wd = tuple(sorted((d - 1) % 7 for d in weekdays))  # cron 0 = Sunday; here 0 = Monday
        if dom_star or dow_star:  # Vixie cron: either field starting with * means both must match
            return (_Rule(m, h, sort(days, 31), mo, None if len(wd) == 7 else wd),)
        return (_Rule(m, h, tuple(sorted(days)), mo, None), _Rule(m, h, None, mo, wd))  # otherwise either one
    if spec.every == "1w":
        weekdays: tuple[int, ...] | None = (DAYS.index((spec.days or ("mon",))[0]),)
    else:
        weekdays = None if spec.days is None or len(spec.days) == 7 else tuple(DAYS.index(d) for d in spec.days)
    if weekdays == ():
        return (_Rule((0,), (0,), weekdays=()),)
    return tuple(_group(_ticks(spec), weekdays))


def _repeats_in_fold(spec: ScheduleSpec) -> bool:
    """Whether a tick the clock shows twice (a fall-back night) runs twice: intervals yes, clock times no."""
    if spec.cron is not None:
        return _MACROS.get(spec.cron.lower(), spec.cron).split()[1].startswith("*")  # Vixie cron's rule
    return spec.every not in ("1d", "1w")


def never_fires(spec: ScheduleSpec) -> str | None:
    """Why the schedule never runs (acflow validate refuses it with this), or None if it runs."""
    if spec.off:
        return None
    rules = _rules(spec)
    if any(rule.possible() for rule in rules):
        return None
    if spec.days == () or any(rule.weekdays == () for rule in rules):
        return "days: is empty, so it never runs: list days like [mon-fri], or write schedule: off"
    if spec.cron is not None:
        rule = rules[0]
        months = ", ".join(MONTHS[m - 1].title() for m in rule.months or ())
        return (f"cron {spec.cron!r} never runs: {months} never {'has' if len(rule.months or ()) == 1 else 'have'} "
                f"day {min(rule.days or (0,))}; pick days that exist, or write schedule: off")
    return (f"no every: {spec.every} run ({_ticks_example(str(spec.every))}) falls between {spec.between}, so it "
            "never runs: widen between: or shorten every:")


def effective(default: ScheduleSpec | None, own: ScheduleSpec | None) -> ScheduleSpec | None:
    """The schedule a flow runs on: its own, else the default; None when off. A flow's schedule without
    timezone: takes the default's, so the zone is written once at the top."""
    chosen = default if own is None else own
    if chosen is None or chosen.off:
        return None
    if chosen is own and default is not None and not default.off and "timezone" not in own.model_fields_set \
            and "timezone" in default.model_fields_set:
        return own.model_copy(update={"timezone": default.timezone})
    return chosen


# --- words ---------------------------------------------------------------------------------------------------


def _days_words(weekdays: tuple[int, ...] | None, long: bool = False) -> str:
    if weekdays is None or len(weekdays) == 7:
        return ""
    names = DAY_NAMES if long else tuple(d.title() for d in DAYS)
    days = set(weekdays)
    if len(days) >= 3:
        for first in range(7):  # one unbroken run, maybe across Sunday: Mon–Fri, Fri–Mon
            run = [(first + i) % 7 for i in range(len(days))]
            if set(run) == days and (first - 1) % 7 not in days:
                return f"{names[run[0]]}–{names[run[-1]]}"
    return ", ".join(names[d] for d in sorted(days))


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def describe(spec: ScheduleSpec | None) -> str:
    """The schedule in words, for `acflow flows` and the web UI: "every 30 minutes, Mon–Fri, 08:00–18:00 (UTC)"."""
    if spec is None or spec.off:
        return "off"
    zone = f" ({spec.timezone})"
    if spec.cron is not None:
        words = _cron_words(spec)
        return f"cron {spec.cron}{': ' + words if words else ''}{zone}"
    assert spec.every is not None
    times = _and(list(spec.at or ("00:00",)))
    if spec.every == "1w":
        day = DAY_NAMES[DAYS.index((spec.days or ("mon",))[0])]
        return f"weekly on {day} at {times}{zone}"
    days = _days_words(None if spec.days is None else tuple(DAYS.index(d) for d in spec.days))
    if spec.every == "1d":
        return f"{days or 'daily'} at {times}{zone}"
    step = _step(spec.every)
    parts = [f"every {step} minutes" if step < 60 else "every hour" if step == 60 else f"every {step // 60} hours"]
    if days:
        parts.append(days)
    if spec.between:
        parts.append(spec.between.replace("-", "–"))
    return ", ".join(parts) + zone


def _cron_words(spec: ScheduleSpec) -> str:
    rules = _rules(spec)
    if len(rules) != 1 or rules[0].days is not None or rules[0].months is not None:
        return ""
    rule = rules[0]
    days = _days_words(rule.weekdays)
    when = ""
    if len(rule.hours) == 24 and len(rule.minutes) > 1:
        step = rule.minutes[1] - rule.minutes[0]
        if rule.minutes == tuple(range(0, 60, step)):
            when = f"every {step} minutes"
    elif len(rule.hours) == 24:
        when = f"hourly at :{rule.minutes[0]:02d}"
    elif len(rule.hours) * len(rule.minutes) <= 4:
        when = "at " + _and([f"{h:02d}:{m:02d}" for h in rule.hours for m in rule.minutes])
    if not when:
        return ""
    if len(rule.hours) < 24:
        return f"{days} {when}" if days else f"daily {when}"
    return f"{when}, {days}" if days else when


# --- the trigger ---------------------------------------------------------------------------------------------

_LOOKBACK = timedelta(hours=4)  # more than any daylight-saving shift: a repeated hour's second ticks


def _make_trigger_class() -> type:
    from apscheduler.triggers.base import BaseTrigger

    class LocalTimeTrigger(BaseTrigger):
        """Fires (in UTC) at each tick of `inner` (cron rules in UTC, read as a wall clock without daylight saving),
        mapped to real instants in `zone`: a skipped time runs when the clock resumes, a repeated one once
        (or at each occurrence when `repeat`), never two runs at one instant."""

        def __init__(self, inner: BaseTrigger, zone: str, repeat: bool) -> None:
            self.inner, self.zone, self.repeat = inner, zone, repeat

        def __getstate__(self) -> dict[str, Any]:
            return {"inner": self.inner, "zone": self.zone, "repeat": self.repeat}

        def __setstate__(self, state: dict[str, Any]) -> None:
            self.inner, self.zone, self.repeat = state["inner"], state["zone"], state["repeat"]

        def __str__(self) -> str:
            return f"local[{self.zone}, {self.inner}]"

        def __repr__(self) -> str:
            return f"<LocalTimeTrigger zone={self.zone!r} repeat={self.repeat} inner={self.inner!r}>"

        def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
            # in UTC: an aware datetime plus a timedelta is wall-clock arithmetic, which loses a repeated hour
            start = now.astimezone(UTC) if previous_fire_time is None \
                else previous_fire_time.astimezone(UTC) + timedelta(microseconds=1)
            return self._first_at_or_after(start)  # in UTC: == across zones is False in a repeated hour

        def _first_at_or_after(self, start: datetime) -> datetime | None:
            zone = _zone(self.zone)
            back = start - _LOOKBACK
            offsets = {moment.astimezone(zone).utcoffset() for moment in (back, start, start + _LOOKBACK)}
            if len(offsets) == 1:
                back = start  # no change of offset near: no tick before start can land after it
            cursor = back.astimezone(zone).replace(tzinfo=UTC)  # the wall clock, on a calendar without DST
            previous, best = None, None
            for _ in range(10_000):
                tick = self.inner.get_next_fire_time(previous, cursor)
                if tick is None:
                    break
                first, second = _instants(tick.replace(tzinfo=None), zone)
                if best is not None and first > best:
                    break  # first instants only grow with the wall clock
                for instant in (first, second if self.repeat else None):
                    if instant is not None and instant >= start and (best is None or instant < best):
                        best = instant
                previous = cursor = tick
            return best

    LocalTimeTrigger.__module__ = __name__
    LocalTimeTrigger.__qualname__ = "LocalTimeTrigger"  # pickled by name, found through __getattr__
    return LocalTimeTrigger


def _instants(wall: datetime, zone: zoneinfo.ZoneInfo) -> tuple[datetime, datetime | None]:
    """The real instants at which the clock in `zone` shows `wall`: one; two on a fall-back night (the first,
    then the second); none on a spring-forward night, then the instant the clock resumes."""
    early = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    late = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    if early == late:
        return early, None
    if early.astimezone(zone).replace(tzinfo=None) == wall:  # shown twice
        return min(early, late), max(early, late)
    low, high = min(early, late), max(early, late)  # skipped: find when the offset changes, to the second
    after = high.astimezone(zone).utcoffset()
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(zone).utcoffset() == after:
            high = middle
        else:
            low = middle
    return high.replace(microsecond=0), None


def __getattr__(name: str) -> Any:
    if name == "LocalTimeTrigger":  # built on first use, so importing this module loads no APScheduler
        return globals().get("_LocalTimeTrigger") or globals().setdefault("_LocalTimeTrigger", _make_trigger_class())
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def trigger(spec: ScheduleSpec) -> Any:
    """The APScheduler trigger for the schedule (a LocalTimeTrigger over CronTriggers)."""
    from apscheduler.triggers.combining import OrTrigger
    from apscheduler.triggers.cron import CronTrigger

    if spec.off:
        raise ValueError("schedule: off has no trigger")
    reason = never_fires(spec)
    if reason:
        raise ValueError(reason)
    crons = [CronTrigger(minute=_csv(rule.minutes), hour=_csv(rule.hours), day=_csv(rule.days),
                         month=_csv(rule.months), timezone=UTC,
                         day_of_week="*" if rule.weekdays is None else ",".join(DAYS[d] for d in rule.weekdays))
             for rule in _rules(spec) if rule.possible()]
    inner = crons[0] if len(crons) == 1 else OrTrigger(crons)
    return __getattr__("LocalTimeTrigger")(inner, spec.timezone, _repeats_in_fold(spec))


def local(spec: ScheduleSpec, moment: datetime) -> datetime:
    """A run time on the schedule's own clock, for showing: `local(spec, t).strftime("%a %H:%M %Z")`."""
    return moment.astimezone(_zone(spec.timezone))


def _csv(values: tuple[int, ...] | None) -> str:
    return "*" if values is None else ",".join(map(str, values))


def _aware(moment: datetime, name: str) -> datetime:
    """In UTC: datetimes in one zone compare by wall clock, which cannot order a repeated hour."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime (with a time zone)")
    return moment.astimezone(UTC)


def next_runs(spec: ScheduleSpec, after: datetime, n: int = 1) -> list[datetime]:
    """The next `n` run times strictly after `after`, in UTC (`local` shows one on the schedule's clock)."""
    after = _aware(after, "after")
    if spec.off or never_fires(spec):
        return []
    fire = trigger(spec)
    found: list[datetime] = []
    moment = after
    while len(found) < n:
        nxt = fire.get_next_fire_time(moment, moment)
        if nxt is None:
            break
        found.append(nxt)
        moment = nxt
    return found


def latest_due(spec: ScheduleSpec, since: datetime, now: datetime) -> datetime | None:
    """The last run time in (since, now], in UTC: the one catch-up run a flow gets after the service was down."""
    since, now = _aware(since, "since"), _aware(now, "now")
    if spec.off or never_fires(spec) or now <= since:
        return None
    fire = trigger(spec)
    span = timedelta(hours=1)  # widened 8x until a run is found: a long downtime costs a few passes
    while True:
        low = max(since, now - span)
        last, moment = None, low
        while (nxt := fire.get_next_fire_time(moment, moment)) is not None and nxt <= now:
            last = moment = nxt
        if last is not None or low == since:
            return last
        span *= 8
