"""Schedule rules: parsing, words, next runs, daylight-saving change days, never-firing schedules, catch-up.

Pure functions over fixed instants: every expected time below is worked out by hand (UTC shown beside it).
"""

from __future__ import annotations

import itertools
import pickle
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import BaseModel, ValidationError

from acflow.service.schedule import (
    Schedule,
    ScheduleSpec,
    describe,
    effective,
    latest_due,
    local,
    never_fires,
    next_runs,
    trigger,
)


def z(text: str) -> datetime:
    """An instant written in UTC: z("2026-10-25 00:30")."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def utc(moments: list[datetime]) -> list[str]:
    return [m.astimezone(UTC).strftime("%Y-%m-%d %H:%M") for m in moments]


def spec(**fields) -> ScheduleSpec:
    return ScheduleSpec.model_validate(fields)


def refused(value) -> str:
    with pytest.raises(ValidationError) as caught:
        ScheduleSpec.model_validate(value)
    errors = caught.value.errors()
    assert len(errors) == 1, errors
    return ".".join(map(str, errors[0]["loc"])) + ": " + errors[0]["msg"].removeprefix("Value error, ")


# --- parsing ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("written", "every"), [
    ("30m", "30m"), ("5m", "5m"), ("15 minutes", "15m"), ("60m", "1h"), ("2h", "2h"), ("12h", "12h"),
    ("24h", "1d"), ("1d", "1d"), ("7d", "1w"), ("1w", "1w"), ("hourly", "1h"), ("Daily", "1d"), ("2H", "2h"),
])
def test_every_forms(written, every):
    assert spec(every=written).every == every


@pytest.mark.parametrize(("written", "says"), [
    ("45m", "45m does not divide the hour, day or week evenly"),
    ("5h", "write one of 5m, 10m, 15m, 20m, 30m, 1h, 2h, 3h, 4h, 6h, 8h, 12h, 1d, 1w, or cron:"),
    ("2d", "does not divide"),
    ("1m", "1m is too often"),
    (30, "30 needs a unit: write 30m (minutes) or 30h (hours)"),
    ("soon", "'soon' is not an interval: write one of 5m"),
    ("3 fortnights", "is not an interval"),
])
def test_every_refused(written, says):
    message = refused({"every": written})
    assert message.startswith("every: ") and says in message


@pytest.mark.parametrize(("written", "days"), [
    (["mon-fri"], ("mon", "tue", "wed", "thu", "fri")),
    ("mon-fri", ("mon", "tue", "wed", "thu", "fri")),
    (["mon", "wed", "fri"], ("mon", "wed", "fri")),
    ("Mon, Wed, FRI", ("mon", "wed", "fri")),
    (["weekdays"], ("mon", "tue", "wed", "thu", "fri")),
    ("weekends", ("sat", "sun")),
    (["fri-mon"], ("mon", "fri", "sat", "sun")),  # a range across Sunday
    (["Monday", "thurs"], ("mon", "thu")),
    ([], ()),
])
def test_days_forms(written, days):
    assert spec(every="1d", days=written).days == days


@pytest.mark.parametrize(("written", "says"), [
    (["mo"], "'mo' is not a day: write mon, tue, wed, thu, fri, sat, sun, a range like mon-fri, or weekdays"),
    (["mon-xyz"], "'xyz' is not a day"),
    ([1, 2], "1 is not a day: write day names like [mon, wed, fri]"),
])
def test_days_refused(written, says):
    message = refused({"every": "1d", "days": written})
    assert message.startswith("days: ") and says in message


@pytest.mark.parametrize(("written", "at"), [
    ("07:30", ("07:30",)), ("7:30", ("07:30",)), (450, ("07:30",)),  # YAML 1.1 reads an unquoted 7:30 as 450
    (810, ("13:30",)), (["13:30", "07:30"], ("07:30", "13:30")), ("07:30, 13:30", ("07:30", "13:30")),
    ("7am", ("07:00",)), ("1:15pm", ("13:15",)), ("12am", ("00:00",)), (["07:30", "7:30"], ("07:30",)),
])
def test_at_forms(written, at):
    parsed = spec(at=written)
    assert parsed.at == at and parsed.every == "1d"  # at: alone is daily


@pytest.mark.parametrize(("written", "says"), [
    ("25:00", "'25:00' is not a time: write HH:MM from 00:00 to 23:59"),
    ("7", "'7' is not a time: write HH:MM on the 24-hour clock"),
    (7, '7 is not a time: write it in quotes on the 24-hour clock, like "07:30"'),
    ("13pm", "with am/pm the hour is 1-12"),
    ([], 'write a time like "07:30"'),
])
def test_at_refused(written, says):
    message = refused({"at": written})
    assert message.startswith("at: ") and says in message


def test_between_forms():
    assert spec(every="1h", between="8:00-18:00").between == "08:00-18:00"
    assert spec(every="1h", between="08:00 – 18:00").between == "08:00-18:00"
    assert spec(every="1h", between="22:00 to 06:00").between == "22:00-06:00"
    assert spec(every="1h", between="18:00-24:00").between == "18:00-24:00"


@pytest.mark.parametrize(("written", "says"), [
    ("08:00", 'write a window like "08:00-18:00"'),
    ("8-18", "'8' is not a time"),
    ("08:00-08:00", "is an empty window"),
])
def test_between_refused(written, says):
    message = refused({"every": "1h", "between": written})
    assert message.startswith("between: ") and says in message


def test_timezone():
    assert ScheduleSpec(every="1d").timezone == "UTC"
    assert spec(every="1d", timezone="utc").timezone == "UTC"
    assert spec(every="1d", timezone="Europe/Berlin").timezone == "Europe/Berlin"
    assert refused({"every": "1d", "timezone": "Mars/Olympus"}) == (
        "timezone: unknown time zone 'Mars/Olympus': write an IANA name like Europe/Berlin or America/New_York, "
        "or leave timezone: out for UTC")


@pytest.mark.parametrize(("written", "says"), [
    ("0 6 * *", "cron '0 6 * *' has 4 fields; write 5 fields: minute hour day-of-month month day-of-week"),
    ("0 24 * * *", "cron hour 24 is out of range 0-23"),
    ("61 * * * *", "cron minute 61 is out of range 0-59"),
    ("0 6 * * mon-xyz", "cron day of week 'xyz' is not a number"),
    ("*/0 * * * *", "the step after / must be a number above 0"),
    ("0 22-2 * * *", "runs backwards: write it as two ranges, like 2-23,0-22"),
    ("0 6 L * *", "cron day of month 'L' is not a number"),
    (6, 'write cron in quotes, 5 fields'),
])
def test_cron_refused(written, says):
    message = refused({"cron": written})
    assert message.startswith("cron: ") and says in message


@pytest.mark.parametrize(("fields", "says"), [
    ({"cron": "0 6 * * *", "every": "1d"}, "cron: stands alone (with timezone:); leave out every"),
    ({"cron": "0 6 * * *", "days": ["mon"], "at": "07:00"}, "leave out days, at"),
    ({"every": "2h", "at": "07:00"}, "at: is for every: 1d or 1w; every: 2h already runs on the clock "
                                     "(00:00, 02:00, 04:00, …)"),
    ({"every": "1d", "between": "08:00-18:00"}, 'between: limits a shorter every: (30m, 2h); every: 1d runs at:'),
    ({"every": "1w", "days": ["mon", "thu"]}, "every: 1w runs on one day: write days: [mon]; for several days"),
    ({"timezone": "Europe/Berlin"}, 'write every: (one of 5m,'),
    ({}, 'at: "07:30" for daily, or cron: "0 6 * * 1-5"'),
    ({"off": True, "every": "1d"}, "schedule: off stands alone; leave out every"),
    ({"every": "1d", "hours": 3}, "hours: Extra inputs are not permitted"),
    (True, "write schedule: off, or a schedule like"),
    ("every 30m sometimes", "cannot read 'sometimes'; write schedule: \"every 30m\""),
])
def test_combinations_refused(fields, says):
    assert says in refused(fields)


@pytest.mark.parametrize(("written", "expected"), [
    ("every 30m", ScheduleSpec(every="30m")),
    ("every 30 minutes", ScheduleSpec(every="30m")),
    ("daily at 07:30", ScheduleSpec(every="1d", at=("07:30",))),
    ("every 1d at 07:30,13:30 on mon-fri", ScheduleSpec(every="1d", at=("07:30", "13:30"),
                                                         days=("mon", "tue", "wed", "thu", "fri"))),
    ("every 2h on weekdays between 08:00-18:00 in Europe/Berlin",
     ScheduleSpec(every="2h", days=("mon", "tue", "wed", "thu", "fri"), between="08:00-18:00",
                  timezone="Europe/Berlin")),
    ("weekly on fri at 06:00", ScheduleSpec(every="1w", days=("fri",), at=("06:00",))),
    ("0 6 * * 1-5", ScheduleSpec(cron="0 6 * * 1-5")),
    ("cron 0 6 * * 1-5", ScheduleSpec(cron="0 6 * * 1-5")),
    ("@daily", ScheduleSpec(cron="@daily")),
])
def test_shorthand(written, expected):
    assert ScheduleSpec.model_validate(written) == expected


@pytest.mark.parametrize("written", [False, "off", "OFF", "never", None])
def test_off(written):
    assert ScheduleSpec.model_validate(written).off


class _Flow(BaseModel):
    """The way config.py holds it: absent means "the default", off / false / null mean off."""

    schedule: Schedule = None


def test_schedule_field_in_a_model():
    assert _Flow.model_validate({}).schedule is None
    for off in (None, False, "off"):
        assert _Flow.model_validate({"schedule": off}).schedule == ScheduleSpec(off=True)
    assert _Flow.model_validate({"schedule": "every 2h"}).schedule == ScheduleSpec(every="2h")
    with pytest.raises(ValidationError) as caught:
        _Flow.model_validate({"schedule": {"every": "45m"}})
    assert caught.value.errors()[0]["loc"] == ("schedule", "every")  # config.py finds the line by it


def test_effective():
    default = spec(every="1d", at="06:00", timezone="Europe/Berlin")
    own = spec(every="2h")
    off = ScheduleSpec(off=True)
    assert effective(default, None) is default
    assert effective(None, None) is None
    assert effective(default, off) is None
    assert effective(off, None) is None
    assert effective(None, own) is own
    assert effective(default, own) == ScheduleSpec(every="2h", timezone="Europe/Berlin")  # the zone once, at top
    assert effective(default, spec(every="2h", timezone="UTC")).timezone == "UTC"
    assert effective(spec(every="1d"), own) is own


def test_import_loads_no_apscheduler():
    code = "import acflow.service.schedule, sys; print(any(m.startswith('apscheduler') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


# --- words --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("fields", "words"), [
    ({"every": "30m", "days": ["mon-fri"], "between": "08:00-18:00", "timezone": "Europe/Berlin"},
     "every 30 minutes, Mon–Fri, 08:00–18:00 (Europe/Berlin)"),
    ({"every": "1h"}, "every hour (UTC)"),
    ({"every": "2h", "days": ["sat", "sun"]}, "every 2 hours, Sat, Sun (UTC)"),
    ({"at": "07:30"}, "daily at 07:30 (UTC)"),
    ({"every": "1d"}, "daily at 00:00 (UTC)"),
    ({"at": ["07:30", "13:30"], "days": "weekdays"}, "Mon–Fri at 07:30 and 13:30 (UTC)"),
    ({"at": ["07:00", "12:00", "18:00"], "days": ["mon", "wed", "fri"]},
     "Mon, Wed, Fri at 07:00, 12:00 and 18:00 (UTC)"),
    ({"every": "1w", "at": "06:00"}, "weekly on Monday at 06:00 (UTC)"),
    ({"every": "1w", "days": ["fri"], "at": "17:00", "timezone": "Asia/Tokyo"},
     "weekly on Friday at 17:00 (Asia/Tokyo)"),
    ({"cron": "0 6 * * 1-5", "timezone": "America/New_York"}, "cron 0 6 * * 1-5: Mon–Fri at 06:00 (America/New_York)"),
    ({"cron": "30 2 * * *"}, "cron 30 2 * * *: daily at 02:30 (UTC)"),
    ({"cron": "*/15 * * * *"}, "cron */15 * * * *: every 15 minutes (UTC)"),
    ({"cron": "5 * * * sat,sun"}, "cron 5 * * * sat,sun: hourly at :05, Sat, Sun (UTC)"),
    ({"cron": "0 0 1 * *"}, "cron 0 0 1 * * (UTC)"),
    ({"off": True}, "off"),
])
def test_describe(fields, words):
    assert describe(spec(**fields)) == words


def test_describe_none():
    assert describe(None) == "off"


# --- next runs ----------------------------------------------------------------------------------------------


def test_every_30m_in_a_window_on_weekdays():
    # Fri 2026-05-01 17:00 Berlin (CEST, +02:00): 17:30 and 18:00 (the window's end counts), then Monday 08:00
    s = spec(every="30m", days=["mon-fri"], between="08:00-18:00", timezone="Europe/Berlin")
    runs = next_runs(s, z("2026-05-01 15:00"), 4)
    assert utc(runs) == ["2026-05-01 15:30", "2026-05-01 16:00", "2026-05-04 06:00", "2026-05-04 06:30"]
    assert [local(s, r).strftime("%a %H:%M") for r in runs] == ["Fri 17:30", "Fri 18:00", "Mon 08:00", "Mon 08:30"]
    assert all(r.tzinfo is UTC for r in runs)


def test_after_is_exclusive():
    assert utc(next_runs(spec(every="30m"), z("2026-05-01 10:00"), 2)) == ["2026-05-01 10:30", "2026-05-01 11:00"]


def test_window_not_on_the_hour_and_across_midnight():
    s = spec(every="30m", between="08:15-09:45")
    assert utc(next_runs(s, z("2026-05-01 00:00"), 4)) == [
        "2026-05-01 08:30", "2026-05-01 09:00", "2026-05-01 09:30", "2026-05-02 08:30"]
    night = spec(every="2h", between="22:00-04:00")
    assert utc(next_runs(night, z("2026-05-01 12:00"), 5)) == [
        "2026-05-01 22:00", "2026-05-02 00:00", "2026-05-02 02:00", "2026-05-02 04:00", "2026-05-02 22:00"]


def test_twice_daily_on_weekdays():
    s = spec(at=["07:30", "13:30"], days="mon-fri", timezone="America/New_York")  # EDT, -04:00 in May
    assert utc(next_runs(s, z("2026-05-01 12:00"), 3)) == ["2026-05-01 17:30", "2026-05-04 11:30", "2026-05-04 17:30"]


def test_weekly():
    s = spec(every="1w", days=["fri"], at="06:00")
    assert utc(next_runs(s, z("2026-05-01 06:00"), 2)) == ["2026-05-08 06:00", "2026-05-15 06:00"]
    monday = spec(every="1w")
    assert utc(next_runs(monday, z("2026-05-01 00:00"))) == ["2026-05-04 00:00"]


def test_cron_weekday_numbers_are_crons():
    # 1-5 is Mon-Fri in cron (APScheduler 3's own from_crontab reads it as Tue-Sat); 0 and 7 are Sunday
    s = spec(cron="0 6 * * 1-5", timezone="America/New_York")
    runs = next_runs(s, z("2026-05-01 11:00"), 2)  # Fri 07:00 EDT
    assert utc(runs) == ["2026-05-04 10:00", "2026-05-05 10:00"]
    assert [local(s, r).strftime("%a") for r in runs] == ["Mon", "Tue"]
    for sunday in ("0 9 * * 0", "0 9 * * 7", "0 9 * * sun"):
        assert utc(next_runs(spec(cron=sunday), z("2026-05-01 00:00"))) == ["2026-05-03 09:00"]


def test_cron_day_of_month_or_weekday():
    # standard cron: both restricted means either; 2026-05-01 is a Friday, 15 May too, Mondays are 4, 11, 18
    s = spec(cron="0 0 15 * mon")
    assert utc(next_runs(s, z("2026-05-01 12:00"), 4)) == [
        "2026-05-04 00:00", "2026-05-11 00:00", "2026-05-15 00:00", "2026-05-18 00:00"]
    # a day-of-month starting with * means both must match: odd days that are Mondays (May 11, 25; Jun 1)
    both = spec(cron="0 0 */2 * mon")
    assert utc(next_runs(both, z("2026-05-01 12:00"), 3)) == [
        "2026-05-11 00:00", "2026-05-25 00:00", "2026-06-01 00:00"]


def test_cron_macros_and_leap_day():
    assert utc(next_runs(spec(cron="@monthly"), z("2026-05-01 00:00"))) == ["2026-06-01 00:00"]
    assert utc(next_runs(spec(cron="0 12 29 feb *"), z("2026-01-01 00:00"))) == ["2028-02-29 12:00"]


def test_naive_time_refused():
    with pytest.raises(ValueError, match="after must be an aware datetime"):
        next_runs(spec(every="1h"), datetime(2026, 5, 1))


# --- daylight saving ----------------------------------------------------------------------------------------
# Berlin: 2026-03-29 02:00 CET -> 03:00 CEST (01:00Z); 2026-10-25 03:00 CEST -> 02:00 CET (01:00Z).
# New York: 2026-03-08 02:00 EST -> 03:00 EDT (07:00Z); 2026-11-01 02:00 EDT -> 01:00 EST (06:00Z).

DAILY_0230 = [
    # zone, day before, the three runs (day before, change day, day after) in UTC
    ("Europe/Berlin", "2026-03-28", ["2026-03-28 01:30", "2026-03-29 01:00", "2026-03-30 00:30"]),  # 03:00 CEST
    ("Europe/Berlin", "2026-10-24", ["2026-10-24 00:30", "2026-10-25 00:30", "2026-10-26 01:30"]),  # first 02:30
    ("America/New_York", "2026-03-07", ["2026-03-07 07:30", "2026-03-08 07:00", "2026-03-09 06:30"]),  # 03:00 EDT
    ("America/New_York", "2026-10-31", ["2026-10-31 06:30", "2026-11-01 07:30", "2026-11-02 07:30"]),
]


@pytest.mark.parametrize(("zone", "day", "expected"), DAILY_0230)
@pytest.mark.parametrize("form", [{"at": "02:30"}, {"cron": "30 2 * * *"}])
def test_daily_0230_runs_once_on_change_days(zone, day, expected, form):
    runs = next_runs(spec(**form, timezone=zone), z(f"{day} 00:00") - timedelta(hours=12), 3)
    assert utc(runs) == expected


def test_skipped_time_runs_when_the_clock_resumes():
    s = spec(at="02:30", timezone="Europe/Berlin")
    assert local(s, next_runs(s, z("2026-03-28 12:00"))[0]).strftime("%H:%M %z") == "03:00 +0200"


@pytest.mark.parametrize("form", [{"at": "01:30"}, {"cron": "30 1 * * *"}])
def test_repeated_time_runs_once_the_first_time(form):
    # New York shows 01:30 twice on 2026-11-01: 05:30Z (EDT) and 06:30Z (EST)
    runs = next_runs(spec(**form, timezone="America/New_York"), z("2026-10-31 12:00"), 2)
    assert utc(runs) == ["2026-11-01 05:30", "2026-11-02 06:30"]


@pytest.mark.parametrize(("zone", "start", "end"), [
    ("Europe/Berlin", "2026-10-24 22:00", "2026-10-25 04:00"),
    ("Europe/Berlin", "2026-03-28 23:00", "2026-03-29 03:00"),
    ("America/New_York", "2026-11-01 03:00", "2026-11-01 09:00"),
    ("America/New_York", "2026-03-08 05:00", "2026-03-08 09:00"),
])
@pytest.mark.parametrize("form", [{"every": "30m"}, {"cron": "*/30 * * * *"}])
def test_every_30m_is_30_real_minutes_apart_across_changes(zone, start, end, form):
    runs = next_runs(spec(**form, timezone=zone), z(start) - timedelta(microseconds=1), 200)
    runs = [r for r in runs if r <= z(end)]
    steps = {b - a for a, b in itertools.pairwise(runs)}
    assert steps == {timedelta(minutes=30)}  # none doubled, none missing
    assert len(runs) == (z(end) - z(start)) // timedelta(minutes=30) + 1


def test_fall_back_night_every_30m_local_times():
    s = spec(every="30m", timezone="Europe/Berlin")
    runs = next_runs(s, z("2026-10-24 23:45"), 6)
    assert [local(s, r).strftime("%H:%M%z") for r in runs] == [
        "02:00+0200", "02:30+0200", "02:00+0100", "02:30+0100", "03:00+0100", "03:30+0100"]


def test_every_2h_over_the_changes():
    berlin = spec(every="2h", timezone="Europe/Berlin")
    # spring: 00:00 CET, then 02:00 is skipped and runs at 03:00 CEST, then 04:00 CEST
    assert utc(next_runs(berlin, z("2026-03-28 22:30"), 3)) == [
        "2026-03-28 23:00", "2026-03-29 01:00", "2026-03-29 02:00"]
    # autumn: 02:00 is shown twice (00:00Z and 01:00Z): an interval runs at both, then 04:00 CET
    assert utc(next_runs(berlin, z("2026-10-24 21:30"), 4)) == [
        "2026-10-24 22:00", "2026-10-25 00:00", "2026-10-25 01:00", "2026-10-25 03:00"]


def test_wrapper_through_apschedulers_api():
    """The trigger as APScheduler's scheduler drives it: get_next_fire_time(previous, now), then into a job."""
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.triggers.base import BaseTrigger

    fire = trigger(spec(at="02:30", timezone="Europe/Berlin"))
    assert isinstance(fire, BaseTrigger)
    first = fire.get_next_fire_time(None, z("2026-10-24 12:00"))
    second = fire.get_next_fire_time(first, z("2026-10-25 00:31"))
    assert utc([first, second]) == ["2026-10-25 00:30", "2026-10-26 01:30"]  # no second run at 01:30Z
    # a missed run is still found from the previous one, as APScheduler's misfire handling expects
    assert utc([fire.get_next_fire_time(z("2026-10-23 00:30"), z("2026-10-26 00:00"))]) == ["2026-10-24 00:30"]
    assert pickle.loads(pickle.dumps(fire)).get_next_fire_time(None, z("2026-10-24 12:00")) == first

    scheduler = BackgroundScheduler(timezone="UTC")
    job = scheduler.add_job(print, trigger=trigger(spec(every="30m")), id="flow")
    scheduler.start(paused=True)
    try:
        assert job.next_run_time is not None and job.next_run_time.minute in (0, 30)
        assert job.next_run_time.second == 0
    finally:
        scheduler.shutdown(wait=False)


