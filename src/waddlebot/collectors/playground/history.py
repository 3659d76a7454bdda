"""Unsolicited playground messages, kept per channel in the backend (so every replica sees
them): what a scheduled job said, or a reply that arrived after its request gave up waiting.

Each channel has a counter (the cursor) and one key per message with a TTL; writing message
``n`` deletes message ``n - limit``, so a channel never holds more than ``limit``. Readers ask
for everything ``after`` the cursor they last saw.
"""

from __future__ import annotations

from waddlebot.collectors.playground.models import ChannelMessage, ChannelMessages
from waddlebot.kernel.backends import KeyValue
from waddlebot.kernel.contracts import OutboundMessage

MESSAGE_TTL = 24 * 3600.0


def _sequence_key(channel: str) -> str:
    return f"playground:channel:{channel}:seq"


def _message_key(channel: str, cursor: int) -> str:
    return f"playground:channel:{channel}:message:{cursor}"


class ChannelHistory:
    """The last ``limit`` unsolicited messages of every playground channel."""

    def __init__(self, kv: KeyValue, limit: int) -> None:
        self.kv = kv
        self.limit = limit

    async def append(self, message: OutboundMessage) -> int:
        """Keep ``message`` in its channel; return its cursor."""
        channel = message.channel_id
        cursor = await self.kv.incr(_sequence_key(channel))
        entry = ChannelMessage(
            cursor=cursor,
            type=message.kind,
            text=message.text,
            user=message.user_id if message.kind == "whisper" else None,
            created_at=message.created_at,
        )
        await self.kv.set(_message_key(channel, cursor), entry.model_dump_json(), ttl=MESSAGE_TTL)
        if cursor > self.limit:
            await self.kv.delete(_message_key(channel, cursor - self.limit))
        return cursor

    async def read(self, channel: str, after: int | None) -> ChannelMessages:
        """Messages after ``after`` (the newest ``limit`` when None), oldest first."""
        raw = await self.kv.get(_sequence_key(channel))
        newest = int(raw) if raw else 0
        first = max(newest - self.limit + 1, 1 if after is None else after + 1)
        keys = [_message_key(channel, cursor) for cursor in range(first, newest + 1)]
        values = await self.kv.get_many(*keys) if keys else []
        messages = [ChannelMessage.model_validate_json(value) for value in values if value]
        return ChannelMessages(channel=channel, cursor=newest, messages=messages)
