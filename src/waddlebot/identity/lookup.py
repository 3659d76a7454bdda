"""Finding people by what chat gives us: a platform account id, or a name someone typed.

Shared by everything that acts on "@name" in chat (linking, roles, labels), so a name
resolves the same way everywhere.
"""

from __future__ import annotations

import re

from sqlalchemy import func, or_, select

from waddlebot.kernel.storage import Database
from waddlebot.kernel.storage.models import PlatformIdentity

# A user mention as Slack (``<@U024BE7LH>``, ``<@U024BE7LH|bob>``) and Discord
# (``<@80351110224678912>``, legacy ``<@!80351110224678912>``) put it in message text.
MENTION = re.compile(r"<@!?([A-Za-z0-9]+)(?:\|[^>]*)?>")


def mentioned_id(name: str) -> str | None:
    """The platform account id in a Slack/Discord user mention, or None for a plain name."""
    found = MENTION.fullmatch(name.strip())
    return found[1] if found else None


async def user_of_account(db: Database, platform: str, platform_user_id: str) -> str | None:
    """The WaddleBot user owning the platform account, or None."""
    async with db.read_session() as session:
        found: str | None = await session.scalar(
            select(PlatformIdentity.user_id).where(
                PlatformIdentity.platform == platform,
                PlatformIdentity.platform_user_id == platform_user_id,
            )
        )
    return found


async def find_account(
    db: Database, platform: str, name: str, *, by_id: bool = True
) -> PlatformIdentity | None:
    """The account called ``name`` (``@`` and case ignored) on ``platform``.

    Stored names follow renames, so the newest account of a name is the one that wears it now.
    With ``by_id``, ``name`` may also be the platform's account id. A Slack or Discord
    mention (``<@U123>``, ``<@123>``), which is what their clients put in the text when
    someone picks a person, always means that account id.
    """
    mentioned = mentioned_id(name)
    if mentioned is not None:
        async with db.read_session() as session:
            return await session.scalar(
                select(PlatformIdentity).where(
                    PlatformIdentity.platform == platform,
                    PlatformIdentity.platform_user_id == mentioned,
                )
            )
    wanted = name.strip().lstrip("@")
    if not wanted:
        return None
    same_name = func.lower(PlatformIdentity.username) == wanted.lower()
    match = or_(same_name, PlatformIdentity.platform_user_id == wanted) if by_id else same_name
    async with db.read_session() as session:
        return await session.scalar(
            select(PlatformIdentity)
            .where(PlatformIdentity.platform == platform, match)
            .order_by(same_name.desc(), PlatformIdentity.created_at.desc())
            .limit(1)
        )
