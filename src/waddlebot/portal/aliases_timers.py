"""Aliases and timers on the Commands page: create/remove aliases; create timers, switch
them on/off, remove them.

The managers' acting-user entry points (``define_by``, ``remove_by``, ``add_by``,
``switch_off_by``, ``switch_on_by``) are used, not a faked chat caller; the page guard
checked ``commands.manage``. Creating a timer or switching it on again schedules the first
slot of its chain in the kernel ``JobStore`` exactly as ``!timer add``/``!timer on`` do (the
timers module's ``fire`` handler, in the timer's channel). A ``!command`` timer runs as the
portal user's linked account on that channel's platform (``TimerManager.add_by`` refuses
without one).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response, status
from sqlalchemy import select

from waddlebot.aliases.manager import AliasManager
from waddlebot.kernel.scheduler.spec import JobOrigin, JobSpec
from waddlebot.kernel.storage import Database
from waddlebot.kernel.storage.models import Entity
from waddlebot.modules.timers.commands import FIRE, GRACE
from waddlebot.portal.web import Who, audit, enter_community, one, read_form, runtime_of
from waddlebot.sdk.aliases import AliasError
from waddlebot.sdk.scheduling import SchedulerOperations
from waddlebot.sdk.timers import (
    TimerDraft,
    TimerError,
    TimerInfo,
    format_duration,
    parse_duration,
)
from waddlebot.sdk.web import scheduler
from waddlebot.timers.manager import TimerManager

TIMERS_MODULE = "timers"
CommandsPage = Callable[..., Awaitable[Response]]
Done = Callable[[Request, str, str, str], Response]


def timer_manager(request: Request) -> TimerManager:
    runtime = runtime_of(request)
    return TimerManager(
        runtime.db,
        runtime.backend,
        min_interval=runtime.settings.timer_min_interval,
        queue_max=runtime.settings.router_queue_max,
    )


def empty_timer_form() -> dict[str, Any]:
    return {"name": "", "channel": "", "interval": "10m", "lines": "0", "content": ""}


def timer_form(info: TimerInfo) -> dict[str, Any]:
    """A timer as the form shows it for editing."""
    return {
        "name": info.name,
        "channel": info.entity_id,
        "interval": format_duration(info.interval),
        "lines": str(info.lines),
        "online_only": info.online_only,
        "content": info.content,
        "editing": True,
    }


async def channels(db: Database, community_id: str) -> list[tuple[str, str]]:
    """The community's channels for the timer form: (entity id, "platform · name")."""
    async with db.read_session() as session:
        rows = await session.scalars(
            select(Entity).where(Entity.community_id == community_id).order_by(Entity.name)
        )
        return [(e.id, f"{e.platform} · {e.name or e.channel_id}") for e in rows]


def _typed(fields: dict[str, list[str]]) -> dict[str, Any]:
    """The timer form as typed (shown again when refused)."""
    return {
        "name": one(fields, "timer_name", 60).strip(),
        "channel": one(fields, "timer_channel", 40).strip(),
        "interval": one(fields, "timer_interval", 20).strip(),
        "lines": one(fields, "timer_lines", 10).strip() or "0",
        "online_only": bool(one(fields, "timer_online_only", 10)),
        "content": one(fields, "timer_content", 600),
        "editing": bool(one(fields, "timer_editing", 10)),
    }


def _draft(form: dict[str, Any]) -> TimerDraft:
    """The draft the form describes; TimerError on a field not even of the right shape (the
    manager checks the rest)."""
    interval = parse_duration(form["interval"])
    if interval is None:
        raise TimerError(
            f"{form['interval'] or 'Nothing'} is not an interval; try 90s, 5m or 1h.",
            field="interval",
        )
    if not form["lines"].isdigit():
        raise TimerError("Chat lines is a whole number (0: no minimum).", field="lines")
    return TimerDraft(
        name=form["name"],
        interval=interval,
        lines=int(form["lines"]),
        online_only=form["online_only"],
        content=form["content"],
        entity_id=form["channel"],
    )


def alias_manager(request: Request) -> AliasManager:
    runtime = runtime_of(request)
    return AliasManager(runtime.db, runtime.backend.kv, runtime.backend.pubsub)


async def start_chain(
    jobs: SchedulerOperations,
    manager: TimerManager,
    community_id: str,
    info: TimerInfo,
    entity: Entity,
) -> None:
    """Slot 1 of a switched-on timer, counting lines from now: the same job ``!timer on``
    schedules (``modules/timers/commands.py`` ``_start``/``_chain``)."""
    job_id = await jobs.schedule(
        JobSpec(
            module=TIMERS_MODULE,
            community_id=community_id,
            handler=FIRE,
            due_at=jobs.now() + timedelta(seconds=info.interval),
            payload={
                "timer": info.id,
                "generation": info.generation,
                "slot": 1,
                "lines": await manager.chat_lines(entity.id),
            },
            origin=JobOrigin(
                platform=entity.platform,
                server_id=entity.server_id,
                channel_id=entity.channel_id,
                entity_id=entity.id,
                channel_name=entity.name,
            ),
            grace=GRACE,
            key=f"timer:{info.id}:{info.generation}:1",
        )
    )
    await manager.attach(community_id, info.id, job_id)


