"""The dice module through the real router pipeline, in memory, with the SDK harness."""

from __future__ import annotations

import re
from pathlib import Path

from waddlebot.sdk.manifest import load_manifest
from waddlebot.sdk.testing import ModuleHarness

from .dice import module


async def test_roll_uses_typed_arguments() -> None:
    async with ModuleHarness(module) as bot:
        assert re.fullmatch(r"alice rolled [1-6] on d6\.", await bot.reply("!roll"))
        assert re.fullmatch(
            r"alice rolled \d+, \d+ on d20 \(total \d+\)\.", await bot.reply("!roll 20 2")
        )
        assert (
            await bot.reply("!roll many")
            == "sides must be a whole number. Usage: !roll [sides] [dice]"
        )


async def test_config_limits_the_dice() -> None:
    async with ModuleHarness(module, config={"max_sides": 12}) as bot:
        assert await bot.reply("!roll 20") == "Dice here have 2 to 12 sides."


async def test_stats_count_per_community_and_reset_is_for_moderators() -> None:
    async with ModuleHarness(module) as bot:
        await bot.reply("!roll 6 3")
        assert await bot.reply("!dice stats") == "3 dice rolled in this community."
        assert (
            await bot.reply("!dice stats", channel="elsewhere")
            == "0 dice rolled in this community."
        )
        assert await bot.reply("!dice reset") == "!dice reset is for moderators and above."
        assert await bot.reply("!dice reset", role="moderator") == "Dice counter reset."


def test_the_manifest_matches_the_code() -> None:
    manifest = load_manifest(Path(__file__).with_name("manifest.json"))
    generated = module.manifest(runtime="http", endpoint=manifest.endpoint)
    assert manifest.model_dump() == generated.model_dump()
