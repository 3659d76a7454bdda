"""Community roles, role grants and per-community commands: the rules REST and chat share.

Role rules, whoever asks and however:

- changing someone's role needs ``members.manage`` in the community;
- you grant and revoke only roles strictly below your own community role, and you change only
  people strictly below it — except owners, who may do anything, including grant owner;
- installation-wide callers (superusers, admin keys, our services) may do anything;
- a community's last owner can be neither demoted nor removed (409).

Every change is logged (AUDIT), every rank decision (AUTHZ), and memberships and role grants
bump the community's access version (:func:`~waddlebot.kernel.security.rbac.access_changed`)
so every router sees them on its next message. Command changes write a community row that
overrides the global one and bump the router's command-table version, so the very next
message sees them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from waddlebot.identity.lookup import find_account, user_of_account
from waddlebot.kernel.backends import KeyValue, PubSub
from waddlebot.kernel.backends.announce import commands_changed
from waddlebot.kernel.contracts import Role
from waddlebot.kernel.contracts.roles import platform_role
from waddlebot.kernel.errors import Conflict, Forbidden, Invalid, NotFound, Refusal
from waddlebot.kernel.observability.logging import Category, get_logger, log_event
from waddlebot.kernel.security.rbac import (
    COMMUNITY_ROLES,
    DEFAULT_GRANTS,
    PERMISSIONS,
    ROLE_RANK,
    Authorizer,
    UnknownPermission,
    access_changed,
    role_permissions,
    validate_permissions,
    validate_role,
)
from waddlebot.kernel.storage import Database
from waddlebot.kernel.storage.lookup import community_timezone
from waddlebot.kernel.storage.models import (
    Command,
    Community,
    CommunityRoleGrant,
    Entity,
    Membership,
    PlatformIdentity,
    User,
)
from waddlebot.kernel.timezones import canonical_zone
from waddlebot.sdk.caller import Caller
from waddlebot.sdk.members import MemberError, MemberRole

logger = get_logger(__name__)

MAX_COOLDOWN = 86_400.0
# Chat cannot switch these off: they are how a community switches things back on.
CHAT_PROTECTED_COMMANDS = frozenset({"!command", "!role"})


@dataclass(frozen=True, slots=True)
class Acting:
    """Who makes a change and what they are in the community (their role there, with the
    platform-derived role folded in, and their permissions)."""

    who: str | None
    user_id: str | None = None
    role: str | None = None
    permissions: frozenset[str] = frozenset()
    installation_wide: bool = False
    via: str = "rest"

    def holds(self, permission: str) -> bool:
        return self.installation_wide or self.role == "owner" or permission in self.permissions

    @property
    def rank(self) -> int:
        return ROLE_RANK[self.role] if self.role is not None else 0


# --- views (also the REST answers) ------------------------------------------------------


class EntityView(BaseModel):
    id: str
    platform: str
    server_id: str
    channel_id: str
    name: str | None


class CommunityView(BaseModel):
    id: str
    name: str
    created_at: datetime
    role: str | None = None  # the caller's role here (people only)
    timezone: str | None = None  # its own zone; None: the installation default
    entities: list[EntityView]


class AccountView(BaseModel):
    platform: str
    platform_user_id: str
    username: str


class MemberView(BaseModel):
    user_id: str
    display_name: str
    role: str
    accounts: list[AccountView]


class RoleGrantView(BaseModel):
    role: str
    granted: list[str]  # this role's own grant (the override, or the default)
    effective: list[str]  # with everything the roles beneath it hold
    defaults: list[str]
    overridden: bool


class CommandView(BaseModel):
    prefix: str
    trigger: str
    module: str
    usage: str
    description: str
    min_role: str
    permission: str | None
    user_cooldown: float
    global_cooldown: float
    enabled: bool
    scope: str  # "community": this community's row; "global": every community's
    overridden: bool  # a community row replaces a global one


@dataclass(frozen=True, slots=True)
class CommandChange:
    """What to change about a command in one community (None: leave as is)."""

    enabled: bool | None = None
    user_cooldown: float | None = None
    global_cooldown: float | None = None
    min_role: Role | None = None

    def empty(self) -> bool:
        return all(
            value is None
            for value in (self.enabled, self.user_cooldown, self.global_cooldown, self.min_role)
        )


def parse_command_name(name: str) -> tuple[str, str]:
    """``ping``, ``!ping`` or ``#ping`` → (prefix, trigger); ``!`` when none is given."""
    text = name.strip().lower()
    if text[:1] in ("!", "#"):
        return text[0], text[1:]
    return "!", text


