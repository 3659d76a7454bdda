"""The calendar in chat, through the real pipeline: proposals and their approval,
permissions, refusals, reminders on the harness clock, cancellation, and time zones."""

from __future__ import annotations

from datetime import UTC, date, timedelta

from sqlalchemy import select, update

from tests.module_support import module_request
from tests.modules.calendar.helpers import MOD, OWNER, at, day_after, user_of, when
from waddlebot.kernel.contracts import ChatAction
from waddlebot.modules.calendar import module as calendar
from waddlebot.modules.calendar.models import CANCELLED, CalendarEvent
from waddlebot.sdk.remote import RemoteHost
from waddlebot.sdk.testing import ModuleHarness


async def test_a_members_event_waits_for_a_moderator_who_tells_them() -> None:
    async with ModuleHarness(calendar) as bot:
        day = day_after(bot, 3)
        start = at(day, "20:00")
        line = f'#1 "Movie night" {when(start)} (2h)'
        assert await bot.reply(f'!event add "Movie night" {day} 20:00 2h Bring snacks') == (
            f"Event {line} is proposed; a moderator needs to approve it."
        )
        # pending: not listed, not shown to other members, not approvable by members
        assert (await bot.reply("!events")).startswith("Nothing on the calendar.")
        assert await bot.reply("!event 1", user="bob") == "Event #1 does not exist."
        assert await bot.reply("!event 1") == (f"{line} [pending], proposed by alice: Bring snacks")
        assert await bot.reply("!event approve 1", user="bob") == (
            "@bob !event approve needs the calendar.approve permission here."
        )
        assert "calendar.approve" in await bot.reply("!events pending", user="bob")
        assert await bot.reply("!events pending", **MOD) == (
            f"Waiting for approval: {line} by alice — !event approve|reject NUMBER"
        )
        # the moderator approves here, where it was proposed: the reply tells alice
        assert await bot.reply("!event approve 1", **MOD) == (
            f"@alice, your event {line} is approved."
        )
        assert await bot.reply("!event approve #1", **MOD) == (
            'Event #1 "Movie night" is approved already.'
        )
        assert await bot.reply("!events", user="bob") == f"Upcoming: {line}"
        assert await bot.reply("!event 1", user="bob") == f"{line}, proposed by alice: Bring snacks"


async def test_autoapproval_rejection_and_cancelling() -> None:
    async with ModuleHarness(calendar) as bot:
        day = day_after(bot, 5)
        assert await bot.reply(f"!event add Quiz night {day} 21:00 90m", **OWNER) == (
            f'Event #1 "Quiz night" {when(at(day, "21:00"))} (1h30m) is on the calendar.'
        )
        await bot.reply(f"!event add Karaoke {day} 22:00")
        assert await bot.reply("!event reject 2 not on a school night", **MOD) == (
            f'@alice, your event #2 "Karaoke" {when(at(day, "22:00"))} (1h) '
            "was not approved: not on a school night."
        )
        assert await bot.reply("!event 2") == (
            f'#2 "Karaoke" {when(at(day, "22:00"))} (1h) [rejected], proposed by alice '
            "(reason: not on a school night)"
        )
        assert await bot.reply("!event approve 2", **MOD) == (
            'Event #2 "Karaoke" is rejected already.'
        )
        # cancelling: only the proposer or an approver
        assert await bot.reply("!event cancel 1") == (
            "Only whoever proposed event #1 or someone with calendar.approve can cancel it."
        )
        assert await bot.reply("!event cancel 1", **OWNER) == 'Event #1 "Quiz night" is cancelled.'
        assert await bot.reply("!event cancel 1", **OWNER) == (
            'Event #1 "Quiz night" is cancelled already.'
        )
        await bot.reply(f"!event add Games {day} 18:00")
        assert await bot.reply("!event cancel 3", **MOD) == (
            f'@alice, your event #3 "Games" {when(at(day, "18:00"))} (1h) is cancelled.'
        )
        assert (await bot.reply("!events")).startswith("Nothing on the calendar.")
        assert await bot.reply("!event 9", **MOD) == "Event #9 does not exist."


