"""``serve kong-broker``: Kong unreachable shows on /readyz and is retried with backoff until
Kong answers; a key created (or revoked) wakes a pass at once, not at the next interval."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from tests.gateway.kong_fake import FakeKong
from tests.support import LiveServer, free_port, live_server, serve_asgi
from waddlebot.app import create_app
from waddlebot.gateway.broker import consumer_name
from waddlebot.gateway.service import KongBrokerService
from waddlebot.kernel.security.api_keys import create_api_key, revoke_api_key
from waddlebot.kernel.security.key_copies import announce_keys_changed, gateway_box
from waddlebot.kernel.settings import Settings


async def eventually(check: Callable[[], Awaitable[bool]], seconds: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.1)


async def readiness(bot: LiveServer) -> tuple[int, dict[str, Any]]:
    answer = await bot.client.get("/readyz")
    return answer.status_code, answer.json()


async def test_kong_away_is_shown_on_readyz_then_recovered_and_keys_wake_a_pass(
    stack_settings: Settings,
) -> None:
    port = free_port()
    settings = Settings(
        **{
            **stack_settings.model_dump(),
            "kong_admin_url": f"http://127.0.0.1:{port}",
            "kong_consumers": True,
            "kong_reconcile_interval": 3600.0,  # only a wake-up can explain a prompt pass
        }
    )
    app = create_app(settings, instances=[KongBrokerService()])
    async with live_server(app) as bot:

        async def kong_reported_away() -> bool:
            status, body = await readiness(bot)
            failing = body.get("failing", {}).get("kong-broker:reconcile", {})
            return status == 503 and "kong admin api" in str(failing.get("error", ""))

        await eventually(kong_reported_away)

        fake = FakeKong()
        async with serve_asgi(fake.app(), port=port):

            async def ready() -> bool:
                return (await readiness(bot))[0] == 200

            await eventually(ready)
            runtime = app.state.runtime
            key, row = await create_api_key(
                runtime.db, name="ci", scopes=["account"], gateway_copy=gateway_box(settings)
            )
            await announce_keys_changed(settings, runtime.backend)

            async def synced() -> bool:
                name = consumer_name(row.id)
                return name in fake.consumers and fake.keys_of(name) == [key]

            await eventually(synced, seconds=5)

            assert await revoke_api_key(runtime.db, row.id)
            await announce_keys_changed(settings, runtime.backend)

            async def removed() -> bool:
                return not fake.consumers

            await eventually(removed, seconds=5)
