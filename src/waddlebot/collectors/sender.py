"""The outbound loop every collector runs: drain the platform's queue, deliver, acknowledge.

A platform collector subclasses :class:`OutboundSender` and implements :meth:`deliver`.
Delivery failures are retried through the queue's redelivery (the item is not acknowledged);
a message that keeps failing is given up after ``max_attempts``, logged and counted.

Waiting is not failing: while a batch goes out, the sender renews its lease on every message
it still holds, so a message waiting for the platform's rate window (seconds or minutes) is
neither handed to another sender nor counted as an attempt. A sender stopped mid-batch hands
its unsent messages back at once, so the next one carries on with them, in order.

Each batch is split into lanes, one per channel (or per whisper recipient): messages of one
lane go out in order, lanes go out concurrently, so a channel held back by the platform's
pacing does not delay every other channel.
"""

from __future__ import annotations

import abc
import asyncio
from datetime import UTC, datetime

from pydantic import ValidationError

from waddlebot.kernel.backends import Backend, Delivery
from waddlebot.kernel.contracts import OutboundMessage
from waddlebot.kernel.contracts.names import OUTBOUND_GROUP, outbound_queue
from waddlebot.kernel.ids import new_id
from waddlebot.kernel.observability.logging import (
    Category,
    bind_event,
    forget_event,
    get_logger,
    log_event,
    trace,
)
from waddlebot.kernel.observability.metrics import OUTBOUND, REPLY_SECONDS, labelled
from waddlebot.kernel.observability.platforms import PLATFORM_HEALTH
from waddlebot.kernel.supervision import report_healthy

logger = get_logger(__name__)


class PermanentDeliveryError(Exception):
    """The platform refused the message for good (e.g. unknown channel): do not retry."""


