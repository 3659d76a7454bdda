"""Marketplace operations on the database: publish, browse, install, enable, uninstall.

Every change to what a community can run rewrites that community's ``commands`` rows in the
same transaction and then announces it
(:func:`~waddlebot.kernel.backends.announce.commands_changed`), so every router reloads its
table at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from waddlebot.kernel.backends import Backend
from waddlebot.kernel.backends.announce import commands_changed
from waddlebot.kernel.contracts import Manifest
from waddlebot.kernel.storage import Database
from waddlebot.kernel.storage.models import Command, Community
from waddlebot.marketplace.models import CatalogueModule, ModuleInstall, ModuleVersion
from waddlebot.router.registry import _version_key
from waddlebot.sdk import Module
from waddlebot.sdk.manifest import config_errors


class MarketplaceError(Exception):
    """A refusal with an HTTP status and a body the API returns as is."""

    status = 400

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.body: dict[str, Any] = {"message": message, **extra}


class NotFound(MarketplaceError):
    status = 404


class Conflict(MarketplaceError):
    status = 409


class Forbidden(MarketplaceError):
    status = 403


class Invalid(MarketplaceError):
    status = 422


@dataclass
class Entry:
    module: CatalogueModule
    manifest: Manifest
    versions: list[str] = field(default_factory=list)


def command_names(manifest: Manifest) -> list[str]:
    return [f"{c.prefix}{c.trigger}" for c in manifest.commands]


class Catalogue:
    def __init__(self, db: Database, backend: Backend) -> None:
        self.db = db
        self.backend = backend

    async def changed(self) -> None:
        """Make every router reload: bump the version (read per command), then tell them."""
        await commands_changed(self.backend.kv, self.backend.pubsub, "marketplace")

    # --- catalogue ----------------------------------------------------------------------

    async def sync_builtins(self, modules: Iterable[Module]) -> None:
        """Make the built-in modules appear in the catalogue like any other."""
        for module in modules:
            manifest = module.manifest(runtime="builtin").model_dump(mode="json")
            try:
                async with self.db.session() as session:
                    row = await session.get(CatalogueModule, module.name)
                    if row is None:
                        row = CatalogueModule(name=module.name, publisher="waddlebot")
                        session.add(row)
                    row.latest_version = module.version
                    row.description = module.description
                    row.author = module.author or "WaddleBot"
                    row.categories = module.categories or ["built-in"]
                    row.runtime = "builtin"
                    row.builtin = True
                    await session.flush()
                    version = await session.scalar(
                        select(ModuleVersion).where(
                            ModuleVersion.module_name == module.name,
                            ModuleVersion.version == module.version,
                        )
                    )
                    if version is None:
                        session.add(
                            ModuleVersion(
                                module_name=module.name, version=module.version, manifest=manifest
                            )
                        )
                    else:
                        version.manifest = manifest  # built-ins: the code is the truth
            except IntegrityError:
                continue  # another replica synced it at the same moment

    async def publish(self, manifest: Manifest, publisher: str, *, admin: bool) -> None:
        if manifest.runtime == "builtin":
            raise Invalid(
                "built-in modules ship with WaddleBot; publish an http, lambda or openwhisk module"
            )
        data = manifest.model_dump(mode="json")
        try:
            async with self.db.session() as session:
                row = await session.get(CatalogueModule, manifest.name)
                if row is not None and row.builtin:
                    raise Conflict(f"{manifest.name} is the name of a built-in module")
                if row is not None and row.publisher != publisher and not admin:
                    raise Forbidden(f"{manifest.name} belongs to another publisher")
                exists = await session.scalar(
                    select(ModuleVersion.id).where(
                        ModuleVersion.module_name == manifest.name,
                        ModuleVersion.version == manifest.version,
                    )
                )
                if exists is not None:
                    raise Conflict(
                        f"{manifest.name} {manifest.version} is already published; "
                        "versions are immutable, publish a new version"
                    )
                if row is None:
                    row = CatalogueModule(
                        name=manifest.name, publisher=publisher, latest_version=manifest.version
                    )
                    session.add(row)
                if _version_key(manifest.version) >= _version_key(row.latest_version):
                    row.latest_version = manifest.version
                    row.description = manifest.description
                    row.author = manifest.author
                    row.categories = manifest.categories
                    row.runtime = manifest.runtime
                    row.builtin = False
                await session.flush()
                session.add(
                    ModuleVersion(
                        module_name=manifest.name, version=manifest.version, manifest=data
                    )
                )
        except IntegrityError:
            raise Conflict(
                f"{manifest.name} {manifest.version} was published concurrently"
            ) from None

    async def entries(self) -> list[Entry]:
        async with self.db.read_session() as session:
            rows = (
                await session.execute(
                    select(CatalogueModule, ModuleVersion.manifest)
                    .join(
                        ModuleVersion,
                        (ModuleVersion.module_name == CatalogueModule.name)
                        & (ModuleVersion.version == CatalogueModule.latest_version),
                    )
                    .order_by(CatalogueModule.name)
                )
            ).all()
        return [Entry(module=row, manifest=Manifest.model_validate(raw)) for row, raw in rows]

    async def search(
        self, query: str | None, category: str | None, runtime: str | None
    ) -> list[Entry]:
        wanted = (query or "").strip().lower()
        found = []
        for entry in await self.entries():
            row = entry.module
            if category and category.lower() not in (c.lower() for c in row.categories):
                continue
            if runtime and row.runtime != runtime:
                continue
            if wanted:
                haystack = " ".join(
                    [
                        row.name,
                        row.description,
                        row.author,
                        *row.categories,
                        *command_names(entry.manifest),
                    ]
                ).lower()
                if not all(word in haystack for word in wanted.split()):
                    continue
            found.append(entry)
        return found

    async def categories(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for entry in await self.entries():
            for category in entry.module.categories:
                counts[category] = counts.get(category, 0) + 1
        return dict(sorted(counts.items()))

    async def details(self, name: str) -> tuple[Entry, int]:
        async with self.db.read_session() as session:
            row = await session.get(CatalogueModule, name)
            if row is None:
                raise NotFound(f"there is no module {name!r} in the marketplace")
            versions = (
                await session.scalars(
                    select(ModuleVersion.version).where(ModuleVersion.module_name == name)
                )
            ).all()
            raw = await session.scalar(
                select(ModuleVersion.manifest).where(
                    ModuleVersion.module_name == name, ModuleVersion.version == row.latest_version
                )
            )
            installs = await session.scalar(
                select(func.count())
                .select_from(ModuleInstall)
                .where(ModuleInstall.module_name == name)
            )
        entry = Entry(
            module=row,
            manifest=Manifest.model_validate(raw),
            versions=sorted(versions, key=_version_key),
        )
        return entry, int(installs or 0)

    async def manifest(self, name: str, version: str) -> Manifest:
        async with self.db.read_session() as session:
            raw = await session.scalar(
                select(ModuleVersion.manifest).where(
                    ModuleVersion.module_name == name, ModuleVersion.version == version
                )
            )
        if raw is None:
            raise NotFound(f"{name} has no version {version}")
        return Manifest.model_validate(raw)

    # --- installs -----------------------------------------------------------------------

    async def installs(self, community_id: str) -> list[tuple[ModuleInstall, Manifest]]:
        async with self.db.read_session() as session:
            await _community(session, community_id)
            rows = (
                await session.execute(
                    select(ModuleInstall, ModuleVersion.manifest)
                    .join(
                        ModuleVersion,
                        (ModuleVersion.module_name == ModuleInstall.module_name)
                        & (ModuleVersion.version == ModuleInstall.version),
                    )
                    .where(ModuleInstall.community_id == community_id)
                    .order_by(ModuleInstall.module_name)
                )
            ).all()
        return [(row, Manifest.model_validate(raw)) for row, raw in rows]

    async def install(
        self,
        community_id: str,
        name: str,
        *,
        version: str | None,
        config: dict[str, Any],
        enabled: bool,
    ) -> tuple[ModuleInstall, Manifest]:
        """Install (or upgrade, or reconfigure) ``name`` in the community."""
        try:
            async with self.db.session() as session:
                await _community(session, community_id)
                module = await session.get(CatalogueModule, name)
                if module is None:
                    raise NotFound(f"there is no module {name!r} in the marketplace")
                if module.builtin:
                    raise Conflict(f"{name} is built in: every community already has it")
                chosen = version or module.latest_version
                raw = await session.scalar(
                    select(ModuleVersion.manifest).where(
                        ModuleVersion.module_name == name, ModuleVersion.version == chosen
                    )
                )
                if raw is None:
                    raise NotFound(f"{name} has no version {chosen}")
                manifest = Manifest.model_validate(raw)
                errors = config_errors(manifest.config_schema, config)
                if errors:
                    first = errors[0]
                    raise Invalid(
                        f"invalid configuration for {name}: {first['message']} "
                        f"(at {first['path']})",
                        errors=errors,
                    )
                await _check_conflicts(session, community_id, name, manifest)
                row = await session.scalar(
                    select(ModuleInstall).where(
                        ModuleInstall.community_id == community_id,
                        ModuleInstall.module_name == name,
                    )
                )
                if row is None:
                    row = ModuleInstall(community_id=community_id, module_name=name)
                    session.add(row)
                row.version, row.config, row.enabled = chosen, config, enabled
                await _write_commands(session, community_id, name, manifest, enabled)
                await session.flush()
        except IntegrityError:
            raise Conflict(f"{name} was changed concurrently in this community; retry") from None
        await self.changed()
        return row, manifest

    async def set_enabled(
        self, community_id: str, name: str, enabled: bool
    ) -> tuple[ModuleInstall, Manifest]:
        async with self.db.session() as session:
            row, manifest = await _install_row(session, community_id, name)
            if enabled:
                await _check_conflicts(session, community_id, name, manifest)
            row.enabled = enabled
            await _write_commands(session, community_id, name, manifest, enabled)
        await self.changed()
        return row, manifest

    async def uninstall(self, community_id: str, name: str) -> None:
        async with self.db.session() as session:
            row, _ = await _install_row(session, community_id, name)
            await session.delete(row)
            await session.execute(
                delete(Command).where(Command.community_id == community_id, Command.module == name)
            )
        await self.changed()


async def _community(session: AsyncSession, community_id: str) -> Community:
    community = await session.get(Community, community_id)
    if community is None:
        raise NotFound(f"there is no community {community_id!r}")
    return community


async def _install_row(
    session: AsyncSession, community_id: str, name: str
) -> tuple[ModuleInstall, Manifest]:
    await _community(session, community_id)
    row = await session.scalar(
        select(ModuleInstall).where(
            ModuleInstall.community_id == community_id, ModuleInstall.module_name == name
        )
    )
    if row is None:
        raise NotFound(f"{name} is not installed in this community")
    raw = await session.scalar(
        select(ModuleVersion.manifest).where(
            ModuleVersion.module_name == name, ModuleVersion.version == row.version
        )
    )
    return row, Manifest.model_validate(raw)


async def _check_conflicts(
    session: AsyncSession, community_id: str, name: str, manifest: Manifest
) -> None:
    """409 naming every trigger another module already answers in this community."""
    if not manifest.commands:
        return
    wanted = {(c.prefix or "!", c.trigger) for c in manifest.commands}
    rows: Sequence[Command] = (
        await session.scalars(
            select(Command).where(
                or_(Command.community_id == community_id, Command.community_id.is_(None)),
                Command.module != name,
                Command.trigger.in_([trigger for _, trigger in wanted]),
            )
        )
    ).all()
    conflicts = sorted(
        {
            (f"{row.prefix}{row.trigger}", row.module)
            for row in rows
            if (row.prefix, row.trigger) in wanted
        }
    )
    if conflicts:
        listed = ", ".join(f"{command} (from {module})" for command, module in conflicts)
        raise Conflict(
            f"{name} cannot be installed here: {listed} already exist in this community; "
            "uninstall the other module first",
            conflicts=[{"command": command, "module": module} for command, module in conflicts],
        )


async def _write_commands(
    session: AsyncSession, community_id: str, name: str, manifest: Manifest, enabled: bool
) -> None:
    await session.execute(
        delete(Command).where(Command.community_id == community_id, Command.module == name)
    )
    await session.flush()
    for command in manifest.commands:
        prefix = command.prefix or "!"
        session.add(
            Command(
                community_id=community_id,
                prefix=prefix,
                trigger=command.trigger,
                module=name,
                usage=command.usage or f"{prefix}{command.trigger}",
                description=command.description,
                min_role=int(command.min_role),
                permission=command.permission,
                subcommand_permissions=dict(command.subcommand_permissions),
                user_cooldown=command.user_cooldown,
                global_cooldown=command.global_cooldown,
                enabled=enabled,
            )
        )
