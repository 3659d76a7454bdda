"""Slack collector metrics (registered on the process-wide registry)."""

from __future__ import annotations

from prometheus_client import Counter

from waddlebot.kernel.observability.metrics import REGISTRY

SLACK_REQUESTS = Counter(
    "waddlebot_slack_requests_total",
    "Slack webhook requests and Socket Mode envelopes by endpoint and result",
    ["endpoint", "result"],
    registry=REGISTRY,
)
