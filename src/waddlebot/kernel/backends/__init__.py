"""Cache, rate limits, work queues, pub/sub and leases behind one interface (memory or Redis)."""

from waddlebot.kernel.backends.base import (
    Backend,
    Delivery,
    KeyValue,
    LeaseRecord,
    Leases,
    PubSub,
    QueueFull,
    RateDecision,
    RateWindow,
    Subscription,
    WorkQueue,
)
from waddlebot.kernel.backends.factory import open_backend

__all__ = [
    "Backend",
    "Delivery",
    "KeyValue",
    "LeaseRecord",
    "Leases",
    "PubSub",
    "QueueFull",
    "RateDecision",
    "RateWindow",
    "Subscription",
    "WorkQueue",
    "open_backend",
]
