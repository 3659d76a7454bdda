"""``!quote``: a community's numbered quotes in chat, and their REST routes.

    !quote                    a random quote
    !quote 12                 quote #12
    !quote #funny             a random quote labelled #funny
    !quote add [#label…] TEXT add one (anyone); leading #words are labels that must exist
    !quote search WORDS       the first few quotes containing every word
    !quote remove N           memories.manage
    !quote edit N TEXT        memories.manage

On Twitch the stream's category is asked from Helix (``ctx.host.twitch()``) when the quote is
added; elsewhere, or when Twitch does not answer within 2 seconds, it stays empty.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from waddlebot.kernel.contracts import MESSAGE_LIMITS, Platform
from waddlebot.kernel.security.api_keys import Principal
from waddlebot.modules.memories.models_quotes import GAME_MAX, NAME_MAX, QUOTE_TEXT_MAX
from waddlebot.modules.memories.module import module
from waddlebot.modules.memories.quote_book import QuoteBook, QuoteDraft, QuoteView
from waddlebot.sdk import CommandError, Context
from waddlebot.sdk.labels import LabelOperations
from waddlebot.sdk.text import fit
from waddlebot.sdk.twitch import TwitchApiError
from waddlebot.sdk.web import Reader, actor, database, needs

MANAGE = "memories.manage"
WORD = re.compile(r"\S+")
SEARCH_SHOWN = 5
HELIX_TIMEOUT = 2.0  # within the 5 s module budget, leaving room for the insert
READ_USAGE = "!quote [N|#label] | !quote add [#label] TEXT | !quote search WORDS"
MANAGE_USAGE = " | !quote remove N | !quote edit N TEXT"


def usage(ctx: Context) -> str:
    """The forms of ``!quote`` this caller may use."""
    return "Usage: " + READ_USAGE + (MANAGE_USAGE if ctx.can(MANAGE) else "")


def book(ctx: Context) -> QuoteBook:
    return QuoteBook(ctx.database, ctx.host.labels())


def limit_of(platform: Platform) -> int:
    return MESSAGE_LIMITS.get(platform, min(MESSAGE_LIMITS.values()))


def quote_line(quote: QuoteView, zone: ZoneInfo, limit: int) -> str:
    """``#12: "text" — added by NAME (GAME, 2026-11-30)``, the text cut to fit ``limit``."""
    day = quote.quoted_at.astimezone(zone).date().isoformat()
    details = f"{quote.game}, {day}" if quote.game else day
    by = f" — added by {quote.added_by_name}" if quote.added_by_name else ""
    tail = f'"{by} ({details})'
    head = f'#{quote.number}: "'
    room = limit - len(head) - len(tail)
    text = quote.text if len(quote.text) <= room else quote.text[: max(room - 1, 0)] + "…"
    return fit(head + text + tail, limit)


def _number(text: str) -> int:
    cleaned = text.lstrip("#")
    if not cleaned.isdigit() or len(cleaned) > 9:
        raise CommandError(f"{text} is not a quote number.")
    return int(cleaned)


def _rest_of(ctx: Context, skip: int) -> tuple[list[str], str]:
    """The raw text after the first ``skip`` words: its words, and the text as typed."""
    raw = ctx.request.raw_text
    words = list(WORD.finditer(raw))[skip:]
    if not words:
        return [], ""
    return [w.group() for w in words], raw[words[0].start() :].strip()


def _unwrap(text: str) -> str:
    """``"like this"`` → ``like this``: the reply adds its own quotation marks."""
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"“”'":
        return text[1:-1].strip()
    if len(text) >= 2 and text[0] == "“" and text[-1] == "”":
        return text[1:-1].strip()
    return text


async def stream_game(ctx: Context) -> str:
    """The Twitch channel's current category, or "" where it cannot be known."""
    if ctx.platform is not Platform.twitch:
        return ""
    twitch = ctx.host.twitch()
    if twitch is None:
        return ""
    try:
        async with asyncio.timeout(HELIX_TIMEOUT):
            channel = await twitch.channel(ctx.event.channel_id)
    except (TwitchApiError, TimeoutError):
        return ""
    return channel.game_name[:GAME_MAX] if channel is not None else ""


# --- chat ---------------------------------------------------------------------------------


