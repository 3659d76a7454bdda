"""Wall-clock times typed in chat ↔ UTC instants, in a community's time zone (pure).

``2026-12-05 20:00`` means 20:00 on that day where the community lives; it is stored in UTC
with the zone's name. A time the clocks skip (the hour a DST change jumps over) does not
exist and is refused; a time they repeat (the hour after the change back) is the first one.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from waddlebot.kernel.errors import Invalid
from waddlebot.sdk.timers import format_duration, parse_duration

DEFAULT_DURATION = timedelta(hours=1)
MAX_DURATION = timedelta(days=7)
MIN_DURATION = timedelta(minutes=1)
MAX_AHEAD = timedelta(days=2 * 365)


def parse_date(text: str) -> date:
    """``YYYY-MM-DD``; an :class:`Invalid` naming the expected shape otherwise."""
    try:
        if len(text) != 10:
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise Invalid(f"{text} is not a date; write it as YYYY-MM-DD (like 2026-12-05).") from None


def parse_time(text: str) -> time:
    """``HH:MM`` on a 24-hour clock."""
    hours, colon, minutes = text.partition(":")
    if (
        colon
        and hours.isdigit()
        and minutes.isdigit()
        and 1 <= len(hours) <= 2
        and len(minutes) == 2
        and int(hours) < 24
        and int(minutes) < 60
    ):
        return time(int(hours), int(minutes))
    raise Invalid(f"{text} is not a time; write it as HH:MM on a 24-hour clock (like 20:00).")


def parse_length(text: str) -> timedelta | None:
    """A duration like ``2h`` or ``1h30m``, or None when ``text`` is not one."""
    seconds = parse_duration(text)
    return None if seconds is None else timedelta(seconds=seconds)


def local_to_utc(day: date, clock: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of ``day clock`` in ``zone``; refuses a time the clocks skip."""
    local = datetime.combine(day, clock, tzinfo=zone)
    try:
        instant = local.astimezone(UTC)
    except (OverflowError, ValueError):
        raise Invalid(f"{day.isoformat()} is out of range.") from None
    if instant.astimezone(zone).replace(tzinfo=None) != local.replace(tzinfo=None):
        raise Invalid(
            f"{clock:%H:%M} does not exist on {day.isoformat()} in {zone.key} "
            "(the clocks skip it); pick another time."
        )
    return instant


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
