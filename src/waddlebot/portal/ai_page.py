"""The portal's AI chat page: the community's settings over the installation defaults, its
MCP servers, and today's token use against the budgets.

It needs ``ai.manage`` (what the module's REST writes need), validates with the REST API's
own models (``SettingsPatch``, ``McpServerIn``) and changes through the same ``AiBook``, so a
value the API refuses is refused here too, next to its field. The API key is write-only:
the page says whether one is set, never shows it.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response, status
from sqlalchemy import select

from waddlebot.kernel.errors import Conflict, Invalid, NotFound
from waddlebot.kernel.storage.models import User
from waddlebot.portal.form_tools import back, checked, lines, notice_of
from waddlebot.portal.web import Who, audit, enter_community, one, read_form, render, runtime_of

PERMISSION = "ai.manage"
TOP_USERS = 20
# the overridable settings typed as text ("" = back to the default); mention is a checkbox
TEXT_FIELDS = (
    "provider",
    "base_url",
    "model",
    "system_prompt",
    "max_chars",
    "temperature",
    "cooldown",
    "community_budget",
    "user_budget",
    "memory_turns",
    "memory_ttl",
    "bot_name",
    "overlay",
)
NOTICES = {
    "ai-saved": "Saved the AI settings.",
    "mcp-added": "Added the MCP server {name}.",
    "mcp-removed": "Removed the MCP server {name}.",
}


def _form_of(row: Any) -> dict[str, Any]:
    """The community's overrides as form values (empty: the default applies)."""
    form: dict[str, Any] = {
        name: "" if row is None or getattr(row, name) is None else str(getattr(row, name))
        for name in TEXT_FIELDS
    }
    form["block_list"] = "\n".join(row.block_list or []) if row is not None else ""
    form["mention"] = bool(row.mention) if row is not None else False
    return form


def _mcp_blank() -> dict[str, str]:
    return {"mcp_name": "", "mcp_command": "", "mcp_args": "", "mcp_url": "", "mcp_tools": ""}


async def _names(request: Request, user_ids: list[str]) -> dict[str, str]:
    if not user_ids:
        return {}
    async with runtime_of(request).db.read_session() as session:
        rows = await session.scalars(select(User).where(User.id.in_(user_ids)))
        return {row.id: row.display_name for row in rows}


