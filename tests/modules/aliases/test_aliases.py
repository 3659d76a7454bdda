"""Aliases end to end: defined in chat, expanded by the router and re-dispatched through the
whole pipeline, so the target's role, permission and cooldown apply to whoever calls them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import select

from tests.module_support import module_request
from tests.support import LiveServer, live_server, testkit
from waddlebot.aliases.manager import alias_names
from waddlebot.aliases.models import Alias
from waddlebot.app import create_app
from waddlebot.collectors.playground.service import PlaygroundService
from waddlebot.kernel.contracts import (
    ChatAction,
    Event,
    OutboundMessage,
    Platform,
    Role,
    UserRef,
)
from waddlebot.kernel.contracts.names import outbound_queue, outcome_channel
from waddlebot.kernel.settings import Settings
from waddlebot.modules.aliases import module as aliases
from waddlebot.modules.core import module as core
from waddlebot.router.service import RouterService
from waddlebot.sdk.remote import RemoteHost
from waddlebot.sdk.testing import ModuleHarness

OWNER = {"user": "streamer", "role": "broadcaster"}


@asynccontextmanager
async def bot_with_aliases(settings: Settings) -> AsyncIterator[LiveServer]:
    app = create_app(
        settings,
        instances=[RouterService(modules=[core, testkit, aliases]), PlaygroundService()],
    )
    async with live_server(app) as bot:
        yield bot


async def test_define_list_show_use_and_remove_in_the_playground() -> None:
    async with ModuleHarness(aliases, testkit) as bot:
        owner = {"user": "streamer", "role": "broadcaster"}
        assert (await bot.reply("!alias", **owner)).startswith("No aliases here yet.")
        assert await bot.reply("!alias e='!echo $2 $1'", **owner) == (
            "!e is now an alias for !echo $2 $1."
        )
        assert await bot.reply("!alias hi=!echo hello $user", **owner) == (
            "!hi is now an alias for !echo hello $user."
        )
        assert await bot.reply("!e one two three") == "two|one"
        assert await bot.reply("!hi there") == "hello|alice|there"  # no $1/$@: appended
        assert await bot.reply('!e "big bird" x') == "x|big bird"
        assert await bot.reply("!alias", **owner) == (
            "Aliases: !e=!echo $2 $1, !hi=!echo hello $user"
        )
        assert await bot.reply("!alias hi", **owner) == "!hi='!echo hello $user'"
        assert await bot.reply('!alias hi "!echo bye"', **owner) == "!hi now runs !echo bye."
        assert await bot.reply("!hi") == "bye"
        assert await bot.reply("!unalias !hi", **owner) == "Alias !hi removed (it ran !echo bye)."
        assert await bot.texts("!hi") == []
        assert await bot.reply("!unalias hi", **owner) == "There is no alias !hi here."
        assert await bot.reply("!alias nope", **owner) == "There is no alias !nope here."
        # !help and !commands list the aliases the caller may use
        assert "!e," in await bot.reply("!commands")
        assert await bot.reply("!help e") == "!e: Alias: !echo $2 $1 Usage: !e"
        # the names other commands may not take
        assert await alias_names(bot.runtime.db, await bot.community_id()) == ["e"]


async def test_definitions_are_checked() -> None:
    async with ModuleHarness(aliases, testkit) as bot:
        owner = {"user": "streamer", "role": "broadcaster"}
        assert await bot.reply("!alias x='!echo'") == (
            "@alice !alias needs the commands.manage permission here."
        )
        assert await bot.reply("!unalias x") == (
            "@alice !unalias needs the commands.manage permission here."
        )
        assert await bot.reply("!alias ping='!echo'", **owner) == (
            "!ping is already a command here; pick another name."
        )
        assert await bot.reply("!alias x='hello'", **owner) == (
            "An alias must point to a command, e.g. !alias so='!shoutout $1'."
        )
        assert await bot.reply("!alias x='!nothing'", **owner) == "!nothing is not a command here."
        assert (await bot.reply("!alias a b c", **owner)).startswith("Usage: !alias")
        assert (await bot.reply("!alias bad name='!echo'", **owner)).startswith("Usage: !alias")
        assert (await bot.reply("!alias b@d='!echo'", **owner)).startswith("An alias name is")
        # chains up to five deep; a sixth and loops are refused when defined
        assert await bot.reply("!alias a5='!echo end'", **owner)
        for i in range(4, 0, -1):
            assert await bot.reply(f"!alias a{i}='!a{i + 1}'", **owner)
        assert await bot.reply("!a1") == "end"
        assert await bot.reply("!alias a0='!a1'", **owner) == (
            "That would chain more than 5 aliases: !a0 → !a1 → !a2 → !a3 → !a4 → !a5."
        )
        assert await bot.reply("!alias a5='!a1'", **owner) == (
            "That would make a loop: !a1 → !a2 → !a3 → !a4 → !a5 → !a1."
        )
        assert await bot.reply("!alias me='!me'", **owner) == "That would make a loop: !me → !me."
        # a target removed later: the alias says so instead of going quiet
        assert await bot.reply("!alias gone='!a5'", **owner)
        await bot.reply("!unalias a5", **owner)
        assert await bot.reply("!gone") == "@alice !gone runs !a5, which is not a command here."
        async with bot.runtime.db.session() as session:
            rows = (await session.scalars(select(Alias.name))).all()
        assert sorted(rows) == ["a1", "a2", "a3", "a4", "gone"]


async def test_an_alias_gives_a_viewer_no_more_than_the_target(stack_settings: Settings) -> None:
    async with bot_with_aliases(stack_settings) as bot:
        assert await bot.texts("!alias m='!modonly'", **OWNER) == [
            "!m is now an alias for !modonly."
        ]
        assert await bot.texts("!alias t='!tune'", **OWNER) == ["!t is now an alias for !tune."]
        assert await bot.texts("!m", user="viewer") == [
            "@viewer !modonly is for moderators and above."
        ]
        assert (await bot.say("!m", user="viewer"))["status"] == "refused"
        assert await bot.texts("!t", user="viewer") == [
            "@viewer !tune needs the commands.manage permission here."
        ]
        assert await bot.texts("!m", user="mod", role="moderator") == ["secret moderator stuff"]
        assert await bot.texts("!t", **OWNER) == ["tuned"]
        # listings: only what the caller may run
        [viewer_list] = await bot.texts("!commands", user="viewer")
        [mod_list] = await bot.texts("!commands", user="mod", role="moderator")
        assert "!m," not in viewer_list and "!t," not in viewer_list
        assert "!m," in mod_list and "!t," not in mod_list


async def test_an_alias_shares_the_targets_cooldown(stack_settings: Settings) -> None:
    async with bot_with_aliases(stack_settings) as bot:
        await bot.texts("!alias c='!cool'", **OWNER)
        await bot.texts("!alias cc='!c'", **OWNER)
        assert await bot.texts("!cc") == ["cool"]
        [notice] = await bot.texts("!cool")
        assert notice.startswith("@alice !cool is on cooldown, try again in ")
        assert await bot.texts("!c") == []  # one notice per cooldown, then quiet
        assert await bot.texts("!c", user="bob") == ["cool"]  # a per-user cooldown
        [notice] = await bot.texts("!cool", user="bob")
        assert notice.startswith("@bob !cool is on cooldown")


async def test_rate_limits_count_an_alias_like_the_target(stack_settings: Settings) -> None:
    settings = stack_settings.model_copy(update={"rate_limit_user": 2, "rate_limit_window": 60})
    async with bot_with_aliases(settings) as bot:
        await bot.texts("!alias p='!ping'", role="broadcaster", user="streamer")
        assert await bot.texts("!p") == ["pong"]
        assert await bot.texts("!ping") == ["pong"]
        [notice] = await bot.texts("!p")
        assert notice.startswith("@alice slow down")


async def test_an_alias_works_from_twitch(stack_settings: Settings) -> None:
    async with bot_with_aliases(stack_settings) as bot:
        runtime = bot.app.state.runtime
        backend = runtime.backend

        async def twitch(text: str, user: UserRef) -> str:
            event = Event(
                platform=Platform.twitch, server_id="1001", channel_id="1001", user=user, text=text
            )
            async with backend.pubsub.subscribe(outcome_channel(event.id)) as outcomes:
                client = runtime.client("router", caller="test")
                answer = await client.post(
                    "/api/router/v1/events", json=event.model_dump(mode="json")
                )
                assert answer.status_code == 202
                assert await outcomes.get(timeout=10) is not None
            [queued] = await backend.queues.take(outbound_queue("twitch"), "t", "t", count=5)
            await backend.queues.ack(outbound_queue("twitch"), "t", queued.id)
            return OutboundMessage.model_validate_json(queued.payload).text

        caster = UserRef(id="1001", name="caster", role=Role.broadcaster)
        viewer = UserRef(id="2002", name="viewer")
        assert await twitch("!alias e='!echo twitch $1'", caster) == (
            "!e is now an alias for !echo twitch $1."
        )
        assert await twitch("!e hi", viewer) == "twitch|hi"
        await twitch("!alias m=!modonly", caster)
        assert await twitch("!m", viewer) == "@viewer !modonly is for moderators and above."


async def test_outside_the_router_aliases_are_not_available() -> None:
    response = await aliases.handle(module_request("alias"), RemoteHost())
    assert response.actions == [ChatAction(text="Aliases are not available here.")]
