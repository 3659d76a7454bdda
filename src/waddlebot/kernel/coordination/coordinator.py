"""One coordinator per instance: leases on named items, shared out by rendezvous hashing.

Each heartbeat the coordinator marks its instance alive, reads the live instances, works out
which wanted items rendezvous hashing gives it, renews what it holds and should keep, releases
what it holds but no longer should (a newcomer wins it), and tries to take what it should hold
but does not. Taking uses the backend's exclusive acquire, so an item moves only after its old
lease was released or expired; every lease carries the fencing token drawn when it was taken.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, replace

from waddlebot.kernel.backends import Leases
from waddlebot.kernel.coordination.rendezvous import Ring
from waddlebot.kernel.observability.logging import Category, get_logger, log_event
from waddlebot.kernel.observability.metrics import COORDINATION_HANDOVERS, COORDINATION_HELD
from waddlebot.kernel.settings import Settings

logger = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Lease:
    """The right to act on ``item``; pass ``token`` with every action so a stale holder is
    refused. ``expires_at`` (``time.time()``) is this instance's conservative view: measured
    from before the call that took or renewed the lease, so the backend's expiry is later."""

    item: str
    holder: str
    token: int
    expires_at: float

    def live(self, now: float | None = None) -> bool:
        """True until the lease's local deadline passes (no backend call)."""
        return (time.time() if now is None else now) < self.expires_at


Callback = Callable[[Lease], Awaitable[None]]


async def _nothing(lease: Lease) -> None:
    return None


class Coordinator:
    """Holds this instance's share of the wanted items; :meth:`beat` once per heartbeat."""

    def __init__(
        self,
        leases: Leases,
        *,
        instance_id: str,
        ttl: float,
        heartbeat: float,
        items: Iterable[str] = (),
        on_acquired: Callback = _nothing,
        on_lost: Callback = _nothing,
    ) -> None:
        if not 0 < heartbeat < ttl:
            raise ValueError(f"heartbeat ({heartbeat:g}s) must be shorter than the TTL ({ttl:g}s)")
        self.leases = leases
        self.instance_id = instance_id
        self.ttl = ttl
        self.heartbeat = heartbeat
        self._wanted: frozenset[str] = frozenset(items)
        self._held: dict[str, Lease] = {}
        self._on_acquired = on_acquired
        self._on_lost = on_lost
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    @classmethod
    def from_settings(
        cls, settings: Settings, leases: Leases, *, items: Iterable[str] = (), **callbacks: Callback
    ) -> Coordinator:
        """A coordinator with the installation's TTL, heartbeat and this process's id."""
        return cls(
            leases,
            instance_id=settings.resolved_instance_id,
            ttl=settings.lease_ttl,
            heartbeat=settings.resolved_heartbeat_interval,
            items=items,
            **callbacks,
        )

    @property
    def held(self) -> dict[str, Lease]:
        """Leases this instance holds now, by item (a copy)."""
        return dict(self._held)

    def want(self, items: Iterable[str]) -> None:
        """Replace the set of items shared out (effective at the next beat)."""
        self._wanted = frozenset(items)

    async def still_held(self, lease: Lease) -> bool:
        """True when ``lease`` is live here and the backend still has it under its token."""
        if not lease.live():
            return False
        [record] = await self.leases.lookup(lease.item)
        return record is not None and (record.holder, record.token) == (lease.holder, lease.token)

    async def beat(self) -> None:
        """One round: heartbeat, then renew, release and take as rendezvous hashing says."""
        started = time.time()
        await self.leases.heartbeat(self.instance_id, ttl=self.ttl)
        ring = Ring(await self.leases.instances())
        mine = {item for item in self._wanted if ring.owner(item) == self.instance_id}
        for item, lease in list(self._held.items()):
            if item not in mine:
                await self._give_up(lease)
            elif await self.leases.renew(item, self.instance_id, lease.token, ttl=self.ttl):
                self._held[item] = replace(lease, expires_at=started + self.ttl)
            else:
                await self._drop(lease, "lost")
        for item in sorted(mine - self._held.keys()):
            token = await self.leases.acquire(item, self.instance_id, ttl=self.ttl)
            if token is not None:
                lease = Lease(item, self.instance_id, token, started + self.ttl)
                self._held[item] = lease
                COORDINATION_HELD.inc()
                COORDINATION_HANDOVERS.labels("acquired").inc()
                try:
                    await self._on_acquired(lease)
                except Exception as error:
                    # Held but not served is the worst of both: give it back (on_lost
                    # cleans up what was started) and try again at the next beat.
                    log_event(
                        logger,
                        Category.ERROR,
                        "lease_start",
                        "failed",
                        level="warning",
                        item=item,
                        reason=repr(error)[:300],
                    )
                    await self._give_up(lease)

    async def _give_up(self, lease: Lease) -> None:
        # Forgotten (and on_lost told) before the backend frees the item: once another
        # instance can take it, this one must no longer count it as held.
        try:
            await self._drop(lease, "released")
        finally:
            await self.leases.release(lease.item, lease.holder, lease.token)

    async def _drop(self, lease: Lease, change: str) -> None:
        del self._held[lease.item]
        COORDINATION_HELD.dec()
        COORDINATION_HANDOVERS.labels(change).inc()
        if change == "lost":
            log_event(
                logger, Category.SYSTEM, "lease_lost", "error", level="warning", item=lease.item
            )
        await self._on_lost(lease)

    async def run(self) -> None:
        """Beat every ``heartbeat`` seconds until cancelled or :meth:`stop` asks it to end
        (after the beat in progress); a failed beat is logged and the next one retries
        (leases lapse on their own if the backend stays away)."""
        while not self._stopping.is_set():
            started = time.monotonic()
            try:
                await self.beat()
            except Exception as error:
                log_event(
                    logger,
                    Category.SYSTEM,
                    "coordination_beat",
                    "error",
                    level="warning",
                    error=type(error).__name__,
                )
            with contextlib.suppress(TimeoutError):
                # A period of one heartbeat from beat start to beat start, not a heartbeat's
                # pause after each beat: a slow beat must not stretch the time between renewals.
                async with asyncio.timeout(max(0.0, self.heartbeat - (time.monotonic() - started))):
                    await self._stopping.wait()

    def start(self) -> None:
        """Beat in a background task."""
        if self._task is None:
            self._stopping.clear()
            self._task = asyncio.create_task(self.run(), name=f"coordinator-{self.instance_id}")

    async def halt(self) -> None:
        """Stop beating without releasing anything, as a crashed instance would (tests)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def stop(self) -> None:
        """Stop beating, release every lease and leave the registry (clean shutdown).

        The beat in progress is let finish, not cancelled: one cut short inside an acquire
        could leave a lease taken in the backend but never recorded here, so never released.
        """
        task, self._task = self._task, None
        if task is not None:
            self._stopping.set()
            await task  # cancelling stop() cancels the task too
            self._stopping.clear()
        for lease in list(self._held.values()):
            await self._give_up(lease)
        await self.leases.leave(self.instance_id)
