"""SpotifyProvider against the fake Web API: search and links, queue, skip, now playing, and
the refusals chat shows (Premium, no device, rate limit, unknown or unplayable tracks)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from tests.modules.music.spotify_fake import (
    BANNED,
    ICEBERG,
    PENGUIN,
    FakeSpotify,
    accounts_of,
    connect,
    fake_spotify,
    spotify_settings,
)
from waddlebot.kernel.errors import Invalid, NotFound
from waddlebot.modules.music import module as music
from waddlebot.modules.music.spotify import NoActiveDevice, PremiumRequired, SpotifyProvider
from waddlebot.modules.music.spotify_auth import SpotifyBusy


@asynccontextmanager
async def connected() -> AsyncIterator[tuple[FakeSpotify, SpotifyProvider, str, list[float]]]:
    """A fake Spotify, a bot connected to it, its provider (sleeps recorded, not slept) and
    the community id."""
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    async with fake_spotify() as fake:
        from waddlebot.sdk.testing import ModuleHarness

        async with ModuleHarness(music, **spotify_settings(fake)) as bot:
            assert (await connect(bot, fake)).status_code == 200
            provider = SpotifyProvider(accounts_of(bot), sleep=sleep)
            yield fake, provider, await bot.community_id(), slept


async def test_find_searches_and_resolves_links() -> None:
    async with connected() as (fake, provider, community, _):
        found = await provider.find(community, "penguin dance")
        assert (found.provider, found.id, found.title, found.artist) == (
            "spotify",
            PENGUIN["id"],
            "Penguin Dance",
            "The Waddlers",
        )
        assert found.duration_ms == 180_000 and found.art_url.startswith("https://i.scdn.co/")
        assert found.url == f"https://open.spotify.com/track/{PENGUIN['id']}"
        for link in (
            f"https://open.spotify.com/track/{ICEBERG['id']}?si=abc",
            f"https://open.spotify.com/intl-de/track/{ICEBERG['id']}",
            f"spotify:track:{ICEBERG['id']}",
        ):
            assert (await provider.find(community, link)).title == "Iceberg Blues"
        assert "GET /v1/search" in fake.api_calls
        assert f"GET /v1/tracks/{ICEBERG['id']}" in fake.api_calls


async def test_find_refusals_read_well_in_chat() -> None:
    async with connected() as (_, provider, community, _):
        with pytest.raises(NotFound, match='No Spotify track matches "polka"'):
            await provider.find(community, "polka")
        with pytest.raises(NotFound, match="does not exist"):
            await provider.find(community, "spotify:track:1234567890123456789012")
        with pytest.raises(NotFound, match="cannot be played"):
            await provider.find(community, f"spotify:track:{BANNED['id']}")
        with pytest.raises(Invalid, match="Only Spotify track links"):
            await provider.find(community, "https://open.spotify.com/album/abc")
        with pytest.raises(Invalid, match="Tell me a song"):
            await provider.find(community, "  ")


async def test_queue_skip_and_now_playing() -> None:
    async with connected() as (fake, provider, community, _):
        assert await provider.now_playing(community) is None  # 204: nothing plays
        fake.play(PENGUIN, 30_000)
        playing = await provider.now_playing(community)
        assert playing is not None and playing.track.title == "Penguin Dance"
        assert (playing.progress_ms, playing.is_playing) == (30_000, True)

        track = await provider.find(community, "iceberg")
        await provider.queued(community, track)
        assert fake.queue == [f"spotify:track:{ICEBERG['id']}"]
        await provider.skip(community)
        assert fake.skips == 1
        now = await provider.now_playing(community)
        assert now is not None and now.track.id == ICEBERG["id"]


async def test_premium_and_device_refusals() -> None:
    async with connected() as (fake, provider, community, _):
        track = await provider.find(community, "penguin")
        fake.premium = False
        with pytest.raises(PremiumRequired, match="Premium is required"):
            await provider.queued(community, track)
        with pytest.raises(PremiumRequired):
            await provider.skip(community)
        fake.premium, fake.device = True, False
        with pytest.raises(NoActiveDevice, match="no active device: start playing"):
            await provider.queued(community, track)
        with pytest.raises(NoActiveDevice):
            await provider.skip(community)
        assert fake.queue == [] and fake.skips == 0


async def test_rate_limits_are_waited_out_or_refused_with_the_wait() -> None:
    async with connected() as (fake, provider, community, slept):
        fake.throttle = [1]  # a short wait: waited, then the call goes through
        assert (await provider.find(community, "penguin")).id == PENGUIN["id"]
        assert slept == [1]
        fake.throttle = [30]  # too long to keep chat waiting
        with pytest.raises(SpotifyBusy, match="try again in 30s") as busy:
            await provider.find(community, "penguin")
        assert busy.value.status == 429 and slept == [1]
        fake.throttle = [1, 1]  # still limited after one wait: refused
        with pytest.raises(SpotifyBusy, match="try again in 1s"):
            await provider.skip(community)
        assert fake.skips == 0
