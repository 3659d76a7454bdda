"""The Twitch collector service: webhook, OAuth login, channel REST API, sender, reconciler,
and the EventSub WebSocket session or conduit shards when the transport says so."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, ConfigDict, Field

from waddlebot.collectors.twitch.auth import (
    HelixError,
    TwitchAuthError,
    TwitchNotConfigured,
    WrongAccount,
)
from waddlebot.collectors.twitch.components import CALLBACK_PATH, Twitch
from waddlebot.collectors.twitch.oauth import check_state, login_url
from waddlebot.collectors.twitch.sender import TwitchSender
from waddlebot.collectors.twitch.settings import TwitchSettings
from waddlebot.collectors.twitch.subscriptions import (
    WEBHOOK_PATH,
    ChannelNotFound,
    ChannelStatus,
    ReconcileReport,
)
from waddlebot.collectors.twitch.transports import (
    RECONCILE_LOCK,
    ConduitTransport,
    WebSocketTransport,
)
from waddlebot.collectors.twitch.webhook import handle_eventsub
from waddlebot.kernel.observability.logging import Category, get_logger, log_event
from waddlebot.kernel.observability.platforms import PLATFORM_HEALTH
from waddlebot.kernel.runtime import Runtime
from waddlebot.kernel.security.api_keys import ADMIN_SCOPE, Principal
from waddlebot.kernel.security.http import require_scope
from waddlebot.kernel.security.signed_state import InvalidState
from waddlebot.kernel.service import Service
from waddlebot.kernel.web import get_runtime

logger = get_logger(__name__)
TWITCH_SCOPE = "twitch:manage"
Manager = Annotated[Principal, Depends(require_scope(TWITCH_SCOPE))]


class ConnectRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    login: str = Field(pattern=r"^[A-Za-z0-9_]{1,25}$", description="the channel's Twitch login")
    bot_is_moderator: bool = Field(
        default=False, description="the bot is a moderator there (100 messages / 30 s)"
    )


@asynccontextmanager
async def twitch_errors() -> AsyncIterator[None]:
    """Map collector errors to clear HTTP answers (never a 500 for a known problem)."""
    try:
        yield
    except ChannelNotFound as error:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(error)) from None
    except ValueError as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, str(error)) from None
    except TwitchNotConfigured as error:
        raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
    except (HelixError, TwitchAuthError) as error:
        raise HTTPException(status.HTTP_502_BAD_GATEWAY, f"Twitch: {error}") from None


class TwitchService(Service):
    name = "twitch"

    def __init__(self, settings: TwitchSettings | None = None) -> None:
        super().__init__()
        self.settings = settings or TwitchSettings()
        self.twitch: Twitch | None = None
        self.eventsub: WebSocketTransport | ConduitTransport | None = None

    def ready(self) -> Twitch:
        if self.twitch is None:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "twitch is starting")
        return self.twitch

    def chat_api(self) -> APIRouter:
        return self._webhook_api()

    def api(self) -> APIRouter:
        api = APIRouter(tags=["twitch"])
        api.include_router(self._oauth_api())
        api.include_router(self._channels_api())
        return api

    async def start(self, runtime: Runtime) -> None:
        self.twitch = Twitch.build(self.settings, runtime.settings, runtime.db)
        PLATFORM_HEALTH.configured("twitch", self.settings.configured)
        if not self.settings.configured:
            log_event(logger, Category.SYSTEM, "twitch_idle", "not_configured")
            return
        sender = TwitchSender(
            runtime.backend,
            settings=self.settings,
            helix=self.twitch.helix,
            db=runtime.db,
            visibility_timeout=self.settings.redelivery_after,
        )
        self.spawn("sender", sender.run)
        transport = self.settings.transport
        if transport == "websocket":  # reconciles in the session's holder, see transports.py
            self.eventsub = WebSocketTransport(self.twitch, runtime)
            self.spawn("eventsub-websocket", self.eventsub.run)
        elif transport == "conduit":
            self.eventsub = ConduitTransport(self.twitch, runtime)
            self.spawn("eventsub-conduit", self.eventsub.run)
        if self.settings.reconcile_interval > 0 and transport != "websocket":
            self.spawn("reconcile", partial(self._reconcile_periodically, runtime))

    async def stop(self) -> None:
        await super().stop()
        if self.twitch is not None:
            await self.twitch.close()

    async def _reconcile_periodically(self, runtime: Runtime) -> None:
        """Repair subscriptions every interval; one process per interval does it (shared lock)."""
        interval = self.settings.reconcile_interval
        while True:
            await asyncio.sleep(interval)
            if not await runtime.backend.kv.set(
                RECONCILE_LOCK, "1", ttl=interval * 0.9, only_if_absent=True
            ):
                continue
            try:
                twitch = self.ready()
            except TwitchNotConfigured:
                continue
            await twitch.subscriptions.try_reconcile()

    def _webhook_api(self) -> APIRouter:
        api = APIRouter(tags=["twitch"])

        @api.post(WEBHOOK_PATH, status_code=204, summary="Twitch EventSub webhook")
        async def eventsub(request: Request) -> Response:
            return await handle_eventsub(self.ready(), get_runtime(request), request)

        return api

    def _oauth_api(self) -> APIRouter:
        api = APIRouter(prefix="/auth/twitch")

        @api.get("/login", summary="Authorise the bot's Twitch account")
        async def login(
            request: Request, _: Annotated[None, Depends(authorise_login)]
        ) -> RedirectResponse:
            async with twitch_errors():
                return RedirectResponse(login_url(self.ready()), status.HTTP_302_FOUND)

        @api.get(CALLBACK_PATH.removeprefix("/auth/twitch"), summary="OAuth redirect target")
        async def callback(
            code: str | None = None,
            state: str | None = None,
            error: str | None = None,
            error_description: str | None = None,
        ) -> dict[str, Any]:
            twitch = self.ready()
            if error:
                log_event(logger, Category.AUTH, "twitch_login", "declined", reason=error)
                raise HTTPException(400, f"Twitch: {error_description or error}")
            if not code or not state:
                raise HTTPException(400, "code and state are required")
            try:
                check_state(twitch, state)
            except InvalidState as invalid:
                log_event(logger, Category.AUTH, "twitch_login", "denied", reason=str(invalid))
                raise HTTPException(400, f"invalid state: {invalid}") from None
            try:
                token = await twitch.auth.exchange_code(code, twitch.redirect_uri)
            except WrongAccount as wrong:
                log_event(logger, Category.AUTH, "twitch_login", "denied", reason=str(wrong))
                raise HTTPException(status.HTTP_403_FORBIDDEN, str(wrong)) from None
            except TwitchAuthError as refused:
                raise HTTPException(400, f"Twitch refused the authorisation: {refused}") from None
            except HelixError as error:
                raise HTTPException(status.HTTP_502_BAD_GATEWAY, f"Twitch: {error}") from None
            log_event(logger, Category.AUDIT, "twitch_login", "ok", user=token.user_id)
            return {"status": "authorised", "user_id": token.user_id, "login": token.login}

        return api

    def _channels_api(self) -> APIRouter:
        api = APIRouter(prefix="/api/twitch/v1")

        @api.get("/channels", response_model=list[ChannelStatus])
        async def channels(_: Manager) -> list[ChannelStatus]:
            subscriptions = self.ready().subscriptions
            return [await subscriptions.status(login) for login in await subscriptions.logins()]

        @api.post("/channels", response_model=ChannelStatus, status_code=201)
        async def connect(body: ConnectRequest, who: Manager) -> ChannelStatus:
            async with twitch_errors():
                result = await self.ready().subscriptions.connect(
                    body.login, bot_is_moderator=body.bot_is_moderator
                )
            log_event(logger, Category.AUDIT, "twitch_channel", "connected", user=who.name)
            return result

        @api.get("/channels/{login}", response_model=ChannelStatus)
        async def channel(login: str, _: Manager) -> ChannelStatus:
            async with twitch_errors():
                return await self.ready().subscriptions.status(login)

        @api.delete("/channels/{login}")
        async def disconnect(login: str, who: Manager) -> dict[str, int]:
            async with twitch_errors():
                deleted = await self.ready().subscriptions.disconnect(login)
            log_event(logger, Category.AUDIT, "twitch_channel", "disconnected", user=who.name)
            return {"deleted": deleted}

        @api.post("/reconcile", response_model=ReconcileReport)
        async def reconcile(_: Manager) -> ReconcileReport:
            async with twitch_errors():
                return await self.ready().subscriptions.reconcile()

        return api


async def authorise_login(request: Request) -> None:
    """Choosing the bot account is an operator act: an admin key or a superuser's session
    (``waddlebot twitch login-url`` prints a signed link without any server)."""
    await require_scope(ADMIN_SCOPE)(request)