class CommunityManager:
    """Implements :class:`waddlebot.sdk.members.MemberOperations` and the communities API."""

    def __init__(
        self,
        db: Database,
        kv: KeyValue,
        pubsub: PubSub | None = None,
        *,
        default_timezone: str = "UTC",
    ) -> None:
        self.db = db
        self.kv = kv
        self.pubsub = pubsub
        self.authorizer = Authorizer(db, kv)
        self.default_timezone = default_timezone

    async def acting(
        self,
        community_id: str,
        user_id: str,
        platform_role: Role = Role.everyone,
        *,
        via: str = "rest",
    ) -> Acting:
        """A person's standing in the community, for the rank rules."""
        access = await self.authorizer.access(community_id, user_id, platform_role)
        return Acting(
            who=user_id,
            user_id=user_id,
            role=access.community_role,
            permissions=access.permissions,
            via=via,
        )

    # --- settings (time zone) ---------------------------------------------------------------

    async def timezone(self, community_id: str) -> str:
        """The community's time zone, else the installation default."""
        return await community_timezone(self.db, community_id, self.default_timezone)

    async def change_timezone(self, community_id: str, name: str | None, acting: Acting) -> str:
        """Set the community's zone (None: back to the default); needs ``commands.manage``."""
        if not acting.holds("commands.manage"):
            raise Forbidden("you need the commands.manage permission in this community")
        try:
            zone = canonical_zone(name) if name is not None else None
        except ValueError as error:
            raise Invalid(str(error)) from None
        async with self.db.session() as session:
            community = await session.get(Community, community_id)
            if community is None:
                raise NotFound(f"no community {community_id!r}")
            community.timezone = zone
        log_event(
            logger,
            Category.AUDIT,
            "community_timezone_set",
            "ok",
            community=community_id,
            user=acting.who,
            via=acting.via,
            timezone=zone,
        )
        return zone or self.default_timezone

    async def set_timezone(self, community_id: str, caller: Caller, name: str) -> str:
        acting = await self._chat_acting(community_id, caller)
        return await self.change_timezone(community_id, name, acting)

    # --- communities ----------------------------------------------------------------------

    async def communities(self, user_id: str | None = None) -> list[CommunityView]:
        """Every community (``user_id`` None), or those where the user holds a role."""
        async with self.db.read_session() as session:
            rows: list[tuple[Community, str | None]]
            if user_id is None:
                everything = await session.scalars(
                    select(Community).order_by(Community.name, Community.id)
                )
                rows = [(community, None) for community in everything]
            else:
                mine = await session.execute(
                    select(Community, Membership.role)
                    .join(Membership, Membership.community_id == Community.id)
                    .where(Membership.user_id == user_id)
                    .order_by(Community.name, Community.id)
                )
                rows = [(community, role) for community, role in mine]
            entities = await self._entities(session, [community.id for community, _ in rows])
        return [
            CommunityView(
                id=community.id,
                name=community.name,
                created_at=community.created_at,
                role=role,
                timezone=community.timezone,
                entities=entities.get(community.id, []),
            )
            for community, role in rows
        ]

    async def community(self, community_id: str, user_id: str | None = None) -> CommunityView:
        async with self.db.read_session() as session:
            community = await session.get(Community, community_id)
            if community is None:
                raise NotFound(f"no community {community_id!r}")
            role = (
                await session.scalar(
                    select(Membership.role).where(
                        Membership.community_id == community_id, Membership.user_id == user_id
                    )
                )
                if user_id is not None
                else None
            )
            entities = await self._entities(session, [community_id])
        return CommunityView(
            id=community.id,
            name=community.name,
            created_at=community.created_at,
            role=role,
            timezone=community.timezone,
            entities=entities.get(community_id, []),
        )

    async def _entities(
        self, session: AsyncSession, community_ids: list[str]
    ) -> dict[str, list[EntityView]]:
        if not community_ids:
            return {}
        rows = (
            await session.scalars(
                select(Entity)
                .where(Entity.community_id.in_(community_ids))
                .order_by(Entity.platform, Entity.server_id, Entity.channel_id)
            )
        ).all()
        found: dict[str, list[EntityView]] = {}
        for row in rows:
            found.setdefault(row.community_id, []).append(
                EntityView(
                    id=row.id,
                    platform=row.platform,
                    server_id=row.server_id,
                    channel_id=row.channel_id,
                    name=row.name,
                )
            )
        return found

    async def _require_community(self, session: AsyncSession, community_id: str) -> None:
        if await session.get(Community, community_id) is None:
            raise NotFound(f"no community {community_id!r}")

    # --- members --------------------------------------------------------------------------

    async def members(self, community_id: str) -> list[MemberView]:
        """Everyone holding a role here, highest role first, then by name."""
        async with self.db.read_session() as session:
            await self._require_community(session, community_id)
            rows = (
                await session.execute(
                    select(Membership.role, User)
                    .join(User, User.id == Membership.user_id)
                    .where(Membership.community_id == community_id)
                )
            ).all()
            accounts = await self._accounts(session, [user.id for _, user in rows])
        members = [
            MemberView(
                user_id=user.id,
                display_name=user.display_name,
                role=role,
                accounts=accounts.get(user.id, []),
            )
            for role, user in rows
            if role in ROLE_RANK
        ]
        members.sort(key=lambda m: (-ROLE_RANK[m.role], m.display_name.lower(), m.user_id))
        return members

    async def member(self, community_id: str, user_id: str) -> MemberView:
        for member in await self.members(community_id):
            if member.user_id == user_id:
                return member
        raise NotFound("that user has no role in this community")

    async def _accounts(
        self, session: AsyncSession, user_ids: list[str]
    ) -> dict[str, list[AccountView]]:
        if not user_ids:
            return {}
        rows = (
            await session.scalars(
                select(PlatformIdentity)
                .where(PlatformIdentity.user_id.in_(user_ids))
                .order_by(PlatformIdentity.platform, PlatformIdentity.username)
            )
        ).all()
        found: dict[str, list[AccountView]] = {}
        for row in rows:
            found.setdefault(row.user_id, []).append(
                AccountView(
                    platform=row.platform,
                    platform_user_id=row.platform_user_id,
                    username=row.username,
                )
            )
        return found

    async def set_role(
        self, community_id: str, user_id: str, role: str, acting: Acting
    ) -> MemberView:
        """Give ``user_id`` ``role`` in the community (creating the membership)."""
        try:
            role = validate_role(role)
        except ValueError as error:
            raise Invalid(str(error)) from None
        try:
            async with self.db.session() as session:
                await self._require_community(session, community_id)
                if await session.get(User, user_id) is None:
                    raise NotFound(f"no user {user_id!r}")
                row = await session.scalar(
                    select(Membership)
                    .where(Membership.community_id == community_id, Membership.user_id == user_id)
                    .with_for_update()
                )
                current = row.role if row is not None and row.role in ROLE_RANK else None
                self._authorize_rank(community_id, user_id, current, role, acting)
                if current == "owner" and role != "owner":
                    await self._keep_an_owner(session, community_id, "demoted")
                if row is None:
                    session.add(Membership(community_id=community_id, user_id=user_id, role=role))
                else:
                    row.role = role
        except IntegrityError:
            raise Conflict("the membership changed at the same moment; try again") from None
        await access_changed(self.kv, community_id, db=self.db)
        log_event(
            logger,
            Category.AUDIT,
            "member_role_set",
            "ok",
            community=community_id,
            user=acting.who,
            target=user_id,
            role=role,
            previous=current,
            via=acting.via,
        )
        return await self.member(community_id, user_id)

    async def remove_member(self, community_id: str, user_id: str, acting: Acting) -> str:
        """Take the user's role away; returns the role they had."""
        async with self.db.session() as session:
            await self._require_community(session, community_id)
            row = await session.scalar(
                select(Membership)
                .where(Membership.community_id == community_id, Membership.user_id == user_id)
                .with_for_update()
            )
            if row is None:
                raise NotFound("that user has no role in this community")
            current = row.role if row.role in ROLE_RANK else "member"
            self._authorize_rank(community_id, user_id, current, None, acting)
            if current == "owner":
                await self._keep_an_owner(session, community_id, "removed")
            await session.delete(row)
        await access_changed(self.kv, community_id, db=self.db)
        log_event(
            logger,
            Category.AUDIT,
            "member_removed",
            "ok",
            community=community_id,
            user=acting.who,
            target=user_id,
            previous=current,
            via=acting.via,
        )
        return current

    def _authorize_rank(
        self,
        community_id: str,
        target: str,
        current: str | None,
        new: str | None,
        acting: Acting,
    ) -> None:
        """Apply the rank rules (see the module docstring); log the decision (AUTHZ)."""
        reason = "granted"
        refusal: str | None = None
        mine = acting.role or "no role"
        if acting.installation_wide:
            reason = "installation-wide"
        elif not acting.holds("members.manage"):
            reason = "needs members.manage"
            refusal = "You need the members.manage permission in this community."
        elif acting.role == "owner":
            reason = "owner"
        elif current is not None and ROLE_RANK[current] >= acting.rank:
            reason = f"target is {current}"
            refusal = f"You can only change members below your own role ({mine})."
        elif new is not None and ROLE_RANK[new] >= acting.rank:
            reason = f"cannot grant {new}"
            refusal = f"You can only grant roles below your own ({mine})."
        log_event(
            logger,
            Category.AUTHZ,
            "member_role_set" if new is not None else "member_removed",
            "denied" if refusal else "allowed",
            community=community_id,
            user=acting.who,
            via=acting.via,
            target=target,
            role=new,
            reason=reason,
        )
        if refusal is not None:
            raise Forbidden(refusal)

    async def _keep_an_owner(self, session: AsyncSession, community_id: str, verb: str) -> None:
        """Refuse when the owner about to go is the last one (rows locked on PostgreSQL)."""
        owners = (
            await session.scalars(
                select(Membership.id)
                .where(Membership.community_id == community_id, Membership.role == "owner")
                .with_for_update()
            )
        ).all()
        if len(owners) <= 1:
            raise Conflict(
                f"the last owner of a community cannot be {verb}; make someone else owner first"
            )

    # --- role grants ----------------------------------------------------------------------

    async def role_grants(self, community_id: str) -> list[RoleGrantView]:
        """Each role's grant here: defaults merged with the community's overrides."""
        async with self.db.read_session() as session:
            await self._require_community(session, community_id)
            overrides = await self._overrides(session, community_id)
        return [_grant_view(role, overrides) for role in COMMUNITY_ROLES]

    async def set_role_grant(
        self, community_id: str, role: str, permissions: list[str], acting: Acting
    ) -> RoleGrantView:
        """Replace what ``role`` is granted here (the roles beneath it still add theirs)."""
        role = _grantable(role)
        try:
            chosen = validate_permissions(permissions)
        except UnknownPermission as error:
            raise Invalid(str(error)) from None
        try:
            async with self.db.session() as session:
                await self._require_community(session, community_id)
                row = await session.scalar(
                    select(CommunityRoleGrant).where(
                        CommunityRoleGrant.community_id == community_id,
                        CommunityRoleGrant.role == role,
                    )
                )
                if row is None:
                    session.add(
                        CommunityRoleGrant(community_id=community_id, role=role, permissions=chosen)
                    )
                else:
                    row.permissions = chosen
                await session.flush()
                overrides = await self._overrides(session, community_id)
        except IntegrityError:
            raise Conflict("the role's grant changed at the same moment; try again") from None
        await access_changed(self.kv, community_id, db=self.db)
        log_event(
            logger,
            Category.AUDIT,
            "role_grant_set",
            "ok",
            community=community_id,
            user=acting.who,
            role=role,
            permissions=chosen,
            via=acting.via,
        )
        return _grant_view(role, overrides)

    async def reset_role_grant(self, community_id: str, role: str, acting: Acting) -> RoleGrantView:
        """Give ``role`` its default grant back."""
        role = _grantable(role)
        async with self.db.session() as session:
            await self._require_community(session, community_id)
            row = await session.scalar(
                select(CommunityRoleGrant).where(
                    CommunityRoleGrant.community_id == community_id,
                    CommunityRoleGrant.role == role,
                )
            )
            if row is not None:
                await session.delete(row)
                await session.flush()
            overrides = await self._overrides(session, community_id)
        await access_changed(self.kv, community_id, db=self.db)
        log_event(
            logger,
            Category.AUDIT,
            "role_grant_reset",
            "ok",
            community=community_id,
            user=acting.who,
            role=role,
            via=acting.via,
        )
        return _grant_view(role, overrides)

    async def _overrides(self, session: AsyncSession, community_id: str) -> dict[str, list[str]]:
        rows = (
            await session.scalars(
                select(CommunityRoleGrant).where(CommunityRoleGrant.community_id == community_id)
            )
        ).all()
        return {row.role: list(row.permissions or []) for row in rows if row.role in ROLE_RANK}

    # --- commands -------------------------------------------------------------------------

    async def commands(self, community_id: str) -> list[CommandView]:
        """The community's commands: its own rows, else the global ones."""
        async with self.db.read_session() as session:
            await self._require_community(session, community_id)
            rows = (
                await session.scalars(
                    select(Command).where(
                        or_(Command.community_id.is_(None), Command.community_id == community_id)
                    )
                )
            ).all()
        global_keys = {(r.prefix, r.trigger) for r in rows if r.community_id is None}
        merged: dict[tuple[str, str], Command] = {}
        for row in rows:
            key = (row.prefix, row.trigger)
            if row.community_id is not None or key not in merged:
                merged[key] = row
        return [
            _command_view(row, overridden=row.community_id is not None and key in global_keys)
            for key, row in sorted(merged.items(), key=lambda item: (item[0][1], item[0][0]))
        ]

    async def change_command(
        self,
        community_id: str,
        prefix: str,
        trigger: str,
        change: CommandChange,
        acting: Acting,
    ) -> CommandView:
        """Change one command for this community only, effective on the next message."""
        if change.empty():
            raise Invalid(
                "nothing to change: give enabled, user_cooldown, global_cooldown or min_role"
            )
        for name, value in (
            ("user_cooldown", change.user_cooldown),
            ("global_cooldown", change.global_cooldown),
        ):
            if value is not None and not 0 <= value <= MAX_COOLDOWN:
                raise Invalid(f"{name} must be between 0 and {MAX_COOLDOWN:g} seconds")
        prefix, trigger = prefix.strip(), trigger.strip().lower()
        name = f"{prefix}{trigger}"
        try:
            async with self.db.session() as session:
                await self._require_community(session, community_id)
                row = await session.scalar(
                    select(Command)
                    .where(
                        Command.community_id == community_id,
                        Command.prefix == prefix,
                        Command.trigger == trigger,
                    )
                    .with_for_update()
                )
                if row is None:
                    base = await session.scalar(
                        select(Command).where(
                            Command.community_id.is_(None),
                            Command.prefix == prefix,
                            Command.trigger == trigger,
                        )
                    )
                    if base is None:
                        raise NotFound(f"there is no command {name} in this community")
                    row = _override_of(base, community_id)
                    session.add(row)
                    overridden = True
                else:
                    overridden = (
                        await session.scalar(
                            select(func.count(Command.id)).where(
                                Command.community_id.is_(None),
                                Command.prefix == prefix,
                                Command.trigger == trigger,
                            )
                        )
                        == 1
                    )
                if change.enabled is not None:
                    row.enabled = change.enabled
                if change.user_cooldown is not None:
                    row.user_cooldown = change.user_cooldown
                if change.global_cooldown is not None:
                    row.global_cooldown = change.global_cooldown
                if change.min_role is not None:
                    row.min_role = int(change.min_role)
                await session.flush()
                view = _command_view(row, overridden=overridden)
        except IntegrityError:
            raise Conflict(f"{name} changed at the same moment; try again") from None
        await self._commands_changed()
        log_event(
            logger,
            Category.AUDIT,
            "command_changed",
            "ok",
            community=community_id,
            user=acting.who,
            command=name,
            enabled=view.enabled,
            user_cooldown=view.user_cooldown,
            global_cooldown=view.global_cooldown,
            min_role=view.min_role,
            via=acting.via,
        )
        return view

    async def _commands_changed(self) -> None:
        """As ``RouterHost.reload_commands``: bump the version (read per command), then tell."""
        await commands_changed(self.kv, self.pubsub, "communities")

    # --- chat (MemberOperations) ----------------------------------------------------------

    async def role_of(
        self, community_id: str, caller: Caller, username: str | None = None
    ) -> MemberRole:
        if username is None:
            me = await self._caller_id(caller)
            access = await self.authorizer.access(community_id, me, platform_role(caller.user))
            return MemberRole(
                name=caller.user.name,
                role=access.community_role,
                from_platform=access.community_role != access.membership_role,
            )
        user_id, name = await self._resolve(caller.platform, username)
        access = await self.authorizer.access(community_id, user_id)
        return MemberRole(name=name, role=access.membership_role)

    async def grant(
        self, community_id: str, caller: Caller, username: str, role: str
    ) -> MemberRole:
        try:
            chosen = validate_role(role)
        except ValueError:
            raise MemberError(
                f"There is no role {role!r}; choose from {', '.join(COMMUNITY_ROLES)}."
            ) from None
        user_id, name = await self._resolve(caller.platform, username)
        acting = await self._chat_acting(community_id, caller)
        try:
            await self.set_role(community_id, user_id, chosen, acting)
        except Refusal as refusal:
            raise MemberError(_sentence(refusal.message)) from None
        return MemberRole(name=name, role=chosen)

    async def revoke(self, community_id: str, caller: Caller, username: str) -> MemberRole:
        user_id, name = await self._resolve(caller.platform, username)
        acting = await self._chat_acting(community_id, caller)
        try:
            previous = await self.remove_member(community_id, user_id, acting)
        except NotFound:
            raise MemberError(f"{name} has no role here.") from None
        except Refusal as refusal:
            raise MemberError(_sentence(refusal.message)) from None
        return MemberRole(name=name, role=previous)

    async def role_holders(self, community_id: str, platform: str) -> list[MemberRole]:
        members = await self.members(community_id)
        holders = []
        for member in members:
            names = [a.username for a in member.accounts if a.platform == platform]
            holders.append(
                MemberRole(name=names[0] if names else member.display_name, role=member.role)
            )
        holders.sort(key=lambda h: (-ROLE_RANK[h.role or "member"], h.name.lower()))
        return holders

    async def set_command_enabled(
        self, community_id: str, caller: Caller, command: str, enabled: bool
    ) -> str:
        prefix, trigger = parse_command_name(command)
        name = f"{prefix}{trigger}"
        if not trigger:
            raise MemberError("Name a command, e.g. !command disable ping.")
        if not enabled and name in CHAT_PROTECTED_COMMANDS:
            raise MemberError(
                f"{name} can't be disabled from chat: !command and !role are how you turn "
                "things back on."
            )
        acting = await self._chat_acting(community_id, caller)
        if not acting.holds("commands.manage"):
            raise MemberError("You need the commands.manage permission in this community.")
        try:
            await self.change_command(
                community_id, prefix, trigger, CommandChange(enabled=enabled), acting
            )
        except NotFound:
            raise MemberError(f"There is no command {name} here.") from None
        except Refusal as refusal:
            raise MemberError(_sentence(refusal.message)) from None
        return name

    async def _chat_acting(self, community_id: str, caller: Caller) -> Acting:
        me = await self._caller_id(caller)
        return await self.acting(community_id, me, platform_role(caller.user), via="chat")

    async def _caller_id(self, caller: Caller) -> str:
        found = await user_of_account(self.db, caller.platform, caller.user.id)
        if found is None:
            raise MemberError("I don't know you yet; say something and try again.")
        return found

    async def _resolve(self, platform: str, username: str) -> tuple[str, str]:
        """The user behind ``@name`` on ``platform`` (newest account of that name wins)."""
        if not username.strip().lstrip("@"):
            raise MemberError("Name someone, e.g. @alice.")
        row = await find_account(self.db, platform, username)
        if row is None:
            raise MemberError(f"I don't know anyone called {username.lstrip('@')} here yet.")
        return row.user_id, row.username


