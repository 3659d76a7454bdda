"""Defining and removing aliases: the rules chat goes through (``!alias``, ``!unalias``).

Every change checks ``commands.manage`` (the router checked it already; this is the host's own
word), refuses a name a command already answers, refuses loops and chains deeper than
:data:`~waddlebot.aliases.expand.MAX_DEPTH` over the community's whole alias set, is logged
(AUDIT), and bumps the router's command-table version so the very next message sees it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError

from waddlebot.aliases.expand import AliasRefused, check_graph, check_target, normalise_name
from waddlebot.aliases.models import Alias
from waddlebot.identity.lookup import user_of_account
from waddlebot.kernel.backends import KeyValue, PubSub
from waddlebot.kernel.backends.announce import commands_changed
from waddlebot.kernel.contracts.roles import platform_role
from waddlebot.kernel.observability.logging import Category, get_logger, log_event
from waddlebot.kernel.security.rbac import Actor, Authorizer
from waddlebot.kernel.storage import Database
from waddlebot.kernel.storage.models import Command, Community
from waddlebot.sdk.aliases import AliasError, AliasInfo
from waddlebot.sdk.caller import Caller

logger = get_logger(__name__)

MAX_ALIASES = 500  # per community
CUSTOM_COMMANDS = "custom-commands"  # their rows in ``commands`` are refused like any command
# (community id, trigger) → a reason the trigger is taken (e.g. by a custom command), or None
TriggerCheck = Callable[[str, str], Awaitable[str | None]]


async def alias_names(db: Database, community_id: str) -> list[str]:
    """The community's alias names (lowercase, without ``!``), sorted: for whoever needs to
    refuse a trigger an alias already answers (e.g. custom commands)."""
    async with db.read_session() as session:
        names = await session.scalars(
            select(Alias.name).where(Alias.community_id == community_id).order_by(Alias.name)
        )
        return list(names)


async def load_aliases(db: Database) -> dict[str, dict[str, str]]:
    """Every community's aliases, ``{community id: {name: target}}`` (the router's table)."""
    async with db.read_session() as session:
        rows = (await session.execute(select(Alias.community_id, Alias.name, Alias.target))).all()
    table: dict[str, dict[str, str]] = {}
    for community_id, name, target in rows:
        table.setdefault(community_id, {})[name] = target
    return table


class AliasManager:
    """Implements :class:`waddlebot.sdk.aliases.AliasOperations` over the ``aliases`` table."""

    def __init__(
        self,
        db: Database,
        kv: KeyValue,
        pubsub: PubSub | None = None,
        *,
        taken: TriggerCheck | None = None,
    ) -> None:
        self.db = db
        self.kv = kv
        self.pubsub = pubsub
        self.taken = taken
        self.authorizer = Authorizer(db, kv)
        self._lock = (
            asyncio.Lock()
        )  # one definition at a time per process (SQLite has no row locks)

    async def aliases(self, community_id: str) -> list[AliasInfo]:
        async with self.db.read_session() as session:
            rows = await session.scalars(
                select(Alias).where(Alias.community_id == community_id).order_by(Alias.name)
            )
            return [AliasInfo(name=row.name, target=row.target) for row in rows]

    async def alias(self, community_id: str, name: str) -> AliasInfo | None:
        clean = name.strip().lower().removeprefix("!")
        async with self.db.read_session() as session:
            row = await session.scalar(
                select(Alias).where(Alias.community_id == community_id, Alias.name == clean)
            )
        return None if row is None else AliasInfo(name=row.name, target=row.target)

    async def define(
        self, community_id: str, caller: Caller, name: str, target: str
    ) -> tuple[AliasInfo, bool]:
        """From chat: the caller needs commands.manage (checked here)."""
        try:
            normalise_name(name)
            check_target(target.strip())
        except AliasRefused as refused:
            raise AliasError(refused.message) from None
        user_id = await self._authorised(community_id, caller)
        return await self.define_by(community_id, user_id, name, target)

    async def define_by(
        self, community_id: str, user_id: str | None, name: str, target: str
    ) -> tuple[AliasInfo, bool]:
        """For the portal and REST: ``user_id`` acts; its commands.manage was checked by the
        route's guard (as ``CustomCommandManager.create``). :class:`AliasError` on bad input."""
        try:
            clean = normalise_name(name)
            target = target.strip()
            parsed = check_target(target)
        except AliasRefused as refused:
            raise AliasError(refused.message) from None
        async with self._lock, self.db.session() as session:
            # serialise definitions per community across processes (PostgreSQL row lock)
            await session.scalar(
                select(Community.id).where(Community.id == community_id).with_for_update()
            )
            visible = or_(Command.community_id.is_(None), Command.community_id == community_id)
            owners = {
                (prefix, trigger): module
                for prefix, trigger, module in (
                    await session.execute(
                        select(Command.prefix, Command.trigger, Command.module).where(visible)
                    )
                ).all()
            }
            commands = set(owners)
            if ("!", clean) in commands:
                owner = owners[("!", clean)]
                what = "a custom command" if owner == CUSTOM_COMMANDS else "a command"
                raise AliasError(f"!{clean} is already {what} here; pick another name.")
            if self.taken is not None:
                reason = await self.taken(community_id, clean)
                if reason:
                    raise AliasError(reason)
            rows = {
                row.name: row
                for row in await session.scalars(
                    select(Alias).where(Alias.community_id == community_id)
                )
            }
            targets = {alias_name: row.target for alias_name, row in rows.items()}
            targets[clean] = target
            if parsed.prefix == "!" and (
                (parsed.prefix, parsed.trigger) not in commands and parsed.trigger not in targets
            ):
                raise AliasError(f"{parsed.prefix}{parsed.trigger} is not a command here.")
            if parsed.prefix == "#" and ("#", parsed.trigger) not in commands:
                raise AliasError(f"#{parsed.trigger} is not a command here.")
            try:
                check_graph(targets, lambda prefix, trigger: (prefix, trigger) in commands)
            except AliasRefused as refused:
                raise AliasError(refused.message) from None
            row = rows.get(clean)
            created = row is None
            if row is None:
                if len(rows) >= MAX_ALIASES:
                    raise AliasError(f"A community has at most {MAX_ALIASES} aliases.")
                session.add(
                    Alias(community_id=community_id, name=clean, target=target, created_by=user_id)
                )
            else:
                row.target = target
            try:
                await session.flush()
            except IntegrityError:
                raise AliasError("Someone defined that alias just now; try again.") from None
        await self._changed(community_id, user_id, "alias_defined", name=clean, target=target)
        return AliasInfo(name=clean, target=target), created

    async def remove(self, community_id: str, caller: Caller, name: str) -> AliasInfo:
        """From chat: the caller needs commands.manage (checked here)."""
        user_id = await self._authorised(community_id, caller)
        return await self.remove_by(community_id, user_id, name)

    async def remove_by(self, community_id: str, user_id: str | None, name: str) -> AliasInfo:
        """For the portal and REST (the route checked commands.manage)."""
        clean = name.strip().lower().removeprefix("!")
        async with self.db.session() as session:
            row = await session.scalar(
                select(Alias).where(Alias.community_id == community_id, Alias.name == clean)
            )
            if row is None:
                raise AliasError(f"There is no alias !{clean} here.")
            removed = AliasInfo(name=row.name, target=row.target)
            await session.delete(row)
        await self._changed(community_id, user_id, "alias_removed", name=clean)
        return removed

    async def _authorised(self, community_id: str, caller: Caller) -> str:
        user_id = await user_of_account(self.db, caller.platform, caller.user.id)
        if user_id is None:
            raise AliasError("I don't know you yet; say something and try again.")
        decision = await self.authorizer.check(
            Actor(user_id=user_id, platform_role=platform_role(caller.user), via="chat"),
            community_id,
            "alias",
            permission="commands.manage",
        )
        if not decision.allowed:
            raise AliasError("You need the commands.manage permission in this community.")
        return user_id

    async def _changed(
        self, community_id: str, user_id: str | None, action: str, **fields: Any
    ) -> None:
        log_event(
            logger, Category.AUDIT, action, "ok", community=community_id, user=user_id, **fields
        )
        await commands_changed(self.kv, self.pubsub, "aliases")
