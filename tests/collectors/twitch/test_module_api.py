"""Helix for modules: the router's factory is None without Twitch credentials, and the
router closes the factory's HTTP client when it stops."""

from __future__ import annotations

from pathlib import Path

from tests.collectors.twitch.conftest import twitch_settings
from tests.collectors.twitch.fake_twitch import STREAMER, FakeTwitch
from tests.support import live_server
from waddlebot.app import create_app
from waddlebot.collectors.twitch.models import TwitchChannel
from waddlebot.collectors.twitch.module_api import HelixOperations, module_twitch
from waddlebot.collectors.twitch.settings import TwitchSettings
from waddlebot.kernel.settings import Settings
from waddlebot.modules.core import module as core
from waddlebot.router.service import RouterService


def embedded(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", secret_key="test-secret", log_format="console")


async def test_no_twitch_credentials_means_no_twitch_for_modules(tmp_path: Path) -> None:
    router = RouterService(
        modules=[core], twitch=module_twitch(TwitchSettings(client_id=None, client_secret=None))
    )
    async with live_server(create_app(embedded(tmp_path), instances=[router])):
        assert router.twitch_operations is None


async def test_the_router_closes_the_helix_client_on_stop(
    tmp_path: Path, fake_twitch: FakeTwitch
) -> None:
    fake_twitch.add_streamer("alice", user_id="5550001", game="Celeste")
    router = RouterService(modules=[core], twitch=module_twitch(twitch_settings(fake_twitch)))
    async with live_server(create_app(embedded(tmp_path), instances=[router])):
        operations = router.twitch_operations
        assert isinstance(operations, HelixOperations)
        alice = await operations.user("alice")
        assert alice is not None and alice.profile_image_url.startswith("https://")
        channel = await operations.channel(alice.id)
        assert channel is not None and channel.game_name == "Celeste"
        assert await operations.clips(alice.id) == []
        assert await operations.user("nobody") is None

        async with operations.db.session() as session:
            session.add(
                TwitchChannel(
                    broadcaster_id=STREAMER["id"],
                    login=STREAMER["login"],
                    display_name=STREAMER["display_name"],
                    bot_is_moderator=True,
                )
            )
        assert await operations.bot_moderates(STREAMER["id"])
        assert not await operations.bot_moderates(alice.id)  # not connected there
    assert operations.http.is_closed
    assert router.twitch_operations is None
