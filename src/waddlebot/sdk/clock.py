"""Wall-clock times typed in chat (``18:30``, ``2026-12-01``) → UTC instants in a community's
time zone: one daylight-saving policy for every module (reminders, calendar, …).

* **A time that does not exist** (spring forward: 02:30 on 2026-03-29 in Europe/Berlin, the
  clocks jump from 02:00 to 03:00) is **shifted forward by the gap**: 03:30 local, i.e. the
  instant 02:30 would be on the old offset. :attr:`Due.note` says so, for the reply.
* **A time that happens twice** (fall back: 02:30 on 2026-10-25 in Europe/Berlin) is read as
  its **first occurrence** (``fold=0``, still on summer time); the note says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from waddlebot.kernel.errors import Invalid

CLOCK = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")
DAY = re.compile(r"(\d{4})-(\d{2})-(\d{2})")


@dataclass(frozen=True, slots=True)
class Due:
    """A resolved instant (aware UTC) and a note about a DST adjustment ("" when none)."""

    at: datetime
    note: str = ""


def parse_clock(text: str) -> time:
    """``18:30`` / ``9:05`` (24-hour) → a time; a refusal that shows the format otherwise."""
    match = CLOCK.fullmatch(text.strip())
    if match is None:
        raise Invalid(f"{text} is not a time; write it as HH:MM (24-hour), e.g. 18:30.")
    return time(int(match.group(1)), int(match.group(2)))


def parse_day(text: str) -> date:
    """``2026-12-01`` → a date; a refusal that shows the format otherwise."""
    match = DAY.fullmatch(text.strip())
    try:
        if match is None:
            raise ValueError
        return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        raise Invalid(f"{text} is not a date; write it as YYYY-MM-DD, e.g. 2026-12-01.") from None


def wall_clock(naive: datetime, zone: ZoneInfo) -> Due:
    """The instant the wall clock in ``zone`` shows ``naive``: gaps shift forward, repeated
    times take their first occurrence."""
    first = naive.replace(tzinfo=zone, fold=0)
    second = naive.replace(tzinfo=zone, fold=1)
    try:
        at = first.astimezone(UTC)
    except (OverflowError, ValueError):
        raise Invalid(f"{naive:%Y-%m-%d} is out of range.") from None
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


def on_day(day: date, clock: time, zone: ZoneInfo) -> Due:
    """``YYYY-MM-DD HH:MM`` in ``zone``."""
    return wall_clock(datetime.combine(day, clock), zone)