def _grantable(role: str) -> str:
    try:
        chosen = validate_role(role)
    except ValueError as error:
        raise Invalid(str(error)) from None
    if chosen == "owner":
        raise Invalid("owners hold every permission; their grant cannot be changed")
    return chosen


def _grant_view(role: str, overrides: dict[str, list[str]]) -> RoleGrantView:
    defaults = sorted(DEFAULT_GRANTS[role])
    if role == "owner":
        granted, overridden = sorted(PERMISSIONS), False
    elif role in overrides:
        granted, overridden = sorted(overrides[role]), True
    else:
        granted, overridden = defaults, False
    return RoleGrantView(
        role=role,
        granted=granted,
        effective=sorted(role_permissions(role, overrides)),
        defaults=defaults,
        overridden=overridden,
    )


def _role_name(value: int) -> str:
    return Role(value).name if value in Role._value2member_map_ else Role.everyone.name


def _command_view(row: Command, *, overridden: bool) -> CommandView:
    return CommandView(
        prefix=row.prefix,
        trigger=row.trigger,
        module=row.module,
        usage=row.usage,
        description=row.description,
        min_role=_role_name(row.min_role),
        permission=row.permission,
        user_cooldown=row.user_cooldown,
        global_cooldown=row.global_cooldown,
        enabled=row.enabled,
        scope="global" if row.community_id is None else "community",
        overridden=overridden,
    )


def _override_of(base: Command, community_id: str) -> Command:
    """A community row copying the global one (the registry prefers community rows)."""
    return Command(
        community_id=community_id,
        prefix=base.prefix,
        trigger=base.trigger,
        module=base.module,
        usage=base.usage,
        description=base.description,
        min_role=base.min_role,
        permission=base.permission,
        subcommand_permissions=dict(base.subcommand_permissions or {}),
        user_cooldown=base.user_cooldown,
        global_cooldown=base.global_cooldown,
        enabled=base.enabled,
    )


def _sentence(message: str) -> str:
    """An API message as a chat reply: capitalised, ending in a full stop."""
    text = message[:1].upper() + message[1:]
    return text if text.endswith((".", "!", "?")) else f"{text}."