@module.command(
    "quote",
    usage="!quote [N|#label] | !quote add|search … | !quote help",
    description="Show a random quote, quote N, or one with a #label; !quote help lists the rest.",
)
async def quote(ctx: Context) -> None:
    zone = await ctx.time_zone()
    if not ctx.args:
        found = await book(ctx).random(ctx.community_id)
    elif len(ctx.args) == 1 and ctx.args[0].lstrip("#").isdigit():
        found = await book(ctx).get(ctx.community_id, _number(ctx.args[0]))
    elif len(ctx.args) == 1 and ctx.args[0].startswith("#") and len(ctx.args[0]) > 1:
        found = await book(ctx).random(ctx.community_id, ctx.args[0][1:])
    else:
        raise CommandError(usage(ctx))
    ctx.reply(quote_line(found, zone, limit_of(ctx.platform)))


@module.subcommand("quote", "help", description="What you may do with quotes here.")
async def quote_help(ctx: Context) -> None:
    """The usage line for this caller: edit/remove only for holders of memories.manage
    (the core ``!help`` shows one static usage line per command)."""
    ctx.reply(usage(ctx))


@module.subcommand(
    "quote",
    "add",
    usage="!quote add [#label …] TEXT",
    description="Add a quote; leading #words are labels it gets (they must exist).",
)
async def add(ctx: Context) -> None:
    words, text = _rest_of(ctx, 2)
    labels: list[str] = []
    for word in words:
        if not word.startswith("#") or len(word) < 2:
            break
        labels.append(word[1:])
        text = text[len(word) :].lstrip()
    text = _unwrap(text)
    if not text:
        raise CommandError("Usage: !quote add [#label …] TEXT")
    draft = QuoteDraft(
        text=text,
        added_by=await ctx.user_id(),
        added_by_name=ctx.user_name[:NAME_MAX],
        game=await stream_game(ctx),
        labels=tuple(labels),
    )
    added = await book(ctx).add(ctx.community_id, draft)
    tagged = f" ({', '.join('#' + label for label in added.labels)})" if added.labels else ""
    limit = limit_of(ctx.platform)
    ctx.reply(fit(f'Added quote #{added.number}{tagged}: "{added.text}"', limit))


@module.subcommand(
    "quote",
    "search",
    usage="!quote search WORDS",
    description="Find quotes containing every word (case ignored).",
)
async def search(ctx: Context) -> None:
    words = ctx.args
    if not words:
        raise CommandError("Usage: !quote search WORDS")
    total, found = await book(ctx).search(ctx.community_id, words, limit=SEARCH_SHOWN)
    wanted = " ".join(words)
    limit = limit_of(ctx.platform)
    if total == 0:
        ctx.reply(fit(f'No quote contains "{wanted}".', limit))
        return
    first = quote_line(found[0], await ctx.time_zone(), limit)
    if total == 1:
        ctx.reply(first)
        return
    numbers = ", ".join(f"#{q.number}" for q in found)
    more = f" and {total - len(found)} more" if total > len(found) else ""
    ctx.reply(fit(f"{total} quotes match: {numbers}{more}. {first}", limit))


@module.subcommand(
    "quote",
    "remove",
    usage="!quote remove N",
    description="Delete quote N (its number is not reused).",
    permission=MANAGE,
)
async def remove(ctx: Context, number: str) -> None:
    removed = await book(ctx).remove(ctx.community_id, _number(number))
    ctx.reply(f"Quote #{removed.number} removed.")


@module.subcommand(
    "quote",
    "edit",
    usage="!quote edit N TEXT",
    description="Replace the text of quote N.",
    permission=MANAGE,
)
async def edit(ctx: Context) -> None:
    _, text = _rest_of(ctx, 3)
    if not ctx.args or not text:
        raise CommandError("Usage: !quote edit N TEXT")
    changed = await book(ctx).edit(ctx.community_id, _number(ctx.args[0]), _unwrap(text))
    ctx.reply(quote_line(changed, await ctx.time_zone(), limit_of(ctx.platform)))


# --- REST ---------------------------------------------------------------------------------

api = module.api()
QUOTES = "/communities/{community_id}/quotes"
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
Number = Annotated[int, Path(ge=1, le=2_147_483_647)]


