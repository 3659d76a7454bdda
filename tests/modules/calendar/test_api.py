"""The calendar over REST with the chat permissions, the outcome notice a REST decision
posts into the proposer's channel, and the iCalendar feed parsed back with ``icalendar``:
events and times, escaping, rotation and revocation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.modules.calendar.helpers import (
    API,
    MOD,
    OWNER,
    at,
    call,
    day_after,
    feed_of,
    key_with_role,
    path_of,
    when,
)
from waddlebot.modules.calendar import module as calendar
from waddlebot.sdk.testing import ModuleHarness


async def test_rest_follows_the_chat_permissions_and_tells_the_proposer() -> None:
    async with ModuleHarness(calendar) as bot:
        day = day_after(bot, 4)
        await bot.reply(f"!event add Movie night {day} 20:00 2h", user="alice")
        community = await bot.community_id()
        events = f"{API}/communities/{community}/events"
        member = await key_with_role(bot, "bob", "member")
        moderator = await key_with_role(bot, "mod", "moderator")
        outsider = await key_with_role(bot, "eve", None)

        assert (await call(bot, "GET", events, member)).json() == []
        assert (await call(bot, "GET", events, outsider)).status_code == 403
        pending = await call(bot, "GET", events, member, params={"status": "pending"})
        assert pending.status_code == 403
        assert (await call(bot, "GET", f"{events}/1", member)).status_code == 404
        [shown] = (await call(bot, "GET", events, moderator, params={"status": "pending"})).json()
        assert (shown["number"], shown["title"], shown["status"]) == (1, "Movie night", "pending")
        assert shown["starts_at"] == at(day, "20:00").isoformat().replace("+00:00", "Z")
        bad = await call(bot, "GET", events, moderator, params={"status": "maybe"})
        assert bad.status_code == 422 and "status is one of" in bad.json()["detail"]

        assert (await call(bot, "POST", f"{events}/1/approve", member)).status_code == 403
        approved = await call(bot, "POST", f"{events}/1/approve", moderator)
        assert approved.status_code == 200 and approved.json()["status"] == "approved"
        again = await call(bot, "POST", f"{events}/1/approve", moderator)
        assert again.status_code == 409
        assert again.json() == {"detail": 'Event #1 "Movie night" is approved already.'}
        # the approval happened away from chat: alice hears of it in her channel
        assert await bot.run_due() == [
            f'@alice, your event #1 "Movie night" {when(at(day, "20:00"))} (2h) is approved.'
        ]
        [listed] = (await call(bot, "GET", events, member)).json()
        assert (listed["number"], listed["local_start"]) == (1, f"{day}T20:00:00Z")

        # a member's proposal is pending; an owner's is approved at once
        body = {"title": "Quiz", "starts_at": f"{day}T21:00:00", "duration_minutes": 90}
        proposed = await call(bot, "POST", events, member, json=body)
        assert proposed.status_code == 201, proposed.text
        quiz = proposed.json()
        assert (quiz["number"], quiz["status"], quiz["proposer_name"]) == (2, "pending", "bob")
        owner = await key_with_role(bot, "streamer", "owner")
        body = {"title": "Raid", "starts_at": f"{day}T18:00:00+02:00"}
        raid = (await call(bot, "POST", events, owner, json=body)).json()
        assert raid["status"] == "approved"
        assert raid["starts_at"] == f"{day}T16:00:00Z"

        past = {"title": "Late", "starts_at": "2020-01-01T20:00:00Z"}
        late = await call(bot, "POST", events, member, json=past)
        assert late.status_code == 422
        assert late.json()["detail"] == "That time has already passed; events are for the future."
        assert (await call(bot, "POST", events, member, json={"title": ""})).status_code == 422
        nul = await call(bot, "POST", events, member, json={**body, "title": "a\u0000b"})
        assert nul.json() == {"detail": "The title contains characters I cannot store."}
        far = {**body, "starts_at": "9999-12-31T23:59:00"}
        assert (await call(bot, "POST", events, owner, json=far)).status_code == 422
        huge = await call(bot, "GET", f"{events}/{2**40}", moderator)
        assert huge.status_code == 422
        elsewhere = {**body, "channel": "not-a-channel"}
        assert (await call(bot, "POST", events, owner, json=elsewhere)).status_code == 422

        rejected = await call(
            bot, "POST", f"{events}/2/reject", moderator, json={"reason": "too late"}
        )
        assert rejected.json()["status"] == "rejected" and rejected.json()["reason"] == "too late"
        assert await bot.run_due() == [
            f'bob, your event #2 "Quiz" {when(at(day, "21:00"))} (1h30m) '
            "was not approved: too late."
        ]
        # cancelling: the proposer's own (bob, pending #4), an approver any, nobody else
        mine = await call(bot, "POST", events, member, json={**body, "title": "Mine"})
        assert mine.json()["number"] == 4
        assert (await call(bot, "DELETE", f"{events}/3", member)).status_code == 403
        assert (await call(bot, "DELETE", f"{events}/4", member)).json()["status"] == "cancelled"
        assert (await call(bot, "DELETE", f"{events}/3", moderator)).json()["status"] == "cancelled"
        assert (await call(bot, "DELETE", f"{events}/9", moderator)).status_code == 404
        assert [e["number"] for e in (await call(bot, "GET", events, member)).json()] == [1]


async def test_the_feed_lists_approved_events_in_utc_and_its_url_can_be_rotated() -> None:
    async with ModuleHarness(calendar) as bot:
        assert (await bot.reply("!timezone Europe/Berlin", **OWNER)).startswith("Time zone set")
        day = day_after(bot, 3, "Europe/Berlin")
        await bot.reply(
            f'!event add "Movie night; part 2, uncut" {day} 20:00 2h Snacks, drinks', **OWNER
        )
        await bot.reply(f"!event add Pending {day} 21:00")
        await bot.reply(f"!event add Gone {day} 22:00", **OWNER)
        await bot.reply("!event cancel 3", **OWNER)
        community = await bot.community_id()
        feed = f"{API}/communities/{community}/feed"
        member = await key_with_role(bot, "bob", "member")
        moderator = await key_with_role(bot, "mod", "moderator")
        assert (await call(bot, "GET", feed, member)).status_code == 403
        url = (await call(bot, "GET", feed, moderator)).json()["url"]
        assert url.startswith("http://127.0.0.1:8000/api/calendar/v1/feeds/") and url.endswith(
            ".ics"
        )
        assert (await call(bot, "GET", feed, moderator)).json()["url"] == url  # stable

        parsed = await feed_of(bot, url)
        assert str(parsed["X-WR-CALNAME"]) == "lobby events"
        assert str(parsed["X-WR-TIMEZONE"]) == "Europe/Berlin"
        [event] = parsed.walk("VEVENT")
        start = at(day, "20:00", "Europe/Berlin")
        assert event.decoded("DTSTART") == start.astimezone(UTC)
        assert event.decoded("DTEND") == start.astimezone(UTC) + timedelta(hours=2)
        assert event.decoded("DTSTART").tzinfo is not None
        assert event.decoded("DTSTART").utcoffset() == timedelta(0)
        assert str(event["SUMMARY"]) == "Movie night; part 2, uncut"
        assert str(event["DESCRIPTION"]) == "Snacks, drinks"
        [shown] = (await call(bot, "GET", f"{API}/communities/{community}/events", member)).json()
        assert str(event["UID"]) == f"{shown['id']}@waddlebot"
        assert str(event["STATUS"]) == "CONFIRMED"
        assert bot.client is not None
        raw = (await bot.client.get(path_of(url))).content
        assert b"\r\nSUMMARY:Movie night\\; part 2\\, uncut\r\n" in raw  # escaped, CRLF
        assert raw.startswith(b"BEGIN:VCALENDAR\r\n")
        # approving the pending one adds it, under a UID that stays the same
        await bot.reply("!event approve 2", **MOD)
        uids = {str(e["UID"]) for e in (await feed_of(bot, url)).walk("VEVENT")}
        assert len(uids) == 2 and str(event["UID"]) in uids
        assert uids == {str(e["UID"]) for e in (await feed_of(bot, url)).walk("VEVENT")}

        rotated = (await call(bot, "POST", f"{feed}/rotate", moderator)).json()["url"]
        assert rotated != url
        assert (await bot.client.get(path_of(url))).status_code == 404
        assert len((await feed_of(bot, rotated)).walk("VEVENT")) == 2
        revoked = await call(bot, "DELETE", feed, moderator)
        assert revoked.json() == {"revoked": True}
        assert (await bot.client.get(path_of(rotated))).status_code == 404
        fresh = (await call(bot, "GET", feed, moderator)).json()["url"]
        assert fresh not in (url, rotated)
        assert (await bot.client.get(path_of(fresh))).status_code == 200
        for junk in ("x", "a" * 300, "%00"):
            answer = await bot.client.get(f"{API}/feeds/{junk}.ics")
            assert answer.status_code == 404


async def test_the_feed_keeps_a_month_of_past_events() -> None:
    async with ModuleHarness(calendar) as bot:
        day = day_after(bot, 1)
        await bot.reply(f"!event add Yesterday-ish {day} 10:00", **OWNER)
        moderator = await key_with_role(bot, "mod", "moderator")
        community = await bot.community_id()
        url = (await call(bot, "GET", f"{API}/communities/{community}/feed", moderator)).json()
        assert len((await feed_of(bot, url["url"])).walk("VEVENT")) == 1
        await bot.run_due(advance=20 * 86_400)
        assert len((await feed_of(bot, url["url"])).walk("VEVENT")) == 1  # over, still shown
        await bot.run_due(advance=15 * 86_400)
        assert (await feed_of(bot, url["url"])).walk("VEVENT") == []
        assert isinstance(datetime.now(UTC), datetime)
