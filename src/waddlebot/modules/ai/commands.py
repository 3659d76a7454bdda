"""Chat: ``!ai QUESTION`` (alias ``!ask``), ``@waddlebot QUESTION`` when a community turned
mentions on, and for holders of ``ai.manage``: ``!ai set KEY VALUE`` and ``!ai settings``.

Plain messages reach this module through ``@module.on_event(EventType.message,
where=mentions_on)``: the router hands it chat lines only from communities that turned
mentions on (read with the command table, reloaded when the switch moves), so elsewhere a
chat line costs this module nothing. There, a message without ``@`` is dropped at once, and
the bot's name is read from a per-process cache refreshed every
:data:`MENTION_CACHE_SECONDS`; no provider call unless the message names the bot.
"""

from __future__ import annotations

import re
import time

from waddlebot.kernel.contracts import EventType
from waddlebot.modules.ai.answer import answer
from waddlebot.modules.ai.manager import (
    AiBook,
    AiConfig,
    Installation,
    mention_communities,
    parse_patch,
)
from waddlebot.modules.ai.module import module
from waddlebot.sdk import CommandError, Context, Host, offered

MANAGE = "ai.manage"
USAGE = "Usage: !ai QUESTION"
SET_USAGE = (
    "Usage: !ai set provider|base_url|model|prompt|max_chars|temperature|cooldown|budget|"
    "user_budget|memory|memory_ttl|block|mention|name|overlay VALUE (default: reset)"
)
KEYS = {
    "provider": "provider",
    "base_url": "base_url",
    "model": "model",
    "prompt": "system_prompt",
    "max_chars": "max_chars",
    "temperature": "temperature",
    "cooldown": "cooldown",
    "budget": "community_budget",
    "user_budget": "user_budget",
    "memory": "memory_turns",
    "memory_ttl": "memory_ttl",
    "block": "block_list",
    "mention": "mention",
    "name": "bot_name",
    "overlay": "overlay",
}
MENTION_CACHE_SECONDS = 30.0
_mentions: dict[str, tuple[float, bool, str]] = {}


def book_for(ctx: Context) -> AiBook:
    """The manager over this installation's defaults (``WADDLEBOT_AI_*``: the host's
    settings, the same object REST routes read)."""
    settings = offered(ctx.host.settings(), "AI chat needs the bot's settings, not available here.")
    return AiBook(ctx.database, Installation.from_settings(settings), ctx.host.secrets())


async def settings_changed(host: Host, community_id: str, *, mention: bool) -> None:
    """Settings changed: re-read the mention setting on the next message; when ``mention``
    (the switch itself may have moved), have the router re-read where :func:`mentioned`
    listens (every process: the command table reload is announced)."""
    _mentions.pop(community_id, None)
    if mention:
        await host.reload_commands()


async def mentions_on(host: Host) -> list[str]:
    """Where :func:`mentioned` listens: communities that turned mentions on. Elsewhere the
    router does not hand this module chat lines at all."""
    database = host.database()
    if database is None:
        raise RuntimeError("the AI module needs the installation's database")
    return await mention_communities(database)


@module.command("ai", usage=USAGE, description="Ask the AI a question.")
async def ai(ctx: Context) -> None:
    question = " ".join(ctx.args)
    if not question:
        raise CommandError(USAGE)
    await answer(ctx, book_for(ctx), question)


@module.command("ask", usage="Usage: !ask QUESTION", description="Ask the AI (same as !ai).")
async def ask(ctx: Context) -> None:
    question = " ".join(ctx.args)
    if not question:
        raise CommandError("Usage: !ask QUESTION")
    await answer(ctx, book_for(ctx), question)


@module.subcommand(
    "ai", "set", usage=SET_USAGE, description="Change an AI setting.", permission=MANAGE
)
async def ai_set(ctx: Context) -> None:
    if len(ctx.args) < 2:
        raise CommandError(SET_USAGE)
    key, value = ctx.args[0].lower(), " ".join(ctx.args[1:]).strip()
    if key in ("key", "api_key"):
        raise CommandError("Never paste an API key in chat: set it over the REST API.")
    field = KEYS.get(key)
    if field is None:
        raise CommandError(SET_USAGE)
    data: dict[str, object] = {field: None if value.lower() == "default" else _read(field, value)}
    book = book_for(ctx)
    config = await book.update(ctx.community_id, parse_patch(data), await ctx.user_id())
    await settings_changed(ctx.host, ctx.community_id, mention=field == "mention")
    ctx.reply(f"AI {key} set. {_summary(config)}")


@module.subcommand(
    "ai", "settings", usage="!ai settings", description="Show the AI settings.", permission=MANAGE
)
async def ai_settings(ctx: Context) -> None:
    ctx.reply(_summary(await book_for(ctx).config(ctx.community_id, with_key=False)))


def _read(field: str, value: str) -> object:
    """Chat text → the JSON value the settings model validates."""
    if field == "block_list":
        return [] if value.lower() == "none" else [t for t in value.split(",") if t.strip()]
    if field == "mention":
        if value.lower() not in ("on", "off", "true", "false", "yes", "no"):
            raise CommandError("Usage: !ai set mention on|off")
        return value.lower() in ("on", "true", "yes")
    return value


def _summary(config: AiConfig) -> str:
    provider = config.provider
    where = f"{provider.provider} {provider.model}" if provider else "not set up"
    return (
        f"AI: {where}; max {config.max_chars} chars, temperature {config.temperature:g}, "
        f"cooldown {config.cooldown:g}s, budget {config.community_budget} tokens/day "
        f"({config.user_budget} per user), memory {config.memory_turns} for "
        f"{config.memory_ttl}s, {len(config.block_list)} blocked terms, mentions "
        f"{'on as @' + config.bot_name if config.mention else 'off'}, overlay {config.overlay}."
    )


@module.on_event(EventType.message, where=mentions_on)
async def mentioned(ctx: Context) -> None:
    """``@waddlebot QUESTION`` → an answer, where the community turned mentions on."""
    text = ctx.request.raw_text or ""
    if "@" not in text or ctx.user is None:
        return  # the common case: nothing to read, nothing to ask
    on, name = await _mention_setting(ctx)
    if not on:
        return
    match = re.search(rf"(?<![\w@])@{re.escape(name)}\b[,:]?", text, re.IGNORECASE)
    if match is None:
        return
    question = (text[: match.start()] + text[match.end() :]).strip()
    if question:
        await answer(ctx, book_for(ctx), question)


async def _mention_setting(ctx: Context) -> tuple[bool, str]:
    now = time.monotonic()
    cached = _mentions.get(ctx.community_id)
    if cached is not None and cached[0] > now:
        return cached[1], cached[2]
    row = await book_for(ctx).row(ctx.community_id)
    on, name = (bool(row.mention), row.bot_name or "waddlebot") if row else (False, "waddlebot")
    _mentions[ctx.community_id] = (now + MENTION_CACHE_SECONDS, on, name)
    return on, name
