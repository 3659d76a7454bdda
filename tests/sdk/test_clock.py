"""The one wall-clock policy: a skipped time shifts forward, a repeated one is the first."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from waddlebot.kernel.errors import Invalid
from waddlebot.sdk.clock import on_day, parse_clock, parse_day, wall_clock

NEW_YORK = ZoneInfo("America/New_York")


def test_a_skipped_time_moves_forward_and_says_so() -> None:
    due = on_day(date(2026, 3, 8), time(2, 30), NEW_YORK)  # 02:00 → 03:00 EDT
    assert due.at == datetime(2026, 3, 8, 7, 30, tzinfo=UTC)  # 03:30 EDT
    assert due.note == (
        "02:30 does not exist on 2026-03-08 in America/New_York (the clocks go forward); "
        "that is 03:30 there."
    )


def test_a_repeated_time_is_the_first_and_says_so() -> None:
    due = on_day(date(2026, 11, 1), time(1, 30), NEW_YORK)  # 01:00–02:00 twice
    assert due.at == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # EDT, the first
    assert "happens twice" in due.note


def test_an_ordinary_time_has_no_note() -> None:
    due = wall_clock(datetime(2026, 12, 1, 18, 30), NEW_YORK)
    assert due.at == datetime(2026, 12, 1, 23, 30, tzinfo=UTC) and due.note == ""


def test_shapes() -> None:
    assert parse_clock(" 9:05 ") == time(9, 5) and parse_day("2026-12-01") == date(2026, 12, 1)
    with pytest.raises(Invalid, match="HH:MM"):
        parse_clock("25:00")
    with pytest.raises(Invalid, match="YYYY-MM-DD"):
        parse_day("2026-02-30")
