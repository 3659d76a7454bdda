"""REST authorisation over real HTTP: scopes gate the API, community roles gate the community.

People (keys they own) are checked against their role in the community an endpoint touches;
operator keys and admin keys are installation-wide. Exercised on the marketplace's
``modules.install`` endpoints and the overlays' ``overlays.manage`` endpoints.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from tests.support import LiveServer, live_server
from waddlebot.app import create_app
from waddlebot.collectors.playground.service import PlaygroundService
from waddlebot.kernel.security.api_keys import create_api_key
from waddlebot.kernel.security.rbac import access_changed
from waddlebot.kernel.settings import Settings
from waddlebot.kernel.storage.models import CommunityRoleGrant, Entity, Membership, User
from waddlebot.marketplace.service import MarketplaceService
from waddlebot.modules.core import module as core
from waddlebot.overlays.service import OverlayService
from waddlebot.router.service import RouterService

ROLES = ["owner", "admin", "moderator", "member", None]
ENDPOINTS = {
    "modules.install": "/api/marketplace/v1/communities/{c}/modules",
    "overlays.manage": "/api/browser-sources/v1/communities/{c}/urls",
}
PERSON_SCOPES = ["marketplace:install", "overlays:manage"]


@pytest.fixture
async def bot(stack_settings: Settings) -> AsyncIterator[LiveServer]:
    app = create_app(
        stack_settings,
        instances=[
            RouterService(modules=[core]),
            PlaygroundService(),
            MarketplaceService(),
            OverlayService(),
        ],
    )
    async with live_server(app) as server:
        yield server


async def lobby(bot: LiveServer) -> str:
    await bot.say("!ping")
    async with bot.app.state.runtime.db.session() as session:
        community = await session.scalar(
            select(Entity.community_id).where(Entity.channel_id == "lobby")
        )
    assert community is not None
    return str(community)


async def person(
    bot: LiveServer, community: str, role: str | None, scopes: list[str] | None = None
) -> dict[str, str]:
    """A user holding ``role`` in the community, and a key they own."""
    db = bot.app.state.runtime.db
    async with db.session() as session:
        user = User(display_name=f"{role}-person")
        session.add(user)
        await session.flush()
        if role is not None:
            session.add(Membership(community_id=community, user_id=user.id, role=role))
    await access_changed(bot.app.state.runtime.backend.kv, community)
    key, _ = await create_api_key(
        db, name=f"{role}-key", scopes=scopes or PERSON_SCOPES, user_id=user.id
    )
    return {"X-API-Key": key}


@pytest.mark.parametrize("permission", sorted(ENDPOINTS))
@pytest.mark.parametrize("role", ROLES)
async def test_each_role_on_each_community_endpoint(
    bot: LiveServer, role: str | None, permission: str
) -> None:
    community = await lobby(bot)
    headers = await person(bot, community, role)
    answer = await bot.client.get(ENDPOINTS[permission].format(c=community), headers=headers)
    if role in ("owner", "admin"):
        assert answer.status_code == 200, answer.text
    else:
        assert answer.status_code == 403
        assert answer.json()["detail"] == (
            f"you need the {permission!r} permission in this community"
        )


async def test_a_community_can_grant_a_permission_to_another_role(bot: LiveServer) -> None:
    community = await lobby(bot)
    moderator = await person(bot, community, "moderator")
    url = ENDPOINTS["modules.install"].format(c=community)
    assert (await bot.client.get(url, headers=moderator)).status_code == 403
    async with bot.app.state.runtime.db.session() as session:
        session.add(
            CommunityRoleGrant(
                community_id=community, role="moderator", permissions=["modules.install"]
            )
        )
    await access_changed(bot.app.state.runtime.backend.kv, community)
    assert (await bot.client.get(url, headers=moderator)).status_code == 200


async def test_a_role_elsewhere_grants_nothing_here(bot: LiveServer) -> None:
    community = await lobby(bot)
    await bot.say("!ping", channel="other")
    async with bot.app.state.runtime.db.session() as session:
        other = await session.scalar(
            select(Entity.community_id).where(Entity.channel_id == "other")
        )
    assert other is not None and other != community
    owner_elsewhere = await person(bot, str(other), "owner")
    url = ENDPOINTS["overlays.manage"].format(c=community)
    assert (await bot.client.get(url, headers=owner_elsewhere)).status_code == 403


async def test_scopes_still_gate_people_and_operators(bot: LiveServer) -> None:
    community = await lobby(bot)
    db = bot.app.state.runtime.db
    url = ENDPOINTS["modules.install"].format(c=community)
    # an owner whose key lacks the scope
    narrow = await person(bot, community, "owner", scopes=["overlays:manage"])
    assert (await bot.client.get(url, headers=narrow)).status_code == 403
    # people cannot hold installation-wide scopes, even if a key names them
    publisher = await person(bot, community, "owner", scopes=["marketplace:publish"])
    published = await bot.client.post(
        "/api/marketplace/v1/modules", json={"name": "x"}, headers=publisher
    )
    assert published.status_code == 403
    # an operator key (no owner) is installation-wide within its scope
    operator, _ = await create_api_key(db, name="ops", scopes=["marketplace:install"])
    assert (await bot.client.get(url, headers={"X-API-Key": operator})).status_code == 200
    assert (await bot.client.get(url)).status_code == 401
