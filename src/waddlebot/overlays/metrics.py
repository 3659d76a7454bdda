"""Overlay metrics, on the process-wide registry."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from waddlebot.kernel.observability.metrics import REGISTRY

CONNECTED = Gauge(
    "waddlebot_overlay_connections",
    "Overlay WebSockets open in this process",
    ["kind"],
    registry=REGISTRY,
)
PUSHED = Counter(
    "waddlebot_overlay_messages_pushed_total",
    "Overlay messages accepted by the hub (before fan-out)",
    ["kind"],
    registry=REGISTRY,
)
SENT = Counter(
    "waddlebot_overlay_messages_sent_total",
    "Overlay messages written to WebSockets",
    ["kind"],
    registry=REGISTRY,
)
DROPPED = Counter(
    "waddlebot_overlay_messages_dropped_total",
    "Overlay messages dropped: ticker_full, alert_queue_full, invalid, send_failed",
    ["kind", "reason"],
    registry=REGISTRY,
)
