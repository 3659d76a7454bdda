"""The Platforms page (installation administrators only: superusers' sessions).

Everything here calls the functions the operator CLI calls (``waddlebot twitch connect``,
``twitch disconnect``, ``twitch reconcile``, ``twitch login-url``, ``slack install-url``,
``discord sync-commands``),
with the same environment settings, so the page and the CLI cannot disagree. Statuses are
read from the collectors' own tables.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from fastapi import APIRouter, HTTPException, Request, Response, status
from sqlalchemy import func, select

from waddlebot.collectors.discord.commands import sync_commands
from waddlebot.collectors.discord.config import DiscordSettings
from waddlebot.collectors.slack.config import SlackSettings
from waddlebot.collectors.slack.models import SlackInstallation
from waddlebot.collectors.twitch.auth import TwitchNotConfigured
from waddlebot.collectors.twitch.components import Twitch
from waddlebot.collectors.twitch.models import TwitchChannel, TwitchSubscription, TwitchToken
from waddlebot.collectors.twitch.oauth import login_url
from waddlebot.collectors.twitch.settings import TwitchSettings
from waddlebot.collectors.twitch.subscriptions import ChannelNotFound
from waddlebot.portal.web import Viewer, Who, audit, one, read_form, render, runtime_of

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class TwitchRow:
    login: str
    display_name: str
    moderator: bool
    statuses: dict[str, int]


def _require_admin(viewer: Viewer) -> None:
    if viewer.principal.community_bound:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, "Only installation administrators may open this page."
        )


async def _state(request: Request) -> dict[str, Any]:
    runtime = runtime_of(request)
    twitch_settings, slack_settings = TwitchSettings(), SlackSettings()
    async with runtime.db.read_session() as session:
        token = (await session.execute(select(TwitchToken.login, TwitchToken.expires_at))).first()
        counts: dict[str, dict[str, int]] = {}
        for broadcaster, sub_status, count in (
            await session.execute(
                select(
                    TwitchSubscription.broadcaster_id, TwitchSubscription.status, func.count()
                ).group_by(TwitchSubscription.broadcaster_id, TwitchSubscription.status)
            )
        ).all():
            counts.setdefault(broadcaster, {})[sub_status] = int(count)
        channels = [
            TwitchRow(c.login, c.display_name, c.bot_is_moderator, counts.get(c.broadcaster_id, {}))
            for c in (
                await session.scalars(select(TwitchChannel).order_by(TwitchChannel.login))
            ).all()
        ]
        workspaces = [
            (row.team_id, row.team_name, row.installed_at)
            for row in (await session.scalars(select(SlackInstallation))).all()
        ]
    bot: tuple[str, datetime] | None = (token[0], token[1]) if token else None
    return {
        "twitch_configured": bool(twitch_settings.client_id),
        "twitch_bot": bot,
        "twitch_channels": channels,
        "slack_configured": bool(slack_settings.client_id),
        "slack_install": runtime.settings.public_url.rstrip("/") + "/auth/slack/install",
        "slack_workspaces": workspaces,
        "discord_configured": bool(DiscordSettings().application_id),
    }


async def _page(
    request: Request,
    *,
    result: str | None = None,
    failed: bool = False,
    code: int = 200,
    twitch_login_url: str | None = None,
) -> Response:
    context = await _state(request)
    context.update({"result": result, "failed": failed, "twitch_login_url": twitch_login_url})
    return render(request, "platforms.html", context, status_code=code)


async def _with_twitch(request: Request, work: Callable[[Twitch], Awaitable[T]]) -> T:
    """Build the Twitch components as ``waddlebot twitch`` does, run ``work``, close them."""
    runtime = runtime_of(request)
    twitch = Twitch.build(TwitchSettings(), runtime.settings, runtime.db)
    try:
        return await work(twitch)
    finally:
        await twitch.close()


def add_platform_pages(api: APIRouter) -> None:
    @api.get("/platforms")
    async def platforms(request: Request, viewer: Who) -> Response:
        _require_admin(viewer)
        return await _page(request)

    @api.post("/platforms/twitch/login")
    async def twitch_login(request: Request, viewer: Who) -> Response:
        """A fresh Twitch authorisation link for the bot account, shown to follow: the CSP's
        ``form-action 'self'`` makes browsers refuse a form POST redirected to another site."""
        _require_admin(viewer)
        await read_form(request)
        if not TwitchSettings().client_id:
            return await _page(request, result="Twitch is not configured.", failed=True, code=409)
        url = await _with_twitch(request, _login_url)
        return await _page(request, twitch_login_url=url)

    @api.post("/platforms/{action}")
    async def act(action: str, request: Request, viewer: Who) -> Response:
        _require_admin(viewer)
        fields = await read_form(request)
        try:
            if action == "twitch-connect":
                login = one(fields, "login", 25).strip().lower()
                if not login:
                    return await _page(
                        request, result="Give the channel's Twitch login.", failed=True, code=422
                    )
                moderator = one(fields, "moderator") == "on"
                channel = await _with_twitch(
                    request, lambda t: t.subscriptions.connect(login, bot_is_moderator=moderator)
                )
                message = f"Connected {login}: {channel.model_dump_json()}"
            elif action == "twitch-disconnect":
                login = one(fields, "login", 25).strip().lower()
                deleted = await _with_twitch(request, lambda t: t.subscriptions.disconnect(login))
                message = f"Disconnected {login}: {deleted} EventSub subscriptions deleted."
            elif action == "twitch-reconcile":
                report = await _with_twitch(request, lambda t: t.subscriptions.reconcile())
                message = f"Reconciled: {report.model_dump_json()}"
            elif action == "discord-sync":
                guild = one(fields, "guild", 30).strip() or None
                runtime = runtime_of(request)
                sent = await sync_commands(runtime.db, runtime.backend.kv, DiscordSettings(), guild)
                where = f"in guild {guild}" if guild else "globally"
                message = f"Registered {len(sent)} slash commands {where}."
            else:
                raise HTTPException(status.HTTP_404_NOT_FOUND, "No such platform action.")
        except HTTPException:
            raise
        except Exception as error:  # the platform's or configuration's refusal, shown as is
            audit(request, action.replace("-", "_"), "failed", error=str(error)[:200])
            unset = isinstance(error, ValueError | TwitchNotConfigured | ChannelNotFound)
            return await _page(
                request,
                result=f"{action} failed: {error or type(error).__name__}",
                failed=True,
                code=409 if unset else 502,
            )
        audit(request, action.replace("-", "_"))
        return await _page(request, result=message)


async def _login_url(twitch: Twitch) -> str:
    return login_url(twitch)
