"""The interaction modules (memories, inventory, calendar, shoutouts) behave the same on Twitch,
Slack and Discord, end to end over real HTTP: requests signed exactly as each platform signs
them (Twitch EventSub HMAC, Slack v0 signing secret, Discord Ed25519 interactions) go through
the collector, router and module, and the replies come out at the fake platform's API (Helix
chat, Slack ``chat.postMessage`` / ``response_url``, Discord interaction responses and channel
messages). Reminders are delivered by the scheduler into the platform's channel.

One stack per platform and per way of running (SQLite + memory, PostgreSQL + Redis) is shared
by the whole file, so each test names its own quotes, items and events.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
import pytest_asyncio
from nacl.signing import SigningKey

from tests.collectors.discord.fake_discord import (
    APPLICATION_ID,
    BOT_TOKEN,
    CHANNEL_ID,
    GUILD_ID,
    FakeDiscord,
    signed,
)
from tests.collectors.discord.test_discord_e2e import _guild as guild_create
from tests.collectors.slack.fake_slack import (
    BOT_TOKEN as SLACK_BOT_TOKEN,
)
from tests.collectors.slack.fake_slack import (
    SIGNING_SECRET,
    FakeSlack,
    envelope,
    message,
    signed_headers,
)
from tests.collectors.twitch.conftest import twitch_settings
from tests.collectors.twitch.fake_twitch import STREAMER, FakeTwitch
from tests.collectors.twitch.twitch_support import authorise_bot, chat_event, deliver
from tests.conftest import (
    DATABASE_URL,
    REDIS_URL,
    drop_test_keys,
    fresh_postgres_database,
    require_service,
)
from tests.support import LiveServer, live_server
from waddlebot.app import create_app
from waddlebot.collectors.discord.adapter import build_client
from waddlebot.collectors.discord.commands import sync_commands
from waddlebot.collectors.discord.config import DiscordSettings
from waddlebot.collectors.discord.gateway import GatewayHandler
from waddlebot.collectors.discord.roles import ADMINISTRATOR, MANAGE_MESSAGES
from waddlebot.collectors.discord.service import DiscordService
from waddlebot.collectors.slack.config import SlackSettings
from waddlebot.collectors.slack.service import SlackService
from waddlebot.collectors.twitch.module_api import module_twitch
from waddlebot.collectors.twitch.service import TwitchService
from waddlebot.kernel.backends import open_backend
from waddlebot.kernel.contracts import Role
from waddlebot.kernel.service import Service
from waddlebot.kernel.settings import Settings
from waddlebot.modules.calendar import module as calendar
from waddlebot.modules.core import module as core
from waddlebot.modules.inventory import module as inventory
from waddlebot.modules.memories import module as memories
from waddlebot.modules.shoutouts import module as shoutouts
from waddlebot.router.service import RouterService

pytestmark = pytest.mark.asyncio(loop_scope="module")

WAIT = 8.0  # every wait for a reply is bounded by this many seconds
SETTLE = 0.1  # after the first reply, how long to watch for more
KEY = SigningKey.generate()
QUOTE_ADDED = re.compile(r"Added quote #(\d+)")
REMINDER_SET = re.compile(r"Reminder #(\d+) set")
EVENT_NUMBER = re.compile(r"#(\d+)")


@dataclass(frozen=True)
class Person:
    """Someone chatting: the same four people exist on every platform."""

    key: str  # viewer | moderator | owner | bob
    id: str
    name: str


class Clock:
    """The scheduler's clock: real time plus what the test advanced."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


