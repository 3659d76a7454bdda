"""The built-in core module, tested like any module: through the SDK harness."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from waddlebot import __version__
from waddlebot.kernel.contracts import Role
from waddlebot.modules.core import module as core
from waddlebot.sdk.testing import ModuleHarness


@pytest.fixture
async def bot() -> AsyncIterator[ModuleHarness]:
    async with ModuleHarness(core) as harness:
        yield harness


async def test_ping(bot: ModuleHarness) -> None:
    assert await bot.reply("!ping") == "pong"


async def test_help_lists_what_the_role_may_use(bot: ModuleHarness) -> None:
    assert await bot.reply("!help") == (
        "You can use: !about, !commands, !help, !ping, !timezone. Type !help <command> for details."
    )
    assert "!reload" not in await bot.reply("!help", role=Role.moderator)
    assert "!reload" in await bot.reply("!help", role=Role.broadcaster)  # acts as owner


async def test_help_explains_one_command(bot: ModuleHarness) -> None:
    assert await bot.reply("!help !ping") == "!ping: Check that the bot is alive. Usage: !ping"
    assert await bot.reply("!help nope") == (
        "There is no command !nope you can use here. Try !commands."
    )


async def test_commands_and_about(bot: ModuleHarness) -> None:
    assert await bot.reply("!commands") == "Commands: !about, !commands, !help, !ping, !timezone"
    assert (await bot.reply("!about")).startswith(f"WaddleBot {__version__}: ")


async def test_reload_needs_commands_manage(bot: ModuleHarness) -> None:
    refusal = "@alice !reload needs the commands.manage permission here."
    assert await bot.reply("!reload") == refusal
    assert await bot.reply("!reload", role="moderator") == refusal
    assert await bot.reply("!reload", role="broadcaster") == "Command table reloaded: 6 commands."
