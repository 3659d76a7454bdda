"""Overlay URLs, sockets and the hub, over real HTTP/WebSocket on loopback, on both stacks
(SQLite + in-memory, PostgreSQL + Redis)."""

from __future__ import annotations

import asyncio
import itertools
from datetime import datetime

import httpx
from prometheus_client import generate_latest

from tests.overlays.conftest import (
    IMAGE_HOST,
    overlay_bot,
    overlay_config,
    overlay_socket,
)
from waddlebot.kernel.observability.metrics import REGISTRY
from waddlebot.kernel.settings import Settings
from waddlebot.overlays.sanitize import KINDS


def metric(name: str, **labels: str) -> float:
    value = REGISTRY.get_sample_value(name, labels)
    return value or 0.0


async def test_urls_are_per_kind_unguessable_stable_and_need_a_key(
    stack_settings: Settings,
) -> None:
    settings = stack_settings.model_copy(update={"public_url": "https://bot.example.tv/"})
    async with overlay_bot(settings) as bot:
        urls = await bot.urls()
        assert list(urls) == list(KINDS)
        tokens = {url.rsplit("/", 1)[1] for url in urls.values()}
        assert len(tokens) == len(KINDS) and all(len(token) >= 40 for token in tokens)
        assert all(url.startswith("https://bot.example.tv/overlay/") for url in urls.values())
        assert await bot.urls() == urls  # shown again, not reissued

        path = f"/api/browser-sources/v1/communities/{bot.community_id}/urls"
        client = bot.server.client
        assert (await client.get(path)).status_code == 401
        assert (await client.get(path, headers={"X-API-Key": bot.write_key})).status_code == 403
        missing = "/api/browser-sources/v1/communities/nope/urls"
        assert (await client.get(missing, headers={"X-API-Key": bot.manage_key})).status_code == 404

        page = await client.get(f"/overlay/{urls['ticker'].rsplit('/', 1)[1]}")
        assert page.status_code == 200
        assert 'data-kind="ticker"' in page.text and "https://" not in page.text.split("<body")[0]
        csp = page.headers["content-security-policy"]
        assert "script-src 'nonce-" in csp and f"img-src https://{IMAGE_HOST}" in csp
        host = bot.url.removeprefix("http://")
        assert f"connect-src 'self' ws://{host} wss://{host};" in csp
        assert page.headers["referrer-policy"] == "no-referrer"
        assert (await client.get("/overlay/not-a-token")).status_code == 404


async def test_sockets_check_the_token_and_the_kind(stack_settings: Settings) -> None:
    async with overlay_bot(stack_settings) as bot:
        token = await bot.token("media")
        async with overlay_socket(bot.url, "forged-token", hello=False) as forged:
            code, seen = await forged.closed()
            assert code == 4401 and seen[0]["type"] == "revoked"
        async with overlay_socket(bot.url, token, "ticker", hello=False) as wrong_kind:
            code, _ = await wrong_kind.closed()
            assert code == 4403
        async with overlay_socket(bot.url, token, "media", hello=False) as socket:
            hello = await socket.next()
            assert hello["type"] == "hello" and hello["content"]["kind"] == "media"
            assert hello["version"] == "v1"


async def test_rotation_and_revocation_close_open_sockets(stack_settings: Settings) -> None:
    async with overlay_bot(stack_settings) as bot:
        old = await bot.urls()
        old_ticker, old_media = (old[kind].rsplit("/", 1)[1] for kind in ("ticker", "media"))
        async with (
            overlay_socket(bot.url, old_ticker, "ticker") as ticker,
            overlay_socket(bot.url, old_media, "media") as media,
        ):
            new = await bot.rotate("ticker")
            assert set(new) == {"ticker"} and new["ticker"] != old["ticker"]
            code, seen = await ticker.closed()
            assert code == 4401 and seen[-1]["type"] == "revoked"
            # the media socket was not rotated: it still receives
            await bot.display("media", {"title": "Still here"})
            assert (await media.next())["content"]["title"] == "Still here"
            # the old URL is dead everywhere, the new one works
            assert (await bot.server.client.get(f"/overlay/{old_ticker}")).status_code == 404
            async with overlay_socket(bot.url, new["ticker"].rsplit("/", 1)[1], "ticker"):
                pass

            answer = await bot.server.client.post(
                f"/api/browser-sources/v1/communities/{bot.community_id}/revoke",
                json={"kinds": ["media"]},
                headers={"X-API-Key": bot.manage_key},
            )
            assert answer.json()["revoked"] == 1
            code, _ = await media.closed()
            assert code == 4401
        fresh = await bot.urls()  # asking again issues a new media URL
        assert fresh["media"] != old["media"] and fresh["ticker"] == new["ticker"]