async def until(check: Any, what: str, timeout: float = WAIT) -> Any:
    """Poll ``check`` until it returns something truthy, bounded by ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


@dataclass
class Chat:
    """One platform's stack: the bot, its fake platform, and how to talk there."""

    platform: str
    bot: LiveServer
    router: RouterService
    clock: Clock
    people: dict[str, Person]
    fake: Any = None
    collector: Any = None  # the collector's settings
    counter: int = 0
    spoken: set[str] = field(default_factory=set)

    def person(self, key: str) -> Person:
        return self.people[key]

    def mention(self, key: str) -> str:
        """How the platform's chat client writes an @mention of that person in a message."""
        who = self.people[key]
        if self.platform == "twitch":
            return f"@{who.name}"
        return f"<@{who.id}>"  # Slack <@U…> and Discord <@123…>

    def posts(self) -> list[str]:
        """Everything the bot has said in the channel so far (not interaction answers)."""
        raise NotImplementedError

    def whispers(self) -> list[tuple[str, str]]:
        """(recipient's platform account id, text) of every private message the bot sent."""
        raise NotImplementedError

    async def send(self, text: str, who: Person) -> list[str]:
        raise NotImplementedError

    async def say(self, text: str, who: str = "viewer") -> list[str]:
        """Send ``text`` as ``who`` (signed as the platform signs it); the bot's replies."""
        self.counter += 1
        return await self.send(text, self.people[who])

    async def reply(self, text: str, who: str = "viewer") -> str:
        replies = await self.say(text, who)
        assert len(replies) == 1, f"expected one reply to {text!r}, got {replies!r}"
        return _unprefixed(replies[0], self.people[who])

    async def greet(self, *keys: str) -> None:
        """Make the bot know these people (as after they said something in the channel)."""
        for key in keys:
            if key not in self.spoken:
                assert await self.reply("!ping", key) == "pong"
                self.spoken.add(key)

    async def run_due(self, advance: float) -> list[str]:
        """Move the scheduler's clock on and run every due job through the real scheduler;
        what the bot then posted into the platform's channel."""
        before, whispered = len(self.posts()), len(self.whispers())
        self.clock.offset += timedelta(seconds=advance)
        assert self.router.scheduler is not None
        results = await self.router.scheduler.run_due()
        expected = sum(len(r.actions) for r in results)
        if expected:
            await until(
                lambda: len(self.posts()) + len(self.whispers()) >= before + whispered + expected,
                "scheduled messages",
            )
        return self.posts()[before:]


def _unprefixed(text: str, who: Person) -> str:
    """Refusals address the caller (``@name …``); compare the rest."""
    prefix = f"@{who.name} "
    return text[len(prefix) :] if text.startswith(prefix) else text


# --- Twitch --------------------------------------------------------------------------------


class TwitchChat(Chat):
    BADGES = {"viewer": (), "bob": (), "moderator": ("moderator",), "owner": ("broadcaster",)}

    def posts(self) -> list[str]:
        texts: list[str] = self.fake.chat_texts()
        return texts

    def whispers(self) -> list[tuple[str, str]]:
        return [
            (call.query["to_user_id"], str(call.body["message"]))
            for call in self.fake.calls("POST", "/helix/whispers")
            if 200 <= call.status < 300
        ]

    async def send(self, text: str, who: Person) -> list[str]:
        before = len(self.posts())
        chatter = {"id": who.id, "login": who.name, "display_name": who.name}
        answer = await deliver(
            self.bot.client, chat_event(text, chatter=chatter, badges=self.BADGES[who.key])
        )
        assert answer.status_code == 204, answer.text
        await until(lambda: len(self.posts()) > before, f"a Twitch reply to {text!r}")
        await asyncio.sleep(SETTLE)  # so a second, unexpected message is seen too
        return self.posts()[before:]


TWITCH_PEOPLE = {
    "viewer": Person("viewer", "4145994", "viewer32"),
    "bob": Person("bob", "4145995", "bob77"),
    "moderator": Person("moderator", "7001", "moddy"),
    "owner": Person("owner", STREAMER["id"], STREAMER["login"]),
}


async def fake_twitch(stack: AsyncExitStack) -> FakeTwitch:
    """The fake Twitch every stack's modules ask Helix (``!so``) at, with a streamer Alice."""
    fake = FakeTwitch()
    fake.url = (await stack.enter_async_context(live_server(fake.app()))).url
    fake.add_streamer(
        "alice", user_id="5550001", game="Celeste", clips=(("old", 900, 60), ("fresh", 40, 3))
    )
    return fake


