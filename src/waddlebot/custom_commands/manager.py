"""Custom commands of a community: the one place chat, REST and importers change them.

A custom command is a row in ``custom_commands`` (response template, durable use counter, who
and when) plus a community row in ``commands`` pointing at the ``custom-commands`` module with
its minimum role and cooldown, so the router finds it in its in-memory table and applies its
usual role and cooldown checks. Every change calls ``kernel.backends.announce.commands_changed``
(as the marketplace, aliases, timers and the communities manager do), so the very next
message sees it; answering a command reads a per-process cache, and writes only the counter,
only when the template uses ``{count}``.

For the aliases feature: :func:`trigger_taken` says who already answers ``!name`` in a
community, :func:`custom_command_names` lists a community's custom commands.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError

from waddlebot.aliases.manager import alias_names
from waddlebot.custom_commands.models import CustomCommand
from waddlebot.custom_commands.template import TemplateError, parse
from waddlebot.kernel.backends import KeyValue, PubSub
from waddlebot.kernel.backends.announce import commands_changed
from waddlebot.kernel.contracts import Role
from waddlebot.kernel.contracts.names import COMMANDS_VERSION
from waddlebot.kernel.errors import Conflict, Invalid, NotFound, Refusal
from waddlebot.kernel.observability.logging import Category, get_logger, log_event
from waddlebot.kernel.storage import Database
from waddlebot.kernel.storage.models import Command, Community, utcnow
from waddlebot.sdk.caller import Caller
from waddlebot.sdk.custom_commands import CustomCommandError, CustomCommandInfo

logger = get_logger(__name__)

MODULE = "custom-commands"
MAX_COOLDOWN = 86_400.0
MAX_PER_COMMUNITY = 1000
NAME = re.compile(r"[a-z0-9][a-z0-9_\-]{0,49}")
DESCRIPTION = "Custom command."


def normalise_name(name: str) -> str:
    """``Discord`` or ``!discord`` → ``discord``; :class:`Invalid` for anything else."""
    text = name.strip().lower()
    if text.startswith("!"):
        text = text[1:]
    if not NAME.fullmatch(text):
        raise Invalid(
            f"{name.strip()[:60]!r} is not a command name: use 1–50 letters, digits, - or _ "
            "(e.g. discord)"
        )
    return text


def parse_role(role: str) -> Role:
    try:
        return Role.parse(role)
    except ValueError as error:
        raise Invalid(str(error)) from None


def check_cooldown(cooldown: float) -> float:
    if not 0 <= cooldown <= MAX_COOLDOWN:
        raise Invalid(f"the cooldown must be between 0 and {MAX_COOLDOWN:g} seconds")
    return float(cooldown)


def check_template(response: str) -> str:
    """The response, when it is a valid template; :class:`Invalid` with the position if not."""
    try:
        parse(response)
    except TemplateError as error:
        raise Invalid(f"the response is not a valid template: {error.message}") from None
    return response


async def trigger_taken(db: Database, community_id: str, name: str) -> str | None:
    """Who answers ``!name`` in the community: ``"custom command"``, the module's name, or None
    when nobody does (built-in commands are global rows, installed modules community rows)."""
    trigger = name.strip().lower().removeprefix("!")
    async with db.read_session() as session:
        rows = (
            await session.scalars(
                select(Command).where(
                    or_(Command.community_id.is_(None), Command.community_id == community_id),
                    Command.prefix == "!",
                    Command.trigger == trigger,
                )
            )
        ).all()
    for row in sorted(rows, key=lambda r: r.community_id is None):
        custom = row.module == MODULE and row.community_id is not None
        return "custom command" if custom else row.module
    return None


async def custom_command_names(db: Database, community_id: str) -> list[str]:
    """The community's custom command names (without ``!``), sorted."""
    async with db.read_session() as session:
        names = await session.scalars(
            select(CustomCommand.name)
            .where(CustomCommand.community_id == community_id)
            .order_by(CustomCommand.name)
        )
        return list(names)


@dataclass(frozen=True, slots=True)
class Change:
    """What to set (None: keep; on create: the default)."""

    response: str | None = None
    cooldown: float | None = None
    role: Role | None = None
    enabled: bool | None = None
    count: int | None = None  # on create only: a counter carried over (imports)


