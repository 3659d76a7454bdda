"""``!url``: a community's saved links in chat, and their REST routes.

    !url NAME                            anyone: the link (and its description)
    !url list                            anyone: the names
    !url add NAME URL [description]      memories.manage
    !url remove NAME                     memories.manage

Module config ``url_domains`` (a list of domains; subdomains included; empty = any host)
limits which hosts may be saved.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from fastapi import Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from waddlebot.kernel.contracts import MESSAGE_LIMITS, Platform
from waddlebot.kernel.security.api_keys import Principal
from waddlebot.modules.memories.models_quotes import URL_DESCRIPTION_MAX, URL_MAX, URL_NAME_MAX
from waddlebot.modules.memories.module import module
from waddlebot.modules.memories.quotes import display_name
from waddlebot.modules.memories.url_book import UrlBook, UrlView, clean_domains
from waddlebot.sdk import CommandError, Context
from waddlebot.sdk.text import fit
from waddlebot.sdk.web import Reader, database, needs

MANAGE = "memories.manage"
WORD = re.compile(r"\S+")
DOMAINS_KEY = "url_domains"

# The module's config schema (shared with reminders): this part adds ``url_domains``.
module.config_schema.setdefault("type", "object")
module.config_schema.setdefault("properties", {})[DOMAINS_KEY] = {
    "type": "array",
    "items": {"type": "string", "minLength": 1, "maxLength": 253},
    "maxItems": 100,
    "default": [],
    "description": "Hosts !url add accepts (subdomains included); empty accepts any host.",
}


def usage(ctx: Context) -> str:
    manage = " | !url add NAME URL [description] | !url remove NAME" if ctx.can(MANAGE) else ""
    return f"Usage: !url NAME | !url list{manage}"


def limit_of(platform: Platform) -> int:
    return MESSAGE_LIMITS.get(platform, min(MESSAGE_LIMITS.values()))


def url_line(link: UrlView, limit: int) -> str:
    """``NAME: URL — description``; the description gives way first, never the URL."""
    line = f"{link.name}: {link.url}"
    described = f"{line} — {link.description}" if link.description else line
    if len(described) <= limit:
        return described
    return line if len(line) <= limit else link.url


@module.command(
    "url",
    usage="!url NAME | !url list | !url help",
    description="Show a saved link by name, or list them; !url help lists the rest.",
)
async def url(ctx: Context) -> None:
    if len(ctx.args) != 1:
        raise CommandError(usage(ctx))
    found = await UrlBook(ctx.database).get(ctx.community_id, ctx.args[0])
    ctx.reply(url_line(found, limit_of(ctx.platform)))


@module.subcommand("url", "help", description="What you may do with links here.")
async def url_help(ctx: Context) -> None:
    """The usage line for this caller: add/remove only for holders of memories.manage."""
    ctx.reply(usage(ctx))


@module.subcommand("url", "list", description="The names of the saved links.")
async def list_(ctx: Context) -> None:
    links = await UrlBook(ctx.database).listing(ctx.community_id)
    if not links:
        ctx.reply("No links saved here yet.")
        return
    names = ", ".join(link.name for link in links)
    ctx.reply(fit(f"Links: {names}. Type !url NAME.", limit_of(ctx.platform)))


@module.subcommand(
    "url",
    "add",
    usage="!url add NAME URL [description]",
    description="Save a link under a name (http and https only).",
    permission=MANAGE,
)
async def add(ctx: Context) -> None:
    raw = ctx.request.raw_text
    words = list(WORD.finditer(raw))
    if len(words) < 4:
        raise CommandError("Usage: !url add NAME URL [description]")
    description = raw[words[4].start() :].strip() if len(words) > 4 else ""
    saved = await UrlBook(ctx.database).add(
        ctx.community_id,
        words[2].group(),
        words[3].group(),
        description,
        allowed=clean_domains(ctx.config.get(DOMAINS_KEY)),
        added_by=await ctx.user_id(),
        added_by_name=ctx.user_name,
    )
    ctx.reply(fit(f"Saved {saved.name}: {saved.url}", limit_of(ctx.platform)))


@module.subcommand(
    "url",
    "remove",
    usage="!url remove NAME",
    description="Forget a saved link.",
    permission=MANAGE,
)
async def remove(ctx: Context, name: str) -> None:
    removed = await UrlBook(ctx.database).remove(ctx.community_id, name)
    ctx.reply(f"Link {removed.name} removed.")


# --- REST ---------------------------------------------------------------------------------

api = module.api()
URLS = "/communities/{community_id}/urls"


class UrlOut(BaseModel):
    name: str
    url: str
    description: str
    added_by: str | None
    added_by_name: str
    created_at: datetime

    @classmethod
    def of(cls, view: UrlView) -> UrlOut:
        return cls(
            name=view.name,
            url=view.url,
            description=view.description,
            added_by=view.added_by,
            added_by_name=view.added_by_name,
            created_at=view.created_at,
        )


class UrlIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=URL_NAME_MAX)
    url: str = Field(min_length=1, max_length=URL_MAX)
    description: str = Field(default="", max_length=URL_DESCRIPTION_MAX)


async def allowed_domains(request: Request, community_id: str) -> list[str]:
    """The community's ``url_domains`` (what chat reads from ``ctx.config``)."""
    from waddlebot.marketplace.models import ModuleInstall

    async with database(request).read_session() as session:
        config: Any = await session.scalar(
            select(ModuleInstall.config).where(
                ModuleInstall.community_id == community_id,
                ModuleInstall.module_name == module.name,
            )
        )
    return clean_domains((config or {}).get(DOMAINS_KEY))


@api.get(URLS)
async def list_urls(community_id: str, request: Request, _: Reader) -> list[UrlOut]:
    return [UrlOut.of(link) for link in await UrlBook(database(request)).listing(community_id)]


@api.get(URLS + "/{name}")
async def get_url(community_id: str, name: str, request: Request, _: Reader) -> UrlOut:
    return UrlOut.of(await UrlBook(database(request)).get(community_id, name))


@api.post(URLS, status_code=201)
async def post_url(
    community_id: str,
    body: UrlIn,
    request: Request,
    who: Annotated[Principal, needs(MANAGE)],
) -> UrlOut:
    saved = await UrlBook(database(request)).add(
        community_id,
        body.name,
        body.url,
        body.description,
        allowed=await allowed_domains(request, community_id),
        added_by=who.user_id,
        added_by_name=await display_name(request, who),
    )
    return UrlOut.of(saved)


@api.delete(URLS + "/{name}", status_code=204)
async def delete_url(
    community_id: str,
    name: str,
    request: Request,
    _: Annotated[Principal, needs(MANAGE)],
) -> Response:
    await UrlBook(database(request)).remove(community_id, name)
    return Response(status_code=204)