async def twitch_chat(stack: AsyncExitStack, settings: Settings, clock: Clock) -> Chat:
    fake = await fake_twitch(stack)
    fake.add_streamer(STREAMER["login"], user_id=STREAMER["id"], game="Tetris")
    twitch = twitch_settings(fake, chat_limit=1000)
    router, bot = await _bot(stack, settings, clock, TwitchService(twitch), fake)
    await authorise_bot(bot, fake)
    return TwitchChat("twitch", bot, router, clock, TWITCH_PEOPLE, fake)


# --- Slack ---------------------------------------------------------------------------------


class SlackChat(Chat):
    def posts(self) -> list[str]:
        return [
            call.args["text"]
            for call in self.fake.of("chat.postMessage")
            if call.args["channel"] == "C0LAN2Q65"
        ]

    def whispers(self) -> list[tuple[str, str]]:
        """A DM is conversations.open with the user, then a post into that D… channel."""
        opened = {
            f"D{call.args['users']}": call.args["users"]
            for call in self.fake.of("conversations.open")
        }
        return [
            (opened[call.args["channel"]], _unescape(call.args["text"]))
            for call in self.fake.of("chat.postMessage")
            if call.args["channel"] in opened
        ]

    async def send(self, text: str, who: Person) -> list[str]:
        before = len(self.posts())
        ts = f"{time.time():.6f}"
        body = envelope(message(_escape(text), user=who.id, ts=ts), event_id=f"Ev{self.counter}")
        answer = await self.bot.client.post(
            "/webhooks/slack/events",
            content=body,
            headers={"content-type": "application/json", **signed_headers(body)},
        )
        assert answer.status_code == 200, answer.text
        await until(lambda: len(self.posts()) > before, f"a Slack reply to {text!r}")
        await asyncio.sleep(SETTLE)
        return [_unescape(post) for post in self.posts()[before:]]

    async def slash(self, text: str, who: str = "viewer") -> str:
        """``/waddlebot TEXT``: acknowledged at once, answered through the response_url."""
        person = self.people[who]
        self.counter += 1
        hook = f"r{self.counter}"
        body = urlencode(
            {
                "token": "gIkuvaNzQIHg97ATvDxqgjtO",
                "team_id": "T0001",
                "team_domain": "example",
                "channel_id": "C0LAN2Q65",
                "channel_name": "general",
                "user_id": person.id,
                "user_name": person.name,
                "command": "/waddlebot",
                "text": _escape(text),
                "response_url": f"{self.fake.url}/hooks/{hook}",
                "trigger_id": f"t{self.counter}",
                "api_app_id": "A0001",
            }
        ).encode()
        answer = await self.bot.client.post(
            "/webhooks/slack/commands",
            content=body,
            headers={"content-type": "application/x-www-form-urlencoded", **signed_headers(body)},
        )
        assert answer.status_code == 200, answer.text
        [called] = await self.fake.wait_for(f"hooks/{hook}", timeout=WAIT)
        return _unprefixed(_unescape(str(called.args["text"])), person)


def _escape(text: str) -> str:
    """Slack escapes & < > in text it sends, except in its own <@U…> mention markup."""
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return re.sub(r"&lt;@(U[A-Z0-9]+)&gt;", r"<@\1>", escaped)


def _unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


SLACK_PEOPLE = {
    "viewer": Person("viewer", "U061F7AUR", "viewer"),
    "bob": Person("bob", "U0BOB", "bob"),
    "moderator": Person("moderator", "U0MOD", "mod"),
    "owner": Person("owner", "U0OWNER", "owner"),
}


