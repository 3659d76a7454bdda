"""The marketplace service: ``/api/marketplace/v1``.

Browsing needs a session or a key with ``marketplace:read``; publishing needs the
``marketplace:publish`` scope (installation-wide: operator keys, superusers); reading and
changing a community's modules needs ``marketplace:install`` and, for people, the
``modules.install`` permission in that community (``admin`` keys and our own services hold
everything). Refusals are JSON ``{"detail": {"message": …, …}}`` with 404, 409 (versions, trigger
conflicts) or 422 (manifest or configuration against the module's JSON Schema).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from sqlalchemy import select

from waddlebot.kernel.contracts import Manifest
from waddlebot.kernel.observability.logging import Category, get_logger, log_event
from waddlebot.kernel.runtime import Runtime
from waddlebot.kernel.security.api_keys import Principal
from waddlebot.kernel.security.http import require_permission, require_scope
from waddlebot.kernel.service import Service
from waddlebot.kernel.storage.models import Entity
from waddlebot.kernel.web import get_runtime
from waddlebot.marketplace.catalogue import Catalogue, Entry, MarketplaceError, command_names
from waddlebot.marketplace.models import ModuleInstall
from waddlebot.marketplace.schemas import (
    Category as CategoryOut,
)
from waddlebot.marketplace.schemas import (
    CommunityRef,
    Install,
    InstallRequest,
    ModuleDetails,
    ModuleSummary,
    Published,
)
from waddlebot.modules import builtin_modules
from waddlebot.sdk import signing
from waddlebot.sdk.manifest import config_schema_problems

logger = get_logger(__name__)

PUBLISH_SCOPE = "marketplace:publish"
INSTALL_SCOPE = "marketplace:install"

READ_SCOPE = "marketplace:read"

Reader = Annotated[Principal, Depends(require_scope(READ_SCOPE))]
Publisher = Annotated[Principal, Depends(require_scope(PUBLISH_SCOPE))]
Installer = Annotated[Principal, Depends(require_scope(INSTALL_SCOPE))]
CommunityInstaller = Annotated[
    Principal, Depends(require_permission("modules.install", scope=INSTALL_SCOPE))
]


def _catalogue(request: Request) -> Catalogue:
    runtime = get_runtime(request)
    return Catalogue(runtime.db, runtime.backend)


def _refuse(error: MarketplaceError) -> HTTPException:
    return HTTPException(error.status, error.body)


def _summary(entry: Entry) -> ModuleSummary:
    row = entry.module
    return ModuleSummary(
        name=row.name,
        latest_version=row.latest_version,
        description=row.description,
        author=row.author,
        categories=list(row.categories),
        runtime=row.runtime,
        builtin=row.builtin,
        commands=command_names(entry.manifest),
    )


def _install(row: ModuleInstall, manifest: Manifest) -> Install:
    return Install(
        community_id=row.community_id,
        module=row.module_name,
        version=row.version,
        config=dict(row.config or {}),
        enabled=row.enabled,
        commands=command_names(manifest),
        installed_at=row.installed_at,
        updated_at=row.updated_at,
    )


def marketplace_api() -> APIRouter:
    api = APIRouter(prefix="/api/marketplace/v1", tags=["marketplace"])

    @api.post("/modules", status_code=status.HTTP_201_CREATED, response_model=Published)
    async def publish(manifest: Manifest, request: Request, principal: Publisher) -> Published:
        problems = config_schema_problems(manifest.config_schema)
        if problems:
            raise HTTPException(422, {"message": problems[0], "errors": problems})
        runtime = get_runtime(request)
        try:
            await _catalogue(request).publish(
                manifest,
                principal.name,
                admin=principal.installation_wide,
            )
        except MarketplaceError as error:
            raise _refuse(error) from None
        log_event(
            logger,
            Category.AUDIT,
            "module_published",
            "ok",
            user=principal.name,
            module=manifest.name,
            version=manifest.version,
            runtime=manifest.runtime,
        )
        secret = (
            signing.module_secret(runtime.settings.resolved_secret_key, manifest.name)
            if manifest.runtime == "http"
            else None
        )
        return Published(name=manifest.name, version=manifest.version, signing_secret=secret)

    @api.get("/modules", response_model=list[ModuleSummary])
    async def browse(
        request: Request,
        _: Reader,
        q: Annotated[str | None, Query(max_length=200, description="words to search for")] = None,
        category: Annotated[str | None, Query(max_length=50)] = None,
        runtime: Annotated[str | None, Query(max_length=20)] = None,
    ) -> list[ModuleSummary]:
        return [_summary(e) for e in await _catalogue(request).search(q, category, runtime)]

    @api.get("/categories", response_model=list[CategoryOut])
    async def categories(request: Request, _: Reader) -> list[CategoryOut]:
        counts = await _catalogue(request).categories()
        return [CategoryOut(name=name, modules=count) for name, count in counts.items()]

    @api.get("/modules/{name}", response_model=ModuleDetails)
    async def details(name: str, request: Request, _: Reader) -> ModuleDetails:
        try:
            entry, installs = await _catalogue(request).details(name)
        except MarketplaceError as error:
            raise _refuse(error) from None
        return ModuleDetails(
            **_summary(entry).model_dump(),
            versions=entry.versions,
            manifest=entry.manifest,
            installs=installs,
        )

    @api.get("/modules/{name}/versions/{version}", response_model=Manifest)
    async def version_manifest(name: str, version: str, request: Request, _: Reader) -> Manifest:
        try:
            return await _catalogue(request).manifest(name, version)
        except MarketplaceError as error:
            raise _refuse(error) from None

    @api.get("/communities/lookup", response_model=CommunityRef)
    async def lookup_community(
        request: Request,
        _: Installer,
        platform: str,
        server_id: str,
        channel_id: str,
    ) -> CommunityRef:
        """The community a platform channel belongs to (registered when it first chatted)."""
        async with get_runtime(request).db.read_session() as session:
            community = await session.scalar(
                select(Entity.community_id).where(
                    Entity.platform == platform,
                    Entity.server_id == server_id,
                    Entity.channel_id == channel_id,
                )
            )
        if community is None:
            raise HTTPException(404, {"message": "that channel has not been seen by the bot yet"})
        return CommunityRef(community_id=community)

    @api.get("/communities/{community_id}/modules", response_model=list[Install])
    async def installed(
        community_id: str, request: Request, _: CommunityInstaller
    ) -> list[Install]:
        try:
            rows = await _catalogue(request).installs(community_id)
        except MarketplaceError as error:
            raise _refuse(error) from None
        return [_install(row, manifest) for row, manifest in rows]

    @api.put("/communities/{community_id}/modules/{name}", response_model=Install)
    async def install(
        community_id: str,
        name: str,
        body: InstallRequest,
        request: Request,
        who: CommunityInstaller,
    ) -> Install:
        try:
            row, manifest = await _catalogue(request).install(
                community_id, name, version=body.version, config=body.config, enabled=body.enabled
            )
        except MarketplaceError as error:
            _audit("module_install", "refused", community_id, who, name, error.body["message"])
            raise _refuse(error) from None
        _audit("module_install", "ok", community_id, who, name, row.version)
        return _install(row, manifest)

    @api.post("/communities/{community_id}/modules/{name}/enable", response_model=Install)
    async def enable(
        community_id: str, name: str, request: Request, who: CommunityInstaller
    ) -> Install:
        return await _toggle(request, community_id, name, True, who)

    @api.post("/communities/{community_id}/modules/{name}/disable", response_model=Install)
    async def disable(
        community_id: str, name: str, request: Request, who: CommunityInstaller
    ) -> Install:
        return await _toggle(request, community_id, name, False, who)

    @api.delete(
        "/communities/{community_id}/modules/{name}", status_code=status.HTTP_204_NO_CONTENT
    )
    async def uninstall(
        community_id: str, name: str, request: Request, who: CommunityInstaller
    ) -> Response:
        try:
            await _catalogue(request).uninstall(community_id, name)
        except MarketplaceError as error:
            raise _refuse(error) from None
        _audit("module_uninstall", "ok", community_id, who, name, None)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    return api


async def _toggle(
    request: Request, community_id: str, name: str, enabled: bool, who: Principal
) -> Install:
    try:
        row, manifest = await _catalogue(request).set_enabled(community_id, name, enabled)
    except MarketplaceError as error:
        raise _refuse(error) from None
    _audit("module_enable" if enabled else "module_disable", "ok", community_id, who, name, None)
    return _install(row, manifest)


def _audit(
    action: str, result: str, community: str, who: Principal, module: str, detail: str | None
) -> None:
    log_event(
        logger,
        Category.AUDIT,
        action,
        result,
        community=community,
        user=who.name,
        module=module,
        detail=detail,
    )


class MarketplaceService(Service):
    name = "marketplace"

    def api(self) -> APIRouter:
        return marketplace_api()

    async def start(self, runtime: Runtime) -> None:
        await Catalogue(runtime.db, runtime.backend).sync_builtins(builtin_modules())