class QuoteOut(BaseModel):
    number: int
    text: str
    added_by: str | None
    added_by_name: str
    game: str
    quoted_at: datetime
    updated_at: datetime
    labels: list[str]

    @classmethod
    def of(cls, view: QuoteView) -> QuoteOut:
        return cls(
            number=view.number,
            text=view.text,
            added_by=view.added_by,
            added_by_name=view.added_by_name,
            game=view.game,
            quoted_at=view.quoted_at,
            updated_at=view.updated_at,
            labels=view.labels,
        )


class QuotePage(BaseModel):
    total: int
    quotes: list[QuoteOut]


class QuoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=QUOTE_TEXT_MAX)
    added_by_name: str | None = Field(default=None, max_length=NAME_MAX)
    game: str = Field(default="", max_length=GAME_MAX)
    quoted_at: datetime | None = None
    labels: list[str] = Field(default_factory=list, max_length=10)

    @field_validator("quoted_at")
    @classmethod
    def plausible(cls, value: datetime | None) -> datetime | None:
        """Between 1970 and tomorrow; a time without a zone is UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        if not EARLIEST <= value <= datetime.now(UTC) + timedelta(days=1):
            raise ValueError("must be between 1970 and now")
        return value.astimezone(UTC)


class QuotePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=QUOTE_TEXT_MAX)


def rest_labels(request: Request) -> LabelOperations:
    """The label operations chat gets from the host, built for this request."""
    from waddlebot.kernel.web import get_runtime
    from waddlebot.labels.manager import LabelManager

    runtime = get_runtime(request)
    return LabelManager(runtime.db, runtime.backend.kv, runtime.settings)


def rest_book(request: Request) -> QuoteBook:
    return QuoteBook(database(request), rest_labels(request))


@api.get(QUOTES)
async def list_quotes(
    community_id: str,
    request: Request,
    _: Reader,
    search: Annotated[str | None, Query(max_length=200)] = None,
    label: Annotated[str | None, Query(max_length=51)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> QuotePage:
    """Quotes by number, filtered by words (all of them, case ignored) and a label."""
    total, quotes = await rest_book(request).listing(
        community_id, search=search, label=label, limit=limit, offset=offset
    )
    return QuotePage(total=total, quotes=[QuoteOut.of(q) for q in quotes])


@api.get(QUOTES + "/{number}")
async def get_quote(community_id: str, number: Number, request: Request, _: Reader) -> QuoteOut:
    return QuoteOut.of(await rest_book(request).get(community_id, number))


@api.post(QUOTES, status_code=201)
async def post_quote(
    community_id: str,
    body: QuoteIn,
    request: Request,
    who: Annotated[Principal, needs(MANAGE)],
) -> QuoteOut:
    """Add a quote (``memories.manage``); ``added_by_name`` defaults to the caller's name."""
    draft = QuoteDraft(
        text=body.text,
        added_by=who.user_id,
        added_by_name=body.added_by_name
        if body.added_by_name is not None
        else await display_name(request, who),
        game=body.game,
        quoted_at=body.quoted_at,
        labels=tuple(body.labels),
    )
    return QuoteOut.of(await rest_book(request).add(community_id, draft))


@api.patch(QUOTES + "/{number}")
async def patch_quote(
    community_id: str,
    number: Number,
    body: QuotePatch,
    request: Request,
    _: Annotated[Principal, needs(MANAGE)],
) -> QuoteOut:
    return QuoteOut.of(await rest_book(request).edit(community_id, number, body.text))


@api.delete(QUOTES + "/{number}", status_code=204)
async def delete_quote(
    community_id: str,
    number: Number,
    request: Request,
    _: Annotated[Principal, needs(MANAGE)],
) -> Response:
    await rest_book(request).remove(community_id, number)
    return Response(status_code=204)


async def display_name(request: Request, who: Principal) -> str:
    """The caller's display name for "added by": their user's name, else the key's name."""
    from sqlalchemy import select

    from waddlebot.kernel.storage.models import User

    if who.user_id is not None:
        async with database(request).read_session() as session:
            name = await session.scalar(select(User.display_name).where(User.id == who.user_id))
        if name:
            return str(name)[:NAME_MAX]
    return actor(who)[:NAME_MAX]
