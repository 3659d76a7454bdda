"""Wall-clock parsing in a zone: shapes, and the hour a DST change skips or repeats."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from waddlebot.kernel.errors import Invalid
from waddlebot.modules.calendar.manager import parse_number
from waddlebot.modules.calendar.times import check_times, length_text, parse_length, when
from waddlebot.sdk.clock import on_day, parse_clock, parse_day

BERLIN = ZoneInfo("Europe/Berlin")


def test_dates_times_and_lengths() -> None:
    assert parse_day("2026-12-05") == date(2026, 12, 5)
    assert parse_clock("20:00") == time(20, 0) and parse_clock("7:05") == time(7, 5)
    assert parse_length("2h") == timedelta(hours=2)
    assert parse_length("1h30m") == timedelta(minutes=90)
    assert parse_length("snacks") is None
    for bad in ("2026-13-05", "2026-02-30", "05.12.2026", "2026-1-5", "tomorrow"):
        with pytest.raises(Invalid, match="is not a date; write it as YYYY-MM-DD"):
            parse_day(bad)
    for bad in ("24:00", "20:60", "20", "8pm", "20:0", ":30"):
        with pytest.raises(Invalid, match="is not a time; write it as HH:MM"):
            parse_clock(bad)
    assert parse_number("#3") == 3 and parse_number("12") == 12
    for bad in ("0", "x", "#", "-1", "1234567890"):
        with pytest.raises(Invalid, match="is not an event number"):
            parse_number(bad)


def test_wall_clock_across_the_changes_of_2027() -> None:
    # Europe/Berlin: CET (UTC+1) until 28 March 2027 02:00, then CEST (UTC+2) until 31 October
    assert on_day(date(2027, 3, 27), time(20), BERLIN).at == datetime(2027, 3, 27, 19, tzinfo=UTC)
    assert on_day(date(2027, 3, 29), time(20), BERLIN).at == datetime(2027, 3, 29, 18, tzinfo=UTC)
    skipped = on_day(date(2027, 3, 28), time(2, 30), BERLIN)
    assert skipped.at == datetime(2027, 3, 28, 1, 30, tzinfo=UTC)  # 03:30 CEST
    assert "02:30 does not exist on 2027-03-28 in Europe/Berlin" in skipped.note
    # 02:30 on 31 October happens twice: the first (still summer time) is meant
    assert on_day(date(2027, 10, 31), time(2, 30), BERLIN).at == datetime(
        2027, 10, 31, 0, 30, tzinfo=UTC
    )
    start = datetime(2027, 3, 29, 18, tzinfo=UTC)
    assert when(start, "Europe/Berlin") == "Mon 29 Mar 2027, 20:00 CEST"
    assert length_text(start, start + timedelta(minutes=90)) == "1h30m"


def test_what_cannot_be_an_event() -> None:
    now = datetime(2026, 11, 30, 12, tzinfo=UTC)
    hour = timedelta(hours=1)
    check_times(now + hour, hour, now)
    with pytest.raises(Invalid, match="already passed"):
        check_times(now, hour, now)
    with pytest.raises(Invalid, match="more than two years ahead"):
        check_times(now + timedelta(days=731), hour, now)
    with pytest.raises(Invalid, match="between 1 minute and 7 days"):
        check_times(now + hour, timedelta(days=8), now)
