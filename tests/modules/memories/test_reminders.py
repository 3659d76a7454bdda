"""Reminders end to end through the real pipeline on the harness's clock: delivery in the
channel and as a whisper, @user mentions, limits and refusals, cancel, once-only delivery,
time zones across DST changes (UTC due times asserted), restarts, and the REST API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from tests.communities.helpers import bearer, chatter, community_of, key_for, set_role
from tests.support import live_server
from waddlebot.app import create_app
from waddlebot.collectors.playground.service import PlaygroundService, converse
from waddlebot.kernel.contracts import Event, Platform, Role, UserRef
from waddlebot.kernel.security.service_tokens import service_headers
from waddlebot.kernel.settings import Settings
from waddlebot.modules.core import module as core
from waddlebot.modules.memories import module as memories
from waddlebot.modules.memories.models_reminders import Reminder
from waddlebot.modules.memories.reminders_manager import ReminderBook
from waddlebot.modules.memories.reminders_time import next_clock, span
from waddlebot.router.service import RouterService
from waddlebot.sdk.testing import ModuleHarness

OWNER = {"user": "streamer", "role": "broadcaster"}
API = "/api/memories/v1"


async def travel(bot: ModuleHarness, moment: datetime) -> None:
    """Put the harness's clock at ``moment`` (nothing is due yet in a fresh harness)."""
    assert await bot.run_due(advance=(moment - bot.now()).total_seconds()) == []


async def rows(bot: ModuleHarness) -> list[Reminder]:
    async with bot.runtime.db.read_session() as session:
        return list((await session.scalars(select(Reminder).order_by(Reminder.number))).all())


def utc(row: Reminder) -> datetime:
    due = row.due_at
    return (due if due.tzinfo else due.replace(tzinfo=UTC)).astimezone(UTC)


async def posted(bot: ModuleHarness, after: int = 0, *, want: int = 1) -> list[dict[str, Any]]:
    """What the bot posted into the lobby on its own (type, text, user), bounded wait."""
    assert bot.client is not None
    headers = service_headers(bot.runtime.settings.resolved_secret_key, "test")
    messages: list[dict[str, Any]] = []
    for _ in range(100):
        answer = await bot.client.get(
            "/api/playground/v1/channels/lobby/messages", params={"after": after}, headers=headers
        )
        messages = answer.json()["messages"]
        if len(messages) >= want:
            break
        await asyncio.sleep(0.02)
    return [{"type": m["type"], "text": m["text"], "user": m["user"]} for m in messages]


# --- delivery -----------------------------------------------------------------------------


async def test_remind_me_in_the_channel_once() -> None:
    async with ModuleHarness(memories) as bot:
        answer = await bot.reply("!remind me in 10m stretch  your legs")
        assert answer.startswith("Reminder #1 set for you: ") and answer.endswith("(in 10m).")
        [row] = await rows(bot)
        assert row.status == "pending" and row.text == "stretch  your legs"
        assert (row.origin_platform, row.origin_channel_id, row.time_zone) == (
            "playground",
            "lobby",
            "UTC",
        )
        assert abs(utc(row) - bot.now() - timedelta(minutes=10)) < timedelta(seconds=5)
        assert await bot.run_due(advance=590) == []
        assert await bot.run_due(advance=15) == ["@alice reminder: stretch  your legs"]
        assert await posted(bot) == [
            {"type": "chat", "text": "@alice reminder: stretch  your legs", "user": None}
        ]
        assert await bot.run_due(advance=3600) == []
        [row] = await rows(bot)
        assert row.status == "delivered"
        assert await bot.reply("!reminders") == (
            "You have no reminders pending here. Set one: !remind me in 10m stretch"
        )
        # "me" is optional
        assert (await bot.reply("!remind in 90s water")).startswith("Reminder #2 set for you")
        assert await bot.run_due(advance=95) == ["@alice reminder: water"]


