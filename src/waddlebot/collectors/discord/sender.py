"""Discord sender: channel messages (split at 2000 characters), DMs for whispers, and
follow-ups through the interaction webhook for slash commands.

An interaction may already have been answered inline (type 4) by the interactions endpoint:
each message is claimed once in the backend, by the endpoint or by this sender, never both.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from waddlebot.collectors.discord.config import DiscordSettings
from waddlebot.collectors.discord.rest import DiscordHTTPError, DiscordRest
from waddlebot.collectors.sender import OutboundSender, PermanentDeliveryError
from waddlebot.kernel.backends import Backend
from waddlebot.kernel.contracts import MESSAGE_LIMITS, OutboundMessage, Platform

MAX_CONTENT = MESSAGE_LIMITS[Platform.discord]
INTERACTION_TTL = 15 * 60
ACK_WAIT = 10.0
NO_MENTIONS: dict[str, Any] = {"parse": []}


def interaction_key(event_id: str) -> str:
    """Where the endpoint keeps an interaction's application id and token."""
    return f"discord:interaction:{event_id}"


def acked_key(event_id: str) -> str:
    """Set once the endpoint's first response (type 4 or 5) has gone out."""
    return f"discord:interaction-acked:{event_id}"


def claim_key(message_id: str) -> str:
    return f"discord:claim:{message_id}"


def inline_channel(event_id: str) -> str:
    """Pub/sub channel the endpoint listens on while it may still answer inline."""
    return f"discord:inline:{event_id}"


def split_message(text: str, limit: int = MAX_CONTENT) -> list[str]:
    """Pieces of at most ``limit`` characters, cut at a newline or space when possible."""
    pieces: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit + 1)
        if cut < limit // 2:
            cut = text.rfind(" ", 0, limit + 1)
        if cut < limit // 2:
            cut = limit
        pieces.append(text[:cut])
        text = text[cut:].lstrip("\n ") if cut < len(text) else ""
    if text or not pieces:
        pieces.append(text)
    return [piece for piece in pieces if piece]


class DiscordSender(OutboundSender):
    platform = Platform.discord.value

    def __init__(self, backend: Backend, settings: DiscordSettings, rest: DiscordRest) -> None:
        super().__init__(backend)
        self.settings = settings
        self.rest = rest

    async def deliver(self, message: OutboundMessage) -> None:
        try:
            await self._deliver(message)
        except DiscordHTTPError as error:
            if error.status in (400, 401, 403, 404):
                raise PermanentDeliveryError(str(error)) from None
            raise

    async def _deliver(self, message: OutboundMessage) -> None:
        context = await self.backend.kv.get(interaction_key(message.event_id))
        if context is not None:
            await self.backend.pubsub.publish(
                inline_channel(message.event_id), message.model_dump_json()
            )
        if message.kind == "whisper":
            if not message.user_id:
                raise PermanentDeliveryError("whisper without a user")
            channel = await self._dm_channel(message.user_id)
            await self._create(message, channel, reference=None)
            return
        if context is not None and await self._acknowledged(message.event_id):
            if not await self.backend.kv.set(
                claim_key(message.id), "sender", ttl=INTERACTION_TTL, only_if_absent=True
            ):
                return  # the endpoint already sent it as its inline answer
            interaction = json.loads(context)
            await self._followup(message, interaction["application_id"], interaction["token"])
            return
        await self._create(message, message.channel_id, reference=message.reply_to)

    async def _acknowledged(self, event_id: str) -> bool:
        deadline = time.monotonic() + ACK_WAIT
        while await self.backend.kv.get(acked_key(event_id)) is None:
            if time.monotonic() > deadline:
                return False  # never acknowledged: fall back to a channel message
            await asyncio.sleep(0.05)
        return True

    async def _pieces(self, message: OutboundMessage) -> list[tuple[int, str]]:
        """The pieces still to send (a retry skips those already delivered)."""
        done = await self.backend.kv.get(f"discord:sent:{message.id}")
        start = int(done) if done else 0
        return list(enumerate(split_message(message.text)))[start:]

    async def _sent(self, message: OutboundMessage, index: int) -> None:
        await self.backend.kv.set(f"discord:sent:{message.id}", str(index + 1), ttl=3600)

    async def _create(self, message: OutboundMessage, channel: str, reference: str | None) -> None:
        for index, piece in await self._pieces(message):
            body: dict[str, Any] = {"content": piece, "allowed_mentions": NO_MENTIONS}
            if reference and index == 0 and reference.isdigit():
                body["message_reference"] = {"message_id": reference, "fail_if_not_exists": False}
            await self.rest.request(
                "POST", f"/channels/{channel}/messages", route=f"messages:{channel}", json=body
            )
            await self._sent(message, index)

    async def _followup(self, message: OutboundMessage, application: str, token: str) -> None:
        for index, piece in await self._pieces(message):
            await self.rest.request(
                "POST",
                f"/webhooks/{application}/{token}",
                route=f"webhook:{application}:{token[:16]}",
                json={"content": piece, "allowed_mentions": NO_MENTIONS},
                bot=False,
                counts_globally=False,
            )
            await self._sent(message, index)

    async def _dm_channel(self, user_id: str) -> str:
        key = f"discord:dm:{user_id}"
        cached = await self.backend.kv.get(key)
        if cached is not None:
            return cached.decode()
        answer = await self.rest.request(
            "POST", "/users/@me/channels", route="dm-open", json={"recipient_id": user_id}
        )
        channel = str(answer.json()["id"])
        await self.backend.kv.set(key, channel, ttl=24 * 3600)
        return channel