async def slack_chat(stack: AsyncExitStack, settings: Settings, clock: Clock) -> Chat:
    fake = FakeSlack(
        users={
            "U061F7AUR": {"id": "U061F7AUR", "name": "viewer"},
            "U0BOB": {"id": "U0BOB", "name": "bob"},
            "U0OWNER": {"id": "U0OWNER", "name": "owner", "is_owner": True},
            "U0MOD": {"id": "U0MOD", "name": "mod"},
        },
        usergroups=[{"id": "S0MODS", "handle": "mods", "users": ["U0MOD"]}],
    )
    fake.url = (await stack.enter_async_context(live_server(fake.app()))).url
    slack = SlackSettings(
        signing_secret=SIGNING_SECRET,
        bot_token=SLACK_BOT_TOKEN,
        api_base=f"{fake.url}/api/",
        user_groups={"mods": Role.moderator},
        channel_rate=1000,
    )
    router, bot = await _bot(stack, settings, clock, SlackService(slack), await fake_twitch(stack))
    return SlackChat("slack", bot, router, clock, SLACK_PEOPLE, fake)


# --- Discord -------------------------------------------------------------------------------


class DiscordChat(Chat):
    PERMISSIONS = {"viewer": 0, "bob": 0, "moderator": MANAGE_MESSAGES, "owner": ADMINISTRATOR}

    def posts(self) -> list[str]:
        return [
            str(call.body["content"])
            for call in self.fake.of(f"/channels/{CHANNEL_ID}/messages")
            if call.method == "POST"
        ]

    def whispers(self) -> list[tuple[str, str]]:
        """A DM is POST /users/@me/channels (the fake answers channel 7…), then a message."""
        opened = {
            "7" + call.body["recipient_id"][1:]: call.body["recipient_id"]
            for call in self.fake.of("/users/@me/channels")
        }
        return [
            (opened[channel], str(call.body["content"]))
            for call in self.fake.of("/channels/")
            if (channel := call.path.split("/")[2]) in opened and call.method == "POST"
        ]

    async def send(self, text: str, who: Person) -> list[str]:
        """A slash command: ``!quote add hi`` is ``/quote args:add hi``. Answered in the
        interaction response when quick, else deferred and followed up on its webhook."""
        name, _, args = text.removeprefix("!").partition(" ")
        token = f"token-{self.counter}-{uuid.uuid4().hex[:8]}"
        options = [{"name": "args", "type": 3, "value": args}] if args else []
        body = json.dumps(
            {
                "id": str(1213456789012345678 + self.counter),
                "application_id": APPLICATION_ID,
                "type": 2,
                "token": token,
                "version": 1,
                "guild_id": GUILD_ID,
                "channel_id": CHANNEL_ID,
                "member": {
                    "user": {"id": who.id, "username": who.name, "global_name": None},
                    "roles": [],
                    "permissions": str(self.PERMISSIONS[who.key]),
                    "nick": None,
                    "joined_at": "2023-01-01T00:00:00+00:00",
                },
                "app_permissions": "442368",
                "locale": "en-US",
                "data": {"id": "1200000000000000009", "name": name, "type": 1, "options": options},
            }
        ).encode()
        answer = await self.bot.client.post(
            "/webhooks/discord/interactions", content=body, headers=signed(KEY, body)
        )
        assert answer.status_code == 200, answer.text
        result = answer.json()
        if result["type"] == 4:
            return [str(result["data"]["content"])]
        assert result["type"] == 5, result
        followups = await self.fake.wait_for(f"/webhooks/{APPLICATION_ID}/{token}", timeout=WAIT)
        return [str(call.body["content"]) for call in followups]


DISCORD_PEOPLE = {
    "viewer": Person("viewer", "53908232506183680", "viewer"),
    "bob": Person("bob", "53908232506183681", "bob"),
    "moderator": Person("moderator", "53908232506183682", "moddy"),
    "owner": Person("owner", "80351110224678912", "guildowner"),
}