async def test_remind_someone_mentions_them_or_whispers() -> None:
    async with ModuleHarness(memories) as bot:
        await bot.texts("hi", user="bob")
        assert (await bot.reply("!remind @bob in 1h30m raid at 8")).startswith(
            "Reminder #1 set for @bob: "
        )
        answer = await bot.reply("!remind @Bob in 2h --private call mom")
        assert answer.startswith("Reminder #2 set for @bob, whispered: ")
        assert "call mom" not in answer
        assert (await bot.reply("!remind me --private in 3h pills --private")).startswith(
            "Reminder #3 set for you, whispered"
        )
        assert await bot.reply("!remind @nobody in 5m x") == "I don't know nobody here yet."
        assert await bot.run_due(advance=5400) == ["@bob reminder from alice: raid at 8"]
        assert await bot.run_due(advance=1800) == ["Reminder from alice: call mom"]
        assert await bot.run_due(advance=3600) == ["Reminder: pills"]
        assert await posted(bot, want=3) == [
            {"type": "chat", "text": "@bob reminder from alice: raid at 8", "user": None},
            {"type": "whisper", "text": "Reminder from alice: call mom", "user": "bob"},
            {"type": "whisper", "text": "Reminder: pills", "user": "alice"},
        ]
        first, second, third = await rows(bot)
        assert (first.target_platform_user_id, first.target_name, first.private) == (
            "bob",
            "bob",
            False,
        )
        assert second.private and third.private and third.target_name == "alice"


async def test_a_reminder_is_delivered_once_even_when_its_job_runs_again() -> None:
    async with ModuleHarness(memories) as bot:
        await bot.reply("!remind me in 1m once")
        [row] = await rows(bot)
        assert row.job_id is not None
        book = ReminderBook(bot.runtime.db)
        assert await bot.run_due(advance=61) == ["@alice reminder: once"]
        # a retried or reclaimed run of the same job finds it delivered and stays silent
        assert await book.deliver(row.community_id, row.id, row.job_id) is None
        # and a job that is not the reminder's own never delivers it
        await bot.reply("!remind me in 1m twice")
        second = (await rows(bot))[1]
        assert await book.deliver(second.community_id, second.id, "some-other-job") is None
        assert await bot.run_due(advance=61) == ["@alice reminder: twice"]


async def test_a_job_that_runs_before_its_row_is_written_is_retried_once() -> None:
    from waddlebot.sdk.scheduling import JobOrigin, JobSpec

    async with ModuleHarness(memories) as bot:
        community = await bot.community_id()
        assert bot.router.jobs is not None
        job_id = await bot.router.jobs.schedule(
            JobSpec(
                module="memories",
                community_id=community,
                handler="remind",
                due_at=bot.now(),
                payload={"reminder": "not-written"},
                origin=JobOrigin(platform="playground", server_id="playground", channel_id="lobby"),
            )
        )
        assert await bot.run_due() == []
        first = await bot.job(job_id)
        assert (first.status, first.attempts) == ("pending", 1)  # retried later
        assert await bot.run_due(advance=60) == []
        assert (await bot.job(job_id)).status == "done"  # an orphan: silent, not failed


async def test_a_reminder_due_while_the_bot_was_down_is_sent_late_and_says_so() -> None:
    async with ModuleHarness(memories) as bot:
        await travel(bot, datetime(2026, 12, 1, 10, 0, tzinfo=UTC))
        await bot.reply("!remind me at 12:00 lunch")
        assert await bot.run_due(advance=6 * 3600) == [
            "@alice reminder: lunch (due 2026-12-01 12:00 UTC, sent late)"
        ]


# --- listing, cancelling, limits ----------------------------------------------------------


