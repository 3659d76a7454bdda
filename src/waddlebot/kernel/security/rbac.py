"""Who may do what in a community: one decision function for chat commands and REST alike.

A member's permissions in a community come from three places:

- their community role (owner › admin › moderator › member), granted in WaddleBot, or derived
  from the platform (a Twitch broadcaster acts as owner of their channel's community, a
  platform moderator as moderator);
- the permissions the community grants each role — the defaults below, overridable per
  community — where a role also holds everything granted to the roles beneath it;
- labels applied to the user that grant permissions (e.g. ``calendar.autoapprove``).

Owners hold every permission, so a community can never lock itself out. Answers are cached in
the shared key-value store under a per-community *access version*; anything that changes
memberships, role grants or labels calls :func:`access_changed`, which bumps the version so
every process sees the change on its next decision. Every decision is logged (AUTHZ): at INFO
and in the audit store, except a chat command allowed to run (DEBUG only; its execution row
records it).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError

from waddlebot.kernel.backends import KeyValue
from waddlebot.kernel.contracts import Role
from waddlebot.kernel.observability.logging import Category, get_logger, log_event
from waddlebot.kernel.storage import Database
from waddlebot.kernel.storage.models import (
    CommunityRoleGrant,
    Label,
    LabelAssignment,
    Membership,
    as_utc,
)

logger = get_logger(__name__)
MAX_DECODED = 4096  # distinct (grants, member record, platform role) kept decoded; then anew
_DECISIONS = logging.getLogger(__name__)  # its level decides whether a routine line is made

PERMISSIONS: dict[str, str] = {
    "commands.manage": "enable, disable and tune commands; reload the command table",
    "modules.install": "install, configure and remove marketplace modules",
    "labels.manage": "create labels and apply them to members, channels, modules and items",
    "members.manage": "grant and revoke community roles below your own",
    "roles.manage": "change which permissions each community role holds",
    "overlays.manage": "create, rotate and revoke OBS overlay URLs",
    "calendar.approve": "approve or reject calendar events",
    "calendar.autoapprove": "calendar events you create need no approval",
    "memories.manage": "edit and remove quotes; add and remove saved URLs",
    "inventory.manage": "manage the item catalogue; give items to and take items from members",
    "spotify.connect": "connect and disconnect the community's Spotify account (song requests)",
    "shoutouts.manage": "change the shoutout template and raid shoutouts",
    "music.manage": "reorder, remove and clear song requests; change song-request settings",
    "ai.manage": "set the AI chat provider, key, personality, budgets and MCP tools",
}

# Highest first. The index orders them; "owner" outranks everything.
COMMUNITY_ROLES: tuple[str, ...] = ("owner", "admin", "moderator", "member")
ROLE_RANK: dict[str, int] = {
    role: len(COMMUNITY_ROLES) - i for i, role in enumerate(COMMUNITY_ROLES)
}

# What each role is granted by default (on top of what the roles beneath it hold).
DEFAULT_GRANTS: dict[str, frozenset[str]] = {
    "owner": frozenset(PERMISSIONS),
    "admin": frozenset(
        {
            "commands.manage",
            "modules.install",
            "labels.manage",
            "members.manage",
            "overlays.manage",
            "inventory.manage",
            "spotify.connect",
            "ai.manage",
        }
    ),
    "moderator": frozenset(
        {"calendar.approve", "memories.manage", "shoutouts.manage", "music.manage"}
    ),
    "member": frozenset(),
}

# Community roles on the platform ladder (for commands with a minimum platform role).
COMMUNITY_ROLE_LADDER: dict[str, Role] = {
    "owner": Role.broadcaster,
    "admin": Role.broadcaster,
    "moderator": Role.moderator,
    "member": Role.everyone,
}

# Platform ladder → the community role it confers while chatting.
PLATFORM_COMMUNITY_ROLE: dict[Role, str] = {
    Role.broadcaster: "owner",
    Role.moderator: "moderator",
}

# Every change to memberships, role grants or labels bumps the community's access version,
# which is part of each cached entry's key. A cache in a process's own memory cannot see
# another process's bump: embedded (SQLite), the changing process also touches the database's
# access stamp (kernel/storage/stamps.py), whose generation is part of the key too, so a
# change made from the command line reaches `waddlebot up` within about a second. The TTL
# only bounds how long an entry outlives a change nobody could announce: several processes on
# one PostgreSQL database without Redis, so short there. A member's entry also ends when their
# first label expires.
ACCESS_TTL = 60.0  # a process's own memory, no stamp to learn of other processes' changes
SHARED_ACCESS_TTL = 3600.0  # a store every process shares (Redis), or own memory + a stamp


class UnknownPermission(ValueError):
    """A permission name outside :data:`PERMISSIONS`."""


def validate_permissions(names: list[str]) -> list[str]:
    """Sorted, de-duplicated permission names; raises :class:`UnknownPermission` otherwise."""
    unknown = sorted(set(names) - PERMISSIONS.keys())
    if unknown:
        raise UnknownPermission(
            f"unknown permission(s): {', '.join(unknown)}; known: {', '.join(sorted(PERMISSIONS))}"
        )
    return sorted(set(names))


def validate_role(name: str) -> str:
    """A community role name, lowercased; ValueError for anything else."""
    role = name.strip().lower()
    if role not in ROLE_RANK:
        raise ValueError(f"unknown role {name!r}; choose from {', '.join(COMMUNITY_ROLES)}")
    return role


def higher_role(a: str | None, b: str | None) -> str | None:
    """The higher-ranked of two community roles (None ranks lowest)."""
    if a is None:
        return b
    if b is None:
        return a
    return a if ROLE_RANK[a] >= ROLE_RANK[b] else b


def access_version_key(community_id: str) -> str:
    return f"access-version:{community_id}"


async def access_changed(kv: KeyValue, community_id: str, *, db: Database | None = None) -> None:
    """Call after changing memberships, role grants or labels of a community. With ``db``,
    other processes caching in their own memory hear of it too (its access stamp)."""
    await kv.incr(access_version_key(community_id))
    if db is not None and not kv.shared and db.access_stamp is not None:
        db.access_stamp.touch()


@dataclass(frozen=True, slots=True)
class Access:
    """What one user is in one community."""

    membership_role: str | None  # the role granted in WaddleBot (None: not a member)
    community_role: str | None  # that or the platform-derived role, whichever is higher
    ladder: Role  # on the platform ladder, for ``min_role`` checks
    permissions: frozenset[str]
    labels: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is asking: a WaddleBot user (chat or REST), or an installation-wide principal."""

    user_id: str | None
    platform_role: Role = Role.everyone  # what the platform says (chat); everyone over REST
    superuser: bool = False  # superusers, admin keys and our own services
    via: str = "chat"  # chat | rest


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reason: str
    access: Access | None = None
    missing: list[str] = field(default_factory=list)


