"""``waddlebot admin grant-role``: give someone a community role from the machine itself
(bootstrapping a community's first owner, or recovering one), as an installation-wide
operator: the rank rules do not apply, the last owner still stays."""

from __future__ import annotations

from waddlebot.communities.manager import Acting, CommunityManager, MemberView
from waddlebot.identity.lookup import find_account
from waddlebot.kernel.backends import open_backend
from waddlebot.kernel.settings import Settings
from waddlebot.kernel.storage import Database
from waddlebot.kernel.storage.lookup import find_community


class UnknownUser(LookupError):
    """No user matches the ``--user`` given."""


async def resolve_user(db: Database, user: str) -> str:
    """A user id as given, or the user behind ``platform:username``."""
    platform, sep, username = user.partition(":")
    if not sep:
        return user
    found = await find_account(db, platform.lower(), username, by_id=False)
    if found is None:
        raise UnknownUser(f"no account {username!r} on {platform!r} (they must chat once first)")
    return found.user_id


async def grant_role(settings: Settings, community: str, user: str, role: str) -> MemberView:
    """Set ``user``'s role in the community (its id or unique name); raises Refusal /
    UnknownUser."""
    db = Database(settings.resolved_database_url)
    backend = await open_backend(settings.redis_url, namespace=settings.redis_namespace)
    try:
        await db.migrate()
        manager = CommunityManager(db, backend.kv, backend.pubsub)
        community_id = await find_community(db, community)
        user_id = await resolve_user(db, user)
        operator = Acting(who="cli", installation_wide=True, via="cli")
        return await manager.set_role(community_id, user_id, role, operator)
    finally:
        await backend.close()
        await db.close()