async def test_list_cancel_and_who_may_cancel() -> None:
    async with ModuleHarness(memories) as bot:
        await bot.texts("hi", user="bob")
        await bot.reply("!remind me in 2h later")
        await bot.reply("!remind me in 1h sooner")
        await bot.reply("!remind @bob in 3h --private secret plan")
        await bot.reply("!remind me in 1h bob's own", user="bob")
        listing = await bot.reply("!reminders")
        assert listing.startswith("Your reminders: #2 ")
        assert "(in 1h): sooner; #1 " in listing
        assert "(in 2h): later; #3 " in listing and listing.endswith("for @bob: (private)")
        assert "secret" not in listing
        assert (await bot.reply("!reminders", user="bob")).startswith("Your reminders: #4 ")
        # numbers are per community and stay put: cancelling #2 does not renumber #3
        assert await bot.reply("!reminders cancel #2") == "Reminder #2 cancelled."
        assert "#3 " in await bot.reply("!reminders")
        assert await bot.reply("!reminders cancel 2") == "Reminder #2 was cancelled already."
        assert await bot.reply("!reminders cancel 9") == "Reminder #9 does not exist."
        assert await bot.reply("!reminders cancel 99999999999999") == (
            "Reminder #99999999999999 does not exist."
        )
        assert await bot.reply("!reminders cancel two") == (
            "two is not a reminder number. Usage: !reminders [@user] | !reminders cancel N"
        )
        assert await bot.reply("!reminders cancel 1", user="bob") == (
            "Reminder #1 is not yours to cancel."
        )
        # memories.manage (moderators) may cancel anyone's
        assert await bot.reply("!reminders cancel 1", user="mo", role="moderator") == (
            "Reminder #1 (set by alice) cancelled."
        )
        assert await bot.reply("!reminders extra") == (
            "Usage: !reminders [@user] | !reminders cancel N"
        )
        assert await bot.reply("!reminders @alice", user="bob") == (
            "Listing someone else's reminders needs the memories.manage permission."
        )
        theirs = await bot.reply("!reminders @alice", user="mo", role="moderator")
        assert theirs.startswith("Reminders alice set: #3 ") and "secret" not in theirs
        assert await bot.reply("!reminders @mo", user="mo", role="moderator") == (
            "mo has no reminders pending here."
        )
        # cancelled ones never fire; the rest do
        assert await bot.run_due(advance=3605) == ["@bob reminder: bob's own"]
        assert await bot.run_due(advance=7200) == ["Reminder from alice: secret plan"]
        assert await bot.reply("!reminders cancel 3") == "Reminder #3 was delivered already."
        assert [r.status for r in await rows(bot)] == [
            "cancelled",
            "cancelled",
            "delivered",
            "delivered",
        ]


async def test_limits_and_refusals() -> None:
    async with ModuleHarness(memories, rate_limit_user=100, rate_limit_entity=200) as bot:
        usage = "Usage: !remind me|@user in 10m|at 18:30|at 2026-12-01 18:30 [--private] TEXT"
        for text, answer in (
            ("!remind", usage),
            ("!remind me", usage),
            ("!remind me to stretch in 5m", usage),
            ("!remind me in 10m", "What should I remind you of? Add the text after the time."),
            ("!remind me in soon x", "soon is not a duration; try 90s, 10m, 1h30m or 2d."),
            ("!remind me in 0s x", "Give a duration of at least 1s, e.g. 10m."),
            ("!remind me in 366d x", "Reminders can be set at most a year ahead."),
            ("!remind me at 25:00 x", "25:00 is not a time; write it as HH:MM (24-hour)"),
            ("!remind me at 2026-02-30 10:00 x", "2026-02-30 is not a date; write it as"),
            ("!remind me at 2020-01-01 10:00 x", "That time has passed (it is "),
            ("!remind me at 2099-01-01 10:00 x", "Reminders can be set at most a year ahead."),
            ("!remind me --loud in 5m x", "Unknown option --loud. " + usage),
            ("!remind me in 5m " + "x" * 301, "A reminder is at most 300 characters (this one"),
        ):
            assert (await bot.reply(text)).startswith(answer), text
        assert await rows(bot) == []
        for n in range(20):
            await bot.reply(f"!remind me in {n + 1}m number {n}")
        assert await bot.reply("!remind me in 1h one too many") == (
            "You have 20 reminders pending already; cancel one first "
            "(!reminders, !reminders cancel N)."
        )
        assert await bot.reply("!remind me in 1h mine", user="bob") != ""  # per person
        await bot.reply("!reminders cancel 1")
        assert (await bot.reply("!remind me in 1h room again")).startswith("Reminder #22 set")
        # refused reminders left no job behind: 21 of alice's + bob's, 1 cancelled
        assert await bot.run_due(advance=2 * 3600) and await bot.run_due() == []


# --- time zones -----------------------------------------------------------------------------


