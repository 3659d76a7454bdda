"""Where module actions go: chat and whispers to the platform's outbound queue, overlay
actions to the community's overlay channel on pub/sub."""

from __future__ import annotations

from collections.abc import Sequence

from waddlebot.kernel.backends import Backend
from waddlebot.kernel.contracts import Action, Event, EventType, OutboundMessage, OverlayAction
from waddlebot.kernel.contracts.names import outbound_queue, overlay_channel


class ActionDispatcher:
    def __init__(self, backend: Backend, *, outbound_max: int) -> None:
        self.backend = backend
        self.outbound_max = outbound_max

    async def dispatch(self, event: Event, community_id: str, actions: Sequence[Action]) -> int:
        """Deliver ``actions``; return how many outbound messages were queued.

        Outbound messages of one event are queued together or not at all (QueueFull
        propagates, so the event is retried rather than half-answered).
        """
        messages: list[OutboundMessage] = []
        # a scheduled job speaks on its own: nothing to thread under or reply to
        unsolicited = event.type is EventType.scheduled
        for action in actions:
            if isinstance(action, OverlayAction):
                await self.backend.pubsub.publish(
                    overlay_channel(community_id), action.model_dump_json()
                )
                continue
            messages.append(
                OutboundMessage(
                    platform=event.platform,
                    kind=action.type,
                    server_id=event.server_id,
                    channel_id=event.channel_id,
                    user_id=getattr(action, "user_id", None)
                    or (event.user.id if event.user else None),
                    thread_id=event.thread_id,
                    reply_to=event.id if action.type == "chat" and not unsolicited else None,
                    text=action.text,
                    event_id=event.id,
                    received_at=None if unsolicited else event.received_at,
                )
            )
        if messages:
            await self.backend.queues.put(
                outbound_queue(event.platform.value),
                [message.model_dump_json().encode() for message in messages],
                max_length=self.outbound_max,
            )
        return len(messages)
