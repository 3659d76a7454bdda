"""What each process knows about the chat platforms it talks to, for the health details.

Collectors note events, sends, send failures, connection and token state in
:data:`PLATFORM_HEALTH` (in memory: a few attribute writes, nothing per message leaves the
process). Every ``PUBLISH_EVERY`` seconds each process publishes its view to the backend
(``health:platform:<platform>``, one entry per process, dropped after ``STALE_AFTER``), so the
details page of any process shows the whole installation. Two processes publishing at the same
instant may overwrite each other's entry until the next round: the view lags by seconds, never
more.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from waddlebot.kernel.backends import KeyValue

PUBLISH_EVERY = 10.0  # seconds
STALE_AFTER = 60.0  # seconds: a process that stopped publishing is left out
FAILURE_WINDOW = 300.0  # seconds: "send failures in the last 5 minutes"
MAX_FAILURES_KEPT = 10_000
PLATFORMS = ("twitch", "discord", "slack", "playground")
PROCESS = f"{socket.gethostname()}:{os.getpid()}"


def platform_key(platform: str) -> str:
    return f"health:platform:{platform}"


@dataclass(slots=True)
class PlatformView:
    """One process's knowledge of one platform (None: this process cannot tell)."""

    configured: bool | None = None
    connected: bool | None = None
    connection: str | None = None  # how: "gateway", "eventsub webhook", …
    connection_detail: str | None = None
    token_valid: bool | None = None
    token_expires_at: str | None = None  # ISO 8601
    last_event_at: float | None = None  # epoch seconds
    last_sent_at: float | None = None
    failures: deque[float] = field(default_factory=lambda: deque(maxlen=MAX_FAILURES_KEPT))

    def report(self, now: float) -> dict[str, Any]:
        while self.failures and self.failures[0] < now - FAILURE_WINDOW:
            self.failures.popleft()
        return {
            "configured": self.configured,
            "connected": self.connected,
            "connection": self.connection,
            "connection_detail": self.connection_detail,
            "token_valid": self.token_valid,
            "token_expires_at": self.token_expires_at,
            "last_event_at": self.last_event_at,
            "last_sent_at": self.last_sent_at,
            "send_failures_5m": len(self.failures),
        }


class PlatformHealth:
    """The process-wide registry collectors write to (one per process, like the metrics)."""

    def __init__(self) -> None:
        self.views: dict[str, PlatformView] = {}

    def view(self, platform: str) -> PlatformView:
        found = self.views.get(platform)
        if found is None:
            found = self.views[platform] = PlatformView()
        return found

    def configured(self, platform: str, configured: bool) -> None:
        self.view(platform).configured = configured

    def event_received(self, platform: str) -> None:
        self.view(platform).last_event_at = time.time()

    def message_sent(self, platform: str) -> None:
        self.view(platform).last_sent_at = time.time()

    def send_failed(self, platform: str) -> None:
        self.view(platform).failures.append(time.time())

    def connection(
        self, platform: str, connected: bool, how: str, detail: str | None = None
    ) -> None:
        view = self.view(platform)
        view.connected, view.connection, view.connection_detail = connected, how, detail

    def token(self, platform: str, *, valid: bool, expires_at: datetime | None = None) -> None:
        view = self.view(platform)
        view.token_valid = valid
        if expires_at is not None:
            view.token_expires_at = expires_at.astimezone(UTC).isoformat()

    def reports(self) -> dict[str, dict[str, Any]]:
        now = time.time()
        return {platform: view.report(now) for platform, view in self.views.items()}

    async def publish(self, kv: KeyValue) -> None:
        """Put this process's view of each platform it knows next to the others'."""
        now = time.time()
        for platform, report in self.reports().items():
            key = platform_key(platform)
            raw = await kv.get(key)
            entries: dict[str, Any] = json.loads(raw) if raw else {}
            entries = {k: v for k, v in entries.items() if v.get("at", 0) > now - STALE_AFTER}
            entries[PROCESS] = {**report, "at": now}
            await kv.set(key, json.dumps(entries), ttl=STALE_AFTER)

    async def publish_forever(self, kv: KeyValue, every: float = PUBLISH_EVERY) -> None:
        """Publish until cancelled; Redis being away only delays the next round."""
        while True:
            if self.views:
                with contextlib.suppress(Exception):
                    await self.publish(kv)
            await asyncio.sleep(every)


PLATFORM_HEALTH = PlatformHealth()


def merge(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """The installation's view of one platform from every process reporting on it."""

    def known(name: str) -> list[Any]:
        return [report[name] for report in reports if report.get(name) is not None]

    def latest(name: str) -> str | None:
        values = known(name)
        return datetime.fromtimestamp(max(values), UTC).isoformat() if values else None

    connected, token_valid = known("connected"), known("token_valid")
    return {
        "configured": any(known("configured")) if known("configured") else None,
        "connected": all(connected) if connected else None,
        "connection": next(iter(known("connection")), None),
        "connection_detail": next(iter(known("connection_detail")), None),
        "token_valid": all(token_valid) if token_valid else None,
        "token_expires_at": min(known("token_expires_at"), default=None),
        "last_event_at": latest("last_event_at"),
        "last_sent_at": latest("last_sent_at"),
        "send_failures_5m": sum(known("send_failures_5m")),
        "processes": len(reports),
    }


async def installation_view(kv: KeyValue) -> dict[str, dict[str, Any]]:
    """Every platform as all processes see it (this one's view is always fresh)."""
    now = time.time()
    local = PLATFORM_HEALTH.reports()
    answer: dict[str, dict[str, Any]] = {}
    raws = await kv.get_many(*(platform_key(platform) for platform in PLATFORMS))
    for platform, raw in zip(PLATFORMS, raws, strict=True):
        entries: dict[str, Any] = json.loads(raw) if raw else {}
        reports = [
            entry
            for process, entry in entries.items()
            if process != PROCESS and entry.get("at", 0) > now - STALE_AFTER
        ]
        if platform in local:
            reports.append(local[platform])
        answer[platform] = merge(reports)
    return answer
