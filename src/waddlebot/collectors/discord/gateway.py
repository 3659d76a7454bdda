"""The gateway worker (``waddlebot serve discord-gateway``): ``!`` messages, member join/leave
and guild join from Discord's gateway, normalised and handed to the router.

:class:`GatewayHandler` knows nothing of py-cord: it takes the plain dataclasses of
:mod:`.normalise`. The py-cord client lives in :mod:`.adapter`, which converts its objects.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from datetime import datetime

from waddlebot.collectors.dedupe import first_delivery, forget_delivery
from waddlebot.collectors.discord.config import DiscordSettings
from waddlebot.collectors.discord.metrics import DISCORD_EVENTS
from waddlebot.collectors.discord.normalise import (
    Author,
    GatewayMessage,
    guild_join_event,
    member_event,
    message_event,
)
from waddlebot.collectors.discord.shards import GatewayShards
from waddlebot.collectors.ingress import IngressRefused, RouterIngress
from waddlebot.kernel.contracts import Event, EventType
from waddlebot.kernel.errors import DependencyUnavailable
from waddlebot.kernel.observability.logging import Category, get_logger, log_event
from waddlebot.kernel.observability.platforms import PLATFORM_HEALTH
from waddlebot.kernel.runtime import Runtime
from waddlebot.kernel.service import Service
from waddlebot.kernel.storage.models import utcnow

logger = get_logger(__name__)
PLATFORM = "discord"


@dataclass(frozen=True, slots=True)
class GatewayHealth:
    """What this process's gateway client knows of its connection (for the portal)."""

    connected: bool
    latency_ms: float | None  # the last heartbeat's round trip; None before one
    guilds: frozenset[str]  # the guilds the client sees
    last_event: dict[str, datetime]  # guild id → when its last gateway event came in


class GatewayHandler:
    def __init__(self, runtime: Runtime, settings: DiscordSettings) -> None:
        self.runtime = runtime
        self.settings = settings
        self.last_event: dict[str, datetime] = {}  # guild id → last event (any kind)

    def _seen(self, guild_id: str | None) -> None:
        if guild_id:
            self.last_event[guild_id] = utcnow()

    async def message(self, message: GatewayMessage) -> None:
        self._seen(message.guild_id)
        event = message_event(message, self.settings.role_map)
        if event is None:
            return
        await self._submit(event, f"message:{message.id}")

    async def member(
        self, kind: EventType, *, guild_id: str, channel_id: str | None, author: Author, key: str
    ) -> None:
        self._seen(guild_id)
        event = member_event(
            kind,
            guild_id=guild_id,
            channel_id=channel_id,
            author=author,
            mapping=self.settings.role_map,
            event_id=key,
        )
        await self._submit(event, key)

    async def guild_join(
        self, *, guild_id: str, guild_name: str, channel_id: str | None, owner_id: str | None
    ) -> None:
        self._seen(guild_id)
        event = guild_join_event(
            guild_id=guild_id, guild_name=guild_name, channel_id=channel_id, owner_id=owner_id
        )
        await self._submit(event, event.id)

    async def _submit(self, event: Event, key: str) -> None:
        kv = self.runtime.backend.kv
        if not await first_delivery(kv, PLATFORM, key):
            DISCORD_EVENTS.labels("gateway", "duplicate").inc()
            return
        try:
            await RouterIngress(self.runtime, collector=PLATFORM).submit([event])
        except (IngressRefused, DependencyUnavailable, OSError) as error:
            await forget_delivery(kv, PLATFORM, key)
            DISCORD_EVENTS.labels("gateway", "refused").inc()
            log_event(
                logger,
                Category.ERROR,
                "discord_gateway",
                "refused",
                level="warning",
                event=event.type.value,
                reason=str(error),
            )
            return
        DISCORD_EVENTS.labels("gateway", event.type.value).inc()


class DiscordGatewayService(Service):
    """Runs this process's share of the bot's gateway shards (see :mod:`.shards`): one
    process alone takes every shard; several split them through the coordinator."""

    name = "discord-gateway"

    def __init__(self, settings: DiscordSettings | None = None) -> None:
        super().__init__()
        self.settings = settings or DiscordSettings()
        self.shards: GatewayShards | None = None
        self.handler: GatewayHandler | None = None

    def gateway_health(self) -> GatewayHealth | None:
        """The shards' connections as they are now; None when no gateway runs (no bot
        token). Connected when every shard this process holds is ready."""
        if self.shards is None or self.handler is None:
            return None
        clients = list(self.shards.clients.values())
        latencies = [
            client.latency * 1000
            for client in clients
            if isinstance(client.latency, float) and math.isfinite(client.latency)
        ]
        return GatewayHealth(
            connected=bool(clients)
            and all(client.is_ready() and not client.is_closed() for client in clients),
            latency_ms=max(latencies) if latencies else None,
            guilds=frozenset(str(guild.id) for client in clients for guild in client.guilds),
            last_event=dict(self.handler.last_event),
        )

    async def start(self, runtime: Runtime) -> None:
        PLATFORM_HEALTH.configured("discord", bool(self.settings.bot_token))
        if not self.settings.bot_token:
            log_event(
                logger,
                Category.SYSTEM,
                "discord_gateway",
                "disabled",  # not an error: most installations have no Discord bot
                reason="WADDLEBOT_DISCORD_BOT_TOKEN is not set",
            )
            return
        # py-cord is imported only here: without a bot token it would cost ~10 MiB for nothing.
        from waddlebot.collectors.discord.adapter import build_client

        handler = self.handler = GatewayHandler(runtime, self.settings)
        self.shards = GatewayShards(
            runtime,
            self.settings,
            lambda shard, gate: build_client(self.settings, handler, shard=shard, gate=gate),
        )
        self.spawn("gateway", self.shards.run)

    async def stop(self) -> None:
        if self.shards is not None:
            with contextlib.suppress(Exception):
                await self.shards.stop()
        await super().stop()
