"""The AI chat and music pages over plain HTTP on both stacks: each needs its permission (403
and no link for others), a refused value is shown next to its field (422), the API key is
never shown, and Spotify connects through the real PKCE flow against a fake Spotify."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI

from tests.modules.ai.fakes import FakeModel, openai_app, serving
from tests.modules.music.spotify_fake import fake_spotify, spotify_settings
from tests.portal.conftest import (
    MEMBER,
    OWNER,
    PASSWORD,
    PortalBot,
    csrf_of,
    logged_in,
    request_songs,
)
from tests.support import chatter, community_of, free_port, live_server, set_role
from waddlebot.accounts.manager import create_user
from waddlebot.accounts.service import AccountsService
from waddlebot.app import create_app
from waddlebot.collectors.playground.service import PlaygroundService
from waddlebot.communities.service import CommunitiesService
from waddlebot.kernel.settings import Settings
from waddlebot.modules.ai import module as ai
from waddlebot.modules.ai.manager import AiBook, Installation, today
from waddlebot.modules.core import module as core
from waddlebot.modules.music import module as music
from waddlebot.modules.music.queue import MusicQueue
from waddlebot.portal.service import PortalService
from waddlebot.router.service import RouterService

MODERATOR = "mods@example.com"


def ai_music_app(settings: Settings) -> FastAPI:
    return create_app(
        settings,
        instances=[
            RouterService(modules=[core, ai, music]),
            PlaygroundService(),
            CommunitiesService(),
            AccountsService(),
            PortalService(),
        ],
    )


@asynccontextmanager
async def ai_music_bot(settings: Settings, **overrides: Any) -> AsyncIterator[PortalBot]:
    """Owner, member and a moderator (music.manage, but neither ai.manage nor
    spotify.connect) in the playground community."""
    port = free_port()
    values = {**settings.model_dump(), **overrides, "public_url": f"http://127.0.0.1:{port}"}
    async with live_server(ai_music_app(Settings(**values)), port=port) as server:
        db = server.app.state.runtime.db
        community = await community_of(server)
        await chatter(server, "bob")
        owner = await create_user(db, email=OWNER, password=PASSWORD, display_name="Ada")
        member = await create_user(db, email=MEMBER, password=PASSWORD, display_name="Mo")
        moderator = await create_user(db, email=MODERATOR, password=PASSWORD, display_name="Mod")
        await set_role(server, community, owner.id, "owner")
        await set_role(server, community, member.id, "member")
        await set_role(server, community, moderator.id, "moderator")
        yield PortalBot(server, community, owner.id, member.id)


def ai_book(bot: PortalBot) -> AiBook:
    runtime = bot.runtime
    settings = runtime.settings
    return AiBook(runtime.db, Installation.from_settings(settings), settings.secret_box)


async def test_pages_need_their_permissions(stack_settings: Settings) -> None:
    async with ai_music_bot(stack_settings) as bot:
        home = f"/portal/c/{bot.community_id}"
        async with logged_in(bot, MEMBER) as member:
            page = await member.get(home)
            for slug in ("ai", "music"):
                assert f'href="{home}/{slug}"' not in page.text
                refused = await member.get(f"{home}/{slug}")
                assert refused.status_code == 403 and "permission" in refused.text, slug
        async with logged_in(bot, MODERATOR) as moderator:
            page = await moderator.get(home)
            assert f'href="{home}/music"' in page.text and f'href="{home}/ai"' not in page.text
            assert (await moderator.get(f"{home}/ai")).status_code == 403
            songs = await moderator.get(f"{home}/music")
            assert songs.status_code == 200 and "Connect Spotify" not in songs.text
            assert "needs the spotify.connect permission" in songs.text
            assert "Player overlay URL" not in songs.text  # no overlays.manage
            token = csrf_of(songs.text)
            connect = await moderator.post(
                f"{home}/music/spotify/connect", data={"csrf_token": token}
            )
            assert connect.status_code == 403 and "spotify.connect" in connect.text
        async with logged_in(bot) as owner:
            page = await owner.get(home)
            for slug in ("ai", "music"):
                assert f'href="{home}/{slug}"' in page.text
                assert (await owner.get(f"{home}/{slug}")).status_code == 200, slug


async def test_ai_settings_key_and_usage(stack_settings: Settings) -> None:
    async with ai_music_bot(stack_settings) as bot, logged_in(bot) as owner:
        base = f"/portal/c/{bot.community_id}/ai"
        page = await owner.get(base)
        assert "!ai does not answer yet" in page.text and "Nobody asked the AI today" in page.text
        token = csrf_of(page.text)
        form = {"csrf_token": token, "provider": "ollama", "model": "llama3.2"}
        assert (await owner.post(base, data={**form, "csrf_token": ""})).status_code == 403
        hot = await owner.post(base, data={**form, "temperature": "3"})
        assert hot.status_code == 422
        assert 'id="temperature-error"' in hot.text and "less than or equal to 2" in hot.text
        ftp = await owner.post(base, data={**form, "base_url": "ftp://models"})
        assert ftp.status_code == 422 and 'id="base_url-error"' in ftp.text
        assert 'value="ftp://models"' in ftp.text  # the typed values stay in the form

        saved = await owner.post(
            base,
            data={
                **form,
                "base_url": "http://127.0.0.1:11434",
                "api_key": "sk-very-secret-value",
                "user_budget": "2000",
                "block_list": "spoilers\n\n  crypto  \n",
                "mention": "on",
            },
        )
        assert saved.status_code == 303, saved.text
        page = await owner.get(saved.headers["location"].removeprefix(bot.url))
        assert "Saved the AI settings." in page.text and "llama3.2" in page.text
        assert "sk-very-secret-value" not in page.text and "A key is set" in page.text
        config = await ai_book(bot).config(bot.community_id)
        assert config.provider is not None and config.provider.api_key == "sk-very-secret-value"
        assert config.block_list == ["spoilers", "crypto"] and config.mention
        assert config.user_budget == 2000

        kept = await owner.post(base, data={**form, "base_url": "http://127.0.0.1:11434"})
        assert kept.status_code == 303
        config = await ai_book(bot).config(bot.community_id)
        assert config.has_key and config.user_budget == 5000  # empty: back to the default
        cleared = await owner.post(base, data={**form, "clear_key": "on"})
        assert cleared.status_code == 303
        assert not (await ai_book(bot).config(bot.community_id)).has_key

        await ai_book(bot).record(bot.community_id, bot.owner_id, today(), 1234)
        usage = await owner.get(base)
        assert "<strong>1234</strong> of 100000 tokens" in usage.text
        assert "<td>Ada</td><td>1234</td>" in usage.text


async def test_chat_uses_what_the_portal_set(stack_settings: Settings) -> None:
    """The community's own endpoint and key, set in the portal, answer !ai; the answer's
    tokens show on the page, and the change is in the audit trail with the acting user."""
    model = FakeModel()
    async with (
        serving(openai_app(model)) as url,
        ai_music_bot(stack_settings) as bot,
        logged_in(bot) as owner,
    ):
        base = f"/portal/c/{bot.community_id}/ai"
        token = csrf_of((await owner.get(base)).text)
        settings = {
            "csrf_token": token,
            "provider": "openai",
            "base_url": f"{url}/v1",
            "model": "tiny",
            "api_key": "sk-community",
        }
        assert (await owner.post(base, data=settings)).status_code == 303
        [reply] = await bot.server.texts("!ai what is a penguin?", user="bob")
        assert "You asked: what is a penguin?" in reply
        assert model.keys == ["Bearer sk-community"] and model.last["model"] == "tiny"
        page = await owner.get(base)
        assert "<strong>25</strong> of 100000 tokens" in page.text
        assert "<td>bob</td><td>25</td>" in page.text

        api = f"/api/communities/v1/communities/{bot.community_id}/audit"
        async with asyncio.timeout(30):  # the writer gathers ~1 s before a batch; CI is busy
            while not (await owner.get(api, params={"action": "ai_settings"})).json()["records"]:
                await asyncio.sleep(0.1)
        [record] = (await owner.get(api, params={"action": "ai_settings"})).json()["records"]
        assert record["user_id"] == bot.owner_id and record["via"] == "portal"
        assert "sk-community" not in str(record)


async def test_mcp_servers(stack_settings: Settings) -> None:
    async with ai_music_bot(stack_settings) as bot, logged_in(bot) as owner:
        base = f"/portal/c/{bot.community_id}/ai"
        token = csrf_of((await owner.get(base)).text)
        server = {"csrf_token": token, "mcp_name": "search", "mcp_url": "http://127.0.0.1:9/mcp"}
        no_tools = await owner.post(f"{base}/mcp", data=server)
        assert no_tools.status_code == 422 and 'id="mcp_tools-error"' in no_tools.text
        shell = await owner.post(
            f"{base}/mcp", data={**server, "mcp_url": "", "mcp_command": "rm", "mcp_tools": "x"}
        )
        assert shell.status_code == 422 and 'id="mcp_command-error"' in shell.text
        assert "WADDLEBOT_AI_MCP_COMMANDS" in shell.text
        added = await owner.post(f"{base}/mcp", data={**server, "mcp_tools": "find, fetch"})
        assert added.status_code == 303, added.text
        twice = await owner.post(f"{base}/mcp", data={**server, "mcp_tools": "find"})
        assert twice.status_code == 422 and 'id="mcp_name-error"' in twice.text
        [info] = await ai_book(bot).servers(bot.community_id)
        assert info.allowed_tools == ["fetch", "find"] and info.transport == "http"
        removed = await owner.post(f"{base}/mcp/search/remove", data={"csrf_token": token})
        assert removed.status_code == 303
        assert await ai_book(bot).servers(bot.community_id) == []
        gone = await owner.post(f"{base}/mcp/search/remove", data={"csrf_token": token})
        assert gone.status_code == 404


async def test_music_queue_and_settings(stack_settings: Settings) -> None:
    async with ai_music_bot(stack_settings) as bot, logged_in(bot) as owner:
        playing, first, second, third = await request_songs(bot)
        base = f"/portal/c/{bot.community_id}/music"
        page = await owner.get(base)
        assert "“Penguin Dance” by Waddlers" in page.text.split("Queue")[0]
        assert "Player overlay URL" in page.text and "/overlay/" in page.text
        token = csrf_of(page.text)
        assert (await owner.post(f"{base}/queue/{third}/remove")).status_code == 403

        moved = await owner.post(
            f"{base}/queue/{third}/move", data={"csrf_token": token, "position": "1"}
        )
        assert moved.status_code == 303, moved.text
        queue = MusicQueue(bot.runtime.db)
        order = [e.id for e in await queue.entries(bot.community_id)]
        assert order == [playing, third, first, second]

        busy = await owner.post(f"{base}/queue/{playing}/remove", data={"csrf_token": token})
        assert busy.status_code == 409
        assert f'id="entry-{playing}-error"' in busy.text and "playing now" in busy.text
        removed = await owner.post(f"{base}/queue/{first}/remove", data={"csrf_token": token})
        assert removed.status_code == 303
        page = await owner.get(removed.headers["location"].removeprefix(bot.url))
        assert "Removed “Iceberg Blues” by Waddlers from the queue." in page.text

        form = {
            "csrf_token": token,
            "provider": "youtube",
            "max_per_user": "2",
            "max_length_seconds": "300",
            "voteskip_votes": "3",
            "voteskip_percent": "0",
            "volume": "101",
            "banned_artists": "Nickelback\n",
            "requests_open": "on",
        }
        loud = await owner.post(base, data=form)
        assert loud.status_code == 422
        assert 'id="volume-error"' in loud.text and "less than or equal to 100" in loud.text
        saved = await owner.post(base, data={**form, "volume": "30"})
        assert saved.status_code == 303, saved.text
        row = await queue.settings(bot.community_id)
        assert (row.volume, row.max_per_user, row.banned_artists) == (30, 2, ["Nickelback"])
        assert row.requests_open and not row.subscriber_only
        closed = {k: v for k, v in form.items() if k != "requests_open"}
        assert (await owner.post(base, data={**closed, "volume": "30"})).status_code == 303
        [reply] = await bot.server.texts("!sr never gonna give you up", user="bob")
        assert "Song requests are off right now." in reply

        cleared = await owner.post(f"{base}/clear", data={"csrf_token": token})
        assert cleared.status_code == 303
        assert [e.id for e in await queue.entries(bot.community_id)] == [playing]


async def test_spotify_connects_through_the_portal(stack_settings: Settings) -> None:
    async with fake_spotify() as fake:
        overrides = {k: v for k, v in spotify_settings(fake).items() if k != "public_url"}
        async with ai_music_bot(stack_settings, **overrides) as bot, logged_in(bot) as owner:
            base = f"/portal/c/{bot.community_id}/music"
            page = await owner.get(base)
            assert "Spotify is not connected." in page.text and "Connect Spotify" in page.text
            token = csrf_of(page.text)
            assert (await owner.post(f"{base}/spotify/connect")).status_code == 403
            started = await owner.post(f"{base}/spotify/connect", data={"csrf_token": token})
            assert started.status_code == 200 and "Continue to Spotify" in started.text
            link = started.text.split('class="button" href="')[1].split('"')[0]
            link = link.replace("&amp;", "&")
            assert link.startswith(f"{fake.url}/authorize?client_id=waddle-app&")
            async with httpx.AsyncClient(timeout=10) as browser:
                consent = await browser.get(link)
            assert consent.status_code == 302
            callback = await owner.get(consent.headers["location"])
            assert callback.status_code == 200 and "Spotify is connected" in callback.text

            page = await owner.get(base)
            assert "Connected to <strong>" in page.text and "Disconnect Spotify" in page.text
            gone = await owner.post(f"{base}/spotify/disconnect", data={"csrf_token": token})
            assert gone.status_code == 303
            page = await owner.get(gone.headers["location"].removeprefix(bot.url))
            assert "Disconnected Spotify" in page.text and "Spotify is not connected." in page.text
            again = await owner.post(f"{base}/spotify/disconnect", data={"csrf_token": token})
            assert again.status_code == 404


async def test_spotify_not_set_up(stack_settings: Settings) -> None:
    async with ai_music_bot(stack_settings) as bot, logged_in(bot) as owner:
        page = await owner.get(f"/portal/c/{bot.community_id}/music")
        assert "Spotify is not set up on this WaddleBot" in page.text
        assert "Connect Spotify" not in page.text
