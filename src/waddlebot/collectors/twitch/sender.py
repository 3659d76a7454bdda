"""Twitch outbound: drain ``outbound:twitch`` into Helix ``/chat/messages`` and ``/whispers``.

Paced per channel (20 or, where the bot moderates, 100 per window) and per account through the
shared sliding windows, so the limits hold across sender processes. A paced message waits as
long as the window needs (its queue lease is renewed meanwhile) and goes out in order. A 429
is waited out (the back-off is shared via ``hold_until``) and retried; 5xx and network
failures are retried with exponential backoff, then left to the queue's redelivery. Parts
already sent are remembered so a redelivered long message does not repeat itself. Drops
(``is_sent: false``) and refusals are logged with the reason and counted, never silently lost.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

from sqlalchemy import select

from waddlebot.collectors.pacing import hold_until, wait_for_slots, wait_if_held
from waddlebot.collectors.sender import OutboundSender, PermanentDeliveryError
from waddlebot.collectors.twitch.auth import HelixError, TwitchAuthError, TwitchNotConfigured
from waddlebot.collectors.twitch.helix import HelixClient, error_from
from waddlebot.collectors.twitch.metrics import RATE_LIMITED, SEND_FAILURES
from waddlebot.collectors.twitch.models import TwitchChannel
from waddlebot.collectors.twitch.settings import TwitchSettings
from waddlebot.kernel.backends import Backend, RateWindow
from waddlebot.kernel.contracts import MESSAGE_LIMITS, OutboundMessage, Platform
from waddlebot.kernel.observability.logging import Category, get_logger, log_event
from waddlebot.kernel.storage import Database

logger = get_logger(__name__)
MAX_MESSAGE = MESSAGE_LIMITS[Platform.twitch]
SENT_TTL = 3600.0
MODERATOR_CACHE = 60.0
MAX_RATE_LIMITED = 20


def split_message(text: str, limit: int = MAX_MESSAGE) -> list[str]:
    """Parts of at most ``limit`` characters, cut at a space when one is reasonably near."""
    parts: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        cut = rest.rfind(" ", limit // 2, limit + 1)
        cut = cut if cut > 0 else limit
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        parts.append(rest)
    return parts


class TwitchSender(OutboundSender):
    platform = Platform.twitch.value

    def __init__(
        self,
        backend: Backend,
        *,
        settings: TwitchSettings,
        helix: HelixClient,
        db: Database,
        visibility_timeout: float = 30.0,
    ) -> None:
        super().__init__(backend, visibility_timeout=visibility_timeout)
        self.settings = settings
        self.helix = helix
        self.db = db
        self._moderates: dict[str, tuple[bool, float]] = {}

    async def deliver(self, message: OutboundMessage) -> None:
        try:
            sender_id = await self.helix.auth.bot_user_id()
            if sender_id is None:
                raise TwitchNotConfigured("the bot account has not authorised yet")
            if message.kind == "whisper":
                await self._whisper(message, sender_id)
            else:
                await self._chat(message, sender_id)
        except (TwitchNotConfigured, TwitchAuthError) as error:
            self._count(message.kind, "not_authorised")
            raise PermanentDeliveryError(str(error)) from None

    async def _chat(self, message: OutboundMessage, sender_id: str) -> None:
        limit = await self._channel_limit(message.channel_id, sender_id)
        dropped: list[str] = []
        parts = split_message(message.text)
        for index, part in enumerate(parts):
            if not await self._first_send(message, index, len(parts)):
                continue
            await self._pace(
                "chat",
                RateWindow(f"twitch:chat:{message.channel_id}", limit, self.settings.chat_window),
                RateWindow(
                    f"twitch:account:{sender_id}",
                    self.settings.account_limit,
                    self.settings.chat_window,
                ),
            )
            body: dict[str, Any] = {
                "broadcaster_id": message.channel_id,
                "sender_id": sender_id,
                "message": part,
            }
            if self.settings.reply_in_thread and message.reply_to and index == 0:
                body["reply_parent_message_id"] = message.reply_to
            answer = await self._post("chat", "/chat/messages", json=body)
            await self._sent(message, index, len(parts))
            result = (answer.get("data") or [{}])[0]
            if result.get("is_sent") is False:
                dropped.append(self._dropped(message, result.get("drop_reason") or {}))
        if dropped:
            raise PermanentDeliveryError("not sent: " + "; ".join(dropped))

    async def _whisper(self, message: OutboundMessage, sender_id: str) -> None:
        if not message.user_id:
            self._count("whisper", "no_recipient")
            raise PermanentDeliveryError("a whisper needs a recipient user id")
        params = {"from_user_id": sender_id, "to_user_id": message.user_id}
        parts = split_message(message.text)
        for index, part in enumerate(parts):
            if not await self._first_send(message, index, len(parts)):
                continue
            await self._pace(
                "whisper",
                RateWindow(f"twitch:whisper-second:{sender_id}", 3, 1.0),
                RateWindow(
                    f"twitch:whisper:{sender_id}",
                    self.settings.whisper_limit,
                    self.settings.whisper_window,
                ),
            )
            await self._post("whisper", "/whispers", params=params, json={"message": part})
            await self._sent(message, index, len(parts))

    async def _post(
        self,
        kind: str,
        path: str,
        *,
        json: dict[str, Any],
        params: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """POST with the bot's user token: wait out 429s, retry transient errors, then give up.

        The first attempt follows :meth:`_pace`, which slept out any hold already."""
        hold_key = _hold_key(kind)
        failures = limited = 0
        while True:
            if failures or limited:
                await wait_if_held(self.backend.kv, hold_key)
            outcome = await self._attempt(path, json, params)
            if not isinstance(outcome, HelixError):
                return outcome
            error = outcome
            if error.status == 429 and limited < MAX_RATE_LIMITED:
                limited += 1
                await self._rate_limited(kind, hold_key, error)
                continue
            if error.transient and failures < self.settings.send_retries:
                log_event(
                    logger,
                    Category.SYSTEM,
                    "twitch_send_retry",
                    "retrying",
                    level="warning",
                    kind=kind,
                    attempt=failures + 1,
                    reason=str(error),
                )
                await asyncio.sleep(self.settings.retry_backoff * 2**failures)
                failures += 1
                continue
            if error.transient:
                self._count(kind, "transient")
                raise error
            self._count(kind, f"http_{error.status}")
            raise PermanentDeliveryError(str(error))

    async def _attempt(
        self, path: str, json: dict[str, Any], params: dict[str, str] | None
    ) -> dict[str, Any] | HelixError:
        """One POST: the JSON answer on success, the error otherwise."""
        try:
            answer = await self.helix.request("POST", path, user=True, params=params, json=json)
        except HelixError as error:
            return error
        if not answer.is_success:
            return error_from(answer)
        body: dict[str, Any] = answer.json() if answer.content else {}
        return body

    async def _rate_limited(self, kind: str, hold_key: str, error: HelixError) -> None:
        wait = min(error.retry_after or 1.0, self.settings.max_hold)
        RATE_LIMITED.labels(kind).inc()
        log_event(
            logger,
            Category.SYSTEM,
            "twitch_rate_limited",
            "waiting",
            level="warning",
            kind=kind,
            seconds=round(wait, 3),
        )
        await hold_until(self.backend.kv, hold_key, wait)

    async def _pace(self, kind: str, *windows: RateWindow) -> None:
        """Wait for room however long it takes, and out any 429 hold on ``kind`` (one round
        trip for both): the sender keeps the message's lease meanwhile, so waiting is never a
        failed attempt."""
        await wait_for_slots(self.backend.kv, *windows, max_wait=math.inf, held=[_hold_key(kind)])

    async def _channel_limit(self, channel_id: str, sender_id: str) -> int:
        """100 per window where the bot is broadcaster or moderator, 20 elsewhere."""
        if channel_id == sender_id or await self._bot_moderates(channel_id):
            return self.settings.chat_limit_moderator
        return self.settings.chat_limit

    async def _bot_moderates(self, channel_id: str) -> bool:
        cached = self._moderates.get(channel_id)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        async with self.db.read_session() as session:
            flag = await session.scalar(
                select(TwitchChannel.bot_is_moderator).where(
                    TwitchChannel.broadcaster_id == channel_id
                )
            )
        self._moderates[channel_id] = (bool(flag), time.monotonic() + MODERATOR_CACHE)
        return bool(flag)

    # Parts already sent are remembered so that a message delivered again does not repeat
    # them. The last part needs no mark: the queue's acknowledgement follows it at once and
    # is finished even if the sender is stopped meanwhile (``OutboundSender._send``), so a
    # single-part message - nearly every reply - costs no round trip for this.

    async def _first_send(self, message: OutboundMessage, index: int, parts: int) -> bool:
        if index == parts - 1:
            return True
        return await self.backend.kv.get(_sent_key(message, index)) is None

    async def _sent(self, message: OutboundMessage, index: int, parts: int) -> None:
        if index < parts - 1:
            await self.backend.kv.set(_sent_key(message, index), "1", ttl=SENT_TTL)

    def _dropped(self, message: OutboundMessage, reason: dict[str, Any]) -> str:
        code = str(reason.get("code") or "unknown")
        self._count("chat", code)
        log_event(
            logger,
            Category.ERROR,
            "twitch_message_dropped",
            "not_sent",
            level="warning",
            channel=message.channel_id,
            event_id=message.event_id,
            code=code,
            reason=str(reason.get("message") or ""),
        )
        return f"{code}: {reason.get('message') or ''}".strip()

    @staticmethod
    def _count(kind: str, reason: str) -> None:
        SEND_FAILURES.labels(kind, reason).inc()


def _sent_key(message: OutboundMessage, index: int) -> str:
    return f"twitch:sent:{message.id}:{index}"


def _hold_key(kind: str) -> str:
    return f"twitch:helix:{kind}"