async def discord_chat(stack: AsyncExitStack, settings: Settings, clock: Clock) -> Chat:
    fake = FakeDiscord()
    fake.url = (await stack.enter_async_context(live_server(fake.app()))).url
    discord = DiscordSettings(
        bot_token=BOT_TOKEN,
        application_id=APPLICATION_ID,
        public_key=KEY.verify_key.encode().hex(),
        api_base=f"{fake.url}/api/v10",
        inline_wait=2.0,
    )
    router, bot = await _bot(
        stack, settings, clock, DiscordService(discord), await fake_twitch(stack)
    )
    return DiscordChat("discord", bot, router, clock, DISCORD_PEOPLE, fake, discord)


# --- the stacks ----------------------------------------------------------------------------


async def _bot(
    stack: AsyncExitStack, settings: Settings, clock: Clock, collector: Service, twitch: FakeTwitch
) -> tuple[RouterService, LiveServer]:
    """Router with the four modules (scheduler on ``clock``, run by the test; Helix for modules
    at the fake Twitch, as ``waddlebot up`` wires it on every platform) + the collector."""
    router = RouterService(
        modules=[core, memories, inventory, calendar, shoutouts],
        run_scheduler=False,
        twitch=module_twitch(twitch_settings(twitch)),
    )
    app = create_app(settings, instances=[router, collector])
    bot = await stack.enter_async_context(live_server(app))
    assert router.jobs is not None
    router.jobs.clock = clock.now
    return router, bot


async def _settings(
    stack: AsyncExitStack, kind: str, tmp: Any
) -> Settings:  # tmp: pytest's TempPathFactory
    base: dict[str, Any] = {
        "data_dir": tmp.mktemp("data"),
        "secret_key": "test-secret",
        "log_format": "console",
        "log_level": "WARNING",
        # one shared stack answers every test: the chat rate limits would refuse the chatter
        "rate_limit_user": 10_000,
        "rate_limit_entity": 10_000,
    }
    if kind == "embedded":
        return Settings(**base)
    redis_url = require_service(REDIS_URL, "Redis", "WADDLEBOT_TEST_REDIS_URL")
    db_url = require_service(DATABASE_URL, "PostgreSQL", "WADDLEBOT_TEST_DATABASE_URL")
    namespace = f"wbtest-{uuid.uuid4().hex[:12]}"
    fresh = await stack.enter_async_context(fresh_postgres_database(db_url))

    async def cleanup() -> None:
        backend = await open_backend(redis_url, namespace=namespace)
        await drop_test_keys(backend)
        await backend.close()

    stack.push_async_callback(cleanup)
    return Settings(**base, database_url=fresh, redis_url=redis_url, redis_namespace=namespace)


BUILDERS = {"twitch": twitch_chat, "slack": slack_chat, "discord": discord_chat}


@pytest_asyncio.fixture(
    scope="module",
    loop_scope="module",
    params=[
        # one xdist worker runs all of a stack's tests: each stack is started once
        pytest.param(
            (platform, kind),
            id=f"{platform}-{kind}",
            marks=pytest.mark.xdist_group(f"across-platforms-{platform}-{kind}"),
        )
        for platform in ("twitch", "slack", "discord")
        for kind in ("embedded", "distributed")
    ],
)
async def chat(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Chat]:
    platform, kind = request.param
    async with AsyncExitStack() as stack:
        settings = await _settings(stack, kind, tmp_path_factory)
        built = await BUILDERS[platform](stack, settings, Clock())
        await built.greet("viewer", "bob", "moderator", "owner")
        yield built


# --- memories: quotes ------------------------------------------------------------------------