class CustomCommandManager:
    """Implements :class:`waddlebot.sdk.custom_commands.CustomCommandOperations` and the
    custom-commands REST API."""

    def __init__(self, db: Database, kv: KeyValue, pubsub: PubSub | None = None) -> None:
        self.db = db
        self.kv = kv
        self.pubsub = pubsub
        self._cache: dict[str, dict[str, CustomCommandInfo]] = {}
        self._cache_version: bytes | None = None
        self._lock = asyncio.Lock()

    # --- reading --------------------------------------------------------------------------

    async def listing(self, community_id: str) -> list[CustomCommandInfo]:
        async with self.db.read_session() as session:
            if await session.get(Community, community_id) is None:
                raise NotFound(f"no community {community_id!r}")
            rows = (
                await session.execute(
                    select(CustomCommand, Command)
                    .join(
                        Command,
                        (Command.community_id == CustomCommand.community_id)
                        & (Command.trigger == CustomCommand.name)
                        & (Command.prefix == "!"),
                    )
                    .where(CustomCommand.community_id == community_id)
                    .order_by(CustomCommand.name)
                )
            ).all()
        return [_info(custom, command) for custom, command in rows]

    async def get(self, community_id: str, name: str) -> CustomCommandInfo:
        name = normalise_name(name)
        for found in await self.listing(community_id):
            if found.name == name:
                return found
        raise NotFound(f"there is no custom command !{name} here")

    # --- changing -------------------------------------------------------------------------

    async def create(
        self, community_id: str, name: str, change: Change, who: str | None
    ) -> CustomCommandInfo:
        """A new custom command; 409 when anything already answers ``!name`` here."""
        name = normalise_name(name)
        if change.response is None:
            raise Invalid("a custom command needs a response")
        response = check_template(change.response)
        cooldown = check_cooldown(change.cooldown or 0.0)
        role = change.role or Role.everyone
        await self._refuse_taken(community_id, name)
        try:
            async with self.db.session() as session:
                if await session.get(Community, community_id) is None:
                    raise NotFound(f"no community {community_id!r}")
                count = len(
                    (
                        await session.scalars(
                            select(CustomCommand.id).where(
                                CustomCommand.community_id == community_id
                            )
                        )
                    ).all()
                )
                if count >= MAX_PER_COMMUNITY:
                    raise Conflict(f"a community can have at most {MAX_PER_COMMUNITY} commands")
                session.add(
                    CustomCommand(
                        community_id=community_id,
                        name=name,
                        response=response,
                        uses=max(0, change.count or 0),
                        created_by=who,
                        updated_by=who,
                    )
                )
                session.add(
                    Command(
                        community_id=community_id,
                        prefix="!",
                        trigger=name,
                        module=MODULE,
                        usage=f"!{name}",
                        description=DESCRIPTION,
                        min_role=int(role),
                        permission=None,
                        subcommand_permissions={},
                        user_cooldown=0.0,
                        global_cooldown=cooldown,
                        enabled=True if change.enabled is None else change.enabled,
                    )
                )
        except IntegrityError:
            raise Conflict(f"!{name} was created at the same moment; try again") from None
        await self._changed(community_id, "custom_command_created", name, who)
        return await self.get(community_id, name)

    async def update(
        self, community_id: str, name: str, change: Change, who: str | None
    ) -> CustomCommandInfo:
        name = normalise_name(name)
        if all(v is None for v in (change.response, change.cooldown, change.role, change.enabled)):
            raise Invalid("nothing to change: give response, cooldown, role or enabled")
        response = check_template(change.response) if change.response is not None else None
        cooldown = check_cooldown(change.cooldown) if change.cooldown is not None else None
        async with self.db.session() as session:
            custom = await session.scalar(
                select(CustomCommand).where(
                    CustomCommand.community_id == community_id, CustomCommand.name == name
                )
            )
            command = await session.scalar(
                select(Command).where(
                    Command.community_id == community_id,
                    Command.prefix == "!",
                    Command.trigger == name,
                    Command.module == MODULE,
                )
            )
            if custom is None or command is None:
                raise NotFound(f"there is no custom command !{name} here")
            if response is not None:
                custom.response = response
            custom.updated_by = who
            custom.updated_at = utcnow()
            if cooldown is not None:
                command.global_cooldown = cooldown
            if change.role is not None:
                command.min_role = int(change.role)
            if change.enabled is not None:
                command.enabled = change.enabled
        await self._changed(community_id, "custom_command_updated", name, who)
        return await self.get(community_id, name)

    async def delete(self, community_id: str, name: str, who: str | None) -> None:
        name = normalise_name(name)
        async with self.db.session() as session:
            removed = await session.execute(
                delete(CustomCommand).where(
                    CustomCommand.community_id == community_id, CustomCommand.name == name
                )
            )
            await session.execute(
                delete(Command).where(
                    Command.community_id == community_id,
                    Command.prefix == "!",
                    Command.trigger == name,
                    Command.module == MODULE,
                )
            )
            if getattr(removed, "rowcount", 0) == 0:
                raise NotFound(f"there is no custom command !{name} here")
        await self._changed(community_id, "custom_command_removed", name, who)

    async def _refuse_taken(self, community_id: str, name: str) -> None:
        taken = await trigger_taken(self.db, community_id, name)
        if taken == "custom command":
            raise Conflict(f"!{name} already exists here; change it with !command edit {name}")
        if taken is not None:
            raise Conflict(f"!{name} is already a command of the {taken} module; pick another name")
        if name in await alias_names(self.db, community_id):
            raise Conflict(
                f"!{name} is already an alias here; remove it with !unalias {name} first"
            )

    async def _changed(self, community_id: str, action: str, name: str, who: str | None) -> None:
        await commands_changed(self.kv, self.pubsub, "custom-commands")
        log_event(
            logger, Category.AUDIT, action, "ok", community=community_id, user=who, command=name
        )

    # --- answering (per message: cache, and the counter only when used) --------------------

    async def find(self, community_id: str, name: str) -> CustomCommandInfo | None:
        version = await self.kv.get(COMMANDS_VERSION)
        if version != self._cache_version:
            async with self._lock:
                if version != self._cache_version:
                    self._cache = {}
                    self._cache_version = version
        commands = self._cache.get(community_id)
        if commands is None:
            try:
                listed = await self.listing(community_id)
            except NotFound:
                listed = []
            commands = {c.name: c for c in listed}
            self._cache[community_id] = commands
        return commands.get(name.lower())

    async def count_use(self, community_id: str, name: str) -> int:
        """``uses = uses + 1 … RETURNING uses``: atomic on SQLite and PostgreSQL alike."""
        async with self.db.session() as session:
            found = await session.scalar(
                update(CustomCommand)
                .where(CustomCommand.community_id == community_id, CustomCommand.name == name)
                .values(uses=CustomCommand.uses + 1)
                .returning(CustomCommand.uses)
            )
        if found is None:
            raise CustomCommandError(f"!{name} no longer exists here.")
        return int(found)

    # --- chat (CustomCommandOperations) ---------------------------------------------------

    async def save(
        self,
        community_id: str,
        caller: Caller | None,
        name: str,
        response: str | None,
        *,
        cooldown: float | None = None,
        role: str | None = None,
        create: bool,
    ) -> CustomCommandInfo:
        who = _who(caller)
        try:
            change = Change(
                response=response,
                cooldown=cooldown,
                role=parse_role(role) if role is not None else None,
            )
            if create:
                return await self.create(community_id, name, change, who)
            return await self.update(community_id, name, change, who)
        except Refusal as refusal:
            raise CustomCommandError(_sentence(refusal.message)) from None

    async def remove(self, community_id: str, caller: Caller | None, name: str) -> str:
        try:
            await self.delete(community_id, name, _who(caller))
        except Refusal as refusal:
            raise CustomCommandError(_sentence(refusal.message)) from None
        return f"!{normalise_name(name)}"

    async def show(self, community_id: str, name: str) -> CustomCommandInfo:
        try:
            return await self.get(community_id, name)
        except Refusal as refusal:
            raise CustomCommandError(_sentence(refusal.message)) from None


def _who(caller: Caller | None) -> str | None:
    if caller is None:
        return None
    return f"{caller.platform}:{caller.user.name}"


def _sentence(message: str) -> str:
    text = message[:1].upper() + message[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def _info(custom: CustomCommand, command: Command) -> CustomCommandInfo:
    role = Role(command.min_role) if command.min_role in Role._value2member_map_ else Role.everyone
    return CustomCommandInfo(
        name=custom.name,
        response=custom.response,
        cooldown=command.global_cooldown,
        role=role.name,
        enabled=command.enabled,
        count=custom.uses,
        created_by=custom.created_by,
        updated_by=custom.updated_by,
        created_at=custom.created_at,
        updated_at=custom.updated_at,
    )