async def _page(
    request: Request,
    community_id: str,
    *,
    form: dict[str, Any] | None = None,
    mcp_form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    from waddlebot.modules.ai.api import rest_book
    from waddlebot.modules.ai.manager import AiConfig, today

    book = rest_book(request)
    config = await book.config(community_id, with_key=False)
    day = today()
    usage = await book.usage(community_id, day)
    top = usage[:TOP_USERS]
    names = await _names(request, [row.user_id for row in top])
    installation = book.installation
    return render(
        request,
        "modules_pages/ai.html",
        {
            "config": config,
            "defaults": AiConfig(provider=None, has_key=False, own_provider=False),
            "installation": installation,
            "form": form or _form_of(await book.row(community_id)),
            "servers": await book.servers(community_id),
            "mcp_form": mcp_form or _mcp_blank(),
            "mcp_commands": installation.mcp_commands,
            "day": day,
            "total": sum(row.tokens for row in usage),
            "top": [(names.get(row.user_id, row.user_id), row) for row in top],
            "more_users": max(0, len(usage) - TOP_USERS),
            "errors": errors or {},
            "notice": notice_of(request, NOTICES),
        },
        status_code=status_code,
    )


def add_ai_page(api: APIRouter) -> None:
    """Add the AI page and its forms to the portal's router."""

    @api.get("/c/{community_id}/ai")
    async def ai(community_id: str, request: Request, viewer: Who) -> Response:
        await enter_community(request, viewer, community_id, PERMISSION)
        return await _page(request, community_id)

    @api.post("/c/{community_id}/ai")
    async def save_ai(community_id: str, request: Request, viewer: Who) -> Response:
        """Change every override at once (as ``PATCH …/settings`` with each field sent); the
        key changes only when a new one is typed or removal is ticked."""
        from waddlebot.modules.ai.api import rest_book
        from waddlebot.modules.ai.commands import settings_changed
        from waddlebot.modules.ai.manager import SettingsPatch
        from waddlebot.sdk.web import actor, host

        await enter_community(request, viewer, community_id, PERMISSION)
        fields = await read_form(request)
        form: dict[str, Any] = {name: one(fields, name, 2100).strip() for name in TEXT_FIELDS}
        form["block_list"] = one(fields, "block_list", 30_000)
        form["mention"] = one(fields, "mention") == "on"
        data: dict[str, Any] = {name: form[name] or None for name in TEXT_FIELDS}
        data["block_list"] = lines(form["block_list"]) or None
        data["mention"] = form["mention"]
        key = one(fields, "api_key", 600).strip()
        key_change = "removed" if one(fields, "clear_key") == "on" else "set" if key else "kept"
        if key_change != "kept":
            data["api_key"] = key if key_change == "set" else None
        patch, errors = checked(SettingsPatch, data)
        if patch is not None:
            try:
                await rest_book(request).update(
                    community_id, patch, actor(viewer.principal), replace=False
                )
            except Invalid as refused:
                errors["api_key"] = refused.message
            else:
                await settings_changed(host(request), community_id, mention=True)
                audit(request, "ai_settings", community=community_id, key=key_change)
                return back(request, f"/c/{community_id}/ai", "ai-saved")
        audit(request, "ai_settings", "refused", community=community_id, fields=",".join(errors))
        return await _page(
            request,
            community_id,
            form=form,
            errors=errors,
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        )

    @api.post("/c/{community_id}/ai/mcp")
    async def add_mcp(community_id: str, request: Request, viewer: Who) -> Response:
        """Add an MCP server as ``POST …/mcp-servers`` does (the same model and manager)."""
        from waddlebot.modules.ai.api import McpServerIn, rest_book
        from waddlebot.sdk.web import actor

        await enter_community(request, viewer, community_id, PERMISSION)
        fields = await read_form(request)
        mcp_form = {name: one(fields, name, 5000).strip() for name in _mcp_blank()}
        body, found = checked(
            McpServerIn,
            {
                "name": mcp_form["mcp_name"],
                "command": mcp_form["mcp_command"] or None,
                "args": lines(mcp_form["mcp_args"]),
                "url": mcp_form["mcp_url"] or None,
                "allowed_tools": mcp_form["mcp_tools"].replace(",", " ").split(),
            },
            prefix="mcp_",
        )
        errors = {("mcp_tools" if k == "mcp_allowed_tools" else k): v for k, v in found.items()}
        if body is not None:
            try:
                info = await rest_book(request).add_server(
                    community_id,
                    name=body.name,
                    command=body.command,
                    args=body.args,
                    url=body.url,
                    allowed_tools=body.allowed_tools,
                    who=actor(viewer.principal),
                )
            except (Invalid, Conflict) as refused:
                lowered = refused.message.lower()
                field = next((f for f in ("command", "url", "tool") if f in lowered), "name")
                errors["mcp_tools" if field == "tool" else f"mcp_{field}"] = refused.message
            else:
                audit(request, "ai_mcp_add", community=community_id, server=info.name)
                return back(request, f"/c/{community_id}/ai", "mcp-added", info.name)
        audit(request, "ai_mcp_add", "refused", community=community_id)
        return await _page(
            request,
            community_id,
            mcp_form=mcp_form,
            errors=errors,
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        )

    @api.post("/c/{community_id}/ai/mcp/{name}/remove")
    async def remove_mcp(community_id: str, name: str, request: Request, viewer: Who) -> Response:
        from waddlebot.modules.ai.api import rest_book

        await enter_community(request, viewer, community_id, PERMISSION)
        await read_form(request)
        try:
            await rest_book(request).remove_server(community_id, name[:30])
        except NotFound:
            audit(request, "ai_mcp_remove", "refused", community=community_id, server=name[:30])
            raise
        audit(request, "ai_mcp_remove", community=community_id, server=name[:30])
        return back(request, f"/c/{community_id}/ai", "mcp-removed", name[:30])
