"""The portal's pages: log in and out, communities, commands, members, overlays, my account.

Forms post here and call the managers the REST API calls (one validation); a refusal is shown
next to the field it is about. Every page works without JavaScript; only the live preview of
a custom command's response needs htmx.
"""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, datetime
from importlib import resources
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Request, Response, status
from fastapi.responses import RedirectResponse
from sqlalchemy import select

from waddlebot.accounts.oauth import PROVIDERS, provider
from waddlebot.accounts.service import (
    account_view,
    client_ip,
    create_own_key,
    password_login,
    sessions_of,
    set_session_cookie,
)
from waddlebot.aliases.manager import AliasManager
from waddlebot.communities.manager import CommandChange
from waddlebot.custom_commands.manager import (
    MODULE as CUSTOM_MODULE,
)
from waddlebot.custom_commands.manager import (
    Change,
    CustomCommandManager,
    check_cooldown,
    check_template,
    normalise_name,
    parse_role,
)
from waddlebot.custom_commands.template import MAX_TEMPLATE, TemplateError, Values, parse
from waddlebot.custom_commands.template import render as render_template
from waddlebot.identity.lookup import find_account
from waddlebot.kernel.contracts import OverlayAction, Role
from waddlebot.kernel.contracts.names import overlay_channel
from waddlebot.kernel.errors import Conflict, Invalid, NotFound, Refusal
from waddlebot.kernel.security.api_keys import (
    COMMUNITY_SCOPES,
    SCOPES,
    list_api_keys,
    revoke_api_key,
)
from waddlebot.kernel.security.key_copies import announce_keys_changed
from waddlebot.kernel.security.rbac import COMMUNITY_ROLES, PERMISSIONS
from waddlebot.kernel.security.sessions import COOKIE_NAME
from waddlebot.kernel.storage.models import User
from waddlebot.labels.manager import (
    DEFAULT_COLOUR,
    validate_colour,
    validate_description,
    validate_name,
    validate_target,
)
from waddlebot.overlays.sanitize import KINDS, sanitise
from waddlebot.overlays.tokens import OverlayTokens, UnknownCommunity
from waddlebot.portal.ai_page import add_ai_page
from waddlebot.portal.aliases_timers import add_alias_timer_routes, channels, empty_timer_form
from waddlebot.portal.audit import add_audit_pages
from waddlebot.portal.chart import command_chart
from waddlebot.portal.health import discord_gateway, platform_health
from waddlebot.portal.label_targets import (
    add_label_target_routes,
    days_until,
    label_manager,
    target_choices,
    target_context,
)
from waddlebot.portal.module_pages import add_interaction_pages
from waddlebot.portal.modules import add_module_pages
from waddlebot.portal.music_page import add_music_page
from waddlebot.portal.overview import recent_commands
from waddlebot.portal.platforms import add_platform_pages
from waddlebot.portal.web import (
    PREFIX,
    PortalRoute,
    Viewer,
    Who,
    acting,
    audit,
    community_manager,
    enter_community,
    one,
    optional_viewer,
    read_form,
    redirect,
    render,
    runtime_of,
)
from waddlebot.timers.manager import TimerManager

PLATFORM_ROLES = ("everyone", "subscriber", "vip", "moderator", "broadcaster")
STATIC_TYPES = {".css": "text/css", ".js": "text/javascript", ".txt": "text/plain"}
TEST_ALERT = {"event": "follow", "user": "WaddleBot", "title": "Test alert from the portal"}
NOTICES = {
    "created": "Saved the new command !{name}.",
    "updated": "Saved !{name}.",
    "deleted": "Deleted !{name}.",
    "enabled": "Enabled {name}.",
    "tuned": "Saved the cooldowns and minimum role of {name}.",
    "disabled": "Disabled {name}.",
    "granted": "{name} now holds the role.",
    "revoked": "Took the role away from {name}.",
    "rotated": "New URL for the {name} overlay; the old one stopped working.",
    "revoked-url": "Revoked the {name} overlay URL; opening this page issues a new one.",
    "key-revoked": "Revoked the key.",
    "test-alert": "Sent a test alert: every alert overlay of this community shows it now.",
    "grant": "Saved what the {name} role may do.",
    "label-created": "Created the label {name}.",
    "label-deleted": "Deleted the label {name} and every assignment of it.",
    "label-applied": "Applied {name}.",
    "label-removed": "Took the label {name} off.",
    "module-installed": "Saved {name}: installed with this configuration.",
    "module-enable": "Enabled {name}.",
    "module-disable": "Disabled {name}.",
    "module-uninstall": "Uninstalled {name}.",
    "alias-saved": "Saved the alias !{name}.",
    "alias-removed": "Removed the alias !{name}.",
    "timer-added": "Added the timer {name}; it speaks in its channel from now on.",
    "timer-edited": "Saved the timer {name}; if it is on, its interval counts from now.",
    "timer-removed": "Removed the timer {name}.",
    "timer-off": "Switched the timer {name} off.",
    "timer-on": "Switched the timer {name} on in its channel.",
}


