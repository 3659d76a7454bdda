"""Connected channels and the EventSub subscriptions each one needs.

``connect`` records the channel and reconciles it; ``reconcile`` lists what Twitch has for our
transport and repairs anything missing, revoked or failed (delete + create); ``disconnect``
deletes the channel's subscriptions at Twitch and forgets the channel. Twitch's listing is the
truth; our rows mirror it so the channel status can be shown without calling Twitch.

The transport (:class:`Transport`) is our webhook callback, the EventSub WebSocket session this
process holds, or the application's conduit; only subscriptions on it count as ours.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, PrivateAttr
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from waddlebot.collectors.twitch.auth import HelixError, TwitchAuth, TwitchNotConfigured
from waddlebot.collectors.twitch.helix import HelixClient
from waddlebot.collectors.twitch.models import LIVE_STATUSES, TwitchChannel, TwitchSubscription
from waddlebot.collectors.twitch.settings import TwitchSettings
from waddlebot.kernel.observability.logging import Category, get_logger, log_event
from waddlebot.kernel.observability.platforms import PLATFORM_HEALTH
from waddlebot.kernel.storage import Database

logger = get_logger(__name__)
WEBHOOK_PATH = "/webhooks/twitch/eventsub"
EVENTSUB = "eventsub webhook"  # the transport, as the health details name it
LOGIN = re.compile(r"^[A-Za-z0-9_]{1,25}$")


class ChannelNotFound(Exception):
    """No such Twitch login (at Twitch, or among connected channels)."""


class NoTransportHere(TwitchNotConfigured):
    """This process holds no EventSub session (another instance does, or none is open yet)."""


_TRANSPORT_KEY = {"webhook": "callback", "websocket": "session_id", "conduit": "conduit_id"}


@dataclass(frozen=True, slots=True)
class Transport:
    """Where Twitch delivers: the ``transport`` object sent on create, which token creates,
    and at most how many enabled subscriptions it takes (one WebSocket session: 300)."""

    body: dict[str, str]
    user_token: bool = False
    cap: int | None = None

    @property
    def method(self) -> str:
        return self.body["method"]

    def owns(self, listed: dict[str, Any]) -> bool:
        """True for a listed subscription's ``transport`` that is this one."""
        key = _TRANSPORT_KEY[self.method]
        return (
            listed.get("method", self.method) == self.method and listed.get(key) == self.body[key]
        )

    @classmethod
    def webhook(cls, callback: str, secret: str) -> Transport:
        return cls({"method": "webhook", "callback": callback, "secret": secret})

    @classmethod
    def websocket(cls, session_id: str, *, cap: int) -> Transport:
        return cls({"method": "websocket", "session_id": session_id}, user_token=True, cap=cap)

    @classmethod
    def conduit(cls, conduit_id: str) -> Transport:
        return cls({"method": "conduit", "conduit_id": conduit_id})


@dataclass(frozen=True, slots=True)
class Spec:
    type: str
    version: str
    condition: dict[str, str]


def desired(broadcaster_id: str, bot_id: str) -> list[Spec]:
    """The subscriptions a connected channel needs, with their conditions."""
    own = {"broadcaster_user_id": broadcaster_id}
    simple = (
        "channel.subscribe",
        "channel.subscription.gift",
        "channel.subscription.message",
        "channel.cheer",
        "stream.online",
        "stream.offline",
        "channel.channel_points_custom_reward_redemption.add",
    )
    return [
        Spec("channel.chat.message", "1", {**own, "user_id": bot_id}),
        Spec("channel.follow", "2", {**own, "moderator_user_id": bot_id}),
        *(Spec(kind, "1", dict(own)) for kind in simple),
        Spec("channel.raid", "1", {"to_broadcaster_user_id": broadcaster_id}),
    ]


class SubscriptionStatus(BaseModel):
    type: str
    version: str
    status: str
    twitch_id: str | None
    reason: str | None
    updated_at: datetime


class ChannelStatus(BaseModel):
    broadcaster_id: str
    login: str
    display_name: str
    bot_is_moderator: bool
    healthy: bool = Field(description="every subscription enabled or being verified")
    subscriptions: list[SubscriptionStatus]


