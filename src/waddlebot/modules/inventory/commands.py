"""``!inv`` in chat, and platform rewards that grant items.

Item names may contain spaces: quote them (``!inv give @bob "Golden Egg" 2``); the router's
parser keeps quoted words together. Where a command ends with the item, an unquoted name works
too (``!inv give @bob Golden Egg 2``): the last word is the quantity when it is a number.
"""

from __future__ import annotations

import re
import time
from typing import Any

from waddlebot.kernel.contracts import EventType
from waddlebot.kernel.errors import Refusal
from waddlebot.modules.inventory.manager import (
    GRANT_DESCRIPTION,
    InventoryManager,
    ItemInfo,
    Transfer,
    configured_commands,
)
from waddlebot.modules.inventory.module import module
from waddlebot.sdk import CommandError, Context
from waddlebot.sdk.text import fit
from waddlebot.sdk.timers import format_duration
from waddlebot.sdk.triggers import trigger_of

MANAGE = "inventory.manage"
USAGE = (
    "Usage: !inv [@user] | !inv items [LABEL] | !inv send @user ITEM [N] | "
    "!inv give|take @user ITEM [N] | !inv add ITEM [STOCK] [DESCRIPTION] | !inv remove ITEM | "
    "!inv label|unlabel ITEM LABEL | !inv sync"
)
NUMBER = re.compile(r"[+-]?\d+")


def _manager(ctx: Context) -> InventoryManager:
    return InventoryManager(ctx.database, ctx.host.labels())


def _item_and_quantity(words: list[str], usage: str) -> tuple[str, int]:
    """``ITEM [N]``: the last word is the quantity when it is a number."""
    if not words:
        raise CommandError(usage)
    if len(words) > 1 and NUMBER.fullmatch(words[-1]):
        return " ".join(words[:-1]), int(words[-1])
    return " ".join(words), 1


def _holdings_text(listing: str, empty: str, holdings: list[tuple[str, int]]) -> str:
    if not holdings:
        return empty
    return fit(listing + ", ".join(f"{name} ×{quantity}" for name, quantity in holdings))


def _stock(transfer: Transfer) -> str:
    return "" if transfer.stock_left is None else f" {transfer.stock_left} left in stock."


def _describe(item: ItemInfo) -> str:
    text = item.name
    if item.stock is not None:
        text += f" ({item.stock_left}/{item.stock} left)"
    if item.labels:
        text += " [" + ", ".join(item.labels) + "]"
    return text


@module.command(
    "inv",
    usage="!inv [@user] | !inv <items|send|give|take|add|remove|label|unlabel>",
    description="Your items (or someone else's with @user); see !inv items.",
)
async def inv(ctx: Context) -> None:
    if len(ctx.args) > 1:
        raise CommandError(USAGE)
    manager = _manager(ctx)
    if not ctx.args:
        user_id, listing, empty = await ctx.user_id(), "Your items: ", "You have no items yet."
    else:
        found = await ctx.find_user(ctx.args[0])
        user_id = found.user_id
        listing, empty = f"{found.username} has ", f"{found.username} has no items yet."
    holdings = await manager.holdings(ctx.community_id, user_id=user_id)
    ctx.reply(_holdings_text(listing, empty, [(h.item, h.quantity) for h in holdings]))


@module.subcommand(
    "inv", "items", usage="!inv items [LABEL]", description="The item catalogue (by label)."
)
async def items(ctx: Context) -> None:
    label = " ".join(ctx.args).strip() or None
    found = await _manager(ctx).items(ctx.community_id, label)
    if not found:
        if label:
            ctx.reply(f"No items carry the label {label}.")
        else:
            ctx.reply("There are no items here yet. Managers add them with !inv add ITEM.")
        return
    ctx.reply(fit("Items: " + "; ".join(_describe(item) for item in found)))


@module.subcommand(
    "inv",
    "send",
    usage="!inv send @user ITEM [N]",
    description="Hand some of your items to someone.",
)
async def send(ctx: Context) -> None:
    usage = "Usage: !inv send @user ITEM [N]"
    if len(ctx.args) < 2:
        raise CommandError(usage)
    found = await ctx.find_user(ctx.args[0])
    item, quantity = _item_and_quantity(ctx.args[1:], usage)
    me = await ctx.user_id()
    if found.user_id == me:
        raise CommandError("You cannot send items to yourself.")
    done = await _manager(ctx).send(ctx.community_id, me, found.user_id, item, quantity)
    ctx.reply(
        f"Sent {done.quantity} {done.item} to {found.username}; you have {done.from_held} left."
    )


