"""Wall-clock times typed in chat ↔ UTC instants, in a community's time zone (pure).

``2026-12-05 20:00`` means 20:00 on that day where the community lives; it is stored in UTC
with the zone's name. Reading it follows :mod:`waddlebot.sdk.clock`, as reminders do: a time
the clocks skip shifts forward by the gap, a time they repeat is the first one.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from waddlebot.kernel.errors import Invalid
from waddlebot.sdk.timers import format_duration, parse_duration

DEFAULT_DURATION = timedelta(hours=1)
MAX_DURATION = timedelta(days=7)
MIN_DURATION = timedelta(minutes=1)
MAX_AHEAD = timedelta(days=2 * 365)


def parse_length(text: str) -> timedelta | None:
    """A duration like ``2h`` or ``1h30m``, or None when ``text`` is not one."""
    seconds = parse_duration(text)
    return None if seconds is None else timedelta(seconds=seconds)


def check_times(starts_at: datetime, length: timedelta, now: datetime) -> None:
    """Refuse what cannot be an event: in the past, too far ahead, too short or too long."""
    if starts_at <= now:
        raise Invalid("That time has already passed; events are for the future.")
    if starts_at > now + MAX_AHEAD:
        raise Invalid("That is more than two years ahead; propose it closer to the date.")
    if not MIN_DURATION <= length <= MAX_DURATION:
        raise Invalid("An event lasts between 1 minute and 7 days.")


def when(moment: datetime, zone_name: str) -> str:
    """``Sat 5 Dec 2026, 20:00 CET``: a moment as people in ``zone_name`` read it."""
    local = moment.astimezone(ZoneInfo(zone_name))
    return f"{local:%a} {local.day} {local:%b %Y}, {local:%H:%M} {local:%Z}"


def length_text(starts_at: datetime, ends_at: datetime) -> str:
    """``2h``, ``1h30m``: how long an event lasts."""
    return format_duration(int((ends_at - starts_at).total_seconds()))