async def test_berlin_spring_forward() -> None:
    async with ModuleHarness(memories) as bot:
        await bot.reply("!timezone Europe/Berlin", **OWNER)
        await travel(bot, datetime(2026, 3, 28, 12, 0, tzinfo=UTC))  # 13:00 CET
        assert (await bot.reply("!remind me at 18:30 a")).startswith(
            "Reminder #1 set for you: 2026-03-28 18:30 CET (in 5h30m)."
        )
        gap = await bot.reply("!remind me at 02:30 b")  # tomorrow, inside the gap
        assert gap.startswith("Reminder #2 set for you: 2026-03-29 03:30 CEST")
        assert gap.endswith(
            "02:30 does not exist on 2026-03-29 in Europe/Berlin (the clocks go forward); "
            "that is 03:30 there."
        )
        await bot.reply("!remind me at 2026-03-29 02:00 c")
        await bot.reply("!remind me at 2026-03-29 18:30 d")
        await bot.reply("!remind me in 1d e")  # elapsed time: 24 h, 14:00 CEST
        a, b, c, d, e = await rows(bot)
        assert utc(a) == datetime(2026, 3, 28, 17, 30, tzinfo=UTC)
        assert utc(b) == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
        assert utc(c) == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
        assert utc(d) == datetime(2026, 3, 29, 16, 30, tzinfo=UTC)
        assert abs(utc(e) - datetime(2026, 3, 29, 12, 0, tzinfo=UTC)) < timedelta(seconds=5)
        assert {r.time_zone for r in (a, b, c, d, e)} == {"Europe/Berlin"}
        await travel(bot, utc(a) - timedelta(seconds=1))
        assert await bot.run_due(advance=2) == ["@alice reminder: a"]
        await travel(bot, utc(c) - timedelta(seconds=1))
        assert await bot.run_due(advance=2) == ["@alice reminder: c"]
        assert await bot.run_due(advance=30 * 60) == ["@alice reminder: b"]


async def test_berlin_fall_back() -> None:
    async with ModuleHarness(memories) as bot:
        await bot.reply("!timezone Europe/Berlin", **OWNER)
        await travel(bot, datetime(2026, 10, 24, 12, 0, tzinfo=UTC))
        twice = await bot.reply("!remind me at 2026-10-25 02:30 a")
        assert twice.startswith("Reminder #1 set for you: 2026-10-25 02:30 CEST")
        assert twice.endswith(
            "02:30 happens twice on 2026-10-25 in Europe/Berlin; this is the first time."
        )
        await bot.reply("!remind me at 2026-10-25 03:30 b")
        await bot.reply("!remind me at 2026-10-25 18:30 c")
        a, b, c = await rows(bot)
        assert utc(a) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # first 02:30 (CEST)
        assert utc(b) == datetime(2026, 10, 25, 2, 30, tzinfo=UTC)  # CET
        assert utc(c) == datetime(2026, 10, 25, 17, 30, tzinfo=UTC)
        # during the first pass of the repeated hour, "at 02:40" (passed) is its second pass
        await travel(bot, utc(a) - timedelta(seconds=1))
        assert await bot.run_due(advance=2) == ["@alice reminder: a"]
        await travel(bot, datetime(2026, 10, 25, 0, 45, tzinfo=UTC))  # 02:45 CEST
        again = await bot.reply("!remind me at 02:40 d")
        assert again.startswith("Reminder #4 set for you: 2026-10-25 02:40 CET (in 55m).")
        assert utc((await rows(bot))[3]) == datetime(2026, 10, 25, 1, 40, tzinfo=UTC)


async def test_new_york_across_both_changes() -> None:
    async with ModuleHarness(memories) as bot:
        await bot.reply("!timezone America/New_York", **OWNER)
        await travel(bot, datetime(2026, 3, 7, 17, 0, tzinfo=UTC))  # noon EST
        gap = await bot.reply("!remind me at 2026-03-08 02:30 a")
        assert "2026-03-08 03:30 EDT" in gap and "does not exist" in gap
        await bot.reply("!remind me at 2026-03-08 12:00 b")
        await bot.reply("!remind me at 2026-11-01 01:30 c")
        await bot.reply("!remind me at 2026-11-01 12:00 d")
        a, b, c, d = await rows(bot)
        assert utc(a) == datetime(2026, 3, 8, 7, 30, tzinfo=UTC)
        assert utc(b) == datetime(2026, 3, 8, 16, 0, tzinfo=UTC)  # EDT
        assert utc(c) == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # first 01:30 (EDT)
        assert utc(d) == datetime(2026, 11, 1, 17, 0, tzinfo=UTC)  # EST