# --- never fires --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("fields", "reason"), [
    ({"cron": "0 0 30 2 *"}, "cron '0 0 30 2 *' never runs: Feb never has day 30; pick days that exist"),
    ({"cron": "0 0 31 apr,jun *"}, "Apr, Jun never have day 31"),
    ({"every": "2h", "between": "09:00-09:59"},
     "no every: 2h run (00:00, 02:00, 04:00, …) falls between 09:00-09:59, so it never runs: widen between:"),
    ({"every": "30m", "between": "08:10-08:20"}, "no every: 30m run"),
    ({"every": "1d", "days": []}, "days: is empty, so it never runs: list days like [mon-fri], or write schedule: off"),
    ({"every": "30m", "days": []}, "days: is empty"),
])
def test_never_fires(fields, reason):
    s = spec(**fields)
    assert reason in never_fires(s)
    assert next_runs(s, z("2026-01-01 00:00")) == []
    with pytest.raises(ValueError, match="never runs"):
        trigger(s)


@pytest.mark.parametrize("fields", [
    {"cron": "0 0 29 2 *"}, {"cron": "0 0 30 2 mon"}, {"every": "2h", "between": "09:00-10:00"}, {"every": "5m"},
    {"off": True},
])
def test_fires(fields):
    assert never_fires(spec(**fields)) is None


