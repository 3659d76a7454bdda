"""When a reminder is due: ``in 1h30m`` (elapsed time) or ``at 18:30`` / ``at 2026-12-01
18:30`` (a wall-clock time in the community's zone), turned into one UTC instant.

Wall-clock times and daylight saving time, decided once here:

* **A time that does not exist** (spring forward: 02:30 on 2026-03-29 in Europe/Berlin, the
  clocks jump from 02:00 to 03:00) is **shifted forward by the gap**: 03:30 local, i.e. the
  instant 02:30 would be on the old offset. The reply says so.
* **A time that happens twice** (fall back: 02:30 on 2026-10-25 in Europe/Berlin) is read as
  its **first occurrence** (``fold=0``, still on summer time). For ``at HH:MM`` (the next
  time the clock shows it) the second occurrence is used when the first has just passed but
  the second is still ahead. The reply says so.
* ``in DURATION`` is elapsed time, whatever the clocks do: ``in 1d`` across a change is 24 h.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from waddlebot.kernel.errors import Invalid
from waddlebot.sdk.timers import parse_duration

CLOCK = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")
DAY = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
MAX_AHEAD = timedelta(days=365)


@dataclass(frozen=True, slots=True)
class Due:
    """A resolved due time (aware UTC) and a note about a DST adjustment ("" when none)."""

    at: datetime
    note: str = ""


def after(text: str, now: datetime) -> Due:
    """``in DURATION``: ``90s``, ``10m``, ``1h30m``, ``2d`` from ``now``."""
    seconds = parse_duration(text)
    if seconds is None:
        raise Invalid(f"{text} is not a duration; try 90s, 10m, 1h30m or 2d.")
    if seconds < 1:
        raise Invalid("Give a duration of at least 1s, e.g. 10m.")
    return Due(now + timedelta(seconds=seconds))


def clock_time(text: str) -> time:
    """``18:30`` / ``9:05`` (24-hour) → a time; a refusal that shows the format otherwise."""
    match = CLOCK.fullmatch(text.strip())
    if match is None:
        raise Invalid(f"{text} is not a time; write it as HH:MM (24-hour), e.g. 18:30.")
    return time(int(match.group(1)), int(match.group(2)))


def calendar_day(text: str) -> date:
    """``2026-12-01`` → a date; a refusal that shows the format otherwise."""
    match = DAY.fullmatch(text.strip())
    try:
        if match is None:
            raise ValueError
        return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        raise Invalid(f"{text} is not a date; write it as YYYY-MM-DD, e.g. 2026-12-01.") from None


def local(naive: datetime, zone: ZoneInfo) -> Due:
    """The instant the wall clock in ``zone`` shows ``naive``: gaps shift forward, repeated
    times take their first occurrence (see the module docstring)."""
    first = naive.replace(tzinfo=zone, fold=0)
    second = naive.replace(tzinfo=zone, fold=1)
    at = first.astimezone(UTC)
    if first.utcoffset() == second.utcoffset():
        return Due(at)
    shown = at.astimezone(zone).replace(tzinfo=None)
    where = f"on {naive:%Y-%m-%d} in {zone.key}"
    if shown != naive:
        return Due(
            at,
            f"{naive:%H:%M} does not exist {where} (the clocks go forward); "
            f"that is {shown:%H:%M} there.",
        )
    return Due(at, f"{naive:%H:%M} happens twice {where}; this is the first time.")


def next_clock(wanted: time, zone: ZoneInfo, now: datetime) -> Due:
    """The next time after ``now`` that the clock in ``zone`` shows ``wanted``."""
    today = now.astimezone(zone).date()
    for offset in range(3):
        naive = datetime.combine(today + timedelta(days=offset), wanted)
        due = local(naive, zone)
        if due.at > now:
            return due
        second = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)
        if second > now:  # the repeated hour: the first pass is over, the second is ahead
            return Due(second, f"{naive:%H:%M} happens twice today; this is the second time.")
    raise AssertionError("a wall-clock time recurs within three days")  # pragma: no cover


def on_day(day: date, wanted: time, zone: ZoneInfo) -> Due:
    """``at YYYY-MM-DD HH:MM`` in ``zone``."""
    return local(datetime.combine(day, wanted), zone)


def check_window(due: datetime, now: datetime, zone: ZoneInfo) -> None:
    """Refuse a time that has passed or lies more than a year ahead."""
    if due <= now:
        raise Invalid(
            f"That time has passed (it is {now.astimezone(zone):%Y-%m-%d %H:%M} in {zone.key})."
        )
    if due - now > MAX_AHEAD:
        raise Invalid("Reminders can be set at most a year ahead.")


def describe(due: datetime, zone: ZoneInfo, now: datetime) -> str:
    """``2026-12-01 18:30 CET (in 2h5m)``: the local time and how far away it is (``overdue``
    for one whose job has not delivered it yet, e.g. while the bot was down)."""
    shown = due.astimezone(zone)
    away = f"in {span(due - now)}" if due > now else "overdue"
    return f"{shown:%Y-%m-%d %H:%M} {shown.tzname()} ({away})"


def span(delta: timedelta) -> str:
    """A short human duration: ``45s``, ``10m``, ``2h5m``, ``3d4h`` (two units at most)."""
    seconds = max(int(delta.total_seconds()), 0)
    if seconds < 60:
        return f"{seconds}s"
    minutes = (seconds + 30) // 60
    days, rest = divmod(minutes, 1440)
    hours, minutes = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "m")]
    shown = [f"{n}{unit}" for n, unit in parts if n]
    return "".join(shown[:2]) or "0m"