def add_alias_timer_routes(api: APIRouter, page: CommandsPage, done: Done) -> None:
    """``page(request, community_id, errors=..., alias_form=..., status_code=...)`` renders
    the Commands page; ``done`` redirects back with a notice."""

    @api.post("/c/{community_id}/commands/aliases")
    async def save_alias(community_id: str, request: Request, viewer: Who) -> Response:
        await enter_community(request, viewer, community_id, "commands.manage")
        fields = await read_form(request)
        form: dict[str, Any] = {
            "name": one(fields, "alias_name", 100).strip(),
            "target": one(fields, "alias_target", 600).strip(),
        }
        try:
            info, _created = await alias_manager(request).define_by(
                community_id, viewer.user_id, form["name"], form["target"]
            )
        except AliasError as refused:
            field = "alias_name" if "name" in refused.message.lower() else "alias_target"
            return await page(
                request,
                community_id,
                errors={field: refused.message},
                alias_form=form,
                status_code=422,
            )
        audit(request, "alias_saved", community=community_id, name=info.name)
        return done(request, f"/c/{community_id}/commands", "alias-saved", info.name)

    @api.post("/c/{community_id}/commands/aliases/{name}/delete")
    async def remove_alias(community_id: str, name: str, request: Request, viewer: Who) -> Response:
        await enter_community(request, viewer, community_id, "commands.manage")
        await read_form(request)
        try:
            info = await alias_manager(request).remove_by(community_id, viewer.user_id, name)
        except AliasError as refused:
            return await page(
                request, community_id, errors={"alias_name": refused.message}, status_code=404
            )
        audit(request, "alias_removed", community=community_id, name=info.name)
        return done(request, f"/c/{community_id}/commands", "alias-removed", info.name)

    @api.get("/c/{community_id}/commands/timers/{name}")
    async def edit_timer(community_id: str, name: str, request: Request, viewer: Who) -> Response:
        await enter_community(request, viewer, community_id, "commands.manage")
        found = [t for t in await timer_manager(request).timers(community_id) if t.name == name]
        if not found:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"There is no timer {name} here.")
        return await page(request, community_id, timer_form=timer_form(found[0]))

    @api.post("/c/{community_id}/commands/timers")
    async def save_timer(community_id: str, request: Request, viewer: Who) -> Response:
        """Create a timer, or (``timer_editing``) change one; its chain starts afresh."""
        await enter_community(request, viewer, community_id, "commands.manage")
        fields = await read_form(request)
        manager = timer_manager(request)
        form = _typed(fields)
        before: TimerInfo | None = None
        try:
            if form["editing"]:
                before, info, entity = await manager.update_by(
                    community_id, viewer.user_id, _draft(form)
                )
            else:
                info, entity = await manager.add_by(community_id, viewer.user_id, _draft(form))
        except TimerError as refused:
            return await page(
                request,
                community_id,
                errors={f"timer_{refused.field}" if refused.field else "timer": refused.message},
                timer_form=form,
                status_code=422,
            )
        jobs = scheduler(request)
        if before is not None and before.job_id:  # the old chain's next slot
            await jobs.cancel(TIMERS_MODULE, community_id, before.job_id)
        if info.enabled:
            await start_chain(jobs, manager, community_id, info, entity)
        action = "timer_edited" if before else "timer_added"
        audit(request, action, community=community_id, name=info.name)
        notice = "timer-edited" if before else "timer-added"
        return done(request, f"/c/{community_id}/commands", notice, info.name)

    @api.post("/c/{community_id}/commands/timers/{name}/{action}")
    async def change_timer(
        community_id: str, name: str, action: str, request: Request, viewer: Who
    ) -> Response:
        await enter_community(request, viewer, community_id, "commands.manage")
        await read_form(request)
        manager = timer_manager(request)
        try:
            if action == "delete":
                info = await manager.remove_by(community_id, viewer.user_id, name)
            elif action == "off":
                info = await manager.switch_off_by(community_id, viewer.user_id, name)
            elif action == "on":
                info, entity = await manager.switch_on_by(community_id, viewer.user_id, name)
                await start_chain(scheduler(request), manager, community_id, info, entity)
            else:
                raise HTTPException(status.HTTP_404_NOT_FOUND, "No such timer action.")
        except TimerError as refused:
            return await page(
                request, community_id, errors={"timer": refused.message}, status_code=409
            )
        if action != "on" and info.job_id:  # the next slot would stop by itself; cancel it
            await scheduler(request).cancel(TIMERS_MODULE, community_id, info.job_id)
        audit(request, f"timer_{action}", community=community_id, name=info.name)
        notice = {"delete": "timer-removed", "off": "timer-off", "on": "timer-on"}[action]
        return done(request, f"/c/{community_id}/commands", notice, info.name)