def test_next_clock_and_span_directly() -> None:
    from zoneinfo import ZoneInfo

    berlin = ZoneInfo("Europe/Berlin")
    now = datetime(2026, 3, 28, 17, 30, tzinfo=UTC)  # 18:30 CET exactly: tomorrow's
    assert next_clock(datetime(2000, 1, 1, 18, 30).time(), berlin, now).at == datetime(
        2026, 3, 29, 16, 30, tzinfo=UTC
    )
    assert [span(timedelta(seconds=s)) for s in (5, 600, 7500, 90000, 86400 * 3 + 3600)] == [
        "5s",
        "10m",
        "2h5m",
        "1d1h",
        "3d1h",
    ]


# --- restarts and REST (both stacks) ------------------------------------------------------


@asynccontextmanager
async def router_app(settings: Settings) -> AsyncIterator[tuple[FastAPI, RouterService]]:
    """A WaddleBot with memories whose scheduler runs only when the test says so."""
    router = RouterService(modules=[core, memories], run_scheduler=False)
    app = create_app(settings, instances=[router, PlaygroundService()])
    async with app.router.lifespan_context(app):
        yield app, router


async def say(app: FastAPI, text: str, user: str = "alice") -> list[str]:
    event = Event(
        platform=Platform.playground,
        server_id="playground",
        channel_id="lobby",
        user=UserRef(id=user, name=user, role=Role.everyone),
        text=text,
    )
    result = await converse(app.state.runtime, event)
    return [reply.text for reply in result.replies]


def clock(offset: float) -> Callable[[], datetime]:
    return lambda: datetime.now(UTC) + timedelta(seconds=offset)


async def fired(router: RouterService) -> list[tuple[str, str]]:
    assert router.scheduler is not None
    return [
        (action.type, getattr(action, "text", ""))
        for result in await router.scheduler.run_due()
        for action in result.actions
    ]


async def test_reminders_survive_a_restart(stack_settings: Settings) -> None:
    async with router_app(stack_settings) as (app, _):
        await say(app, "hi", user="bob")
        [answer] = await say(app, "!remind @bob in 10m --private standup")
        assert answer.startswith("Reminder #1 set for @bob, whispered")
        [answer] = await say(app, "!remind me in 20m tea")
        assert answer.startswith("Reminder #2 set for you")
    # a new process over the same database delivers them when due, each once
    async with router_app(stack_settings) as (app, router):
        assert router.jobs is not None
        router.jobs.clock = clock(590)
        assert await fired(router) == []
        router.jobs.clock = clock(605)
        async with router_app(stack_settings) as (_, other):  # two routers claim at once
            assert other.jobs is not None
            other.jobs.clock = clock(605)
            both = await asyncio.gather(fired(router), fired(other))
        assert both[0] + both[1] == [("whisper", "Reminder from alice: standup")]
        router.jobs.clock = clock(1205)
        assert await fired(router) == [("chat", "@alice reminder: tea")]
        assert await fired(router) == []
        async with app.state.runtime.db.read_session() as session:
            statuses = (await session.scalars(select(Reminder.status))).all()
        assert sorted(statuses) == ["delivered", "delivered"]