async def test_quote_add_show_and_remove_is_for_moderators(chat: Chat) -> None:
    added = await chat.reply("!quote add I never lose at Tetris", "viewer")
    number = QUOTE_ADDED.match(added)
    assert number is not None, added
    assert added.endswith(': "I never lose at Tetris"')
    shown = await chat.reply(f"!quote {number[1]}", "bob")
    assert shown.startswith(f'#{number[1]}: "I never lose at Tetris" — added by ')
    viewer = chat.person("viewer").name
    # on Twitch the stream's category is asked from Helix; elsewhere there is none
    game = "Tetris, " if chat.platform == "twitch" else ""
    assert f"added by {viewer} ({game}{datetime.now(UTC).year}-" in shown, shown

    refused = await chat.reply(f"!quote remove {number[1]}", "viewer")
    assert refused == "!quote remove needs the memories.manage permission here."
    assert (await chat.reply(f"!quote {number[1]}", "viewer")) == shown  # still there
    assert await chat.reply(f"!quote remove {number[1]}", "moderator") == (
        f"Quote #{number[1]} removed."
    )
    assert await chat.reply(f"!quote {number[1]}", "viewer") == (
        f"Quote #{number[1]} does not exist."
    )


async def test_quote_usage_errors_answer_with_the_usage_line(chat: Chat) -> None:
    assert await chat.reply("!quote add", "viewer") == "Usage: !quote add [#label …] TEXT"
    assert await chat.reply("!quote what is this", "viewer") == (
        "Usage: !quote [N|#label] | !quote add [#label] TEXT | !quote search WORDS"
    )


# --- memories: reminders ---------------------------------------------------------------------


async def test_reminders_are_delivered_into_the_platforms_channel(chat: Chat) -> None:
    viewer = chat.person("viewer")
    answer = await chat.reply("!remind me in 1m stretch your legs", "viewer")
    assert REMINDER_SET.match(answer), answer
    assert answer.startswith("Reminder #") and "set for you" in answer
    assert await chat.run_due(advance=30) == []
    posted = await chat.run_due(advance=31)
    assert posted == [f"@{viewer.name} reminder: stretch your legs"]


async def test_remind_someone_by_platform_mention(chat: Chat) -> None:
    bob = chat.person("bob")
    answer = await chat.reply(f"!remind {chat.mention('bob')} in 2m drink water", "viewer")
    assert REMINDER_SET.match(answer), answer
    assert f"set for @{bob.name}:" in answer
    posted = await chat.run_due(advance=121)
    viewer = chat.person("viewer").name
    assert posted == [f"@{bob.name} reminder from {viewer}: drink water"]


async def test_private_reminders_are_whispered_on_the_platform(chat: Chat) -> None:
    viewer = chat.person("viewer")
    answer = await chat.reply("!remind me in 5m --private the secret plan", "viewer")
    assert REMINDER_SET.match(answer) and "set for you, whispered" in answer, answer
    before = len(chat.whispers())
    assert await chat.run_due(advance=301) == []  # nothing said in the channel
    assert chat.whispers()[before:] == [(viewer.id, "Reminder: the secret plan")]


async def test_remind_usage_error(chat: Chat) -> None:
    usage = "Usage: !remind me|@user in 10m|at 18:30|at 2026-12-01 18:30 [--private] TEXT"
    assert await chat.reply("!remind me", "viewer") == usage
    assert await chat.reply("!remind me soon stretch", "viewer") == usage


# --- inventory -------------------------------------------------------------------------------


async def test_inventory_items_give_by_mention_and_refusals(chat: Chat) -> None:
    item = f"Egg{chat.platform.capitalize()}"
    assert await chat.reply(f"!inv add {item} 10", "owner") == f"Added {item} (stock 10)."
    items = await chat.reply("!inv items", "viewer")
    assert items.startswith("Items: ") and f"{item} (10/10 left)" in items

    bob = chat.person("bob")
    give = f"!inv give {chat.mention('bob')} {item} 2"
    refused = "!inv give needs the inventory.manage permission here."
    assert await chat.reply(give, "viewer") == refused
    assert await chat.reply(give, "moderator") == refused  # admins' by default
    assert await chat.reply(give, "owner") == (
        f"Gave 2 {item} to {bob.name}; they have 2. 8 left in stock."
    )
    assert await chat.reply(f"!inv {chat.mention('bob')}", "viewer") == f"{bob.name} has {item} ×2"
    # a plain @name typed by hand names the same account
    assert await chat.reply(f"!inv @{bob.name}", "viewer") == f"{bob.name} has {item} ×2"
    assert await chat.reply("!inv", "bob") == f"Your items: {item} ×2"
    assert await chat.reply("!inv give", "owner") == "Usage: !inv give @user ITEM [N]"


