"""The command table: every trigger in a dictionary, looked up in O(1) per message.

Loaded from the ``commands`` table at start-up and reloaded whenever anyone publishes on
``COMMANDS_CHANGED`` or bumps ``COMMANDS_VERSION`` (both in ``kernel/contracts/names.py``;
``kernel/backends/announce.py`` does both, for everything that changes commands), so every
router process sees a change at once without a restart.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select

from waddlebot.kernel.contracts import CommandInfo, Manifest, Role
from waddlebot.kernel.errors import NotFound
from waddlebot.kernel.observability.logging import Category, get_logger, log_event
from waddlebot.kernel.storage import Database
from waddlebot.kernel.storage.models import Command, Community
from waddlebot.sdk import Module
from waddlebot.sdk.triggers import TriggerClaim, trigger_of

Key = tuple[str | None, str, str]  # (community id or None for global, prefix, trigger)
Listener = tuple[str, str]  # (module, event type)
AudienceSource = Callable[[], Awaitable[Collection[str]]]

logger = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class CommandEntry:
    community_id: str | None
    prefix: str
    trigger: str
    module: str
    usage: str
    description: str
    min_role: Role
    user_cooldown: float
    global_cooldown: float
    enabled: bool
    permission: str | None = None
    subcommand_permissions: tuple[tuple[str, str], ...] = ()

    def required_permission(self, args: list[str]) -> str | None:
        """The permission this invocation needs: its subcommand's, else the command's."""
        if args and self.subcommand_permissions:
            wanted = args[0].lower()
            for name, permission in self.subcommand_permissions:
                if name == wanted:
                    return permission
        return self.permission

    def info(self) -> CommandInfo:
        return CommandInfo.model_validate(
            {
                "prefix": self.prefix,
                "trigger": self.trigger,
                "module": self.module,
                "usage": self.usage,
                "description": self.description,
                "min_role": self.min_role,
                "permission": self.permission,
            }
        )


def _entry(row: Command) -> CommandEntry:
    return CommandEntry(
        community_id=row.community_id,
        prefix=row.prefix,
        trigger=row.trigger,
        module=row.module,
        usage=row.usage,
        description=row.description,
        min_role=Role(row.min_role) if row.min_role in Role._value2member_map_ else Role.everyone,
        user_cooldown=row.user_cooldown,
        global_cooldown=row.global_cooldown,
        enabled=row.enabled,
        permission=row.permission,
        subcommand_permissions=tuple(sorted((row.subcommand_permissions or {}).items())),
    )


class CommandTable:
    """All commands, keyed for direct lookup; community rows override global ones."""

    def __init__(self, entries: Iterable[CommandEntry] = ()) -> None:
        self._by_key: dict[Key, CommandEntry] = {}
        self._configs: dict[tuple[str, str], dict[str, Any]] = {}
        self.remote: dict[str, Manifest] = {}
        self._aliases: dict[str, dict[str, str]] = {}  # community → alias name → target
        self._line_counted: frozenset[str] = frozenset()  # entities with a --lines timer
        # Event handlers that listen only in some communities (``on_event(where=…)``): where
        # to read their communities from, and what was read at the last load.
        self.audience_sources: dict[Listener, AudienceSource] = {}
        self._audiences: dict[Listener, frozenset[str]] = {}
        self.replace(entries)

    def __len__(self) -> int:
        return len(self._by_key)

    def replace(self, entries: Iterable[CommandEntry]) -> None:
        """Swap in a new set of commands in one assignment (safe for concurrent readers)."""
        self._by_key = {(e.community_id, e.prefix, e.trigger): e for e in entries}

    def lookup(self, community_id: str, prefix: str, trigger: str) -> CommandEntry | None:
        """The enabled command for this community, or None."""
        entry = self._by_key.get((community_id, prefix, trigger)) or self._by_key.get(
            (None, prefix, trigger)
        )
        return entry if entry is not None and entry.enabled else None

    def find(self, community_id: str, prefix: str, trigger: str) -> CommandEntry | None:
        """The command for this community whether enabled or not (for clear refusals)."""
        return self._by_key.get((community_id, prefix, trigger)) or self._by_key.get(
            (None, prefix, trigger)
        )

    def config(self, community_id: str, module: str) -> dict[str, Any]:
        """The community's configuration of ``module`` (empty when it has none)."""
        return self._configs.get((community_id, module), {})

    def installed(self, community_id: str, module: str) -> bool:
        """True when ``module`` is installed and enabled in the community."""
        return (community_id, module) in self._configs

    def replace_installs(
        self, configs: dict[tuple[str, str], dict[str, Any]], remote: dict[str, Manifest]
    ) -> None:
        """Swap in enabled installs (with their configuration) and the remote modules' manifests."""
        self._configs, self.remote = configs, remote

    def aliases(self, community_id: str) -> dict[str, str]:
        """The community's aliases, ``{name: target}`` (empty when it has none)."""
        return self._aliases.get(community_id, {})

    def counts_lines(self, entity_id: str) -> bool:
        """Whether a timer in this channel waits for chat lines (so the router counts them)."""
        return entity_id in self._line_counted

    def listens(self, module: str, event_type: str, community_id: str) -> bool:
        """Whether ``module`` wants ``event_type`` events from the community (True unless its
        handler named the communities it listens in and this is not one of them)."""
        audience = self._audiences.get((module, event_type))
        return audience is None or community_id in audience

    async def load_audiences(self) -> None:
        """Read every handler's communities; one that cannot be read listens everywhere
        (as before it had an audience): a failed read costs work, never an event."""
        audiences: dict[Listener, frozenset[str]] = {}
        for listener, source in self.audience_sources.items():
            try:
                audiences[listener] = frozenset(await source())
            except Exception as error:
                log_event(
                    logger,
                    Category.ERROR,
                    "event_audience",
                    "failed",
                    level="error",
                    module=listener[0],
                    event=listener[1],
                    detail=f"{type(error).__name__}: {error}",
                )
        self._audiences = audiences

    def replace_aliases(self, aliases: dict[str, dict[str, str]]) -> None:
        """Swap in every community's aliases (see :mod:`waddlebot.aliases`)."""
        self._aliases = aliases

    def available(self, community_id: str, role: Role) -> list[CommandInfo]:
        """Commands ``role`` may run in the community, sorted for listings; aliases are listed
        with the role and permission of the command they end at."""
        merged: dict[tuple[str, str], CommandEntry] = {}
        for (owner, prefix, trigger), entry in self._by_key.items():
            if owner is None:
                merged.setdefault((prefix, trigger), entry)
            elif owner == community_id:
                merged[(prefix, trigger)] = entry
        listed = [
            entry.info()
            for _, entry in sorted(merged.items())
            if entry.enabled and entry.min_role <= role
        ]
        listed.extend(self._alias_infos(community_id, role))
        return sorted(listed, key=lambda info: (info.prefix, info.trigger))

    def _alias_infos(self, community_id: str, role: Role) -> list[CommandInfo]:
        from waddlebot.aliases.expand import final_target

        aliases = self.aliases(community_id)
        infos = []
        for name, target in aliases.items():
            if self.find(community_id, "!", name) is not None:
                continue  # a command answers this name first
            end = final_target(
                target,
                aliases,
                lambda prefix, trigger: self.find(community_id, prefix, trigger) is not None,
            )
            entry = self.lookup(community_id, end.prefix, end.trigger) if end else None
            if end is None or entry is None or entry.min_role > role:
                continue
            infos.append(
                CommandInfo(
                    prefix="!",
                    trigger=name,
                    module="aliases",
                    usage=f"!{name}",
                    description=f"Alias: {target}",
                    min_role=entry.min_role,
                    permission=entry.required_permission(end.args),
                )
            )
        return infos

    async def load(self, db: Database) -> None:
        from waddlebot.aliases.manager import load_aliases
        from waddlebot.marketplace.models import ModuleInstall, ModuleVersion
        from waddlebot.timers.manager import line_counted_entities

        async with db.read_session() as session:
            rows = (await session.scalars(select(Command))).all()
            installs = (
                await session.execute(
                    select(ModuleInstall, ModuleVersion.manifest).join(
                        ModuleVersion,
                        (ModuleVersion.module_name == ModuleInstall.module_name)
                        & (ModuleVersion.version == ModuleInstall.version),
                    )
                )
            ).all()
        configs: dict[tuple[str, str], dict[str, Any]] = {}
        remote: dict[str, Manifest] = {}
        for install, raw in installs:
            manifest = Manifest.model_validate(raw)
            if manifest.runtime != "builtin":
                current = remote.get(manifest.name)
                if current is None or _version_key(manifest.version) > _version_key(
                    current.version
                ):
                    remote[manifest.name] = manifest
            if install.enabled:
                configs[(install.community_id, install.module_name)] = dict(install.config or {})
        self.replace(_entry(row) for row in rows)
        self.replace_installs(configs, remote)
        self.replace_aliases(await load_aliases(db))
        self._line_counted = frozenset(await line_counted_entities(db))
        await self.load_audiences()


