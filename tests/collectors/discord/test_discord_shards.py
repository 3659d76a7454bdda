"""Gateway shards over real loopback: py-cord clients against the fake Discord's
``GET /gateway/bot`` and gateway WebSocket, shards leased by real coordinators on both
backends. Two "workers" are two gateway services in one event loop sharing one backend, as
two ``serve discord-gateway`` processes share Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from tests.collectors.discord.fake_discord import BOT_TOKEN, FakeDiscord
from tests.support import live_server
from waddlebot.collectors.discord.config import DiscordSettings
from waddlebot.collectors.discord.gateway import DiscordGatewayService
from waddlebot.collectors.discord.shards import IDENTIFY_WINDOW
from waddlebot.kernel.backends import Backend
from waddlebot.kernel.runtime import Runtime
from waddlebot.kernel.settings import Settings

TTL = 1.5
BEAT = 0.3
Worker = Callable[..., Awaitable[DiscordGatewayService]]


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    discord = FakeDiscord()
    async with live_server(discord.app()) as server:
        discord.url = server.url
        yield discord


@pytest.fixture
async def workers(backend: Backend, fake: FakeDiscord, tmp_path: Path) -> AsyncIterator[Worker]:
    """Start a gateway worker named ``name`` on the shared backend; stopped at the end."""
    async with AsyncExitStack() as stack:

        async def start(name: str, **discord: object) -> DiscordGatewayService:
            settings = Settings(
                data_dir=tmp_path, instance_id=name, lease_ttl=TTL, heartbeat_interval=BEAT
            )
            runtime = await Runtime.open(settings, backend)
            stack.push_async_callback(runtime.close)
            service = DiscordGatewayService(
                DiscordSettings(bot_token=BOT_TOKEN, api_base=f"{fake.url}/api/v10", **discord)  # type: ignore[arg-type]
            )
            await service.start(runtime)
            stack.push_async_callback(service.stop)
            return service

        yield start


def held(service: DiscordGatewayService) -> set[int]:
    assert service.shards is not None
    return set(service.shards.clients)


async def test_the_worker_uses_discords_recommended_shard_count(
    fake: FakeDiscord, workers: Worker
) -> None:
    fake.recommended_shards, fake.max_concurrency = 3, 3
    solo = await workers("solo")
    await fake.wait_until(lambda: len(fake.live_shards()) == 3)
    assert fake.live_shards() == [(0, 3), (1, 3), (2, 3)]
    assert [call.path for call in fake.of("/gateway/bot")] == ["/gateway/bot"]
    assert all(identify.token == BOT_TOKEN for identify in fake.identifies)
    assert solo.shards is not None and solo.shards.count == 3 and held(solo) == {0, 1, 2}


async def test_a_configured_shard_count_wins(fake: FakeDiscord, workers: Worker) -> None:
    fake.recommended_shards, fake.max_concurrency = 1, 2
    await workers("solo", shard_count=2)
    await fake.wait_until(lambda: fake.live_shards() == [(0, 2), (1, 2)])
    assert len(fake.identifies) == 2


async def test_a_later_worker_adopts_the_running_workers_count(
    fake: FakeDiscord, workers: Worker
) -> None:
    """Shard 0 of 2 and shard 0 of 3 see different guilds: the workers must agree."""
    fake.recommended_shards, fake.max_concurrency = 2, 4
    a = await workers("a")
    await fake.wait_until(lambda: fake.live_shards() == [(0, 2), (1, 2)])
    fake.recommended_shards = 3  # Discord's recommendation changed meanwhile
    b = await workers("b", shard_count=5)  # and so did b's configuration
    await fake.wait_until(lambda: bool(b.shards and b.shards.count))
    assert a.shards is not None and b.shards is not None
    assert (a.shards.count, b.shards.count) == (2, 2)
    await fake.wait_until(lambda: held(a) | held(b) == {0, 1} and len(fake.live_shards()) == 2)
    assert fake.live_shards() == [(0, 2), (1, 2)]


async def test_two_workers_split_the_shards_and_hand_over(
    backend: Backend, fake: FakeDiscord, workers: Worker
) -> None:
    fake.recommended_shards, fake.max_concurrency = 4, 4
    for name in ("a", "b"):  # both registered before either takes a shard: no early grab
        await backend.leases.heartbeat(name, ttl=TTL * 4)
    a = await workers("a")
    b = await workers("b")
    everything = [(shard, 4) for shard in range(4)]
    await fake.wait_until(lambda: fake.live_shards() == everything)
    assert sorted(identify.shard for identify in fake.identifies) == everything  # once each
    assert held(a) and held(b) and held(a) | held(b) == {0, 1, 2, 3}
    assert not held(a) & held(b)

    moved = held(b)
    await b.stop()  # b's shards go to a, which identifies them
    await fake.wait_until(lambda: fake.live_shards() == everything and held(a) == {0, 1, 2, 3})
    later = [identify.shard for identify in fake.identifies[4:]]
    assert sorted(later) == sorted((shard, 4) for shard in moved)
    assert len(fake.identifies) == 4 + len(moved)


async def test_identifies_keep_to_max_concurrency_per_five_seconds(
    backend: Backend, fake: FakeDiscord, workers: Worker
) -> None:
    """4 shards, max_concurrency 2: two buckets ({0, 2} and {1, 3}), one IDENTIFY per bucket
    per 5 s, across both workers (the window lives in the backend)."""
    fake.recommended_shards, fake.max_concurrency = 4, 2
    for name in ("a", "b"):
        await backend.leases.heartbeat(name, ttl=TTL * 4)
    a = await workers("a")
    b = await workers("b")
    await fake.wait_until(lambda: len(fake.live_shards()) == 4, timeout=30)
    buckets_of = [{shard % 2 for shard in held(worker)} for worker in (a, b)]
    assert buckets_of[0] & buckets_of[1]  # a bucket spans both workers: the window is shared
    identifies = fake.identifies
    assert sorted(i.shard for i in identifies) == [(shard, 4) for shard in range(4)]
    slack = 0.05  # the two clocks: the backend's window and the fake's monotonic stamps
    for bucket in (0, 1):
        times = sorted(i.at for i in identifies if i.shard and i.shard[0] % 2 == bucket)
        assert len(times) == 2 and times[1] - times[0] >= IDENTIFY_WINDOW - slack
    times = sorted(i.at for i in identifies)
    assert all(
        later - first >= IDENTIFY_WINDOW - slack
        for first, later in zip(times, times[2:], strict=False)
    )


async def test_a_worker_cut_off_from_the_backend_goes_quiet_before_others_take_over(
    backend: Backend, fake: FakeDiscord, workers: Worker
) -> None:
    """b stops renewing (its coordinator halts, as when it cannot reach Redis): it closes its
    shards once its own conservative lease expiry passes, and a identifies them after the
    backend's leases lapse — never two live sessions of one shard."""
    fake.recommended_shards, fake.max_concurrency = 4, 4
    for name in ("a", "b"):
        await backend.leases.heartbeat(name, ttl=TTL * 2)
    a = await workers("a")
    b = await workers("b")
    everything = [(shard, 4) for shard in range(4)]
    await fake.wait_until(lambda: fake.live_shards() == everything)
    assert b.shards is not None and b.shards.coordinator is not None
    moved = held(b)
    assert moved
    await asyncio.sleep(IDENTIFY_WINDOW)  # a's takeover will not wait for an identify slot
    await b.shards.coordinator.halt()
    duplicates: list[list[tuple[int, int] | None]] = []

    def settled() -> bool:
        live = fake.live_shards()
        if len(set(live)) != len(live):
            duplicates.append(live)
        return live == everything and held(a) == {0, 1, 2, 3} and not held(b)

    await fake.wait_until(settled, timeout=30)
    assert duplicates == []
    assert sorted(i.shard for i in fake.identifies[4:]) == sorted((s, 4) for s in moved)
