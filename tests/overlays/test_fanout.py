"""Two WaddleBot processes sharing PostgreSQL and Redis: whichever one takes a push or a
rotation, the sockets held by the other hear it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import (
    DATABASE_URL,
    REDIS_URL,
    drop_test_keys,
    fresh_postgres_database,
    require_service,
)
from tests.overlays.conftest import OverlayBot, keys, lobby_community, overlay_app, overlay_socket
from tests.support import live_server
from waddlebot.kernel.backends import open_backend
from waddlebot.kernel.settings import Settings


@pytest.fixture
async def shared_settings(tmp_path: Path) -> AsyncIterator[tuple[Settings, Settings]]:
    """Settings of two processes: one PostgreSQL database, one Redis namespace, two data dirs."""
    redis_url = require_service(REDIS_URL, "Redis", "WADDLEBOT_TEST_REDIS_URL")
    db_url = require_service(DATABASE_URL, "PostgreSQL", "WADDLEBOT_TEST_DATABASE_URL")
    namespace = f"wbtest-{uuid.uuid4().hex[:12]}"
    async with fresh_postgres_database(db_url) as fresh:
        yield tuple(  # type: ignore[misc]
            Settings(  # type: ignore[arg-type]
                data_dir=tmp_path / name,
                secret_key="shared-secret",
                log_format="console",
                database_url=fresh,
                redis_url=redis_url,
                redis_namespace=namespace,
            )
            for name in ("one", "two")
        )
    cleanup = await open_backend(redis_url, namespace=namespace)
    await drop_test_keys(cleanup)
    await cleanup.close()


@pytest.mark.redis
@pytest.mark.postgres
async def test_a_push_to_one_process_reaches_a_socket_on_the_other(
    shared_settings: tuple[Settings, Settings],
) -> None:
    settings_one, settings_two = shared_settings
    async with (
        live_server(overlay_app(settings_one)) as one,
        live_server(overlay_app(settings_two)) as two,
    ):
        community_id = await lobby_community(one)
        manage, write = await keys(one)
        bot_one = OverlayBot(one, community_id, manage, write)
        bot_two = OverlayBot(two, community_id, manage, write)
        ticker_token = await bot_two.token("ticker")
        assert await bot_one.token("ticker") == ticker_token  # one URL, whichever process asks

        async with (
            overlay_socket(two.url, ticker_token, "ticker") as on_two,
            overlay_socket(one.url, ticker_token, "ticker") as on_one,
        ):
            await bot_one.display("ticker", {"text": "pushed to one"})
            assert (await on_two.next())["content"]["text"] == "pushed to one"
            assert (await on_one.next())["content"]["text"] == "pushed to one"

            # a chat command handled by whichever router worker reaches both
            assert await two.texts("!show from chat") == ["shown"]
            assert (await on_one.next())["content"]["text"] == "from chat"
            assert (await on_two.next())["content"]["text"] == "from chat"

            # rotating through process one closes the socket held by process two
            await bot_one.rotate("ticker")
            code, _ = await on_two.closed()
            assert code == 4401
            code, _ = await on_one.closed()
            assert code == 4401