# --- catch-up -----------------------------------------------------------------------------------------------


def test_latest_due():
    s = spec(every="30m")
    assert latest_due(s, z("2026-05-01 08:00"), z("2026-05-01 10:17")) == z("2026-05-01 10:00")
    assert latest_due(s, z("2026-05-01 10:00"), z("2026-05-01 10:00")) is None
    assert latest_due(s, z("2026-05-01 10:00"), z("2026-05-01 10:29")) is None  # since is excluded
    assert latest_due(s, z("2026-05-01 09:59"), z("2026-05-01 10:30")) == z("2026-05-01 10:30")  # now included
    assert latest_due(s, z("2025-01-01 00:00"), z("2026-05-01 10:17")) == z("2026-05-01 10:00")  # long downtime


def test_latest_due_sparse_and_zoned():
    yearly = spec(cron="0 0 1 1 *")
    assert latest_due(yearly, z("2020-06-01 00:00"), z("2026-05-01 10:17")) == z("2026-01-01 00:00")
    assert latest_due(yearly, z("2026-01-01 00:00"), z("2026-05-01 10:17")) is None
    # down over Berlin's fall-back night: the last of the doubled 02:30 is 01:30Z, which a 30m schedule had
    berlin = spec(every="30m", timezone="Europe/Berlin")
    assert latest_due(berlin, z("2026-10-24 20:00"), z("2026-10-25 01:45")) == z("2026-10-25 01:30")
    daily = spec(at="02:30", timezone="Europe/Berlin")
    assert latest_due(daily, z("2026-10-24 20:00"), z("2026-10-25 01:45")) == z("2026-10-25 00:30")
    assert latest_due(ScheduleSpec(off=True), z("2026-01-01 00:00"), z("2026-05-01 00:00")) is None


def test_yaml_as_written():
    """PyYAML (YAML 1.1, as config.py reads it) turns `off` into False and an unquoted 7:30 into 450."""
    import yaml

    text = """
campaigns: {schedule: {every: 1d, at: 7:30}}
deals: {schedule: {at: ["07:00", "13:00"], days: [mon-fri], timezone: Europe/Berlin}}
contacts: {schedule: off}
lists: {schedule: "every 1w on mon at 06:30"}
pipeline: {schedule: {cron: "0 6 * * 1-5", timezone: America/New_York}}
"""
    flows = {name: _Flow.model_validate(body).schedule for name, body in yaml.safe_load(text).items()}
    assert flows["campaigns"] == ScheduleSpec(every="1d", at=("07:30",))
    assert describe(flows["deals"]) == "Mon–Fri at 07:00 and 13:00 (Europe/Berlin)"
    assert flows["contacts"].off
    assert describe(flows["lists"]) == "weekly on Monday at 06:30 (UTC)"
    assert describe(flows["pipeline"]) == "cron 0 6 * * 1-5: Mon–Fri at 06:00 (America/New_York)"