async def test_bad_input_answers_with_what_is_wrong() -> None:
    async with ModuleHarness(calendar, rate_limit_user=100) as bot:
        day = day_after(bot, 2)
        usage = 'Usage: !event add "TITLE" YYYY-MM-DD HH:MM [DURATION like 2h] [description]'
        assert await bot.reply("!event add") == usage
        assert await bot.reply("!event add Movie night") == usage
        assert await bot.reply(f"!event add Movie {day}") == usage
        assert await bot.reply(f"!event add {day} 20:00") == usage  # no title
        assert await bot.reply("!event") == (
            'Usage: !event NUMBER | !event add "TITLE" YYYY-MM-DD HH:MM [DURATION like 2h] '
            "[description] | !event approve|reject|cancel NUMBER"
        )
        assert await bot.reply("!event add Movie 2026-02-30 20:00") == (
            "2026-02-30 is not a date; write it as YYYY-MM-DD, e.g. 2026-12-01."
        )
        assert await bot.reply(f"!event add Movie {day} 8pm") == (
            "8pm is not a time; write it as HH:MM (24-hour), e.g. 18:30."
        )
        yesterday = day_after(bot, -1)
        assert await bot.reply(f"!event add Movie {yesterday} 20:00") == (
            "That time has already passed; events are for the future."
        )
        assert await bot.reply(f"!event add Movie {day_after(bot, 800)} 20:00") == (
            "That is more than two years ahead; propose it closer to the date."
        )
        assert await bot.reply(f"!event add Movie {day} 20:00 9d") == (
            "An event lasts between 1 minute and 7 days."
        )
        long = "x" * 201
        assert await bot.reply(f"!event add {long} {day} 20:00") == (
            "An event's title is at most 200 characters."
        )
        assert await bot.reply("!event approve", **MOD) == "Usage: !event approve NUMBER"
        assert await bot.reply("!event approve soon", **MOD) == (
            "soon is not an event number (like 3 or #3)."
        )
        assert await bot.reply("!event add Movie 0001-01-01 20:00") == (
            "That time has already passed; events are for the future."
        )
        # nothing was stored by any of it
        assert await bot.reply("!events pending", **MOD) == "No events are waiting for approval."
        # a member cannot flood the approvers
        for hour in range(10):
            await bot.reply(f"!event add Idea {day} {hour:02}:30")
        assert await bot.reply(f"!event add Idea {day} 11:30") == (
            "You have 10 events waiting for approval already; "
            "wait until a moderator has looked at them."
        )


async def test_reminders_fire_before_the_start_and_never_for_cancelled_events() -> None:
    async with ModuleHarness(calendar) as bot:
        day = day_after(bot, 2)
        start = at(day, "20:00")
        await bot.reply(f"!event add Movie night {day} 20:00 Bring snacks", **OWNER)
        await bot.reply(f"!event add Quiz {day} 20:00", **OWNER)
        await bot.reply(f"!event add Karaoke {day} 20:00")  # pending: never reminded
        await bot.reply(f"!event add Games {day} 20:00")
        await bot.reply("!event reject 4", **MOD)
        assert await bot.reply("!event cancel 2", **OWNER) == 'Event #2 "Quiz" is cancelled.'
        until = (start - timedelta(minutes=15) - bot.now()).total_seconds()
        assert await bot.run_due(advance=until - 5) == []
        assert await bot.run_due(advance=10) == [
            f'Reminder: #1 "Movie night" starts in 15 minutes ({when(start)}): Bring snacks'
        ]
        assert await bot.run_due(advance=3600) == []  # once


async def test_a_cancelled_event_stays_silent_even_if_its_job_survived() -> None:
    async with ModuleHarness(calendar, config={"remind_minutes": 30}) as bot:
        day = day_after(bot, 1)
        start = at(day, "12:00")
        await bot.reply(f"!event add Stream {day} 12:00", **OWNER)
        await bot.reply(f"!event add Raid train {day} 12:00", **OWNER)
        # as if the process died between the cancel and the job's cancellation
        async with bot.runtime.db.session() as session:
            await session.execute(
                update(CalendarEvent).where(CalendarEvent.number == 2).values(status=CANCELLED)
            )
        until = (start - timedelta(minutes=30) - bot.now()).total_seconds()
        assert await bot.run_due(advance=until + 1) == [
            f'Reminder: #1 "Stream" starts in 30 minutes ({when(start)}).'
        ]