# --- calendar ----------------------------------------------------------------------------------


async def test_event_proposed_pending_then_approved_shows_in_events(chat: Chat) -> None:
    day = (datetime.now(UTC) + timedelta(days=5)).date().isoformat()
    title = f"Movie night on {chat.platform}"
    proposed = await chat.reply(f'!event add "{title}" {day} 20:00 2h', "viewer")
    found = EVENT_NUMBER.search(proposed)
    assert found is not None, proposed
    assert proposed.endswith("is proposed; a moderator needs to approve it."), proposed
    shown = await chat.reply(f"!event {found[1]}", "moderator")
    assert shown.startswith(f'#{found[1]} "{title}"') and "[pending]" in shown, shown
    listing = await chat.reply("!events", "viewer")
    assert title not in listing  # pending events are not listed

    approved = await chat.reply(f"!event approve {found[1]}", "moderator")
    viewer = chat.person("viewer").name
    # the proposer is told in the channel they proposed it in (here: this one)
    assert approved.startswith(f'@{viewer}, your event #{found[1]} "{title}" '), approved
    assert approved.endswith(" is approved."), approved
    listing = await chat.reply("!events", "viewer")
    assert title in listing and f"#{found[1]}" in listing


async def test_event_usage_error(chat: Chat) -> None:
    usage = 'Usage: !event add "TITLE" YYYY-MM-DD HH:MM [DURATION like 2h] [description]'
    assert await chat.reply("!event add", "viewer") == usage


# --- shoutouts -------------------------------------------------------------------------------


async def test_shoutout_names_the_twitch_streamer_on_every_platform(chat: Chat) -> None:
    line = "Go follow Alice, last seen playing Celeste: https://twitch.tv/alice"
    if chat.platform != "twitch":
        line += " Clip: https://clips.twitch.tv/fresh"  # off Twitch the clip link follows
    assert await chat.reply("!so @alice", "moderator") == line
    assert await chat.reply("!so alice", "viewer") == "!so is for moderators and above."
    assert await chat.reply("!so", "moderator") == "Usage: !so TWITCHLOGIN"


# --- !help -------------------------------------------------------------------------------------


async def test_help_lists_moderator_commands_only_for_moderators(chat: Chat) -> None:
    viewer = await chat.reply("!help", "viewer")
    moderator = await chat.reply("!help", "moderator")
    for listing in (viewer, moderator):
        assert listing.startswith("You can use: ") and "!quote" in listing, listing
        assert "!inv" in listing and "!event" in listing and "!remind" in listing
    assert "!so" not in re.findall(r"![a-z]+", viewer), viewer
    assert "!so" in re.findall(r"![a-z]+", moderator), moderator
    # !quote's own help names the moderator forms only to those who may use them
    assert "!quote remove" not in await chat.reply("!quote help", "viewer")
    assert (await chat.reply("!quote help", "moderator")).endswith(
        " | !quote remove N | !quote edit N TEXT"
    )


# --- the other ways in: Slack slash commands, Discord gateway messages ---------------------


async def test_slack_slash_commands_answer_through_the_response_url(chat: Chat) -> None:
    if not isinstance(chat, SlackChat):
        pytest.skip("Slack only")
    added = await chat.slash("quote add typed as a slash command", "viewer")
    number = QUOTE_ADDED.match(added)
    assert number is not None, added
    assert (await chat.slash(f"quote {number[1]}", "bob")).startswith(
        f'#{number[1]}: "typed as a slash command" — added by viewer ('
    )
    # bob's items are given here: tests share the stack but may run in any order, or apart
    assert await chat.reply("!inv add SlashEgg 5", "owner") == "Added SlashEgg (stock 5)."
    assert (await chat.reply(f"!inv give {chat.mention('bob')} SlashEgg 2", "owner")).startswith(
        "Gave 2 SlashEgg to bob"
    )
    # with "escape users" on, Slack sends a picked user as <@U…|name>
    assert await chat.slash("inv give <@U0BOB|bob> SlashEgg", "viewer") == (
        "!inv give needs the inventory.manage permission here."
    )
    holds = await chat.slash("inv <@U0BOB|bob>", "viewer")
    assert holds.startswith("bob has ") and "SlashEgg ×2" in holds, holds
    assert await chat.slash("event add", "viewer") == (
        'Usage: !event add "TITLE" YYYY-MM-DD HH:MM [DURATION like 2h] [description]'
    )


