"""Dice: a third-party WaddleBot module written with the SDK.

Run it as an HTTP service:  waddlebot module serve dice:module --port 8080 --secret …
"""

from __future__ import annotations

import secrets

from waddlebot.kernel.contracts import Role
from waddlebot.sdk import CommandError, Context, Module

module = Module(
    "dice",
    version="1.0.0",
    description="Dice rolls and coin flips, with a per-community roll counter.",
    author="WaddleBot examples",
    categories=["games", "fun"],
    config_schema={
        "type": "object",
        "properties": {
            "max_sides": {"type": "integer", "minimum": 2, "maximum": 1000, "default": 100},
            "max_dice": {"type": "integer", "minimum": 1, "maximum": 20, "default": 5},
        },
        "additionalProperties": False,
    },
)


@module.command("roll", description="Roll dice: !roll 20, or !roll 6 3 for three d6.")
async def roll(ctx: Context, sides: int = 6, dice: int = 1) -> None:
    if not 2 <= sides <= ctx.config["max_sides"]:
        raise CommandError(f"Dice here have 2 to {ctx.config['max_sides']} sides.")
    if not 1 <= dice <= ctx.config["max_dice"]:
        raise CommandError(f"Roll 1 to {ctx.config['max_dice']} dice at once.")
    rolls = [secrets.randbelow(sides) + 1 for _ in range(dice)]
    await ctx.storage.incr("rolls", dice)
    shown = ", ".join(str(value) for value in rolls)
    total = f" (total {sum(rolls)})" if dice > 1 else ""
    ctx.reply(f"{ctx.user_name} rolled {shown} on d{sides}{total}.")


@module.command("flip", description="Flip a coin.")
async def flip(ctx: Context) -> None:
    ctx.reply(f"{ctx.user_name} flipped {secrets.choice(['heads', 'tails'])}.")


@module.subcommand("dice", "stats", description="How many dice were rolled here.")
async def stats(ctx: Context) -> None:
    ctx.reply(f"{await ctx.storage.get('rolls', 0)} dice rolled in this community.")


@module.subcommand("dice", "reset", min_role=Role.moderator, description="Reset the counter.")
async def reset(ctx: Context) -> None:
    await ctx.storage.delete("rolls")
    ctx.reply("Dice counter reset.")