class OutboundSender(abc.ABC):
    platform: str
    max_attempts: int = 5
    batch: int = 20

    def __init__(self, backend: Backend, *, visibility_timeout: float = 30.0) -> None:
        self.backend = backend
        self.visibility_timeout = visibility_timeout
        self.queue = outbound_queue(self.platform)
        self.consumer = f"{self.platform}-{new_id()[:8]}"
        self._held: set[str] = set()  # taken, not yet acknowledged or left to redelivery

    @abc.abstractmethod
    async def deliver(self, message: OutboundMessage) -> None:
        """Send one message; raise to retry later, PermanentDeliveryError to give up."""

    async def run(self) -> None:
        """Drain the queue until cancelled.

        A Redis outage raises out of here; the supervisor (``Service.spawn``) restarts the
        loop with backoff, and unacknowledged messages are redelivered.
        """
        while True:
            deliveries = await self.backend.queues.take(
                self.queue,
                OUTBOUND_GROUP,
                self.consumer,
                count=self.batch,
                block=1.0,
                visibility_timeout=self.visibility_timeout,
            )
            report_healthy()
            await self.send_batch(deliveries)

    async def send_batch(self, deliveries: list[Delivery]) -> None:
        """Deliver a batch: in order within each lane, lanes concurrently.

        The lease on every message not yet settled is renewed meanwhile; cancelled (the sender
        stops), the unsettled ones are released for whoever takes the queue next.
        """
        if not deliveries:
            return
        self._held = {delivery.id for delivery in deliveries}
        # Most batches are sent long before a lease needs renewing: the renewing task is only
        # started once a third of the visibility timeout has passed, not for every batch.
        keeper: list[asyncio.Task[None]] = []
        timer = asyncio.get_running_loop().call_later(
            self.visibility_timeout / 3,
            lambda: keeper.append(
                asyncio.create_task(self._keep_leases(), name=f"{self.consumer}:leases")
            ),
        )
        try:
            await self._send_all(deliveries)
        except asyncio.CancelledError:
            await asyncio.shield(self._release_held())
            raise
        finally:
            timer.cancel()
            for task in keeper:
                task.cancel()

    async def _keep_leases(self) -> None:
        """Renew the lease on held messages now and then a few times per visibility timeout."""
        while True:
            if self._held:
                try:
                    await self.backend.queues.extend(
                        self.queue, OUTBOUND_GROUP, self.consumer, *self._held
                    )
                except Exception as error:  # the next renewal tries again; worst case a retry
                    log_event(
                        logger,
                        Category.SYSTEM,
                        "outbound_lease",
                        "renew_failed",
                        level="warning",
                        platform=self.platform,
                        reason=repr(error),
                    )
            await asyncio.sleep(self.visibility_timeout / 3)

    async def _release_held(self) -> None:
        held, self._held = self._held, set()
        if not held:
            return
        try:
            await self.backend.queues.release(self.queue, OUTBOUND_GROUP, self.consumer, *held)
        except Exception as error:  # they come back after the visibility timeout instead
            log_event(
                logger,
                Category.SYSTEM,
                "outbound_release",
                "failed",
                level="warning",
                platform=self.platform,
                messages=len(held),
                reason=repr(error),
            )

    def lane(self, message: OutboundMessage) -> str:
        """Which lane ``message`` waits in (see :func:`lane_of`); a sender may pick coarser."""
        return lane_of(message)

    async def _send_all(self, deliveries: list[Delivery]) -> None:
        lanes: dict[str, list[tuple[Delivery, OutboundMessage]]] = {}
        for delivery in deliveries:
            try:
                message = OutboundMessage.model_validate_json(delivery.payload)
            except ValidationError as error:
                self._failed("unreadable", str(error), delivery)
                await self._ack(delivery)
                continue
            lanes.setdefault(self.lane(message), []).append((delivery, message))
        if len(lanes) == 1:  # the usual batch: sent in this task, no task per lane
            try:
                await self._send_lane(next(iter(lanes.values())))
            finally:
                forget_event()  # bound by _send; this task goes on to other batches
            return
        await asyncio.gather(*(self._send_lane(lane) for lane in lanes.values()))

    async def _send_lane(self, lane: list[tuple[Delivery, OutboundMessage]]) -> None:
        for delivery, message in lane:
            await self._send(delivery, message)

    async def _send(self, delivery: Delivery, message: OutboundMessage) -> None:
        bind_event(message.event_id)  # a lane runs in its own task (gather), or forgets it
        try:
            await self.deliver(message)
        except PermanentDeliveryError as error:
            self._failed("rejected", str(error), delivery)
            await self._ack(delivery)
            return
        except Exception as error:
            if delivery.attempts >= self.max_attempts:
                self._failed("gave_up", repr(error), delivery)
                await self._ack(delivery)
            else:
                # Left to the queue: handed out again once its lease runs out.
                self._held.discard(delivery.id)
                OUTBOUND.labels(self.platform, "retry").inc()
                PLATFORM_HEALTH.send_failed(self.platform)
                log_event(
                    logger,
                    Category.SYSTEM,
                    "outbound_retry",
                    "later",
                    level="warning",
                    platform=self.platform,
                    delivery=delivery.id,
                    attempts=delivery.attempts,
                    reason=repr(error),
                )
            return
        labelled(OUTBOUND, self.platform, "sent").inc()
        PLATFORM_HEALTH.message_sent(self.platform)
        trace(__name__, "reply_sent", platform=self.platform, kind=message.kind)
        if message.received_at is not None:
            latency = (datetime.now(UTC) - message.received_at).total_seconds()
            labelled(REPLY_SECONDS, self.platform).observe(max(0.0, latency))
        # Sent: the acknowledgement is finished even if the sender is stopped meanwhile, so
        # the message is not handed back and sent twice. An ack that never waits (in memory)
        # cannot be interrupted, and is spared the task a shield costs.
        if self.backend.queues.settles_at_once:
            await self._ack(delivery)
        else:
            await asyncio.shield(self._ack(delivery))

    async def _ack(self, delivery: Delivery) -> None:
        self._held.discard(delivery.id)  # settled: never renewed or handed back from now on
        await self.backend.queues.ack(self.queue, OUTBOUND_GROUP, delivery.id)

    def _failed(self, result: str, reason: str, delivery: Delivery) -> None:
        OUTBOUND.labels(self.platform, result).inc()
        PLATFORM_HEALTH.send_failed(self.platform)
        log_event(
            logger,
            Category.ERROR,
            "outbound_failed",
            result,
            level="error",
            platform=self.platform,
            delivery=delivery.id,
            attempts=delivery.attempts,
            reason=reason,
        )


def lane_of(message: OutboundMessage) -> str:
    """Messages that must stay in order share a lane: one channel, or one whisper recipient."""
    if message.kind == "whisper":
        return f"whisper:{message.server_id}:{message.user_id}"
    return f"chat:{message.server_id}:{message.channel_id}"
