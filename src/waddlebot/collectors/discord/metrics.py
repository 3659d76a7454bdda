"""Discord collector metrics (registered on the process-wide registry)."""

from __future__ import annotations

from prometheus_client import Counter

from waddlebot.kernel.observability.metrics import REGISTRY

DISCORD_EVENTS = Counter(
    "waddlebot_discord_events_total",
    "Discord interactions and gateway events by source and result",
    ["source", "result"],
    registry=REGISTRY,
)
