"""Twitch collector metrics, on the process-wide registry (served at ``/metrics``)."""

from __future__ import annotations

from prometheus_client import Counter

from waddlebot.kernel.observability.metrics import REGISTRY

EVENTSUB = Counter(
    "waddlebot_twitch_eventsub_total",
    "EventSub deliveries by message type and result",
    ["type", "result"],
    registry=REGISTRY,
)
SEND_FAILURES = Counter(
    "waddlebot_twitch_send_failures_total",
    "Twitch chat/whisper sends that failed or were dropped, by reason",
    ["kind", "reason"],
    registry=REGISTRY,
)
RATE_LIMITED = Counter(
    "waddlebot_twitch_rate_limited_total",
    "429 answers from Helix, waited out",
    ["kind"],
    registry=REGISTRY,
)
