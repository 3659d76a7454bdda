"""The ``player`` overlay in real Chromium (Playwright), with YouTube's IFrame API replaced
by a local stub served from another origin (so the page's CSP is exercised too): the page
plays the queue, and its ``ended``/``error`` reports advance it through the scheduler."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from tests.modules.music.fake_youtube import FakeYouTube
from tests.overlays.conftest import OverlayClient, keys, overlay_config, overlay_socket
from tests.overlays.test_browser import browser  # noqa: F401  (the Chromium fixture)
from tests.support import LiveServer, community_of, live_server
from waddlebot.app import create_app
from waddlebot.collectors.playground.service import PlaygroundService
from waddlebot.kernel.settings import Settings
from waddlebot.modules.core import module as core
from waddlebot.modules.music import module as music
from waddlebot.modules.music.queue import MusicQueue
from waddlebot.overlays.service import OverlayService
from waddlebot.router.service import RouterService


@pytest.fixture
async def server(tmp_path: Path, youtube: FakeYouTube) -> AsyncIterator[LiveServer]:
    settings = Settings(  # type: ignore[arg-type]
        data_dir=tmp_path / "data",
        secret_key="test-secret",
        log_format="console",
        log_level="WARNING",
        scheduler_poll_interval=0.2,
        youtube_iframe_api_url=f"{youtube.url}/iframe_api",
    )
    app = create_app(
        settings,
        instances=[
            RouterService(modules=[core, music]),
            PlaygroundService(),
            OverlayService(overlay_config()),
        ],
    )
    async with live_server(app) as served:
        yield served


async def overlay_page(
    chromium: Browser, server: LiveServer, community: str, kind: str = "player"
) -> Page:
    manage, _ = await keys(server)
    answer = await server.client.get(
        f"/api/browser-sources/v1/communities/{community}/urls", headers={"X-API-Key": manage}
    )
    url = answer.json()["urls"][kind].replace("http://127.0.0.1:8000", server.url)
    context = await chromium.new_context(viewport={"width": 640, "height": 360})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.set_default_timeout(10_000)
    await page.goto(url)
    await expect(page.locator("body")).to_have_attribute("data-connected", "true")
    page.errors = errors  # type: ignore[attr-defined]
    return page


async def test_the_player_plays_the_queue_and_ended_advances_it(
    browser: Browser,  # noqa: F811
    server: LiveServer,
) -> None:
    assert (await server.texts("!sr youtu.be/dQw4w9WgXcQ"))[0].startswith("Now playing")
    await server.texts("!sr youtu.be/kJQP7kiw5Fk", user="bob")
    await server.texts("!sr youtu.be/9bZkp7q19f0", user="carol")
    queue = MusicQueue(server.app.state.runtime.db)
    community = await community_of(server)
    first, second, third = await queue.entries(community)

    # opened after the first track started: the page asks and is sent what plays now
    page = await overlay_page(browser, server, community)
    media = await overlay_page(browser, server, community, "media")
    body = page.locator("body")
    await expect(body).to_have_attribute("data-entry", first.id)
    await expect(body).to_have_attribute("data-video", "dQw4w9WgXcQ")
    await expect(body).to_have_attribute("data-state", "playing")
    await expect(body).to_have_attribute("data-volume", "50")

    await page.evaluate("window.stub.end()")  # the video ended: the queue moves on
    await expect(body).to_have_attribute("data-entry", second.id)
    card = media.locator("#media")  # the media card follows the change
    await expect(card.locator(".title")).to_have_text("Despacito")
    await expect(card.locator(".artist")).to_have_text("Luis Fonsi")
    await expect(card.locator(".requester")).to_have_text("requested by bob")
    await expect(card.locator(".length")).to_have_text("4:42")
    await expect(body).to_have_attribute("data-video", "kJQP7kiw5Fk")
    now = await queue.current(community)
    assert now is not None and now.id == second.id

    assert await server.texts("!volume 30", user="mod", role="moderator") == ["Volume set to 30."]
    await expect(body).to_have_attribute("data-volume", "30")
    assert await page.evaluate("window.stub.loaded") == ["dQw4w9WgXcQ", "kJQP7kiw5Fk"]

    await page.evaluate("window.stub.fail(150)")  # not embeddable after all: skipped
    await expect(body).to_have_attribute("data-entry", third.id)
    await expect(body).to_have_attribute("data-video", "9bZkp7q19f0")

    assert (await server.texts("!skip", user="mod", role="moderator"))[0].startswith("Skipped")
    await expect(body).to_have_attribute("data-state", "idle")
    await expect(body).to_have_attribute("data-entry", "")
    assert await queue.current(community) is None
    await expect(card).to_be_hidden()
    assert page.errors == [] and media.errors == []  # type: ignore[attr-defined]


async def test_only_a_player_socket_reports_and_only_valid_reports_count(
    server: LiveServer,
) -> None:
    await server.texts("!sr youtu.be/dQw4w9WgXcQ")
    await server.texts("!sr youtu.be/kJQP7kiw5Fk", user="bob")
    queue = MusicQueue(server.app.state.runtime.db)
    community = await community_of(server)
    first = await queue.current(community)
    assert first is not None
    manage, _ = await keys(server)
    urls = (
        await server.client.get(
            f"/api/browser-sources/v1/communities/{community}/urls",
            headers={"X-API-Key": manage},
        )
    ).json()["urls"]

    def token(kind: str) -> str:
        return str(urls[kind]).rsplit("/", 1)[1]

    async def settled(client: OverlayClient) -> None:  # earlier messages were handled
        await client.send({"type": "ping"})
        while (await client.next())["type"] != "pong":
            pass

    async with overlay_socket(server.url, token("media"), "media") as media:
        await media.send({"type": "ended", "entry": first.id})
        await settled(media)
    async with overlay_socket(server.url, token("player"), "player") as player:
        for junk in (
            {"type": "ended", "entry": "not an id!"},
            {"type": "ended", "entry": first.id, "extra": 1},
            {"type": "error", "entry": first.id, "code": "loud"},
            {"type": "finished", "entry": first.id},
        ):
            await player.send(junk)
        await settled(player)
        await asyncio.sleep(0.5)  # a scheduler poll: nothing became due
        still = await queue.current(community)
        assert still is not None and still.id == first.id

        await player.send({"type": "ended", "entry": first.id})
        async with asyncio.timeout(5):
            while (now := await queue.current(community)) is not None and now.id == first.id:
                await asyncio.sleep(0.05)
        assert now is not None and now.title == "Despacito"