def notice_of(request: Request) -> str | None:
    """The message of a ``?notice=CODE&name=…`` redirect (only known codes are shown)."""
    template = NOTICES.get(request.query_params.get("notice", ""))
    if template is None:
        return None
    return template.format(name=request.query_params.get("name", "")[:60])


def done(request: Request, path: str, notice: str, name: str) -> Response:
    """Back to ``path`` with a notice of what was done."""
    return redirect(request, f"{path}?{urlencode({'notice': notice, 'name': name[:60]})}")


def _safe_next(value: str) -> str:
    """Only portal paths, never another site (no ``//host``)."""
    if value.startswith(PREFIX + "/") and not value.startswith("//") and "\\" not in value:
        return value
    return PREFIX + "/communities"


def portal_pages() -> APIRouter:
    api = APIRouter(prefix=PREFIX, route_class=PortalRoute, include_in_schema=False)

    @api.get("/static/{name:path}")
    async def static(name: str) -> Response:
        """The portal's CSS, JS and vendored libraries, straight from the package."""
        suffix = "." + name.rsplit(".", 1)[-1] if "." in name else ""
        if ".." in name or suffix not in STATIC_TYPES:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "No such file.")
        try:
            data = resources.files("waddlebot.portal").joinpath("static", name).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise HTTPException(status.HTTP_404_NOT_FOUND, "No such file.") from None
        return Response(
            data,
            media_type=STATIC_TYPES[suffix],
            headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
        )

    @api.get("")
    @api.get("/")
    async def home(request: Request) -> Response:
        viewer = await optional_viewer(request)
        return redirect(request, "/communities" if viewer else "/login")

    # --- log in / out ------------------------------------------------------------------

    def _providers(request: Request) -> list[str]:
        settings = runtime_of(request).settings
        return [name for name in PROVIDERS if provider(settings, name) is not None]

    @api.get("/login")
    async def login_form(request: Request) -> Response:
        if await optional_viewer(request) is not None:
            return redirect(request, "/communities")
        return render(
            request,
            "login.html",
            {
                "providers": _providers(request),
                "next": _safe_next(request.query_params.get("next", "")),
                "email": "",
            },
        )

    @api.post("/login")
    async def login(request: Request) -> Response:
        fields = await read_form(request)
        runtime = runtime_of(request)
        email, password = one(fields, "email", 320).strip(), one(fields, "password", 1024)
        target = _safe_next(one(fields, "next", 300))
        if not email or not password:
            error = "Enter your e-mail and password."
            code = status.HTTP_422_UNPROCESSABLE_CONTENT
        else:
            try:
                _, token = await password_login(runtime, email, password, client_ip(request))
            except HTTPException as refused:
                code = refused.status_code
                error = (
                    "Wrong e-mail or password."
                    if code == status.HTTP_401_UNAUTHORIZED
                    else str(refused.detail).capitalize() + "."
                )
            else:
                answer = RedirectResponse(target, status_code=status.HTTP_303_SEE_OTHER)
                set_session_cookie(answer, runtime, token)
                return answer
        return render(
            request,
            "login.html",
            {"providers": _providers(request), "next": target, "email": email, "error": error},
            status_code=code,
        )

    @api.post("/logout")
    async def logout(request: Request, viewer: Who) -> Response:
        await read_form(request)
        token = request.cookies.get(COOKIE_NAME)
        if token:
            await sessions_of(runtime_of(request)).revoke(token)
        audit(request, "logout")
        answer = redirect(request, "/login")
        answer.delete_cookie(COOKIE_NAME, path="/")
        return answer

    # --- communities -------------------------------------------------------------------

    @api.get("/communities")
    async def communities(request: Request, viewer: Who) -> Response:
        manager = community_manager(request)
        if viewer.principal.community_bound:
            found = await manager.communities(viewer.user_id)
        else:
            found = await manager.communities()
        return render(request, "communities.html", {"communities": found})

    @api.get("/c/{community_id}")
    async def community(community_id: str, request: Request, viewer: Who) -> Response:
        here = await enter_community(request, viewer, community_id)
        recent = (
            await recent_commands(runtime_of(request).db, community_id)
            if "commands.manage" in here.allowed
            else None
        )
        db = runtime_of(request).db
        chart = await command_chart(db, community_id) if recent is not None else None
        gateway = discord_gateway(getattr(request.app.state, "services", ()))
        platforms = await platform_health(db, community_id, gateway)
        return render(
            request, "community.html", {"recent": recent, "chart": chart, "platforms": platforms}
        )

    # --- commands ----------------------------------------------------------------------

    async def _commands_page(
        request: Request,
        community_id: str,
        *,
        form: dict[str, Any] | None = None,
        errors: dict[str, str] | None = None,
        status_code: int = 200,
        alias_form: dict[str, Any] | None = None,
        timer_form: dict[str, Any] | None = None,
    ) -> Response:
        customs = await CustomCommandManager(
            runtime_of(request).db, runtime_of(request).backend.kv
        ).listing(community_id)
        runtime = runtime_of(request)
        aliases = await AliasManager(runtime.db, runtime.backend.kv).aliases(community_id)
        timers = await TimerManager(
            runtime.db,
            runtime.backend,
            min_interval=runtime.settings.timer_min_interval,
            queue_max=runtime.settings.router_queue_max,
        ).timers(community_id)
        builtins = [
            c
            for c in await community_manager(request).commands(community_id)
            if c.module != CUSTOM_MODULE
        ]
        return render(
            request,
            "commands.html",
            {
                "customs": customs,
                "aliases": aliases,
                "timers": timers,
                "builtins": builtins,
                "form": form
                or {
                    "name": "",
                    "response": "",
                    "cooldown": "0",
                    "role": "everyone",
                    "enabled": True,
                    "editing": False,
                },
                "errors": errors or {},
                "alias_form": alias_form or {"name": "", "target": ""},
                "timer_form": timer_form or empty_timer_form(),
                "channels": await channels(runtime.db, community_id),
                "roles": PLATFORM_ROLES,
                "max_template": MAX_TEMPLATE,
                "notice": notice_of(request),
            },
            status_code=status_code,
        )

    @api.get("/c/{community_id}/commands")
    async def commands(community_id: str, request: Request, viewer: Who) -> Response:
        await enter_community(request, viewer, community_id, "commands.manage")
        return await _commands_page(request, community_id)

    @api.get("/c/{community_id}/commands/custom/{name}")
    async def edit_command(community_id: str, name: str, request: Request, viewer: Who) -> Response:
        await enter_community(request, viewer, community_id, "commands.manage")
        runtime = runtime_of(request)
        found = await CustomCommandManager(runtime.db, runtime.backend.kv).get(community_id, name)
        form = {
            "name": found.name,
            "response": found.response,
            "cooldown": f"{found.cooldown:g}",
            "role": found.role,
            "enabled": found.enabled,
            "editing": True,
        }
        return await _commands_page(request, community_id, form=form)

    @api.post("/c/{community_id}/commands/custom")
    async def save_command(community_id: str, request: Request, viewer: Who) -> Response:
        here = await enter_community(request, viewer, community_id, "commands.manage")
        fields = await read_form(request)
        editing = one(fields, "editing") == "1"
        form: dict[str, Any] = {
            "name": one(fields, "name", 60),
            "response": one(fields, "response", MAX_TEMPLATE + 100),
            "cooldown": one(fields, "cooldown", 20).strip() or "0",
            "role": one(fields, "role", 20) or "everyone",
            "enabled": one(fields, "enabled") == "on",
            "editing": editing,
        }
        errors: dict[str, str] = {}
        name = ""
        try:
            name = normalise_name(form["name"])
        except Invalid as bad:
            errors["name"] = bad.message
        try:
            check_template(form["response"])
        except Invalid as bad:
            errors["response"] = bad.message
        cooldown = 0.0
        try:
            cooldown = check_cooldown(float(form["cooldown"]))
        except ValueError:
            errors["cooldown"] = "the cooldown is a number of seconds, e.g. 30"
        except Invalid as bad:
            errors["cooldown"] = bad.message
        role = Role.everyone
        try:
            role = parse_role(form["role"])
        except Invalid as bad:
            errors["role"] = bad.message
        if not errors:
            runtime = runtime_of(request)
            manager = CustomCommandManager(runtime.db, runtime.backend.kv, runtime.backend.pubsub)
            change = Change(
                response=form["response"], cooldown=cooldown, role=role, enabled=form["enabled"]
            )
            try:
                if editing:
                    await manager.update(community_id, name, change, viewer.user_id)
                else:
                    await manager.create(community_id, name, change, viewer.user_id)
            except (Conflict, NotFound, Invalid) as refused:
                errors["name"] = refused.message
        if errors:
            audit(request, "custom_command_save", "refused", community=here.community.id)
            return await _commands_page(
                request,
                community_id,
                form=form,
                errors=errors,
                status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
            )
        audit(request, "custom_command_save", community=community_id, command=name)
        notice = "updated" if editing else "created"
        return done(request, f"/c/{community_id}/commands", notice, name)

    @api.post("/c/{community_id}/commands/custom/{name}/delete")
    async def delete_command(
        community_id: str, name: str, request: Request, viewer: Who
    ) -> Response:
        await enter_community(request, viewer, community_id, "commands.manage")
        await read_form(request)
        runtime = runtime_of(request)
        manager = CustomCommandManager(runtime.db, runtime.backend.kv, runtime.backend.pubsub)
        await manager.delete(community_id, name, viewer.user_id)
        audit(request, "custom_command_delete", community=community_id, command=name)
        return done(request, f"/c/{community_id}/commands", "deleted", f"{name}")

    @api.post("/c/{community_id}/commands/preview")
    async def preview(community_id: str, request: Request, viewer: Who) -> Response:
        """The response rendered for a sample user (htmx swaps it under the field)."""
        here = await enter_community(request, viewer, community_id, "commands.manage")
        fields = await read_form(request)
        source = one(fields, "response", MAX_TEMPLATE + 100)
        channel = next((e.name or e.channel_id for e in here.community.entities), "channel")
        text, error = "", ""
        if source.strip():
            try:
                text = render_template(
                    parse(source),
                    Values(
                        user="sample_user",
                        args=("@friend", "second"),
                        channel=channel,
                        count=42,
                        now=datetime.now(UTC),
                    ),
                    rng=random.Random(7),  # noqa: S311 - a preview, not a secret
                )
            except TemplateError as bad:
                error = bad.message
        return render(request, "preview.html", {"text": text, "error": error})

    @api.post("/c/{community_id}/commands/builtin")
    async def change_builtin(community_id: str, request: Request, viewer: Who) -> Response:
        """Switch a built-in command on or off, or tune its cooldowns and minimum role."""
        await enter_community(request, viewer, community_id, "commands.manage")
        fields = await read_form(request)
        prefix, trigger = one(fields, "prefix", 1), one(fields, "trigger", 60)
        errors: dict[str, str] = {}
        change = CommandChange()
        if "enabled" in fields:
            change = CommandChange(enabled=one(fields, "enabled") == "true")
        else:
            values: dict[str, Any] = {}
            for key, label in (("user_cooldown", "the per-user"), ("global_cooldown", "the")):
                raw = one(fields, key, 20).strip()
                try:
                    values[key] = float(raw) if raw else None
                except ValueError:
                    errors["builtin"] = f"{label} cooldown is a number of seconds".capitalize()
            try:
                values["min_role"] = Role.parse(one(fields, "min_role", 20) or "everyone")
            except ValueError as bad:
                errors["builtin"] = str(bad)
            change = CommandChange(**values)
        if not errors:
            try:
                view = await community_manager(request).change_command(
                    community_id,
                    prefix,
                    trigger,
                    change,
                    await acting(request, viewer, community_id),
                )
            except (Invalid, NotFound) as refused:
                errors["builtin"] = refused.message
        if errors:
            return await _commands_page(
                request,
                community_id,
                errors=errors,
                status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
            )
        audit(
            request,
            "command_change",
            community=community_id,
            command=prefix + trigger,
            enabled=view.enabled,
            user_cooldown=view.user_cooldown,
            global_cooldown=view.global_cooldown,
            min_role=view.min_role,
        )
        notice = "tuned" if change.enabled is None else "enabled" if view.enabled else "disabled"
        return done(request, f"/c/{community_id}/commands", notice, view.prefix + view.trigger)

    # --- members -----------------------------------------------------------------------

    async def _members_page(
        request: Request,
        community_id: str,
        *,
        form: dict[str, str] | None = None,
        errors: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> Response:
        here = request.state.here
        manager = community_manager(request)
        platforms = sorted({e.platform for e in here.community.entities}) or ["playground"]
        return render(
            request,
            "members.html",
            {
                "members": await manager.members(community_id),
                "grants": await manager.role_grants(community_id),
                "roles": COMMUNITY_ROLES,
                "permissions": sorted(PERMISSIONS.items()),
                "platforms": platforms,
                "form": form or {"platform": platforms[0], "username": "", "role": "moderator"},
                "errors": errors or {},
                "notice": notice_of(request),
            },
            status_code=status_code,
        )

    @api.get("/c/{community_id}/members")
    async def members(community_id: str, request: Request, viewer: Who) -> Response:
        await enter_community(request, viewer, community_id, "members.manage")
        return await _members_page(request, community_id)

    @api.post("/c/{community_id}/members")
    async def grant(community_id: str, request: Request, viewer: Who) -> Response:
        await enter_community(request, viewer, community_id, "members.manage")
        fields = await read_form(request)
        form = {
            "platform": one(fields, "platform", 40),
            "username": one(fields, "username", 100).strip(),
            "role": one(fields, "role", 20),
        }
        errors: dict[str, str] = {}
        user_id = one(fields, "user_id", 64)
        name = form["username"]
        if not user_id:
            account = (
                await find_account(runtime_of(request).db, form["platform"], form["username"])
                if form["username"]
                else None
            )
            if account is None:
                errors["username"] = (
                    f"No one called {form['username'].lstrip('@')} is known on "
                    f"{form['platform']} yet: they must have chatted once."
                    if form["username"]
                    else "Enter the person's name on that platform."
                )
            else:
                user_id, name = account.user_id, account.username
        if not errors:
            try:
                await community_manager(request).set_role(
                    community_id, user_id, form["role"], await acting(request, viewer, community_id)
                )
            except Refusal as refused:
                errors["role"] = refused.message
        if errors:
            audit(request, "member_grant", "refused", community=community_id)
            return await _members_page(
                request,
                community_id,
                form=form,
                errors=errors,
                status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
            )
        audit(request, "member_grant", community=community_id, target=user_id, role=form["role"])
        return done(request, f"/c/{community_id}/members", "granted", f"{name or user_id}")

    @api.post("/c/{community_id}/members/{user_id}/revoke")
    async def revoke(community_id: str, user_id: str, request: Request, viewer: Who) -> Response:
        await enter_community(request, viewer, community_id, "members.manage")
        await read_form(request)
        manager = community_manager(request)
        member = await manager.member(community_id, user_id)
        await manager.remove_member(
            community_id, user_id, await acting(request, viewer, community_id)
        )
        audit(request, "member_revoke", community=community_id, target=user_id)
        return done(request, f"/c/{community_id}/members", "revoked", f"{member.display_name}")

    @api.post("/c/{community_id}/roles/{role}")
    async def role_grant(community_id: str, role: str, request: Request, viewer: Who) -> Response:
        """Change (or reset) what a role may do; needs roles.manage, as the REST endpoint."""
        await enter_community(request, viewer, community_id, "roles.manage")
        fields = await read_form(request)
        manager = community_manager(request)
        standing = await acting(request, viewer, community_id)
        if one(fields, "action") == "reset":
            view = await manager.reset_role_grant(community_id, role[:20], standing)
        else:
            chosen = [p[:64] for p in fields.get("permissions", [])][:64]
            view = await manager.set_role_grant(community_id, role[:20], chosen, standing)
        audit(request, "role_grant", community=community_id, role=view.role, granted=view.granted)
        return done(request, f"/c/{community_id}/members", "grant", view.role)

    # --- labels ------------------------------------------------------------------------

    _labels = label_manager

    async def _labels_page(
        request: Request,
        community_id: str,
        *,
        form: dict[str, Any] | None = None,
        apply_form: dict[str, str] | None = None,
        target_form: dict[str, str] | None = None,
        errors: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> Response:
        here = request.state.here
        manager = _labels(request)
        labels = await manager.labels(community_id)
        wearers: dict[str, list[dict[str, Any]]] = {}
        user_ids: set[str] = set()
        for label in labels:
            page = await manager.assignments(community_id, label.name, limit=50)
            wearers[label.name] = [a.model_dump() for a in page.items]
            user_ids |= {a.target_id for a in page.items if a.target_type == "user"}
        async with runtime_of(request).db.read_session() as session:
            names = {
                row.id: row.display_name
                for row in await session.scalars(select(User).where(User.id.in_(user_ids)))
            }
        choices = await target_choices(request, here)
        names |= dict(choices["channel"])
        platforms = sorted({e.platform for e in here.community.entities}) or ["playground"]
        return render(
            request,
            "labels.html",
            {
                "labels": labels,
                "wearers": wearers,
                "names": names,
                "permissions": sorted(PERMISSIONS.items()),
                "platforms": platforms,
                "form": form
                or {"name": "", "colour": DEFAULT_COLOUR, "description": "", "permissions": []},
                "apply_form": apply_form
                or {
                    "label": labels[0].name if labels else "",
                    "platform": platforms[0],
                    "username": "",
                    "days": "",
                },
                "choices": choices,
                **target_context(target_form),
                "errors": errors or {},
                "notice": notice_of(request),
            },
            status_code=status_code,
        )

    @api.get("/c/{community_id}/labels")
    async def labels(community_id: str, request: Request, viewer: Who) -> Response:
        await enter_community(request, viewer, community_id, "labels.manage")
        return await _labels_page(request, community_id)

    @api.post("/c/{community_id}/labels")
    async def create_label(community_id: str, request: Request, viewer: Who) -> Response:
        await enter_community(request, viewer, community_id, "labels.manage")
        fields = await read_form(request)
        form: dict[str, Any] = {
            "name": one(fields, "name", 60),
            "colour": one(fields, "colour", 7) or DEFAULT_COLOUR,
            "description": one(fields, "description", 400),
            "permissions": [p[:64] for p in fields.get("permissions", [])][:32],
        }
        errors: dict[str, str] = {}
        for key, check in (
            ("name", validate_name),
            ("colour", validate_colour),
            ("description", validate_description),
        ):
            try:
                check(form[key])
            except Invalid as bad:
                errors[key] = bad.message
        if not errors:
            try:
                await _labels(request).create_label(
                    community_id,
                    form["name"],
                    colour=form["colour"],
                    description=form["description"],
                    permissions=form["permissions"],
                    who=viewer.user_id,
                    via="portal",
                )
            except Refusal as refused:
                errors["name"] = refused.message
        if errors:
            return await _labels_page(
                request,
                community_id,
                form=form,
                errors=errors,
                status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
            )
        audit(request, "label_create", community=community_id, label=form["name"])
        return done(request, f"/c/{community_id}/labels", "label-created", form["name"].strip())

    @api.post("/c/{community_id}/labels/{label}/delete")
    async def delete_label(
        community_id: str, label: str, request: Request, viewer: Who
    ) -> Response:
        await enter_community(request, viewer, community_id, "labels.manage")
        await read_form(request)
        view = await _labels(request).delete_label(
            community_id, label, who=viewer.user_id, via="portal"
        )
        audit(request, "label_delete", community=community_id, label=view.name)
        return done(request, f"/c/{community_id}/labels", "label-deleted", view.name)

    @api.post("/c/{community_id}/labels/apply")
    async def apply_label(community_id: str, request: Request, viewer: Who) -> Response:
        """Put a label on a person (by platform and name), optionally for some days."""
        await enter_community(request, viewer, community_id, "labels.manage")
        fields = await read_form(request)
        apply_form = {
            "label": one(fields, "label", 60),
            "platform": one(fields, "platform", 40),
            "username": one(fields, "username", 100).strip(),
            "days": one(fields, "days", 6).strip(),
        }
        errors: dict[str, str] = {}
        until = None
        try:
            until = days_until(apply_form["days"])
        except Invalid as bad:
            errors["days"] = bad.message
        account = (
            await find_account(
                runtime_of(request).db, apply_form["platform"], apply_form["username"]
            )
            if apply_form["username"]
            else None
        )
        if account is None:
            errors["username"] = (
                f"No one called {apply_form['username'].lstrip('@')} is known on "
                f"{apply_form['platform']} yet: they must have chatted once."
                if apply_form["username"]
                else "Enter the person's name on that platform."
            )
        if not errors and account is not None:
            try:
                await _labels(request).apply(
                    community_id,
                    apply_form["label"],
                    [validate_target("user", account.user_id)],
                    expires_at=until,
                    who=viewer.user_id,
                    via="portal",
                )
            except Refusal as refused:
                errors["label"] = refused.message
        if errors or account is None:
            return await _labels_page(
                request,
                community_id,
                apply_form=apply_form,
                errors=errors,
                status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
            )
        audit(
            request,
            "label_apply",
            community=community_id,
            label=apply_form["label"],
            target=account.user_id,
        )
        return done(
            request,
            f"/c/{community_id}/labels",
            "label-applied",
            f"{apply_form['label']} → {account.username}",
        )

    @api.post("/c/{community_id}/labels/{label}/remove")
    async def remove_label(
        community_id: str, label: str, request: Request, viewer: Who
    ) -> Response:
        await enter_community(request, viewer, community_id, "labels.manage")
        fields = await read_form(request)
        target = validate_target(one(fields, "target_type", 20), one(fields, "target_id", 200))
        await _labels(request).remove(
            community_id, label, [target], who=viewer.user_id, via="portal"
        )
        audit(request, "label_remove", community=community_id, label=label, target=target.target_id)
        return done(request, f"/c/{community_id}/labels", "label-removed", label)

    # --- overlays ----------------------------------------------------------------------

    def _tokens(request: Request) -> OverlayTokens:
        runtime = runtime_of(request)
        return OverlayTokens(runtime.db, runtime.backend, runtime.settings)

    @api.get("/c/{community_id}/overlays")
    async def overlays(community_id: str, request: Request, viewer: Who) -> Response:
        await enter_community(request, viewer, community_id, "overlays.manage")
        try:
            urls = await _tokens(request).urls(community_id)
        except UnknownCommunity as missing:
            raise NotFound(str(missing)) from None
        rows = [
            {"kind": kind, "url": url, "path": "/overlay/" + url.rsplit("/overlay/", 1)[-1]}
            for kind, url in urls.items()
        ]
        return render(request, "overlays.html", {"overlays": rows, "notice": notice_of(request)})

    @api.post("/c/{community_id}/overlays/{action}")
    async def overlay_action(
        community_id: str, action: str, request: Request, viewer: Who
    ) -> Response:
        await enter_community(request, viewer, community_id, "overlays.manage")
        fields = await read_form(request)
        if action == "test":
            await _test_alert(request, community_id)
            audit(request, "overlay_test_alert", community=community_id)
            if request.headers.get("hx-request") == "true":  # htmx: stay, the previews show it
                return render(request, "notice.html", {"notice": NOTICES["test-alert"]})
            return done(request, f"/c/{community_id}/overlays", "test-alert", "")
        kind = one(fields, "kind", 20)
        if kind not in KINDS or action not in ("rotate", "revoke"):
            raise HTTPException(status.HTTP_404_NOT_FOUND, "No such overlay action.")
        tokens = _tokens(request)
        if action == "rotate":
            await tokens.rotate(community_id, [kind])
        else:
            await tokens.revoke(community_id, [kind])
        audit(request, f"overlay_{action}", community=community_id, kind=kind)
        notice = "rotated" if action == "rotate" else "revoked-url"
        return done(request, f"/c/{community_id}/overlays", notice, kind)

    add_module_pages(api)
    add_interaction_pages(api)
    add_ai_page(api)
    add_music_page(api)
    add_audit_pages(api)
    add_alias_timer_routes(api, _commands_page, done)
    add_label_target_routes(api, _labels_page, done)
    add_platform_pages(api)

    # --- my account --------------------------------------------------------------------

    async def _account_page(
        request: Request,
        viewer: Viewer,
        *,
        created: str | None = None,
        errors: dict[str, str] | None = None,
        form: dict[str, Any] | None = None,
        status_code: int = 200,
    ) -> Response:
        runtime = runtime_of(request)
        async with runtime.db.read_session() as session:
            user = await session.get(User, viewer.user_id)
        if user is None:
            raise NotFound("This account no longer exists.")
        me = await account_view(runtime, user)
        scopes = sorted(SCOPES if viewer.superuser else COMMUNITY_SCOPES)
        return render(
            request,
            "account.html",
            {
                "me": me,
                "keys": await list_api_keys(runtime.db, viewer.user_id),
                "scopes": scopes,
                "created": created,
                "errors": errors or {},
                "form": form or {"name": "", "scopes": [], "days": ""},
                "notice": notice_of(request),
            },
            status_code=status_code,
        )

    def _new_key_slot(request: Request) -> str:
        """Where a just-created key waits (sealed, 2 minutes) for the page after the redirect."""
        session = request.cookies.get(COOKIE_NAME, "")
        return "portal-new-key:" + hashlib.sha256(session.encode()).hexdigest()

    @api.get("/account")
    async def account(request: Request, viewer: Who) -> Response:
        runtime = runtime_of(request)
        slot = _new_key_slot(request)
        sealed = await runtime.backend.kv.get(slot)
        created = None
        if sealed is not None and await runtime.backend.kv.delete(slot):  # shown once
            created = runtime.settings.secret_box.decrypt(sealed.decode())
        return await _account_page(request, viewer, created=created)

    @api.post("/account/keys")
    async def create_key(request: Request, viewer: Who) -> Response:
        fields = await read_form(request)
        form: dict[str, Any] = {
            "name": one(fields, "name", 200).strip(),
            "scopes": [s[:64] for s in fields.get("scopes", [])][:32],
            "days": one(fields, "days", 6).strip(),
        }
        errors: dict[str, str] = {}
        if not form["name"]:
            errors["name"] = "Give the key a name, e.g. stream deck."
        if not form["scopes"]:
            errors["scopes"] = "Choose at least one scope."
        days: int | None = None
        if form["days"]:
            try:
                days = int(form["days"])
                if not 1 <= days <= 3650:
                    raise ValueError
            except ValueError:
                errors["days"] = "Expiry is a number of days from 1 to 3650, or empty for never."
        if not errors:
            try:
                key, row = await create_own_key(
                    runtime_of(request), viewer.principal, form["name"], form["scopes"], days
                )
            except HTTPException as refused:
                errors["scopes"] = str(refused.detail)
            else:
                audit(request, "api_key_create", key_id=row.id)
                runtime = runtime_of(request)
                sealed = runtime.settings.secret_box.encrypt(key)
                await runtime.backend.kv.set(_new_key_slot(request), sealed, ttl=120)
                return redirect(request, "/account")
        return await _account_page(
            request,
            viewer,
            errors=errors,
            form=form,
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        )

    @api.post("/account/keys/{key_id}/revoke")
    async def revoke_key(key_id: str, request: Request, viewer: Who) -> Response:
        await read_form(request)
        runtime = runtime_of(request)
        revoked = await revoke_api_key(
            runtime.db, key_id[:64], owner_id=viewer.user_id, keys=runtime.keys
        )
        if not revoked:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "You have no live key with this id.")
        await announce_keys_changed(runtime_of(request).settings, runtime_of(request).backend)
        audit(request, "api_key_revoke", key_id=key_id[:64])
        return done(request, "/account", "key-revoked", "")

    return api


async def _test_alert(request: Request, community_id: str) -> None:
    """A fixed follow alert to every alert overlay of the community (as the display API)."""
    content = sanitise("alert", dict(TEST_ALERT), ())
    action = OverlayAction(kind="alert", content=content, duration=6)
    await runtime_of(request).backend.pubsub.publish(
        overlay_channel(community_id), action.model_dump_json()
    )