@module.subcommand(
    "inv",
    "give",
    usage="!inv give @user ITEM [N]",
    description="Give someone items out of stock.",
    permission=MANAGE,
)
async def give(ctx: Context) -> None:
    usage = "Usage: !inv give @user ITEM [N]"
    if len(ctx.args) < 2:
        raise CommandError(usage)
    found = await ctx.find_user(ctx.args[0])
    item, quantity = _item_and_quantity(ctx.args[1:], usage)
    done = await _manager(ctx).give(
        ctx.community_id, found.user_id, item, quantity, who=await ctx.user_id(), reason="chat"
    )
    assert done is not None
    ctx.reply(
        f"Gave {done.quantity} {done.item} to {found.username}; they have {done.to_held}."
        + _stock(done)
    )


@module.subcommand(
    "inv",
    "take",
    usage="!inv take @user ITEM [N]",
    description="Take items from someone (back into stock).",
    permission=MANAGE,
)
async def take(ctx: Context) -> None:
    usage = "Usage: !inv take @user ITEM [N]"
    if len(ctx.args) < 2:
        raise CommandError(usage)
    found = await ctx.find_user(ctx.args[0])
    item, quantity = _item_and_quantity(ctx.args[1:], usage)
    done = await _manager(ctx).take(
        ctx.community_id,
        found.user_id,
        item,
        quantity,
        who=await ctx.user_id(),
        reason="chat",
        name=found.username,
    )
    ctx.reply(
        f"Took {done.quantity} {done.item} from {found.username}; they have {done.from_held} left."
    )


@module.subcommand(
    "inv",
    "add",
    usage='!inv add ITEM [STOCK] [DESCRIPTION] (quote names with spaces: "Golden Egg")',
    description="Add an item to the catalogue (STOCK: how many may exist; none = unlimited).",
    permission=MANAGE,
)
async def add(ctx: Context) -> None:
    if not ctx.args:
        raise CommandError(
            'Usage: !inv add ITEM [STOCK] [DESCRIPTION] (e.g. !inv add "Golden Egg" 10)'
        )
    name, rest = ctx.args[0], ctx.args[1:]
    stock: int | None = None
    if rest and NUMBER.fullmatch(rest[0]):
        stock, rest = int(rest[0]), rest[1:]
    item = await _manager(ctx).create(
        ctx.community_id,
        name,
        description=" ".join(rest),
        stock=stock,
        who=await ctx.user_id(),
    )
    limit = "unlimited" if item.stock is None else f"stock {item.stock}"
    ctx.reply(f"Added {item.name} ({limit}).")


@module.subcommand(
    "inv",
    "remove",
    usage="!inv remove ITEM",
    description="Remove an item, and everyone's units of it.",
    permission=MANAGE,
)
async def remove(ctx: Context) -> None:
    name = " ".join(ctx.args)
    if not name:
        raise CommandError("Usage: !inv remove ITEM")
    manager = _manager(ctx)
    item = await manager.item(ctx.community_id, name)
    held = await manager.remove(ctx.community_id, item.id, who=await ctx.user_id())
    units = f"the {held} unit{'' if held == 1 else 's'} people held"
    ctx.reply(f"Removed {item.name}" + (f" and {units}." if held else "."))


async def _label(ctx: Context, on: bool) -> None:
    verb = "label" if on else "unlabel"
    if len(ctx.args) < 2:
        raise CommandError(f"Usage: !inv {verb} ITEM LABEL")
    item, label = await _manager(ctx).label(
        ctx.community_id,
        " ".join(ctx.args[:-1]),
        ctx.args[-1],
        who=await ctx.user_id(),
        on=on,
    )
    ctx.reply(f"{item} is now labelled {label}." if on else f"{item} no longer carries {label}.")


@module.subcommand(
    "inv",
    "label",
    usage="!inv label ITEM LABEL",
    description="Put an existing label on an item (a category).",
    permission=MANAGE,
)
async def label(ctx: Context) -> None:
    await _label(ctx, True)