async def test_an_event_soon_is_reminded_at_once_and_a_late_reminder_is_dropped() -> None:
    async with ModuleHarness(calendar) as bot:
        soon = (bot.now() + timedelta(minutes=10)).replace(second=0, microsecond=0)
        soon_text = f"{soon:%Y-%m-%d %H:%M}"
        await bot.reply(f"!event add Snack break {soon_text}", **OWNER)
        [reminder] = await bot.run_due()
        assert reminder.startswith('Reminder: #1 "Snack break" starts in ')
        later = (bot.now() + timedelta(hours=3)).replace(second=0, microsecond=0)
        await bot.reply(f"!event add Nap {later:%Y-%m-%d %H:%M}", **OWNER)
        assert await bot.run_due(advance=4 * 3600) == []  # the start passed: no late reminder


async def test_times_follow_the_community_zone_across_a_dst_change() -> None:
    async with ModuleHarness(calendar) as bot:
        zone = "Europe/Berlin"
        assert (await bot.reply(f"!timezone {zone}", **OWNER)).startswith("Time zone set to")
        change = next_dst_change(bot, zone)
        before, after = change - timedelta(days=1), change + timedelta(days=1)
        await bot.reply(f"!event add Before {before} 20:00", **OWNER)
        await bot.reply(f"!event add After {after} 20:00", **OWNER)
        start_before, start_after = at(before, "20:00", zone), at(after, "20:00", zone)
        # the same wall-clock time, one hour apart in UTC
        offset = start_before.utcoffset()
        assert offset is not None and start_after.utcoffset() != offset
        assert await bot.reply("!events") == (
            f'Upcoming: #1 "Before" {when(start_before, zone)} (1h); '
            f'#2 "After" {when(start_after, zone)} (1h)'
        )
        async with bot.runtime.db.session() as session:
            rows = {
                row.title: row.starts_at.replace(tzinfo=UTC)
                for row in (await session.scalars(select(CalendarEvent))).all()
            }
        assert rows == {
            "Before": start_before.astimezone(UTC).replace(tzinfo=UTC),
            "After": start_after.astimezone(UTC).replace(tzinfo=UTC),
        }
        assert rows["After"].hour != rows["Before"].hour
        # each reminder comes 15 minutes before its own local start, whatever the offset
        until = (start_before - timedelta(minutes=15) - bot.now()).total_seconds()
        assert await bot.run_due(advance=until + 1) == [
            f'Reminder: #1 "Before" starts in 15 minutes ({when(start_before, zone)}).'
        ]
        until = (start_after - timedelta(minutes=15) - bot.now()).total_seconds()
        assert await bot.run_due(advance=until - 2) == []
        assert await bot.run_due(advance=3) == [
            f'Reminder: #2 "After" starts in 15 minutes ({when(start_after, zone)}).'
        ]
        # a skipped hour shifts forward by the gap: tests/sdk/test_clock.py


async def test_outside_the_router_the_calendar_says_so() -> None:
    request = module_request("event", "1")
    response = await calendar.handle(request, RemoteHost())
    assert response.actions == [ChatAction(text="The calendar needs the bot's scheduler.")]


def next_dst_change(bot: ModuleHarness, zone: str) -> date:
    """The first day after tomorrow whose UTC offset differs from the day before's."""
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(zone)
    day = day_after(bot, 2, zone)
    for _ in range(400):
        noon_before = at(day - timedelta(days=1), "12:00", zone)
        noon = at(day, "12:00", zone)
        if noon_before.utcoffset() != noon.astimezone(tz).utcoffset():
            return day
        day += timedelta(days=1)
    raise AssertionError(f"{zone} has no DST change within a year")


async def test_events_follow_a_merged_identity() -> None:
    from waddlebot.kernel.storage.merges import run_merge_hooks

    async with ModuleHarness(calendar) as bot:
        day = day_after(bot, 2)
        await bot.reply(f"!event add Movie night {day} 20:00")
        alice, other = await user_of(bot, "alice"), await user_of(bot, "alice-on-discord")
        async with bot.runtime.db.session() as session:
            await run_merge_hooks(session, alice, other)
        async with bot.runtime.db.session() as session:
            row = await session.scalar(select(CalendarEvent))
        assert row is not None and row.proposed_by == other
