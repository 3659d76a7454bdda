"""Cache, rate limits, work queues and pub/sub behind one interface (memory or Redis)."""

from waddlebot.kernel.backends.base import (
    Backend,
    Delivery,
    KeyValue,
    PubSub,
    QueueFull,
    RateDecision,
    Subscription,
    WorkQueue,
)
from waddlebot.kernel.backends.factory import open_backend

__all__ = [
    "Backend",
    "Delivery",
    "KeyValue",
    "PubSub",
    "QueueFull",
    "RateDecision",
    "Subscription",
    "WorkQueue",
    "open_backend",
]