@module.subcommand(
    "inv",
    "unlabel",
    usage="!inv unlabel ITEM LABEL",
    description="Take a label off an item.",
    permission=MANAGE,
)
async def unlabel(ctx: Context) -> None:
    await _label(ctx, False)


# --- platform rewards ---------------------------------------------------------------------


@module.on_event(EventType.redemption)
async def redeemed(ctx: Context) -> None:
    """A Twitch channel-points redemption of a reward the config maps to items: grant them to
    the redeemer once per redemption (``ref``), even when Twitch delivers it twice."""
    reward = ctx.event.data.get("reward") or {}
    if not isinstance(reward, dict) or ctx.user is None:
        return
    title = str(reward.get("title") or "")
    names = {str(reward.get("id") or "").strip().lower(), title.strip().lower()} - {""}
    redemption = str(ctx.event.data.get("id") or ctx.event.id)
    grants = [
        (index, grant)
        for index, grant in enumerate(ctx.config.get("grants") or [])
        if isinstance(grant, dict) and str(grant.get("reward", "")).strip().lower() in names
    ]
    if not grants:
        return
    user_id = await ctx.user_id()
    manager = _manager(ctx)
    for index, grant in grants:
        quantity = int(grant.get("quantity") or 1)
        try:
            done = await manager.give(
                ctx.community_id,
                user_id,
                str(grant["item"]),
                quantity,
                who=f"{ctx.platform.value}:reward",
                reason=f"reward: {title or reward.get('id')}"[:200],
                action="grant",
                ref=f"{ctx.platform.value}:redemption:{redemption}:{index}",
            )
        except Refusal as refused:
            if ctx.config.get("announce", True):
                ctx.reply(f"@{ctx.user_name} {refused.message}")
            continue
        if done is not None and ctx.config.get("announce", True):
            ctx.reply(
                f"{ctx.user_name} redeemed {title or 'a reward'}: +{done.quantity} {done.item} "
                f"(now {done.to_held})."
            )


# --- commands that grant items (any platform) ---------------------------------------------


def _commands(ctx: Context) -> dict[str, dict[str, Any]]:
    return configured_commands(ctx.config)


@module.subcommand(
    "inv",
    "sync",
    usage="!inv sync",
    description="Answer the item-granting commands of this module's config (after changing it).",
    permission=MANAGE,
)
async def sync(ctx: Context) -> None:
    wanted = list(_commands(ctx))
    for name in wanted:
        trigger_of(name)  # a readable refusal before anything changes
    done = await ctx.host.claim_triggers(
        ctx.community_id, module.name, wanted, list(module.commands), GRANT_DESCRIPTION
    )
    answering = sorted(set(wanted) - set(done.refused))
    parts = ["Item commands here: " + (", ".join(f"!{t}" for t in answering) or "none") + "."]
    if done.refused:
        taken = ", ".join(f"!{t} ({owner})" for t, owner in done.refused.items())
        parts.append(f"Already taken by other modules: {taken}.")
    ctx.reply(" ".join(parts))


@module.dynamic_commands
async def granting_command(ctx: Context) -> None:
    """``!daily`` and friends: grant the configured item to the caller, at most once per
    ``cooldown`` window (``ref`` in the history makes it hold under concurrency)."""
    trigger = (ctx.command or "").lower()
    spec = _commands(ctx).get(trigger)
    if spec is None:
        raise CommandError(f"!{trigger} grants nothing here any more.")
    quantity = int(spec.get("quantity") or 1)
    cooldown = int(spec.get("cooldown") or 0)
    user_id = await ctx.user_id()
    now = time.time()
    window = int(now // cooldown) if cooldown else 0
    ref = f"command:{trigger}:{user_id}:{window}" if cooldown else None
    done = await _manager(ctx).give(
        ctx.community_id,
        user_id,
        str(spec.get("item", "")),
        quantity,
        who=f"!{trigger}",
        reason=f"!{trigger}",
        action="grant",
        ref=ref,
    )
    if done is None:
        wait = max(1.0, (window + 1) * cooldown - now)
        ctx.reply(f"You already used !{trigger}; try again in {format_duration(wait)}.")
        return
    ctx.reply(f"{ctx.user_name} got {done.quantity} {done.item} (now {done.to_held}).")
