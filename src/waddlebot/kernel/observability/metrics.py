"""Prometheus metrics shared by every service (one registry per process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

EVENTS_IN = Counter(
    "waddlebot_events_in_total",
    "Events accepted by router ingress",
    ["platform"],
    registry=REGISTRY,
)
EVENTS_REJECTED = Counter(
    "waddlebot_events_rejected_total",
    "Events refused by router ingress",
    ["reason"],
    registry=REGISTRY,
)
EVENTS_PROCESSED = Counter(
    "waddlebot_events_processed_total",
    "Events finished by router workers",
    ["platform", "status"],
    registry=REGISTRY,
)
OUTBOUND = Counter(
    "waddlebot_outbound_total",
    "Outbound messages by platform and result",
    ["platform", "result"],
    registry=REGISTRY,
)
QUEUE_DEPTH = Gauge(
    "waddlebot_queue_depth", "Unacknowledged items per queue", ["queue"], registry=REGISTRY
)
EXECUTION_SECONDS = Histogram(
    "waddlebot_module_execution_seconds",
    "Module call latency",
    ["module", "status"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)
EVENT_SECONDS = Histogram(
    "waddlebot_event_processing_seconds",
    "Time from ingress to the end of processing",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)
RATE_LIMIT_HITS = Counter(
    "waddlebot_rate_limit_hits_total",
    "Commands refused by cooldowns or rate limits",
    ["scope"],
    registry=REGISTRY,
)
TASK_RESTARTS = Counter(
    "waddlebot_background_task_restarts_total",
    "Background tasks restarted after failing (outages, bugs)",
    ["task"],
    registry=REGISTRY,
)
DEPENDENCY_UNAVAILABLE = Counter(
    "waddlebot_dependency_unavailable_total",
    "HTTP requests answered 503 because a dependency was away",
    ["dependency"],
    registry=REGISTRY,
)
AI_ANSWERS = Counter(
    "waddlebot_ai_answers_total",
    "AI chat answers by provider and result (ok, refused, timeout, down, auth, rate_limited, …)",
    ["provider", "result"],
    registry=REGISTRY,
)
AI_TOKENS = Counter(
    "waddlebot_ai_tokens_total",
    "Tokens spent on AI chat answers (from the provider's usage, else estimated)",
    ["provider"],
    registry=REGISTRY,
)
