"""Shared by the calendar tests: times relative to the harness clock, people with roles and
API keys, the feed fetched and parsed back with ``icalendar``."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from icalendar import Calendar
from sqlalchemy import delete, select

from waddlebot.kernel.security.api_keys import create_api_key
from waddlebot.kernel.security.rbac import access_changed
from waddlebot.kernel.storage.models import Membership, PlatformIdentity
from waddlebot.sdk.testing import ModuleHarness

MOD = {"user": "mod", "role": "moderator"}
OWNER = {"user": "streamer", "role": "broadcaster"}
API = "/api/calendar/v1"


def day_after(bot: ModuleHarness, days: int, zone: str = "UTC") -> date:
    """The date ``days`` from now on the harness clock, in ``zone``."""
    return (bot.now().astimezone(ZoneInfo(zone)) + timedelta(days=days)).date()


def at(day: date, clock: str, zone: str = "UTC") -> datetime:
    """``day clock`` in ``zone`` as an aware datetime."""
    return datetime.combine(day, time.fromisoformat(clock), tzinfo=ZoneInfo(zone))


def when(moment: datetime, zone: str = "UTC") -> str:
    local = moment.astimezone(ZoneInfo(zone))
    return f"{local:%a} {local.day} {local:%b %Y}, {local:%H:%M} {local:%Z}"


async def user_of(bot: ModuleHarness, name: str) -> str:
    """The WaddleBot user of a playground chatter (who says hello first)."""
    await bot.texts("hello", user=name)
    async with bot.runtime.db.session() as session:
        found = await session.scalar(
            select(PlatformIdentity.user_id).where(
                PlatformIdentity.platform == "playground",
                PlatformIdentity.platform_user_id == name,
            )
        )
    assert found is not None
    return str(found)


async def key_with_role(bot: ModuleHarness, name: str, role: str | None) -> dict[str, str]:
    """Headers with an API key of chatter ``name``, who holds ``role`` in the lobby's
    community (``None``: no role at all)."""
    user_id = await user_of(bot, name)
    community_id = await bot.community_id()
    async with bot.runtime.db.session() as session:
        await session.execute(
            delete(Membership).where(
                Membership.community_id == community_id, Membership.user_id == user_id
            )
        )
        if role is not None:
            session.add(Membership(community_id=community_id, user_id=user_id, role=role))
    await access_changed(bot.runtime.backend.kv, community_id)
    key, _ = await create_api_key(
        bot.runtime.db,
        name=f"key-{name}",
        scopes=["communities:read", "communities:write"],
        user_id=user_id,
    )
    return {"Authorization": f"Bearer {key}"}


async def call(
    bot: ModuleHarness, method: str, path: str, headers: dict[str, str], **kwargs: Any
) -> Any:
    assert bot.client is not None
    return await bot.client.request(method, path, headers=headers, **kwargs)


async def feed_of(bot: ModuleHarness, url: str) -> Calendar:
    """GET the feed at ``url`` (no credentials) and parse it back."""
    assert bot.client is not None
    answer = await bot.client.get(path_of(url))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/calendar")
    return Calendar.from_ical(answer.content)


def path_of(url: str) -> str:
    """``/api/calendar/v1/feeds/….ics`` from a full feed URL."""
    return "/" + url.split("://", 1)[1].split("/", 1)[1]
