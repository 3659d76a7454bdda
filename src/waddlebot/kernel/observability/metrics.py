"""Prometheus metrics shared by every service (one registry per process).

Labels are bounded sets only (platform, event type, module, queue, result): never a user,
channel, community or message id. Updating a metric is an in-memory operation; nothing here
touches the database or Redis per message (queue gauges are sampled by ``queue_gauges.py``).
"""

from __future__ import annotations

from typing import Any, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

_Metric = TypeVar("_Metric", Counter, Gauge, Histogram)
_CHILDREN: dict[tuple[int, tuple[str, ...]], Any] = {}


def labelled(metric: _Metric, *values: str) -> _Metric:
    """``metric.labels(*values)``, remembered: the per-message metrics are updated several
    times per command, and ``labels()`` checks, converts and locks each time (labels are
    bounded sets, and no metric here is ever ``remove()``d, so the memo stays small and true)."""
    key = (id(metric), values)
    child = _CHILDREN.get(key)
    if child is None:
        child = _CHILDREN[key] = metric.labels(*values)
    return child


EVENTS_IN = Counter(
    "waddlebot_events_in_total",
    "Events accepted by router ingress, by platform and event type",
    ["platform", "type"],
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
COORDINATION_HELD = Gauge(
    "waddlebot_coordination_held_items",
    "Items this process holds a coordination lease on",
    registry=REGISTRY,
)
COORDINATION_HANDOVERS = Counter(
    "waddlebot_coordination_handovers_total",
    "Coordination leases by change: acquired, released (moved on) or lost (expired/taken)",
    ["change"],
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

COMMANDS = Counter(
    "waddlebot_commands_total",
    "Commands the router answered, by module and outcome (ok, failed, timeout, unavailable, "
    "refused, limited, disabled)",
    ["module", "outcome"],
    registry=REGISTRY,
)
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 30, 60, 120)
REPLY_SECONDS = Histogram(
    "waddlebot_reply_latency_seconds",
    "End to end: the event received by a collector → its reply delivered to the platform",
    ["platform"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
QUEUE_OLDEST = Gauge(
    "waddlebot_queue_oldest_age_seconds",
    "Age of the oldest unacknowledged item per queue (0 when empty)",
    ["queue"],
    registry=REGISTRY,
)
OUTBOUND_RATE_LIMITED = Counter(
    "waddlebot_outbound_rate_limited_total",
    "Times a platform told a sender to back off (429 / Retry-After)",
    ["platform"],
    registry=REGISTRY,
)
PACING_WAITS = Counter(
    "waddlebot_pacing_waits_total",
    "Outbound sends that had to wait: for room in our own rate window, or a platform's hold",
    ["platform", "reason"],
    registry=REGISTRY,
)
PACING_WAIT_SECONDS = Counter(
    "waddlebot_pacing_wait_seconds_total",
    "Seconds outbound sends spent waiting for pacing, by platform and reason",
    ["platform", "reason"],
    registry=REGISTRY,
)
SCHEDULER_CLAIMED = Counter(
    "waddlebot_scheduler_jobs_due_total",
    "Scheduled jobs claimed to run because they were due",
    registry=REGISTRY,
)
SCHEDULER_LATE = Counter(
    "waddlebot_scheduler_jobs_late_total",
    "Scheduled jobs claimed more than a minute after they were due",
    registry=REGISTRY,
)
SCHEDULER_LATENESS = Histogram(
    "waddlebot_scheduler_lateness_seconds",
    "How long after its due time a job was claimed",
    buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 900),
    registry=REGISTRY,
)
TOKEN_REFRESH_FAILURES = Counter(
    "waddlebot_token_refresh_failures_total",
    "OAuth token refreshes that failed, by token (twitch_app, twitch_user, spotify)",
    ["token"],
    registry=REGISTRY,
)
LOG_LINES = Counter(
    "waddlebot_log_lines_total",
    "Log lines at warning level and above, by level (the error log rate alert reads it)",
    ["level"],
    registry=REGISTRY,
)
REDIS_COMMANDS = Counter(
    "waddlebot_redis_commands_total",
    "Commands sent to Redis, by command; Lua scripts by their name",
    ["command"],
    registry=REGISTRY,
)
REDIS_ROUND_TRIPS = Counter(
    "waddlebot_redis_round_trips_total",
    "Writes to Redis that wait for their replies: a command sent alone, or a batch of"
    " commands sent together (kernel/backends/redis_batching.py)",
    registry=REGISTRY,
)
LATE_AFTER = 60.0  # seconds past due: a job claimed later than this counts as late
PLATFORMS = frozenset({"twitch", "discord", "slack", "playground"})


def platform_label(key: str) -> str:
    """The platform a pacing key belongs to (keys start ``<platform>:``), bounded."""
    head = key.split(":", 1)[0]
    return head if head in PLATFORMS else "other"
