"""Quotes end to end: chat through the real pipeline (ModuleHarness), numbering that survives
removal and concurrent adds (SQLite and PostgreSQL), labels, search, permissions, the Twitch
category, and the REST API over real HTTP on both stacks."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from tests.collectors.twitch.conftest import twitch_settings
from tests.collectors.twitch.fake_twitch import STREAMER, FakeTwitch
from tests.collectors.twitch.twitch_support import authorise_bot, chat_event, deliver, eventually
from tests.communities.helpers import key_for
from tests.modules.memories.support import API, memories_bot
from tests.support import bearer, chatter, community_of, live_server, person, set_role
from waddlebot.app import create_app
from waddlebot.collectors.twitch.service import TwitchService
from waddlebot.kernel.errors import Invalid
from waddlebot.kernel.settings import Settings
from waddlebot.kernel.storage import Database
from waddlebot.kernel.storage.models import Community
from waddlebot.kernel.storage.sequences import CommunitySequence
from waddlebot.modules.core import module as core
from waddlebot.modules.labels import module as labels
from waddlebot.modules.memories import module as memories
from waddlebot.modules.memories.quote_book import QuoteBook, QuoteDraft, QuoteView, clean_text
from waddlebot.modules.memories.quotes import quote_line
from waddlebot.router.service import RouterService
from waddlebot.sdk.testing import ModuleHarness
from waddlebot.sdk.twitch import TwitchApiError, TwitchChannel, TwitchClip, TwitchUser

OWNER = {"user": "streamer", "role": "broadcaster"}
MOD = {"user": "mo", "role": "moderator"}
TODAY = datetime.now(UTC).date().isoformat()


async def test_add_show_random_search_edit_remove() -> None:
    async with ModuleHarness(memories) as bot:
        assert await bot.reply("!quote") == (
            "There are no quotes here yet. Add one with !quote add TEXT."
        )
        assert await bot.reply("!quote add I am   the  captain now", user="bob") == (
            'Added quote #1: "I am   the  captain now"'
        )
        assert await bot.reply('!quote add "Never gonna give you up"', user="amy") == (
            'Added quote #2: "Never gonna give you up"'
        )
        assert await bot.reply("!quote 1") == (
            f'#1: "I am   the  captain now" — added by bob ({TODAY})'
        )
        assert await bot.reply("!quote #2") == (
            f'#2: "Never gonna give you up" — added by amy ({TODAY})'
        )
        assert (await bot.reply("!quote"))[:4] in ("#1: ", "#2: ")
        assert await bot.reply("!quote 9") == "Quote #9 does not exist."

        await bot.reply("!quote add The CAPTAIN sinks with the ship")
        assert await bot.reply("!quote search captain") == (
            f'2 quotes match: #1, #3. #1: "I am   the  captain now" — added by bob ({TODAY})'
        )
        assert await bot.reply("!quote search SHIP captain") == (
            f'#3: "The CAPTAIN sinks with the ship" — added by alice ({TODAY})'
        )
        assert await bot.reply("!quote search 100%") == 'No quote contains "100%".'
        assert await bot.reply("!quote search") == "Usage: !quote search WORDS"

        # editing and removing need memories.manage (moderators by default)
        assert await bot.reply("!quote remove 1", user="bob") == (
            "@bob !quote remove needs the memories.manage permission here."
        )
        assert await bot.reply("!quote edit 2 x", user="bob") == (
            "@bob !quote edit needs the memories.manage permission here."
        )
        assert await bot.reply("!quote edit 2 Never gonna let you down", **MOD) == (
            f'#2: "Never gonna let you down" — added by amy ({TODAY})'
        )
        assert await bot.reply("!quote remove 2", **MOD) == "Quote #2 removed."
        assert await bot.reply("!quote 2") == "Quote #2 does not exist."
        assert await bot.reply("!quote remove 2", **MOD) == "Quote #2 does not exist."
        # a removed number is never handed out again
        assert await bot.reply("!quote add fresh one") == 'Added quote #4: "fresh one"'

        # bad input answers with a short reply
        assert await bot.reply("!quote add") == "Usage: !quote add [#label …] TEXT"
        assert await bot.reply("!quote remove x", **MOD) == "x is not a quote number."
        assert await bot.reply("!quote edit 4", **MOD) == "Usage: !quote edit N TEXT"
        assert await bot.reply("!quote what is this") == (
            "Usage: !quote [N|#label] | !quote add [#label] TEXT | !quote search WORDS"
        )
        assert await bot.reply("!quote what", **MOD) == (
            "Usage: !quote [N|#label] | !quote add [#label] TEXT | !quote search WORDS"
            " | !quote remove N | !quote edit N TEXT"
        )


async def test_labels_on_quotes() -> None:
    async with ModuleHarness(memories, labels) as bot:
        assert await bot.reply("!quote add #funny that was funny") == (
            "There is no label #funny here (create it first with !label)."
        )
        assert await bot.reply("!quote") == (
            "There are no quotes here yet. Add one with !quote add TEXT."
        )  # nothing half-written
        await bot.reply("!label create Funny", **OWNER)
        await bot.reply("!label create wise", **OWNER)
        assert await bot.reply("!quote add plain words") == 'Added quote #1: "plain words"'
        assert await bot.reply("!quote add #funny #WISE a banana walks in") == (
            'Added quote #2 (#Funny, #wise): "a banana walks in"'
        )
        assert await bot.reply("!quote add #funny   so funny") == (
            'Added quote #3 (#Funny): "so funny"'
        )
        # a quote that itself starts with # is typed in quotation marks
        assert await bot.reply('!quote add "#1 fan of the #funny stuff"') == (
            'Added quote #4: "#1 fan of the #funny stuff"'
        )
        for _ in range(6):
            assert (await bot.reply("!quote #funny"))[:4] in ("#2: ", "#3: ")
        assert (await bot.reply("!quote #wise")).startswith("#2: ")
        assert await bot.reply("!quote #nope") == "No quote is labelled #nope here."
        await bot.reply("!quote remove 2", **MOD)
        for _ in range(3):
            assert (await bot.reply("!quote #funny")).startswith("#3: ")
        assert await bot.reply("!quote #wise") == "No quote is labelled #wise here."


async def test_help_shows_subcommands_only_to_those_allowed() -> None:
    async with ModuleHarness(memories) as bot:
        everyone = await bot.reply("!quote nonsense")
        assert "remove" not in everyone and "edit" not in everyone
        assert "remove" in await bot.reply("!quote nonsense", **MOD)
        assert await bot.reply("!quote help") == (
            "Usage: !quote [N|#label] | !quote add [#label] TEXT | !quote search WORDS"
        )
        assert await bot.reply("!quote help", **MOD) == (
            "Usage: !quote [N|#label] | !quote add [#label] TEXT | !quote search WORDS"
            " | !quote remove N | !quote edit N TEXT"
        )
        assert "!quote" in await bot.reply("!help")
        described = await bot.reply("!help quote")
        assert described.endswith("Usage: !quote [N|#label] | !quote add|search … | !quote help")
        assert "remove" not in described and "edit" not in described


def test_reply_fits_the_platform_limit() -> None:
    view = QuoteView(
        number=12,
        text="word " * 300,
        added_by=None,
        added_by_name="Someone",
        game="Just Chatting",
        quoted_at=datetime(2026, 11, 30, 12, tzinfo=UTC),
        updated_at=datetime(2026, 11, 30, 12, tzinfo=UTC),
    )
    from zoneinfo import ZoneInfo

    line = quote_line(view, ZoneInfo("UTC"), 500)
    assert len(line) <= 500
    assert line.startswith('#12: "word word')
    assert line.endswith('…" — added by Someone (Just Chatting, 2026-11-30)')
    for bad, message in (
        ("x" * 1001, "A quote is at most 1000 characters."),
        ("  \n ", "A quote needs some text."),
        ("a\x00b", "A quote cannot contain control characters."),
    ):
        with pytest.raises(Invalid, match=message):
            clean_text(bad)
    assert clean_text(" two\r\nlines ") == "two lines"
    short = quote_line(
        QuoteView(12, "hi", None, "", "", view.quoted_at, view.updated_at), ZoneInfo("UTC"), 500
    )
    assert short == '#12: "hi" (2026-11-30)'


async def _community(database: Database, name: str = "c") -> str:
    async with database.session() as session:
        row = Community(name=name)
        session.add(row)
    return row.id


async def test_concurrent_adds_get_distinct_numbers(database: Database) -> None:
    """Many adds at once (each its own transaction) on SQLite and PostgreSQL: 1..N, no gaps."""
    community, other = await _community(database), await _community(database, "d")
    quotes = QuoteBook(database)
    added = await asyncio.wait_for(
        asyncio.gather(
            *(quotes.add(community, QuoteDraft(text=f"quote {i}")) for i in range(25)),
            *(quotes.add(other, QuoteDraft(text=f"other {i}")) for i in range(5)),
        ),
        timeout=30,
    )
    numbers = sorted(q.number for q in added[:25])
    assert numbers == list(range(1, 26))
    assert sorted(q.number for q in added[25:]) == [1, 2, 3, 4, 5]
    await quotes.remove(community, 25)
    assert (await quotes.add(community, QuoteDraft(text="after"))).number == 26
    total, page = await quotes.listing(community, limit=3, offset=1)
    assert total == 25 and [q.number for q in page] == [2, 3, 4]
    assert re.fullmatch(r"quote \d+", page[0].text)
    async with database.read_session() as session:
        last = await session.scalar(
            select(CommunitySequence.value).where(
                CommunitySequence.community_id == community, CommunitySequence.kind == "quote"
            )
        )
    assert last == 26

    # edits, removals and adds at once: every one its own transaction, none refused
    await asyncio.wait_for(
        asyncio.gather(
            *(quotes.edit(community, n, f"edited {n}") for n in range(1, 11)),
            *(quotes.remove(community, n) for n in range(11, 16)),
            *(quotes.add(community, QuoteDraft(text=f"late {i}")) for i in range(5)),
        ),
        timeout=30,
    )
    total, page = await quotes.listing(community, limit=200)
    assert total == 25
    assert [q.number for q in page] == [*range(1, 11), *range(16, 25), *range(26, 32)]
    assert page[0].text == "edited 1"


async def test_rest_quotes(stack_settings: Settings) -> None:
    """CRUD over real HTTP on both stacks; members read, memories.manage changes."""
    async with memories_bot(stack_settings) as bot:
        community = await community_of(bot)
        base = f"{API}/communities/{community}/quotes"
        mod = await chatter(bot, "mo")
        await set_role(bot, community, mod, "moderator")
        member = await chatter(bot, "mem")
        await set_role(bot, community, member, "member")
        as_mod = bearer(await key_for(bot, mod))
        as_member = bearer(await key_for(bot, member))
        as_stranger = bearer(await key_for(bot, await person(bot, "stranger")))
        await bot.texts("!label create funny", user="streamer", role="broadcaster")
        assert await bot.texts("!quote add #funny chat was here", user="mem") == [
            'Added quote #1 (#funny): "chat was here"'
        ]

        created = await bot.client.post(
            base,
            json={
                "text": "from the portal",
                "game": "Celeste",
                "quoted_at": "2025-01-02T03:04:05",
                "labels": ["FUNNY"],
            },
            headers=as_mod,
        )
        assert created.status_code == 201, created.text
        body = created.json()
        assert (body["number"], body["text"], body["game"], body["labels"]) == (
            2,
            "from the portal",
            "Celeste",
            ["funny"],
        )
        assert body["added_by"] == mod and body["added_by_name"] == "mo"
        assert body["quoted_at"].startswith("2025-01-02T03:04:05")
        assert await bot.texts("!quote 2") == [
            '#2: "from the portal" — added by mo (Celeste, 2025-01-02)'
        ]
        await bot.client.post(base, json={"text": "plain"}, headers=as_mod)

        page = (await bot.client.get(base, headers=as_member)).json()
        assert page["total"] == 3
        assert [(q["number"], q["labels"]) for q in page["quotes"]] == [
            (1, ["funny"]),
            (2, ["funny"]),
            (3, []),
        ]
        assert page["quotes"][0]["added_by"] == member
        for query, numbers, total in (
            ({"search": "PORTAL"}, [2], 1),
            ({"search": "from portal"}, [2], 1),
            ({"search": "l"}, [2, 3], 2),
            ({"label": "#funny"}, [1, 2], 2),
            ({"label": "funny", "search": "chat"}, [1], 1),
            ({"label": "nope"}, [], 0),
            ({"limit": 1, "offset": 1}, [2], 3),
            ({"search": "%"}, [], 0),
        ):
            answer = await bot.client.get(base, params=query, headers=as_member)
            assert answer.status_code == 200, answer.text
            assert [q["number"] for q in answer.json()["quotes"]] == numbers, query
            assert answer.json()["total"] == total, query
        one = await bot.client.get(f"{base}/2", headers=as_member)
        assert one.status_code == 200 and one.json()["text"] == "from the portal"
        assert (await bot.client.get(f"{base}/9", headers=as_member)).json() == {
            "detail": "Quote #9 does not exist."
        }

        changed = await bot.client.patch(f"{base}/2", json={"text": "edited"}, headers=as_mod)
        assert changed.status_code == 200 and changed.json()["text"] == "edited"
        assert changed.json()["labels"] == ["funny"]

        # bad input: 422 with a message; missing: 404; not allowed: 403
        for payload, status, detail in (
            ({"text": "x", "labels": ["missing"]}, 404, "There is no label #missing here"),
            ({"text": "   "}, 422, "A quote needs some text."),
            ({"text": "a\u0000b"}, 422, "control characters"),
            ({"text": "x" * 1001}, 422, ""),
            ({"text": "x", "extra": 1}, 422, ""),
            ({}, 422, ""),
            ({"text": "x", "quoted_at": "0001-01-01T00:00:00+05:00"}, 422, ""),
            ({"text": "x", "quoted_at": "2999-01-01T00:00:00Z"}, 422, ""),
        ):
            refused = await bot.client.post(base, json=payload, headers=as_mod)
            assert refused.status_code == status, (payload, refused.text)
            assert detail in str(refused.json()["detail"]), refused.text
        assert (await bot.client.get(base, headers=as_member)).json()["total"] == 3
        assert (await bot.client.get(base, params={"limit": 0}, headers=as_member)).status_code == (
            422
        )
        empty = await bot.client.patch(f"{base}/2", json={}, headers=as_mod)
        assert empty.status_code == 422
        missing = await bot.client.patch(f"{base}/7", json={"text": "x"}, headers=as_mod)
        assert missing.status_code == 404

        for method, url, payload in (
            ("POST", base, {"text": "x"}),
            ("PATCH", f"{base}/1", {"text": "x"}),
            ("DELETE", f"{base}/1", None),
        ):
            refused = await bot.client.request(method, url, json=payload, headers=as_member)
            assert refused.status_code == 403, (method, refused.text)
        assert (await bot.client.get(base, headers=as_stranger)).status_code == 403
        assert (await bot.client.get(base)).status_code == 401

        assert (await bot.client.delete(f"{base}/2", headers=as_mod)).status_code == 204
        assert (await bot.client.delete(f"{base}/2", headers=as_mod)).status_code == 404
        assert await bot.texts("!quote #funny") == [f'#1: "chat was here" — added by mem ({TODAY})']
        again = await bot.client.post(base, json={"text": "next"}, headers=as_mod)
        assert again.json()["number"] == 4
        operator = bearer(await key_for(bot, None))
        gone = await bot.client.post(
            f"{API}/communities/nope/quotes", json={"text": "x"}, headers=operator
        )
        assert gone.status_code == 404 and gone.json() == {
            "detail": "There is no community 'nope'."
        }
        labelled = await bot.client.post(
            f"{API}/communities/nope/quotes", json={"text": "x", "labels": ["a"]}, headers=operator
        )
        assert labelled.status_code == 404


class ChannelInfo:
    """Stands in for the Helix calls the router offers modules (``ctx.host.twitch()``; its
    Helix implementation is not on this branch): Get Channel Information answers from
    ``games`` by broadcaster id, or fails like Helix does."""

    def __init__(self) -> None:
        self.games: dict[str, str] = {}
        self.failing = False
        self.asked: list[str] = []

    async def user(self, login: str) -> TwitchUser | None:
        return None

    async def channel(self, broadcaster_id: str) -> TwitchChannel | None:
        self.asked.append(broadcaster_id)
        if self.failing:
            raise TwitchApiError(503, "Service Unavailable")
        game = self.games.get(broadcaster_id)
        return None if game is None else TwitchChannel(broadcaster_id, game, "title")

    async def clips(
        self, broadcaster_id: str, *, started_at: datetime | None = None, first: int = 20
    ) -> list[TwitchClip]:
        return []

    async def shoutout(self, from_broadcaster_id: str, to_broadcaster_id: str) -> None:
        return None


@pytest.fixture
async def fake_twitch() -> AsyncIterator[FakeTwitch]:
    fake = FakeTwitch()
    async with live_server(fake.app()) as server:
        fake.url = server.url
        yield fake


async def test_the_twitch_category_is_stored(
    stack_settings: Settings, fake_twitch: FakeTwitch
) -> None:
    """Signed EventSub chat in, Helix chat message out; the category comes from Get Channel
    Information at add time, empty when Twitch fails."""
    helix = ChannelInfo()
    helix.games[STREAMER["id"]] = "Celeste"
    app = create_app(
        stack_settings,
        instances=[
            RouterService(modules=[core, memories], twitch=lambda runtime: helix),
            TwitchService(twitch_settings(fake_twitch)),
        ],
    )
    async with live_server(app) as bot:
        await authorise_bot(bot, fake_twitch)

        async def said(text: str) -> str:
            before = len(fake_twitch.chat_texts())
            answer = await deliver(bot.client, chat_event(text))
            assert answer.status_code == 204
            texts = await eventually(lambda: fake_twitch.chat_texts()[before:])
            return str(texts[0])

        assert await said("!quote add the summit is near") == (
            'Added quote #1: "the summit is near"'
        )
        assert helix.asked == [STREAMER["id"]]
        shown = await said("!quote 1")
        assert shown.startswith('#1: "the summit is near" — added by ') and "(Celeste, " in shown
        helix.failing = True
        assert await said("!quote add no category") == 'Added quote #2: "no category"'
        assert "(Celeste" not in await said("!quote 2")


async def test_quotes_and_links_follow_a_user_merge(database: Database) -> None:
    """``!verify`` folds one user into another: what they added follows (the merge hook)."""
    from waddlebot.kernel.storage.merges import run_merge_hooks
    from waddlebot.kernel.storage.models import User
    from waddlebot.modules.memories.url_book import UrlBook

    community = await _community(database)
    async with database.session() as session:
        absorbed, kept = User(display_name="twitch-me"), User(display_name="discord-me")
        session.add_all([absorbed, kept])
    quotes = QuoteBook(database)
    await quotes.add(community, QuoteDraft(text="mine", added_by=absorbed.id))
    await UrlBook(database).add(community, "site", "https://example.com", added_by=absorbed.id)
    async with database.session() as session:
        await run_merge_hooks(session, absorbed.id, kept.id)
    assert (await quotes.get(community, 1)).added_by == kept.id
    assert (await UrlBook(database).get(community, "site")).added_by == kept.id
