"""REST for reminders, mounted at ``/api/memories/v1``:

* ``GET /communities/{id}/reminders[?user=USER_ID]``: pending reminders, soonest first
  (members of the community; ``user`` keeps those set by or for that person). The text of a
  ``--private`` reminder is shown only to its setter, its target and holders of
  ``memories.manage``; others get ``text: null``.
* ``DELETE /communities/{id}/reminders/{number}``: cancel one (204). Your own with
  ``communities:write``; anyone's with ``memories.manage`` as well.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import Depends, HTTPException, Path, Query, Request, Response
from pydantic import BaseModel, Field

from waddlebot.kernel.security.http import require_member
from waddlebot.modules.memories.module import module
from waddlebot.modules.memories.reminders_manager import ReminderBook, ReminderInfo
from waddlebot.sdk.web import (
    WRITE_SCOPE,
    Principal,
    authorize,
    database,
    reader_or,
    scheduler,
)

MANAGE = "memories.manage"
Reading = Annotated[Principal, reader_or(MANAGE)]
"""Members of the community, and holders of ``memories.manage`` (e.g. through a label)."""
Member = Annotated[Principal, Depends(require_member(WRITE_SCOPE, or_permission=MANAGE))]
"""``communities:write`` and a role in the community (or ``memories.manage``)."""

api = module.api()


class ChannelOut(BaseModel):
    """Where the reminder was set and will be said."""

    platform: str
    server_id: str
    channel_id: str
    channel_name: str | None


class ReminderOut(BaseModel):
    """One reminder as the API shows it."""

    number: int = Field(description="the reminder's number in its community (!reminders cancel N)")
    status: str = Field(description="pending, delivered or cancelled")
    set_by: str = Field(description="user id of who set it")
    set_by_name: str
    target_user_id: str
    target_platform: str
    target_platform_user_id: str
    target_name: str
    channel: ChannelOut
    due_at: datetime = Field(description="when it is due, UTC")
    time_zone: str = Field(description="the community's zone when it was set")
    due_local: datetime = Field(description="due_at in time_zone")
    text: str | None = Field(description="null: a private reminder you may not read")
    private: bool
    created_at: datetime


def _out(info: ReminderInfo, readable: bool) -> ReminderOut:
    return ReminderOut(
        number=info.number,
        status=info.status,
        set_by=info.set_by,
        set_by_name=info.set_by_name,
        target_user_id=info.target.user_id,
        target_platform=info.target.platform,
        target_platform_user_id=info.target.platform_user_id,
        target_name=info.target.name,
        channel=ChannelOut(
            platform=info.origin.platform,
            server_id=info.origin.server_id,
            channel_id=info.origin.channel_id,
            channel_name=info.origin.channel_name,
        ),
        due_at=info.due_at,
        time_zone=info.time_zone,
        due_local=info.due_at.astimezone(ZoneInfo(info.time_zone)),
        text=info.text if readable or not info.private else None,
        private=info.private,
        created_at=info.created_at,
    )


async def _manages(request: Request, principal: Principal, community_id: str) -> bool:
    """True when ``principal`` holds ``memories.manage`` in the community."""
    try:
        await authorize(request, principal, community_id, MANAGE)
    except HTTPException:
        return False
    return True


@api.get("/communities/{community_id}/reminders", response_model=list[ReminderOut])
async def list_reminders(
    community_id: str,
    request: Request,
    principal: Reading,
    user: Annotated[
        str | None, Query(max_length=32, description="only reminders set by or for this user id")
    ] = None,
) -> list[ReminderOut]:
    found = await ReminderBook(database(request)).pending(community_id, involving=user)
    hidden = [
        r for r in found if r.private and principal.user_id not in (r.set_by, r.target.user_id)
    ]
    manages = bool(hidden) and await _manages(request, principal, community_id)
    return [_out(r, manages or r not in hidden) for r in found]


@api.delete("/communities/{community_id}/reminders/{number}", status_code=204)
async def cancel_reminder(
    community_id: str,
    number: Annotated[int, Path(ge=1, le=2**31 - 1)],
    request: Request,
    principal: Member,
) -> Response:
    book = ReminderBook(database(request))
    info = await book.get(community_id, number)
    if info.set_by != principal.user_id:
        await authorize(request, principal, community_id, MANAGE)  # 403 otherwise
    cancelled = await book.cancel(community_id, number, principal.user_id, may_manage=True)
    if cancelled.job_id:
        await scheduler(request).cancel(module.name, community_id, cancelled.job_id)
    return Response(status_code=204)
