"""Connecting Spotify: the PKCE login through a fake Spotify and our callback, tokens stored
sealed, refreshed before expiry and after a rejection, refusals that tell what to do."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.modules.music.spotify_fake import (
    PENGUIN,
    FakeSpotify,
    accounts_of,
    connect,
    fake_spotify,
    spotify_settings,
)
from waddlebot.kernel.errors import NotFound
from waddlebot.kernel.settings import Settings
from waddlebot.modules.music import module as music
from waddlebot.modules.music.spotify import SpotifyProvider
from waddlebot.modules.music.spotify_auth import (
    SpotifyNotConnected,
    SpotifyReconnect,
    code_challenge,
    code_verifier,
    login_url,
)
from waddlebot.modules.music.spotify_models import SpotifyConnection
from waddlebot.sdk.testing import ModuleHarness


async def stored(bot: ModuleHarness) -> SpotifyConnection:
    async with bot.runtime.db.session() as session:
        row = await session.scalar(select(SpotifyConnection))
    assert row is not None
    return row


def plaintext_in(row: SpotifyConnection, fake: FakeSpotify) -> list[str]:
    """Columns of the row holding any token Spotify issued, in clear."""
    issued = fake.access | fake.refresh
    values = {c.key: str(getattr(row, c.key)) for c in SpotifyConnection.__table__.columns}
    return [name for name, value in values.items() if any(t in value for t in issued)]


def harness_settings(stack: Settings, fake: FakeSpotify) -> dict[str, Any]:
    """The stack's database and cache (SQLite+memory or PostgreSQL+Redis) for the harness."""
    shared = {"database_url": stack.database_url, "redis_url": stack.redis_url}
    if stack.redis_url:
        shared["redis_namespace"] = stack.redis_namespace
    return {**spotify_settings(fake), **{k: v for k, v in shared.items() if v}}


def test_pkce_challenge_is_the_s256_of_the_verifier() -> None:
    verifier = code_verifier()
    assert 43 <= len(verifier) <= 128
    assert set(verifier) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~"
    )
    challenge = code_challenge(verifier)
    assert len(challenge) == 43 and "=" not in challenge and "+" not in challenge
    assert code_verifier() != verifier  # fresh every time


async def test_login_stores_sealed_tokens_and_refreshes_before_expiry(
    stack_settings: Settings,
) -> None:
    async with (
        fake_spotify() as fake,
        ModuleHarness(music, **harness_settings(stack_settings, fake)) as bot,
    ):
        page = await connect(bot, fake)
        assert page.status_code == 200, page.text
        assert "DJ Penguin" in page.text
        row = await stored(bot)
        assert row.community_id == await bot.community_id()
        assert (row.spotify_user_id, row.display_name) == ("djpenguin", "DJ Penguin")
        assert "user-modify-playback-state" in row.scopes.split()
        assert fake.access and plaintext_in(row, fake) == []  # sealed, not stored in clear
        first_refresh = row.refresh_token_sealed

        # 59 minutes later the token has a minute left: refreshed before it is used
        later = datetime.now(UTC) + timedelta(minutes=59, seconds=30)
        provider = SpotifyProvider(accounts_of(bot, clock=lambda: later))
        assert (await provider.find(await bot.community_id(), "penguin")).title == "Penguin Dance"
        assert fake.grants == ["authorization_code", "refresh_token"]
        row = await stored(bot)
        assert row.refresh_token_sealed != first_refresh  # the rotated refresh token is kept
        assert plaintext_in(row, fake) == []
        assert row.expires_at.replace(tzinfo=UTC) > later + timedelta(minutes=59)

        # a token Spotify rejects early is refreshed once and the call retried
        fake.expire_tokens()
        provider = SpotifyProvider(accounts_of(bot))
        assert (await provider.find(await bot.community_id(), "iceberg")).artist == "Cold Feet"
        assert fake.grants[-1] == "refresh_token" and len(fake.grants) == 3


async def test_a_refused_refresh_asks_to_reconnect() -> None:
    async with fake_spotify() as fake, ModuleHarness(music, **spotify_settings(fake)) as bot:
        assert (await connect(bot, fake)).status_code == 200
        fake.expire_tokens()
        fake.refresh.clear()  # revoked, or six months old
        provider = SpotifyProvider(accounts_of(bot))
        with pytest.raises(SpotifyReconnect, match="reconnected"):
            await provider.now_playing(await bot.community_id())