async def test_display_pushes_sanitised_content_to_the_right_kind(
    stack_settings: Settings,
) -> None:
    async with overlay_bot(stack_settings) as bot:
        general_token, ticker_token = await bot.token("general"), await bot.token("ticker")
        async with (
            overlay_socket(bot.url, general_token, "general") as general,
            overlay_socket(bot.url, ticker_token, "ticker") as ticker,
        ):
            accepted = await bot.display(
                "general",
                {
                    "title": "<b>Schedule</b>",
                    "html": '<p onclick="x()">Mon <b>8pm</b></p><script>window.__pwned=1</script>'
                    '<img src="https://evil.example/x.png" onerror="window.__pwned=1">',
                },
                duration=30,
            )
            assert "script" not in accepted["content"]["html"]
            message = await general.next()
            assert message["type"] == "general" and message["duration"] == 30
            assert message["content"]["title"] == "<b>Schedule</b>"  # text: escaped by the page
            assert message["content"]["html"] == "<p>Mon <b>8pm</b></p>"
            await bot.display("ticker", {"text": "only tickers see this"})
            assert (await ticker.next())["content"]["text"] == "only tickers see this"
            await bot.display("clear", {"kind": "general"})
            assert (await general.next())["type"] == "clear"

        client = bot.server.client
        path = f"/api/browser-sources/v1/communities/{bot.community_id}/display"
        body = {"kind": "ticker", "content": {"text": "x"}}
        assert (await client.post(path, json=body)).status_code == 401
        denied = await client.post(path, json=body, headers={"X-API-Key": bot.manage_key})
        assert denied.status_code == 403
        write = {"X-API-Key": bot.write_key}
        empty = {"kind": "ticker", "content": {"text": " "}}
        assert (await client.post(path, json=empty, headers=write)).status_code == 422
        bad_kind = {"kind": "banner", "content": {"text": "x"}}
        assert (await client.post(path, json=bad_kind, headers=write)).status_code == 422
        other = "/api/browser-sources/v1/communities/unknown/display"
        assert (await client.post(other, json=body, headers=write)).status_code == 404


async def test_ticker_is_a_bounded_fifo_replayed_to_new_pages(stack_settings: Settings) -> None:
    config = overlay_config(ticker_max=3)
    async with overlay_bot(stack_settings, config) as bot:
        token = await bot.token("ticker")
        dropped = metric(
            "waddlebot_overlay_messages_dropped_total", kind="ticker", reason="ticker_full"
        )
        async with overlay_socket(bot.url, token, "ticker") as first:
            for number in range(5):
                await bot.display("ticker", {"text": f"line {number}"}, duration=60)
            for number in range(5):
                assert (await first.next())["content"]["text"] == f"line {number}"
            async with overlay_socket(bot.url, token, "ticker") as second:
                replay = [await second.next() for _ in range(3)]
            assert [m["content"]["text"] for m in replay] == ["line 2", "line 3", "line 4"]
            assert all(0 < m["duration"] <= 60 for m in replay)
        after = metric(
            "waddlebot_overlay_messages_dropped_total", kind="ticker", reason="ticker_full"
        )
        assert after - dropped == 2
        assert metric("waddlebot_overlay_messages_pushed_total", kind="ticker") >= 5


async def test_media_replaces_the_card_and_alerts_never_overlap(stack_settings: Settings) -> None:
    config = overlay_config(alert_gap=0.2)
    async with overlay_bot(stack_settings, config) as bot:
        media_token, alert_token = await bot.token("media"), await bot.token("alert")
        async with overlay_socket(bot.url, alert_token, "alert") as alerts:
            for user in ("ada", "bob", "cy"):
                await bot.display("alert", {"event": "follow", "user": user}, duration=0.4)
            shown = [await alerts.next() for _ in range(3)]
        assert [message["content"]["user"] for message in shown] == ["ada", "bob", "cy"]
        # the hub stamps each alert when it lets it out: never before the previous one is done
        starts = [datetime.fromisoformat(message["sent_at"]) for message in shown]
        gaps = [(later - earlier).total_seconds() for earlier, later in itertools.pairwise(starts)]
        assert all(gap >= 0.59 for gap in gaps), gaps  # duration 0.4 + gap 0.2

        await bot.display("media", {"title": "First"})
        await bot.display("media", {"title": "Second", "artist": "Band"})
        await asyncio.sleep(0.2)
        async with overlay_socket(bot.url, media_token, "media") as media:
            card = await media.next()
            assert card["content"] == {"title": "Second", "artist": "Band", "playing": True}
            assert card["duration"] is None


async def test_ping_pong_keepalive_and_connection_gauge(stack_settings: Settings) -> None:
    config = overlay_config(ping_interval=0.3)
    async with overlay_bot(stack_settings, config) as bot:
        token = await bot.token("ticker")
        before = metric("waddlebot_overlay_connections", kind="ticker")
        async with overlay_socket(bot.url, token, "ticker") as socket:
            assert metric("waddlebot_overlay_connections", kind="ticker") == before + 1
            await socket.send({"type": "ping"})
            assert (await socket.next(skip_pings=False))["type"] in {"pong", "ping"}
            server_ping = await socket.next(timeout=3, skip_pings=False)
            while server_ping["type"] != "ping":
                server_ping = await socket.next(timeout=3, skip_pings=False)
            await socket.send({"type": "pong"})
        # a client that never answers is closed after three silent intervals
        async with overlay_socket(bot.url, token, "ticker") as silent:
            code, _ = await silent.closed(timeout=5)
            assert code == 4408
        await asyncio.sleep(0.1)
        assert metric("waddlebot_overlay_connections", kind="ticker") == before
        text = generate_latest(REGISTRY).decode()
        assert "waddlebot_overlay_messages_sent_total" in text


async def test_show_command_in_the_playground_reaches_the_overlay(
    stack_settings: Settings,
) -> None:
    async with overlay_bot(stack_settings) as bot:
        token = await bot.token("ticker")
        async with overlay_socket(bot.url, token, "ticker") as socket:
            assert await bot.server.texts("!show hello") == ["shown"]
            message = await socket.next()
        assert message["type"] == "ticker" and message["content"]["text"] == "hello"


async def test_metrics_endpoint_lists_overlay_metrics(stack_settings: Settings) -> None:
    async with overlay_bot(stack_settings) as bot:
        answer = await bot.server.client.get("/metrics")
        assert isinstance(answer, httpx.Response) and answer.status_code == 200
        assert "waddlebot_overlay_connections" in answer.text