def _version_key(version: str) -> tuple[int, ...]:
    core = version.split("-", 1)[0].split("+", 1)[0]
    return tuple(int(part) for part in core.split(".") if part.isdigit())


async def sync_module_commands(db: Database, modules: Sequence[Module]) -> None:
    """Make the global command rows match the commands built-in modules declare.

    Usage, description, minimum role and permissions follow the code; ``enabled`` and
    cooldowns an admin changed in the database are kept. Communities' own copies of built-in
    commands get the code's usage, description and permissions, and keep their tuning.
    """
    async with db.session() as session:
        rows = (await session.scalars(select(Command).where(Command.community_id.is_(None)))).all()
        existing = {(row.prefix, row.trigger): row for row in rows}
        for module in modules:
            for spec in module.commands.values():
                row = existing.get((spec.prefix, spec.trigger))
                if row is None:
                    row = Command(
                        community_id=None,
                        prefix=spec.prefix,
                        trigger=spec.trigger,
                        user_cooldown=spec.user_cooldown,
                        global_cooldown=spec.global_cooldown,
                        enabled=True,
                    )
                    session.add(row)
                    existing[(spec.prefix, spec.trigger)] = row
                row.module = module.name
                row.usage = spec.display_usage
                row.description = spec.description
                row.min_role = int(spec.min_role)
                row.permission = spec.permission
                row.subcommand_permissions = spec.subcommand_permissions
        # A community's own copy of a built-in command (made when it tuned the command)
        # follows the code too, except for what the community tuned.
        overrides = (
            await session.scalars(
                select(Command).where(
                    Command.community_id.is_not(None),
                    Command.module.in_([module.name for module in modules]),
                )
            )
        ).all()
        declared = {
            (c.prefix, c.trigger): (m.name, c) for m in modules for c in m.commands.values()
        }
        dynamic = {m.name for m in modules if m.dynamic_handler is not None}
        for row in overrides:
            owner, found = declared.get((row.prefix, row.trigger), (None, None))
            if row.module in dynamic and (owner != row.module or found is None):
                continue  # a row a dynamic module owns as data (a custom command)
            if owner is not None and found is not None:
                row.module = owner  # a command that moved to another built-in module
                row.usage = found.display_usage
                row.description = found.description
                row.permission = found.permission
                row.subcommand_permissions = found.subcommand_permissions


