"""Overlay sockets only for this installation's pages (and OBS, which sends no Origin): a
foreign page cannot open one (403 at the handshake), over real WebSockets on loopback."""

from __future__ import annotations

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.overlays.conftest import overlay_bot, overlay_config, socket_url
from waddlebot.kernel.settings import Settings
from waddlebot.overlays.api import origin_allowed

PUBLIC = "https://bot.example.tv/"


async def opens(url: str, origin: str | None) -> bool:
    """True when the socket opens and says hello; False when the handshake is refused."""
    headers = {"Origin": origin} if origin is not None else {}
    try:
        async with connect(url, additional_headers=headers, open_timeout=5) as socket:
            return '"hello"' in str(await socket.recv())
    except InvalidStatus as refused:
        assert refused.response.status_code == 403
        return False


async def test_only_own_origin_and_obs_may_open_a_socket(stack_settings: Settings) -> None:
    settings = stack_settings.model_copy(update={"public_url": PUBLIC})
    async with overlay_bot(settings) as bot:
        url = socket_url(bot.url, await bot.token("ticker"))
        assert await opens(url, None)  # OBS
        assert await opens(url, "null")  # a file:// page or a sandboxed frame
        assert await opens(url, "https://bot.example.tv")  # WADDLEBOT_PUBLIC_URL
        assert await opens(url, bot.url)  # the page as this server served it
        assert not await opens(url, "https://evil.example")
        assert not await opens(url, "http://bot.example.tv.evil.example")
        assert not await opens(url, "https://bot.example.tv:8443")
        assert not await opens(url, "not a url")


async def test_more_origins_can_be_allowed(stack_settings: Settings) -> None:
    config = overlay_config(allowed_origins="https://studio.example, https://Other.Example:8443")
    async with overlay_bot(stack_settings, config) as bot:
        url = socket_url(bot.url, await bot.token("alert"))
        assert await opens(url, "https://studio.example")
        assert await opens(url, "https://other.example:8443")
        assert not await opens(url, "https://evil.example")
    async with overlay_bot(stack_settings, overlay_config(allowed_origins="*")) as bot:
        assert await opens(socket_url(bot.url, await bot.token("alert")), "https://evil.example")


@pytest.mark.parametrize(
    ("origin", "host", "allowed"),
    [
        ("https://bot.example.tv", "", True),
        ("https://BOT.example.tv:443", "", True),  # default port, any case
        ("http://bot.example.tv", "", False),  # another scheme is another origin
        ("http://127.0.0.1:8000", "127.0.0.1:8000", True),
        ("http://127.0.0.1:8001", "127.0.0.1:8000", False),
        ("https://proxy.example", "proxy.example", True),  # TLS ended at a proxy
        ("ftp://bot.example.tv", "", False),
        ("https://bot.example.tv:99999", "", False),
    ],
)
def test_origin_rules(origin: str, host: str, allowed: bool) -> None:
    headers = {"origin": origin, **({"host": host} if host else {})}
    assert origin_allowed(headers, PUBLIC, []) is allowed
