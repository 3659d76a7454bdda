"""The Modules page: browse the marketplace, install or reconfigure a module with a form made
from its JSON Schema, enable, disable, uninstall — through the marketplace's ``Catalogue``, as
``/api/marketplace/v1`` does (its schema validation is the one that decides)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response, status

from waddlebot.marketplace.catalogue import Catalogue, MarketplaceError, command_names
from waddlebot.portal.web import Who, audit, enter_community, read_form, render, runtime_of

PERMISSION = "modules.install"
SIMPLE_TYPES = ("string", "integer", "number", "boolean")


def _catalogue(request: Request) -> Catalogue:
    runtime = runtime_of(request)
    return Catalogue(runtime.db, runtime.backend)


def schema_fields(schema: dict[str, Any], config: dict[str, Any]) -> list[dict[str, Any]]:
    """One form field per top-level property: its type, choices, bounds, default, value."""
    fields = []
    required = set(schema.get("required") or [])
    for name, spec in (schema.get("properties") or {}).items():
        if not isinstance(spec, dict):
            continue
        kind = spec.get("type") if spec.get("type") in SIMPLE_TYPES else "string"
        value = config.get(name, spec.get("default", ""))
        fields.append(
            {
                "name": name,
                "label": spec.get("title") or name.replace("_", " ").capitalize(),
                "description": spec.get("description", ""),
                "type": kind,
                "enum": [str(v) for v in spec["enum"]]
                if isinstance(spec.get("enum"), list)
                else None,
                "minimum": spec.get("minimum"),
                "maximum": spec.get("maximum"),
                "default": spec.get("default"),
                "required": name in required,
                "value": "" if value is None else value,
            }
        )
    return fields


def read_config(
    schema: dict[str, Any], form: dict[str, list[str]]
) -> tuple[dict[str, Any], dict[str, str]]:
    """The posted values converted to the schema's types; what cannot be converted is an
    error for its field (the bounds, enums and the rest are left to the schema validator)."""
    config: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name, spec in (schema.get("properties") or {}).items():
        if not isinstance(spec, dict):
            continue
        kind = spec.get("type")
        raw = (form.get(f"config.{name}") or [""])[0].strip()
        if kind == "boolean":
            config[name] = raw == "on"
            continue
        if raw == "":
            continue  # absent: the module's default applies (or "required" says so)
        if kind == "integer":
            try:
                config[name] = int(raw)
            except ValueError:
                errors[name] = f"{raw[:40]!r} is not a whole number"
        elif kind == "number":
            try:
                config[name] = float(raw)
            except ValueError:
                errors[name] = f"{raw[:40]!r} is not a number"
        else:
            enum = spec.get("enum")
            if isinstance(enum, list) and raw not in [str(v) for v in enum]:
                errors[name] = f"choose one of {', '.join(str(v) for v in enum)}"
            else:
                match = next((v for v in enum or [] if str(v) == raw), raw)
                config[name] = match
    return config, errors


def add_module_pages(api: APIRouter) -> None:
    """Add the Modules pages to the portal's router."""
    from waddlebot.portal.pages import done, notice_of  # pages.py calls us: import late

    base = "/c/{community_id}/modules"

    @api.get(base)
    async def modules(community_id: str, request: Request, viewer: Who) -> Response:
        await enter_community(request, viewer, community_id, PERMISSION)
        catalogue = _catalogue(request)
        query = request.query_params.get("q", "")[:200]
        entries = await catalogue.search(query or None, None, None)
        installed = {
            row.module_name: (row, manifest)
            for row, manifest in await catalogue.installs(community_id)
        }
        return render(
            request,
            "modules.html",
            {
                "entries": [
                    {
                        "name": e.module.name,
                        "description": e.module.description,
                        "version": e.module.latest_version,
                        "categories": list(e.module.categories),
                        "builtin": e.module.builtin,
                        "commands": command_names(e.manifest),
                        "installed": installed.get(e.module.name, (None, None))[0],
                    }
                    for e in entries
                ],
                "query": query,
                "notice": notice_of(request),
            },
        )

    async def _config_page(
        request: Request,
        community_id: str,
        name: str,
        *,
        posted: dict[str, Any] | None = None,
        errors: dict[str, str] | None = None,
        enabled: bool | None = None,
        status_code: int = 200,
    ) -> Response:
        catalogue = _catalogue(request)
        try:
            entry, _ = await catalogue.details(name)
        except MarketplaceError as error:
            raise HTTPException(error.status, error.body["message"]) from None
        current = {row.module_name: row for row, _ in await catalogue.installs(community_id)}.get(
            name
        )
        config = posted if posted is not None else dict(current.config or {}) if current else {}
        return render(
            request,
            "module.html",
            {
                "module": entry.module,
                "commands": command_names(entry.manifest),
                "fields": schema_fields(entry.manifest.config_schema or {}, config),
                "installed": current,
                "enabled": enabled
                if enabled is not None
                else (current.enabled if current else True),
                "errors": errors or {},
            },
            status_code=status_code,
        )

    @api.get(base + "/{name}")
    async def module_page(community_id: str, name: str, request: Request, viewer: Who) -> Response:
        await enter_community(request, viewer, community_id, PERMISSION)
        return await _config_page(request, community_id, name[:100])

    @api.post(base + "/{name}")
    async def install(community_id: str, name: str, request: Request, viewer: Who) -> Response:
        """Install, upgrade or reconfigure; schema errors are shown next to their field."""
        await enter_community(request, viewer, community_id, PERMISSION)
        form = await read_form(request)
        catalogue = _catalogue(request)
        try:
            entry, _ = await catalogue.details(name[:100])
        except MarketplaceError as error:
            raise HTTPException(error.status, error.body["message"]) from None
        schema = entry.manifest.config_schema or {}
        config, errors = read_config(schema, form)
        enabled = (form.get("enabled") or [""])[0] == "on"
        if not errors:
            try:
                await catalogue.install(
                    community_id, entry.module.name, version=None, config=config, enabled=enabled
                )
            except MarketplaceError as error:
                for problem in error.body.get("errors") or []:
                    field = str(problem.get("path", "/")).strip("/").split("/")[0] or "form"
                    errors.setdefault(field, str(problem.get("message", "")))
                if not errors:
                    errors["form"] = error.body["message"]
        if errors:
            audit(
                request,
                "module_install",
                "refused",
                community=community_id,
                module=entry.module.name,
            )
            return await _config_page(
                request,
                community_id,
                entry.module.name,
                posted=config,
                errors=errors,
                enabled=enabled,
                status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
            )
        audit(request, "module_install", community=community_id, module=entry.module.name)
        return done(request, f"/c/{community_id}/modules", "module-installed", entry.module.name)

    @api.post(base + "/{name}/{action}")
    async def module_action(
        community_id: str, name: str, action: str, request: Request, viewer: Who
    ) -> Response:
        await enter_community(request, viewer, community_id, PERMISSION)
        await read_form(request)
        catalogue = _catalogue(request)
        try:
            if action == "enable":
                await catalogue.set_enabled(community_id, name[:100], True)
            elif action == "disable":
                await catalogue.set_enabled(community_id, name[:100], False)
            elif action == "uninstall":
                await catalogue.uninstall(community_id, name[:100])
            else:
                raise HTTPException(status.HTTP_404_NOT_FOUND, "No such module action.")
        except MarketplaceError as error:
            raise HTTPException(error.status, error.body["message"]) from None
        audit(request, f"module_{action}", community=community_id, module=name[:100])
        return done(request, f"/c/{community_id}/modules", f"module-{action}", name[:100])
