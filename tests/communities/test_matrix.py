"""The authorisation matrix: each community role × each protected chat command and REST
endpoint, allowed or refused (a short reply in chat, 403 over REST), on both stacks."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import structlog

from tests.communities.helpers import (
    API,
    bearer,
    chatter,
    community_bot,
    community_of,
    key_for,
    person,
    set_role,
)
from waddlebot.kernel.settings import Settings

RBAC_LOGGER = "waddlebot.kernel.security.rbac"

ROLES = ["owner", "admin", "moderator", "member", None]
# Default grants: admins hold commands.manage and members.manage; roles.manage is the owner's.
HOLDERS = {
    "commands.manage": {"owner", "admin"},
    "members.manage": {"owner", "admin"},
    "roles.manage": {"owner"},
}

# text, permission, the reply when allowed, the action named in refusals and AUTHZ lines
# (!command as a whole needs commands.manage, so the router names the command, not "disable")
CHAT: dict[str, tuple[str, str, str, str]] = {
    "!role grant": (
        "!role grant target member",
        "members.manage",
        "target is now member here.",
        "!role grant",
    ),
    "!command disable": (
        "!command disable ping",
        "commands.manage",
        "!ping is now disabled here.",
        "!command",
    ),
    "!reload": ("!reload", "commands.manage", "Command table reloaded", "!reload"),
}

# method, path (after /communities/{id}), body, permission
REST: dict[str, tuple[str, str, dict[str, Any], str]] = {
    "PUT member": ("PUT", "/members/{target}", {"role": "member"}, "members.manage"),
    "PUT role grant": (
        "PUT",
        "/roles/moderator",
        {"permissions": ["calendar.approve", "labels.manage"]},
        "roles.manage",
    ),
    "PATCH command": ("PATCH", "/commands/ping", {"enabled": False}, "commands.manage"),
}


@pytest.mark.parametrize("command", list(CHAT))
@pytest.mark.parametrize("role", ROLES)
async def test_chat_command_by_role(
    stack_settings: Settings, role: str | None, command: str, caplog: pytest.LogCaptureFixture
) -> None:
    text, permission, allowed_reply, action = CHAT[command]
    caplog.set_level(logging.DEBUG, RBAC_LOGGER)  # an allowed chat command's line is DEBUG
    async with community_bot(stack_settings) as bot:
        community = await community_of(bot)
        actor = await chatter(bot, "actor")
        await chatter(bot, "target")
        await set_role(bot, community, actor, role)
        with structlog.testing.capture_logs() as logs:
            [reply] = await bot.texts(text, user="actor")
        [decision] = [e for e in logs if e.get("category") == "AUTHZ" and e["action"] == action]
        assert (decision["community"], decision["user"], decision["permission"]) == (
            community,
            actor,
            permission,
        )
        if role in HOLDERS[permission]:
            assert reply.startswith(allowed_reply), reply
            assert decision["result"] == "allowed"
        else:
            assert reply == f"@actor {action} needs the {permission} permission here."
            assert decision["result"] == "denied"


@pytest.mark.parametrize("endpoint", list(REST))
@pytest.mark.parametrize("role", ROLES)
async def test_endpoint_by_role(stack_settings: Settings, role: str | None, endpoint: str) -> None:
    method, path, body, permission = REST[endpoint]
    async with community_bot(stack_settings) as bot:
        community = await community_of(bot)
        actor = await person(bot, "actor")
        target = await person(bot, "target")
        await set_role(bot, community, actor, role)
        key = await key_for(bot, actor)
        url = f"{API}/communities/{community}" + path.format(target=target)
        with structlog.testing.capture_logs() as logs:
            answer = await bot.client.request(method, url, json=body, headers=bearer(key))
        [decision] = [
            e for e in logs if e.get("category") == "AUTHZ" and e["action"] == f"{method} {url}"
        ]
        assert (decision["community"], decision["user"], decision["via"]) == (
            community,
            actor,
            "rest",
        )
        if role in HOLDERS[permission]:
            assert answer.status_code == 200, answer.text
            assert decision["result"] == "allowed"
        else:
            assert answer.status_code == 403, answer.text
            assert answer.json()["detail"] == (
                f"you need the {permission!r} permission in this community"
            )
            assert decision["result"] == "denied"