def _gateway_message(message_id: str, content: str, who: Person) -> dict[str, Any]:
    """A MESSAGE_CREATE dispatch as the gateway sends it."""
    return {
        "id": message_id,
        "channel_id": CHANNEL_ID,
        "guild_id": GUILD_ID,
        "author": {
            "id": who.id,
            "username": who.name,
            "discriminator": "0",
            "global_name": None,
            "avatar": None,
        },
        "member": {
            "roles": [],
            "joined_at": "2023-01-01T00:00:00+00:00",
            "nick": None,
            "deaf": False,
            "mute": False,
            "flags": 0,
        },
        "content": content,
        "timestamp": "2026-11-25T20:00:00+00:00",
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": False,
        "mentions": [],
        "mention_roles": [],
        "attachments": [],
        "embeds": [],
        "pinned": False,
        "type": 0,
    }


async def test_discord_gateway_messages_with_mentions(chat: Chat) -> None:
    """Typed ``!commands`` (not slash commands) parsed by py-cord's own gateway state."""
    if not isinstance(chat, DiscordChat):
        pytest.skip("Discord only")
    runtime = chat.bot.app.state.runtime
    client = build_client(chat.collector, GatewayHandler(runtime, chat.collector))
    state = client._connection
    state.parse_guild_create(guild_create())  # owned by the "owner" person
    try:

        async def typed(text: str, who: str) -> str:
            before = len(chat.posts())
            chat.counter += 1
            message_id = str(1000000000000000000 + chat.counter)
            state.parse_message_create(_gateway_message(message_id, text, chat.person(who)))
            await until(lambda: len(chat.posts()) > before, f"a reply to {text!r}")
            [answer] = chat.posts()[before:]
            return _unprefixed(answer, chat.person(who))

        bob = chat.mention("bob")
        assert await typed("!inv add GatewayGem 3", "owner") == "Added GatewayGem (stock 3)."
        assert await typed(f"!inv give {bob} GatewayGem", "viewer") == (
            "!inv give needs the inventory.manage permission here."
        )
        assert await typed(f"!inv give {bob} GatewayGem", "owner") == (
            "Gave 1 GatewayGem to bob; they have 1. 2 left in stock."
        )
        legacy = "<@!" + chat.person("bob").id + ">"
        assert "GatewayGem ×1" in await typed(f"!inv {legacy}", "viewer")
        added = await typed("!quote add typed in the channel", "viewer")
        assert QUOTE_ADDED.match(added), added
    finally:
        await client.close()


async def test_discord_slash_commands_hide_moderator_commands_by_default(chat: Chat) -> None:
    """Discord lists slash commands itself: ``/so`` is shown to members who can manage
    messages (moderators), the others to everyone (the router still checks every call)."""
    if not isinstance(chat, DiscordChat):
        pytest.skip("Discord only")
    runtime = chat.bot.app.state.runtime
    sent = await sync_commands(runtime.db, runtime.backend.kv, chat.collector, GUILD_ID)
    by_name = {command["name"]: command for command in sent}
    assert {"quote", "remind", "reminders", "inv", "event", "events", "so"} <= set(by_name)
    assert by_name["so"]["default_member_permissions"] == str(MANAGE_MESSAGES)
    for name in ("quote", "remind", "inv", "event", "events", "help"):
        assert "default_member_permissions" not in by_name[name], name