async def test_rest_list_and_cancel(stack_settings: Settings) -> None:
    router = RouterService(modules=[core, memories])
    app = create_app(stack_settings, instances=[router, PlaygroundService()])
    async with live_server(app) as bot:
        community = await community_of(bot)
        base = f"{API}/communities/{community}/reminders"
        alice, bob, mo = [await chatter(bot, name) for name in ("alice", "bob", "mo")]
        for user, role in ((alice, "member"), (bob, "member"), (mo, "moderator")):
            await set_role(bot, community, user, role)
        as_alice, as_bob, as_mo = (
            bearer(await key_for(bot, alice)),
            bearer(await key_for(bot, bob)),
            bearer(await key_for(bot, mo)),
        )
        await bot.texts("!remind me in 2h --private dentist", user="alice")
        await bot.texts("!remind @bob in 1h lunch", user="alice")
        await bot.texts("!remind me in 3h stream", user="mo")

        listed = await bot.client.get(base, headers=as_bob)
        assert listed.status_code == 200, listed.text
        body = listed.json()
        assert [(r["number"], r["text"]) for r in body] == [
            (2, "lunch"),
            (1, None),  # alice's private reminder: not bob's to read
            (3, "stream"),
        ]
        lunch = body[0]
        assert (lunch["set_by"], lunch["target_user_id"], lunch["target_name"]) == (
            alice,
            bob,
            "bob",
        )
        assert lunch["channel"]["channel_id"] == "lobby" and lunch["status"] == "pending"
        assert lunch["time_zone"] == "UTC" and lunch["private"] is False
        mine = (await bot.client.get(base, params={"user": alice}, headers=as_alice)).json()
        assert [(r["number"], r["text"]) for r in mine] == [(2, "lunch"), (1, "dentist")]
        as_mod = (await bot.client.get(base, params={"user": alice}, headers=as_mo)).json()
        assert [r["text"] for r in as_mod] == ["lunch", "dentist"]
        for_bob = (await bot.client.get(base, params={"user": bob}, headers=as_bob)).json()
        assert [r["number"] for r in for_bob] == [2]

        refused = await bot.client.delete(f"{base}/1", headers=as_bob)
        assert refused.status_code == 403
        assert "memories.manage" in refused.json()["detail"]
        assert (await bot.client.delete(f"{base}/1", headers=as_alice)).status_code == 204
        again = await bot.client.delete(f"{base}/1", headers=as_alice)
        assert again.status_code == 409 and again.json()["detail"] == (
            "Reminder #1 was cancelled already."
        )
        assert (await bot.client.delete(f"{base}/3", headers=as_mo)).status_code == 204
        missing = await bot.client.delete(f"{base}/99", headers=as_mo)
        assert missing.status_code == 404
        assert missing.json()["detail"] == "Reminder #99 does not exist."
        assert (await bot.client.delete(f"{base}/0", headers=as_mo)).status_code == 422
        left = (await bot.client.get(base, headers=as_alice)).json()
        assert [r["number"] for r in left] == [2]
        assert (await bot.client.get(base)).status_code == 401
        # the cancelled reminders' jobs are gone too
        async with app.state.runtime.db.read_session() as session:
            jobs = dict((await session.execute(select(Reminder.number, Reminder.job_id))).all())
        assert router.jobs is not None
        states = {n: getattr(await router.jobs.state(j), "status", None) for n, j in jobs.items()}
        assert states == {1: "cancelled", 2: "pending", 3: "cancelled"}


@pytest.mark.parametrize("status", ["delivered", "cancelled"])
async def test_settled_reminders_stay_out_of_listings(status: str) -> None:
    async with ModuleHarness(memories) as bot:
        await bot.reply("!remind me in 1h x")
        async with bot.runtime.db.session() as session:
            await session.execute(update(Reminder).values(status=status))
        assert (await bot.reply("!reminders")).startswith("You have no reminders pending")
        assert await bot.run_due(advance=3601) == []


async def test_reminders_follow_a_merged_user() -> None:
    """Identity linking folds one user into another; their reminders go along."""
    from waddlebot.kernel.storage.merges import run_merge_hooks
    from waddlebot.kernel.storage.models import PlatformIdentity

    async with ModuleHarness(memories) as bot:
        await bot.reply("!remind me in 1h from bob", user="bob")
        await bot.reply("!remind @bob in 2h for bob")
        async with bot.runtime.db.read_session() as session:
            ids = dict(
                (
                    await session.execute(
                        select(PlatformIdentity.platform_user_id, PlatformIdentity.user_id)
                    )
                ).all()
            )
        async with bot.runtime.db.session() as session:
            await run_merge_hooks(session, ids["bob"], ids["alice"])
        first, second = await rows(bot)
        assert (first.set_by, second.set_by, second.target_user_id) == (ids["alice"],) * 3
        listing = await bot.reply("!reminders")
        assert "#1 " in listing and "#2 " in listing