class ReconcileReport(BaseModel):
    channels: int = 0
    ok: int = 0
    created: int = 0
    deleted: int = 0
    failed: list[str] = Field(default_factory=list)
    _capped: bool = PrivateAttr(default=False)  # the transport's cap was hit (logged once)


@dataclass
class _Remote:
    """Twitch's subscriptions for our callback, keyed by (broadcaster, type)."""

    by_key: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    extra: list[dict[str, Any]] = field(default_factory=list)


def _broadcaster(condition: dict[str, Any]) -> str:
    return str(condition.get("broadcaster_user_id") or condition.get("to_broadcaster_user_id"))


class Subscriptions:
    def __init__(
        self,
        settings: TwitchSettings,
        public_url: str,
        db: Database,
        helix: HelixClient,
        auth: TwitchAuth,
    ) -> None:
        self.settings = settings
        self.callback = public_url.rstrip("/") + WEBHOOK_PATH
        self.db = db
        self.helix = helix
        self.auth = auth
        # Set by the WebSocket session (its session id) or the conduit (its id) this process
        # holds; the webhook transport needs nothing but settings.
        self.current: Transport | None = None
        # Called when a channel was connected but this process holds no session to subscribe
        # it on (the holder reconciles when told).
        self.announce: Callable[[], Awaitable[None]] | None = None

    def transport(self) -> Transport:
        """The transport subscriptions are made on here; NoTransportHere when there is none."""
        if self.settings.transport == "webhook":
            return Transport.webhook(self.callback, self._secret())
        if self.current is None:
            raise NoTransportHere(
                f"no EventSub {self.settings.transport} session in this process yet"
            )
        return self.current

    async def connect(self, login: str, *, bot_is_moderator: bool = False) -> ChannelStatus:
        """Record the channel and create every subscription it needs."""
        if not LOGIN.match(login):
            raise ValueError("a Twitch login is 1-25 letters, digits or underscores")
        await self._bot_id()
        user = await self.helix.user_by_login(login.lower())
        if user is None:
            raise ChannelNotFound(f"Twitch has no user {login!r}")
        async with self.db.session() as session:
            row = await session.get(TwitchChannel, str(user["id"]))
            created = row is None
            if row is None:
                row = TwitchChannel(broadcaster_id=str(user["id"]))
                session.add(row)
            row.login = str(user["login"])
            row.display_name = str(user.get("display_name") or user["login"])
            row.bot_is_moderator = bot_is_moderator
        try:
            await self.reconcile(only=row.broadcaster_id)
        except NoTransportHere:
            # The process holding the session subscribes it when told (or on its next pass).
            if self.announce is not None:
                await self.announce()
        except Exception:
            if created:  # leave nothing half-connected; reconcile removes stray subscriptions
                await self._forget(row.broadcaster_id)
            raise
        log_event(logger, Category.AUDIT, "twitch_connect", "ok", channel=row.login)
        return await self.status(row.login)

    async def _forget(self, broadcaster_id: str) -> None:
        async with self.db.session() as session:
            row = await session.get(TwitchChannel, broadcaster_id)
            if row is not None:
                await session.delete(row)

    async def reconcile(self, *, only: str | None = None) -> ReconcileReport:
        """Make Twitch hold exactly one live subscription per (channel, type) we need."""
        bot_id = await self._bot_id()
        transport = self.transport()  # fail before touching anything
        remote = await self._remote(transport)
        report = ReconcileReport()
        if only is not None and transport.cap is not None:
            # The other channels' subscriptions count against the session's cap too.
            report.ok = sum(1 for broadcaster, _ in remote.by_key if broadcaster != only)
        for channel in await self._channels(only):
            report.channels += 1
            for spec in desired(channel.broadcaster_id, bot_id):
                found = remote.by_key.pop((channel.broadcaster_id, spec.type), None)
                await self._repair(channel.broadcaster_id, spec, found, report, transport)
        if only is None:
            for orphan in [*remote.by_key.values(), *remote.extra]:
                await self.helix.delete_subscription(str(orphan["id"]), user=transport.user_token)
                report.deleted += 1
        log_event(logger, Category.AUDIT, "twitch_reconcile", "ok", **report.model_dump())
        PLATFORM_HEALTH.connection(
            "twitch", True, f"eventsub {transport.method}", f"{report.channels} channels"
        )
        return report

    async def try_reconcile(self) -> ReconcileReport | None:
        """:meth:`reconcile` for the background loops, which try again later: a failure is
        logged and shown on the health page instead of raised."""
        try:
            return await self.reconcile()
        except Exception as error:
            PLATFORM_HEALTH.connection("twitch", False, EVENTSUB, f"reconcile: {error!r}"[:300])
            log_event(
                logger,
                Category.ERROR,
                "twitch_reconcile",
                "failed",
                level="warning",
                reason=repr(error)[:300],
            )
            return None

    async def disconnect(self, login: str) -> int:
        """Delete the channel's subscriptions at Twitch, then forget it; how many deleted."""
        async with self.db.session() as session:
            channel = await self._channel_by_login(session, login)
            broadcaster_id = channel.broadcaster_id
        try:
            transport: Transport | None = self.transport()
        except NoTransportHere:
            transport = None  # the session's subscriptions go with it; delete what we know
        remote = await self._remote(transport) if transport is not None else _Remote()
        user = self.settings.transport == "websocket"  # made with the bot's token, if so
        ids = {
            str(s["id"])
            for s in [*remote.by_key.values(), *remote.extra]
            if _broadcaster(s.get("condition") or {}) == broadcaster_id
        }
        async with self.db.session() as session:
            rows = await session.scalars(
                select(TwitchSubscription).where(
                    TwitchSubscription.broadcaster_id == broadcaster_id
                )
            )
            ids |= {row.twitch_id for row in rows if row.twitch_id}
        for twitch_id in sorted(ids):
            await self.helix.delete_subscription(twitch_id, user=user)
        async with self.db.session() as session:
            channel = await self._channel_by_login(session, login)
            await session.delete(channel)
        log_event(
            logger, Category.AUDIT, "twitch_disconnect", "ok", channel=login, deleted=len(ids)
        )
        return len(ids)

    async def status(self, login: str) -> ChannelStatus:
        """The channel and what we know of each of its subscriptions."""
        async with self.db.read_session() as session:
            channel = await self._channel_by_login(session, login)
            rows = (
                await session.scalars(
                    select(TwitchSubscription)
                    .where(TwitchSubscription.broadcaster_id == channel.broadcaster_id)
                    .order_by(TwitchSubscription.type)
                )
            ).all()
        subscriptions = [
            SubscriptionStatus.model_validate(row, from_attributes=True) for row in rows
        ]
        return ChannelStatus(
            broadcaster_id=channel.broadcaster_id,
            login=channel.login,
            display_name=channel.display_name,
            bot_is_moderator=channel.bot_is_moderator,
            healthy=bool(rows) and all(row.healthy for row in rows),
            subscriptions=subscriptions,
        )

    async def logins(self) -> list[str]:
        async with self.db.read_session() as session:
            return list(
                await session.scalars(select(TwitchChannel.login).order_by(TwitchChannel.login))
            )

    async def mark(
        self, twitch_id: str, status: str, reason: str | None = None
    ) -> TwitchSubscription | None:
        """Record what Twitch told us about a subscription (verification, revocation)."""
        async with self.db.session() as session:
            row = (
                await session.scalars(
                    select(TwitchSubscription).where(TwitchSubscription.twitch_id == twitch_id)
                )
            ).first()
            if row is not None:
                row.status = status
                row.reason = reason
            return row

    async def _bot_id(self) -> str:
        bot_id = await self.auth.bot_user_id()
        if bot_id is None:
            raise TwitchNotConfigured(
                "the bot account is unknown: authorise it at /auth/twitch/login "
                "or set WADDLEBOT_TWITCH_BOT_USER_ID"
            )
        return bot_id

    async def _remote(self, transport: Transport) -> _Remote:
        remote = _Remote()
        async for item in self.helix.subscriptions(user=transport.user_token):
            if not transport.owns(item.get("transport") or {}):
                continue
            key = (_broadcaster(item.get("condition") or {}), str(item.get("type")))
            if key in remote.by_key:
                remote.extra.append(item)  # a duplicate: keep one, delete the rest
            else:
                remote.by_key[key] = item
        return remote

    async def _channels(self, only: str | None) -> list[TwitchChannel]:
        query = select(TwitchChannel).order_by(TwitchChannel.login)
        if only is not None:
            query = query.where(TwitchChannel.broadcaster_id == only)
        async with self.db.read_session() as session:
            return list(await session.scalars(query))

    @staticmethod
    async def _channel_by_login(session: Any, login: str) -> TwitchChannel:
        channel: TwitchChannel | None = (
            await session.scalars(select(TwitchChannel).where(TwitchChannel.login == login.lower()))
        ).first()
        if channel is None:
            raise ChannelNotFound(f"channel {login!r} is not connected")
        return channel

    async def _repair(
        self,
        broadcaster_id: str,
        spec: Spec,
        found: dict[str, Any] | None,
        report: ReconcileReport,
        transport: Transport,
    ) -> None:
        """Keep a live remote subscription; otherwise delete the broken one and create anew
        (unless the transport's cap is reached: then the row says so)."""
        row = await self._row(broadcaster_id, spec)
        revoked_here = (
            row.status == "revoked" and found is not None and row.twitch_id == found["id"]
        )
        if found is not None and found.get("status") in LIVE_STATUSES and not revoked_here:
            await self._save(row, twitch_id=str(found["id"]), status=str(found["status"]))
            report.ok += 1
            return
        if found is not None:
            await self.helix.delete_subscription(str(found["id"]), user=transport.user_token)
            report.deleted += 1
        if transport.cap is not None and report.ok + report.created >= transport.cap:
            reason = (
                f"over the {transport.cap}-subscription cap of one EventSub WebSocket session "
                "(use WADDLEBOT_TWITCH_TRANSPORT=conduit for more channels)"
            )
            await self._save(row, twitch_id=None, status="failed", reason=reason)
            report.failed.append(f"{spec.type}: {reason}")
            if not report._capped:
                report._capped = True
                log_event(
                    logger,
                    Category.ERROR,
                    "twitch_subscribe",
                    "over_cap",
                    level="warning",
                    cap=transport.cap,
                    type=spec.type,
                    broadcaster=broadcaster_id,
                )
            return
        try:
            created = await self.helix.create_subscription(
                spec.type,
                spec.version,
                spec.condition,
                transport.body,
                user=transport.user_token,
            )
        except HelixError as error:
            await self._save(row, twitch_id=None, status="failed", reason=error.message)
            report.failed.append(f"{spec.type}: {error}")
            log_event(
                logger,
                Category.ERROR,
                "twitch_subscribe",
                "failed",
                level="warning",
                type=spec.type,
                broadcaster=broadcaster_id,
                reason=str(error),
            )
            return
        await self._save(row, twitch_id=str(created.get("id")), status=str(created.get("status")))
        report.created += 1

    def _secret(self) -> str:
        if not self.settings.eventsub_secret:
            raise TwitchNotConfigured("set WADDLEBOT_TWITCH_EVENTSUB_SECRET (10-100 characters)")
        return self.settings.eventsub_secret

    async def _row(self, broadcaster_id: str, spec: Spec) -> TwitchSubscription:
        """The stored subscription row, added when missing. A connect and the periodic
        reconcile may add the same row at once: the loser reads the winner's."""
        try:
            return await self._find_or_add(broadcaster_id, spec)
        except IntegrityError:
            return await self._find_or_add(broadcaster_id, spec)

    async def _find_or_add(self, broadcaster_id: str, spec: Spec) -> TwitchSubscription:
        async with self.db.session() as session:
            row = (
                await session.scalars(
                    select(TwitchSubscription).where(
                        TwitchSubscription.broadcaster_id == broadcaster_id,
                        TwitchSubscription.type == spec.type,
                    )
                )
            ).first()
            if row is None:
                row = TwitchSubscription(
                    broadcaster_id=broadcaster_id,
                    type=spec.type,
                    version=spec.version,
                    condition=spec.condition,
                    status="missing",
                )
                session.add(row)
            return row

    async def _save(
        self,
        row: TwitchSubscription,
        *,
        twitch_id: str | None,
        status: str,
        reason: str | None = None,
    ) -> None:
        async with self.db.session() as session:
            stored = await session.get(TwitchSubscription, row.id)
            if stored is None:
                return
            stored.twitch_id = twitch_id
            stored.status = status
            stored.reason = reason
