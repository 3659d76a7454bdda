"""OutboundSender pacing and lease semantics on both backends: a message waiting for its rate
window is neither handed to another sender nor counted as a failed attempt, and a sender
stopped mid-batch hands its unsent messages back so its successor sends them first, in order;
a sender stopped while acknowledging a sent message finishes the acknowledgement."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from waddlebot.collectors.pacing import wait_for_slot
from waddlebot.collectors.sender import OutboundSender
from waddlebot.kernel.backends import Backend
from waddlebot.kernel.contracts import OutboundMessage, Platform


class PacedSender(OutboundSender):
    """Paced to 3 messages per 2 s per channel, through the shared window; records each send."""

    platform = "playground"

    def __init__(self, backend: Backend, sent: list[str], *, visibility_timeout: float) -> None:
        super().__init__(backend, visibility_timeout=visibility_timeout)
        self.sent = sent

    async def deliver(self, message: OutboundMessage) -> None:
        await wait_for_slot(self.backend.kv, f"test:{message.channel_id}", limit=3, window=2.0)
        self.sent.append(message.text)


async def queue_texts(backend: Backend, sender: OutboundSender, texts: list[str]) -> None:
    messages = [
        OutboundMessage(
            platform=Platform.playground,
            kind="chat",
            server_id="s",
            channel_id="busy",
            text=text,
            event_id="e",
        )
        for text in texts
    ]
    await backend.queues.put(
        sender.queue, [m.model_dump_json().encode() for m in messages], max_length=100
    )


async def until(check: object, timeout: float = 20.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():  # type: ignore[operator]
            await asyncio.sleep(0.02)


async def test_waiting_for_the_window_outlives_the_visibility_timeout(backend: Backend) -> None:
    """Two sender replicas, a 0.5 s visibility timeout, 10 messages needing ~6 s of pacing:
    each goes out once, in order, and none is counted as a failed attempt."""
    sent: list[str] = []
    replicas = [PacedSender(backend, sent, visibility_timeout=0.5) for _ in range(2)]
    texts = [f"m{i}" for i in range(10)]
    await queue_texts(backend, replicas[0], texts)
    tasks = [asyncio.create_task(replica.run()) for replica in replicas]
    try:
        await until(lambda: len(sent) >= 10)
        await asyncio.sleep(0.6)  # room for a stray second delivery to show up
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
    assert sent == texts
    assert await backend.queues.depth(replicas[0].queue) == 0


async def test_a_stopped_sender_hands_its_messages_to_the_next_in_order(
    backend: Backend,
) -> None:
    sent: list[str] = []
    first = PacedSender(backend, sent, visibility_timeout=60)
    texts = [f"m{i}" for i in range(6)]
    await queue_texts(backend, first, texts)
    running = asyncio.create_task(first.run())
    await until(lambda: len(sent) >= 3)  # the window is full: m3.. wait in the first sender
    await asyncio.sleep(0.2)
    running.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await running
    assert sent == texts[:3]
    successor = PacedSender(backend, sent, visibility_timeout=60)
    running = asyncio.create_task(successor.run())
    try:
        await until(lambda: len(sent) >= 6)  # well before the 60 s visibility timeout
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
    assert sent == texts


async def test_a_sender_stopped_while_acknowledging_a_sent_message_never_sends_it_again(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stop lands while the queue acknowledges a message already sent: the acknowledgement
    still completes, so the message is not handed out again after its lease runs out."""
    sent: list[str] = []
    first = PacedSender(backend, sent, visibility_timeout=1.0)
    acknowledging = asyncio.Event()
    real_ack = backend.queues.ack

    async def slow_ack(queue: str, group: str, *ids: str) -> None:
        acknowledging.set()
        await asyncio.sleep(0.3)  # the stop arrives during this round trip
        await real_ack(queue, group, *ids)

    monkeypatch.setattr(backend.queues, "ack", slow_ack)
    monkeypatch.setattr(backend.queues, "settles_at_once", False)  # its ack waits now
    await queue_texts(backend, first, ["only once"])
    running = asyncio.create_task(first.run())
    async with asyncio.timeout(20):
        await acknowledging.wait()
    running.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await running
    assert sent == ["only once"]
    successor = PacedSender(backend, sent, visibility_timeout=1.0)
    running = asyncio.create_task(successor.run())
    try:
        await asyncio.sleep(2.5)  # past the first sender's lease: a lost ack shows up here
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
    assert sent == ["only once"]
    assert await backend.queues.depth(first.queue) == 0