async def claim_triggers(
    db: Database,
    community_id: str,
    module: str,
    wanted: Sequence[str],
    keep: Sequence[str],
    description: str,
) -> TriggerClaim:
    """Make the community's command rows for ``module`` answer exactly ``wanted`` (plus the
    module's own ``keep`` triggers), so the router hands them to the module's
    ``@dynamic_commands``; triggers another module answers here are refused, not taken."""
    triggers = {trigger_of(name) for name in wanted}
    async with db.session() as session:
        if await session.get(Community, community_id) is None:
            raise NotFound(f"Community {community_id} does not exist.")
        rows = (
            await session.scalars(
                select(Command).where(
                    or_(Command.community_id.is_(None), Command.community_id == community_id),
                    Command.prefix == "!",
                )
            )
        ).all()
        mine = {
            row.trigger: row
            for row in rows
            if row.community_id == community_id and row.module == module
        }
        others = {row.trigger: row.module for row in rows if row.module != module}
        refused = {t: others[t] for t in sorted(triggers) if t in others}
        added = sorted(triggers - set(mine) - set(refused))
        removed = sorted(set(mine) - triggers - set(keep))
        for trigger in removed:
            await session.delete(mine[trigger])
        for trigger in added:
            session.add(
                Command(
                    community_id=community_id,
                    prefix="!",
                    trigger=trigger,
                    module=module,
                    usage=f"!{trigger}",
                    description=description,
                    min_role=0,
                    permission=None,
                    subcommand_permissions={},
                    user_cooldown=0.0,
                    global_cooldown=0.0,
                    enabled=True,
                )
            )
    return TriggerClaim(added, removed, refused)


async def installed_config(db: Database, community_id: str, module: str) -> dict[str, Any]:
    """The community's stored configuration of ``module`` (empty when not installed): what
    the table will hold after its next reload, read now for REST routes and background work."""
    from waddlebot.marketplace.models import ModuleInstall

    async with db.read_session() as session:
        config = await session.scalar(
            select(ModuleInstall.config).where(
                ModuleInstall.community_id == community_id, ModuleInstall.module_name == module
            )
        )
    return dict(config or {})
