"""One coordinator in an OS process of its own, for ``test_processes.py``.

    python -m tests.kernel.coordination.lease_runner LOG_PATH ITEM_COUNT < "go" line

Configured as a deployment is: WADDLEBOT_REDIS_URL, WADDLEBOT_REDIS_NAMESPACE,
WADDLEBOT_LEASE_TTL, WADDLEBOT_HEARTBEAT_INTERVAL and WADDLEBOT_INSTANCE_ID. It shares out
``twitch:channel:0`` .. ``twitch:channel:{ITEM_COUNT-1}`` with whatever other instances run in
the namespace from when it reads ``go`` on stdin (so the test can start it, and pay for
Python's start-up, ahead of the moment it joins) until SIGTERM (clean stop: every lease
released) or SIGKILL.

The fencing log gets one JSON line per event, written as it happens (line-buffered, so a
SIGKILL loses nothing already written; fsynced once per heartbeat):
``{"t": time.time(), "event": "acquired" | "renewed" | "released", "item", "holder",
"token", "until"}``; ``until`` is the lease's local deadline (``Lease.expires_at``), the last
moment this instance may act on the item under that token.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from typing import TextIO

from waddlebot.kernel.backends import Leases, open_backend
from waddlebot.kernel.coordination import Coordinator, Lease
from waddlebot.kernel.settings import Settings


class FencingLog:
    def __init__(self, path: str) -> None:
        self.file: TextIO = open(path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115
        self.until: dict[str, float] = {}  # last deadline written per item

    def write(self, event: str, lease: Lease) -> None:
        line = {
            "t": time.time(),
            "event": event,
            "item": lease.item,
            "holder": lease.holder,
            "token": lease.token,
            "until": lease.expires_at,
        }
        self.file.write(json.dumps(line) + "\n")
        if event == "released":
            self.until.pop(lease.item, None)
        else:
            self.until[lease.item] = lease.expires_at

    async def acquired(self, lease: Lease) -> None:
        self.write("acquired", lease)

    async def lost(self, lease: Lease) -> None:
        self.write("released", lease)

    def beat(self, started: float) -> None:
        """How long a beat took (not a lease event: to explain a slow takeover)."""
        line = {"t": started, "event": "beat", "took": time.time() - started}
        self.file.write(json.dumps(line) + "\n")

    def renewed(self, held: dict[str, Lease]) -> None:
        for item, lease in held.items():
            if self.until.get(item) != lease.expires_at:
                self.write("renewed", lease)
        self.file.flush()
        os.fsync(self.file.fileno())


class LoggedCoordinator(Coordinator):
    """The real coordinator (its own run loop); each beat's renewals go to the log."""

    def __init__(self, settings: Settings, leases: Leases, items: list[str], log: FencingLog):
        super().__init__(
            leases,
            instance_id=settings.resolved_instance_id,
            ttl=settings.lease_ttl,
            heartbeat=settings.resolved_heartbeat_interval,
            items=items,
            on_acquired=log.acquired,
            on_lost=log.lost,
        )
        self.log = log

    async def beat(self) -> None:
        started = time.time()
        try:
            await super().beat()
        finally:  # also what a failed or cancelled beat renewed before it ended
            self.log.renewed(self.held)
            self.log.file.write(
                json.dumps({"t": started, "event": "beat", "took": time.time() - started}) + "\n"
            )


async def main(log_path: str, count: int) -> None:
    settings = Settings()
    assert settings.redis_url, "WADDLEBOT_REDIS_URL is required"
    if await asyncio.to_thread(sys.stdin.readline) != "go\n":
        return  # the test went away before it let this instance join
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    backend = await open_backend(settings.redis_url, namespace=settings.redis_namespace)
    log = FencingLog(log_path)
    node = LoggedCoordinator(
        settings, backend.leases, [f"twitch:channel:{n}" for n in range(count)], log
    )
    try:
        node.start()
        await stop.wait()
        await node.stop()
    finally:
        await backend.close()
        log.file.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
