"""What an operator types for a row: its id, or a name where that name is unique.

One resolution for every command that takes "an id or a name" (``overlays urls``, ``admin
create-api-key --user``, ``admin grant-role --community``), so they accept and refuse alike.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, func, or_, select

from waddlebot.kernel.errors import Conflict, NotFound
from waddlebot.kernel.storage.database import Database
from waddlebot.kernel.storage.models import Community, User

SHOWN = 10  # ambiguous names list at most this many ids


async def find_id(
    db: Database, model: Any, reference: str, *, named: ColumnElement[bool], what: str
) -> str:
    """The id of the ``model`` row whose id is ``reference``, else of the one row ``named``
    selects; NotFound when none, Conflict (listing ids) when the name is not unique."""
    async with db.read_session() as session:
        found = await session.scalar(select(model.id).where(model.id == reference))
        if found is not None:
            return str(found)
        ids = [
            str(row) for row in await session.scalars(select(model.id).where(named).limit(SHOWN))
        ]
    if len(ids) == 1:
        return ids[0]
    if ids:
        raise Conflict(f"more than one {what} is called {reference!r}; use an id: {', '.join(ids)}")
    raise NotFound(f"no {what} with id or name {reference!r}")


async def find_community(db: Database, reference: str) -> str:
    """A community's id from its id or its name (case ignored) where that name is unique."""
    wanted = reference.strip().lower()
    return await find_id(
        db, Community, reference, named=func.lower(Community.name) == wanted, what="community"
    )


async def find_user(db: Database, reference: str) -> str:
    """A user's id from its id, e-mail address, or display name (case ignored) where unique;
    service accounts are found by their name too."""
    wanted = reference.strip().lower()
    named = or_(func.lower(User.email) == wanted, func.lower(User.display_name) == wanted)
    return await find_id(db, User, reference, named=named, what="user")


async def community_timezone(db: Database, community_id: str, default: str) -> str:
    """The community's time zone name, else ``default`` (the installation's); NotFound when
    there is no such community."""
    async with db.read_session() as session:
        community = await session.get(Community, community_id)
    if community is None:
        raise NotFound(f"no community {community_id!r}")
    return community.timezone or default
