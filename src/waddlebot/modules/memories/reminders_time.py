"""When a reminder is due: ``in 1h30m`` (elapsed time) or ``at 18:30`` / ``at 2026-12-01
18:30`` (a wall-clock time in the community's zone), turned into one UTC instant.

Wall-clock times follow the one daylight-saving policy of :mod:`waddlebot.sdk.clock` (a
skipped time shifts forward, a repeated one is its first occurrence), with one addition for
``at HH:MM`` (the next time the clock shows it): in the repeated hour, the second occurrence
is used when the first has just passed but the second is still ahead. The reply says so.
* ``in DURATION`` is elapsed time, whatever the clocks do: ``in 1d`` across a change is 24 h.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from waddlebot.kernel.errors import Invalid
from waddlebot.sdk.clock import Due, wall_clock
from waddlebot.sdk.timers import parse_duration

MAX_AHEAD = timedelta(days=365)


def after(text: str, now: datetime) -> Due:
    """``in DURATION``: ``90s``, ``10m``, ``1h30m``, ``2d`` from ``now``."""
    seconds = parse_duration(text)
    if seconds is None:
        raise Invalid(f"{text} is not a duration; try 90s, 10m, 1h30m or 2d.")
    if seconds < 1:
        raise Invalid("Give a duration of at least 1s, e.g. 10m.")
    return Due(now + timedelta(seconds=seconds))


def next_clock(wanted: time, zone: ZoneInfo, now: datetime) -> Due:
    """The next time after ``now`` that the clock in ``zone`` shows ``wanted``."""
    today = now.astimezone(zone).date()
    for offset in range(3):
        naive = datetime.combine(today + timedelta(days=offset), wanted)
        due = wall_clock(naive, zone)
        if due.at > now:
            return due
        second = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)
        if second > now:  # the repeated hour: the first pass is over, the second is ahead
            return Due(second, f"{naive:%H:%M} happens twice today; this is the second time.")
    raise AssertionError("a wall-clock time recurs within three days")  # pragma: no cover


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