async def claim_first_owner(db: Database, kv: KeyValue, community_id: str, user_id: str) -> bool:
    """Make ``user_id`` the owner of a community that has none; True when they became it.

    Called when the platform vouches for a broadcaster. Remembered in the cache so a community
    with an owner costs one cache read, not a query, per broadcaster command.
    """
    flag = f"community-owned:{community_id}"
    if await kv.get(flag) is not None:
        return False
    try:
        async with db.session() as session:
            owner = await session.scalar(
                select(Membership.id).where(
                    Membership.community_id == community_id, Membership.role == "owner"
                )
            )
            if owner is None:
                session.add(Membership(community_id=community_id, user_id=user_id, role="owner"))
    except IntegrityError:
        return False  # the same user, claiming concurrently from another worker
    await kv.set(flag, "1", ttl=3600)
    if owner is not None:
        return False
    await access_changed(kv, community_id, db=db)
    log_event(logger, Category.AUDIT, "owner_claimed", "ok", community=community_id, user=user_id)
    return True


class Authorizer:
    """The one place community permissions are decided."""

    def __init__(self, db: Database, kv: KeyValue) -> None:
        self.db = db
        self.kv = kv
        # Other processes' changes, when the cache is this process's own memory.
        self._stamp = db.access_stamp if not kv.shared else None
        # Access decoded from cached records, keyed by those records' bytes (so never stale):
        # most members of a community share their role, labels and grants.
        self._decoded: dict[tuple[bytes, bytes | None, Role], Access] = {}

    async def access(
        self,
        community_id: str,
        user_id: str | None,
        platform_role: Role = Role.everyone,
        known: Mapping[str, bytes | None] | None = None,
    ) -> Access:
        """Roles, permissions and labels of ``user_id`` in the community.

        Two cache round trips when warm: the community's access version, then the role grants
        and the member's record together; one when the caller read the version already
        (``known``, by :func:`access_version_key`).
        """
        version_key = access_version_key(community_id)
        if known is not None and version_key in known:
            version = known[version_key]
        else:
            version = await self.kv.get(version_key)
        stamp = version.decode() if version else "0"
        if self._stamp is not None:
            stamp = f"{stamp}.{self._stamp.generation()}"
        grants_key = f"access-grants:{community_id}:{stamp}"
        member_key = f"access-member:{community_id}:{stamp}:{user_id}"
        cached_grants, cached_member = await self.kv.get_many(grants_key, member_key)
        memo = None
        if cached_grants is not None and (user_id is None or cached_member is not None):
            memo = (cached_grants, cached_member, platform_role)
            decoded = self._decoded.get(memo)
            if decoded is not None:
                return decoded
        grants: dict[str, list[str]] = (
            json.loads(cached_grants)
            if cached_grants is not None
            else await self._grants(community_id, grants_key)
        )
        membership_role: str | None = None
        label_names: list[str] = []
        label_permissions: list[str] = []
        if user_id is not None:
            member: dict[str, Any] = (
                json.loads(cached_member)
                if cached_member is not None
                else await self._member(community_id, user_id, member_key)
            )
            membership_role = member["role"]
            label_names = member["labels"]
            label_permissions = member["permissions"]
        community_role = higher_role(
            membership_role, PLATFORM_COMMUNITY_ROLE.get(_ladder_floor(platform_role))
        )
        ladder = max(
            platform_role,
            COMMUNITY_ROLE_LADDER.get(community_role or "", Role.everyone),
        )
        access = Access(
            membership_role=membership_role,
            community_role=community_role,
            ladder=ladder,
            permissions=frozenset(role_permissions(community_role, grants))
            | frozenset(label_permissions),
            labels=tuple(label_names),
        )
        if memo is not None:
            if len(self._decoded) >= MAX_DECODED:
                self._decoded.clear()
            self._decoded[memo] = access
        return access

    async def check(
        self,
        actor: Actor,
        community_id: str,
        action: str,
        *,
        permission: str | None = None,
        min_role: Role = Role.everyone,
        member: bool = False,
        known: Mapping[str, bytes | None] | None = None,
    ) -> Decision:
        """Decide whether ``actor`` may do ``action`` in the community, and log it (AUTHZ).

        ``member``: the actor must have some role in the community — or, when ``permission``
        is given too, hold that permission (e.g. through a label) instead.
        """
        if actor.superuser:
            decision = Decision(True, "superuser")
        else:
            access = await self.access(community_id, actor.user_id, actor.platform_role, known)
            holds = permission is not None and (
                permission in access.permissions or access.community_role == "owner"
            )
            if access.ladder < min_role:
                decision = Decision(False, f"needs {min_role.name}", access)
            elif member:
                if access.community_role is not None or holds:
                    decision = Decision(True, "member" if not holds else "granted", access)
                else:
                    decision = Decision(False, "not a member", access)
            elif (
                permission is not None
                and permission not in access.permissions
                and access.community_role != "owner"  # owners hold every permission
            ):
                decision = Decision(False, f"needs {permission}", access, [permission])
            else:
                decision = Decision(True, "granted", access)
        # A chat command that is allowed runs next, and its execution row (the command log)
        # records who ran what: its decision is a DEBUG line, kept out of the audit store.
        # Refusals, and every decision over REST or the portal, are INFO lines and audited.
        routine = decision.allowed and actor.via == "chat"
        if routine and not _DECISIONS.isEnabledFor(logging.DEBUG):
            return decision
        log_event(
            logger,
            Category.AUTHZ,
            action,
            "allowed" if decision.allowed else "denied",
            community=community_id,
            user=actor.user_id,
            level="debug" if routine else "info",
            audited=not routine,
            via=actor.via,
            permission=permission,
            min_role=min_role.name if min_role > Role.everyone else None,
            reason=decision.reason,
        )
        return decision

    async def _grants(self, community_id: str, key: str) -> dict[str, list[str]]:
        async with self.db.read_session() as session:
            rows = (
                await session.scalars(
                    select(CommunityRoleGrant).where(
                        CommunityRoleGrant.community_id == community_id
                    )
                )
            ).all()
        grants = {row.role: list(row.permissions or []) for row in rows}
        await self.kv.set(key, json.dumps(grants), ttl=self._ttl)
        return grants

    @property
    def _ttl(self) -> float:
        return SHARED_ACCESS_TTL if self.kv.shared or self._stamp is not None else ACCESS_TTL

    async def _member(self, community_id: str, user_id: str, key: str) -> dict[str, Any]:
        now = datetime.now(UTC)
        async with self.db.read_session() as session:
            role = await session.scalar(
                select(Membership.role).where(
                    Membership.community_id == community_id, Membership.user_id == user_id
                )
            )
            labels = (
                await session.execute(
                    select(Label.name, Label.permissions, LabelAssignment.expires_at)
                    .join(LabelAssignment, LabelAssignment.label_id == Label.id)
                    .where(
                        LabelAssignment.community_id == community_id,
                        LabelAssignment.target_type == "user",
                        LabelAssignment.target_id == user_id,
                        or_(LabelAssignment.expires_at.is_(None), LabelAssignment.expires_at > now),
                    )
                    .order_by(Label.name)
                )
            ).all()
        member = {
            "role": role if role in ROLE_RANK else None,
            "labels": [name for name, _, _ in labels],
            "permissions": sorted({p for _, perms, _ in labels for p in perms or []}),
        }
        # Kept until the first of the member's labels expires (an expiry is no event).
        ends = [as_utc(at) for _, _, at in labels if at is not None]
        ttl = min([self._ttl, *((at - now).total_seconds() for at in ends)])
        await self.kv.set(key, json.dumps(member), ttl=max(ttl, 0.001))
        return member


def role_permissions(role: str | None, overrides: dict[str, list[str]]) -> set[str]:
    """Permissions of ``role``: its grant plus every lower role's; owners hold all."""
    if role is None:
        return set()
    if role == "owner":
        return set(PERMISSIONS)
    held: set[str] = set()
    for candidate in COMMUNITY_ROLES[COMMUNITY_ROLES.index(role) :]:
        grant = overrides.get(candidate)
        held |= set(grant) if grant is not None else set(DEFAULT_GRANTS[candidate])
    return held


def _ladder_floor(role: Role) -> Role:
    """The platform roles that confer a community role (broadcaster, moderator), or everyone."""
    if role >= Role.broadcaster:
        return Role.broadcaster
    if role >= Role.moderator:
        return Role.moderator
    return Role.everyone