async def test_not_connected_says_how_to_connect() -> None:
    async with fake_spotify() as fake, ModuleHarness(music, **spotify_settings(fake)) as bot:
        provider = SpotifyProvider(accounts_of(bot))
        with pytest.raises(SpotifyNotConnected, match="waddlebot spotify login-url"):
            await provider.find(await bot.community_id(), "penguin")
        assert fake.api_calls == []


async def test_the_callback_refuses_forged_reused_and_denied_logins() -> None:
    async with fake_spotify() as fake, ModuleHarness(music, **spotify_settings(fake)) as bot:
        assert bot.client is not None
        denied = await bot.client.get("/auth/spotify/callback?error=access_denied&state=x")
        assert denied.status_code == 400 and "access_denied" in denied.text
        forged = await bot.client.get("/auth/spotify/callback?code=abc&state=forged")
        assert forged.status_code == 422 and "invalid or has expired" in forged.text

        accounts = accounts_of(bot)
        login = login_url(accounts.config, accounts.box, await bot.community_id())
        async with httpx.AsyncClient() as browser:
            back = httpx.URL((await browser.get(login)).headers["location"])
        path = back.raw_path.decode()
        assert (await bot.client.get(path)).status_code == 200
        replay = await bot.client.get(path)  # the code is spent
        assert replay.status_code == 422 and "refused the login" in replay.text

        # a verifier that does not match the challenge is refused by Spotify (PKCE)
        other = login_url(accounts.config, accounts.box, await bot.community_id())
        async with httpx.AsyncClient() as browser:
            code = httpx.URL((await browser.get(other)).headers["location"]).params["code"]
        state = httpx.URL(login).params["state"]  # a valid state, but another verifier
        mixed = await bot.client.get(f"/auth/spotify/callback?code={code}&state={state}")
        assert mixed.status_code == 422


async def test_disconnect_forgets_the_tokens() -> None:
    async with fake_spotify() as fake, ModuleHarness(music, **spotify_settings(fake)) as bot:
        await connect(bot, fake)
        accounts = accounts_of(bot)
        community = await bot.community_id()
        assert (await accounts.connection(community)) is not None
        assert await accounts.disconnect(community) is True
        assert await accounts.disconnect(community) is False
        with pytest.raises(SpotifyNotConnected):
            await SpotifyProvider(accounts).skip(community)
        # the played track is untouched: nothing reached Spotify's player
        assert fake.skips == 0 and PENGUIN["id"] not in str(fake.queue)


async def test_a_login_for_a_community_deleted_meanwhile_is_refused() -> None:
    from sqlalchemy import delete

    from waddlebot.kernel.storage.models import Community

    async with fake_spotify() as fake, ModuleHarness(music, **spotify_settings(fake)) as bot:
        community = await bot.community_id()
        link = await accounts_of(bot).login(community)
        async with bot.runtime.db.session() as session:
            await session.execute(delete(Community).where(Community.id == community))
        page = await connect(bot, fake, link)
        assert page.status_code == 404 and "does not exist" in page.text
        with pytest.raises(NotFound):
            await accounts_of(bot).login(community)


async def test_concurrent_refreshes_spend_the_refresh_token_once(
    stack_settings: Settings,
) -> None:
    """Refresh tokens may be single-use (the fake rotates them): two calls finding the token
    stale at once must refresh once, the second waiting for the first and using its token."""
    import asyncio

    async with (
        fake_spotify() as fake,
        ModuleHarness(music, **harness_settings(stack_settings, fake)) as bot,
    ):
        assert (await connect(bot, fake)).status_code == 200
        later = datetime.now(UTC) + timedelta(minutes=59, seconds=30)
        community = await bot.community_id()
        first = SpotifyProvider(accounts_of(bot, clock=lambda: later))
        second = SpotifyProvider(accounts_of(bot, clock=lambda: later))
        found = await asyncio.wait_for(
            asyncio.gather(first.find(community, "penguin"), second.find(community, "iceberg")),
            timeout=20,
        )
        assert [track.title for track in found] == ["Penguin Dance", "Iceberg Blues"]
        assert fake.grants == ["authorization_code", "refresh_token"]
