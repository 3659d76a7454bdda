"""Per-workspace access to the Slack Web API: bot tokens, clients, members' names and roles.

A bot token comes from ``WADDLEBOT_SLACK_BOT_TOKEN`` (one workspace) or from the workspace's
OAuth installation (stored encrypted). Member lookups (``users.info``, ``usergroups.list``) are
cached in the shared backend so every collector process asks Slack once per TTL.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from waddlebot.collectors.slack.config import SlackSettings
from waddlebot.collectors.slack.models import SlackInstallation
from waddlebot.kernel.contracts import Role, UserRef
from waddlebot.kernel.observability.logging import Category, get_logger, log_event
from waddlebot.kernel.runtime import Runtime

if TYPE_CHECKING:  # slack_sdk (~2 MiB, its web client ~10 with aiohttp): loaded on first use
    from slack_sdk.web.async_client import AsyncWebClient

logger = get_logger(__name__)
TOKEN_CACHE_SECONDS = 60.0


def slack_role(info: Mapping[str, Any], groups: set[str], mapping: Mapping[str, Role]) -> Role:
    """Workspace owners and admins are broadcasters; mapped user groups add their role."""
    role = Role.everyone
    if info.get("is_primary_owner") or info.get("is_owner") or info.get("is_admin"):
        role = Role.broadcaster
    for group in groups:
        role = max(role, mapping.get(group, Role.everyone))
    return role


class SlackWorkspaces:
    def __init__(self, runtime: Runtime, settings: SlackSettings) -> None:
        self.runtime = runtime
        self.settings = settings
        self._clients: dict[str, AsyncWebClient] = {}
        self._tokens: dict[str, tuple[float, str | None]] = {}

    def client(self, token: str | None = None) -> AsyncWebClient:
        key = token or ""
        if key not in self._clients:
            from slack_sdk.web.async_client import AsyncWebClient

            self._clients[key] = AsyncWebClient(
                token=token, base_url=self.settings.api_base, timeout=10
            )
        return self._clients[key]

    async def token(self, team_id: str) -> str | None:
        """The bot token for ``team_id`` (env token first, then its installation)."""
        if self.settings.bot_token:
            return self.settings.bot_token
        cached = self._tokens.get(team_id)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        async with self.runtime.db.read_session() as session:
            row = await session.get(SlackInstallation, team_id)
        token = self.runtime.settings.secret_box.decrypt(row.token_sealed) if row else None
        self._tokens[team_id] = (time.monotonic() + TOKEN_CACHE_SECONDS, token)
        return token

    def forget_token(self, team_id: str) -> None:
        self._tokens.pop(team_id, None)

    async def bot_user_id(self, team_id: str) -> str | None:
        async with self.runtime.db.read_session() as session:
            row = await session.get(SlackInstallation, team_id)
        return row.bot_user_id if row else None

    async def member(self, team_id: str, user_id: str, fallback_name: str | None) -> UserRef:
        """Name and role of a workspace member (cached); on any lookup trouble, a plain member."""
        key = f"slack:member:{team_id}:{user_id}"
        cached = await self.runtime.backend.kv.get(key)
        if cached is not None:
            return UserRef.model_validate_json(cached)
        from slack_sdk.errors import SlackApiError

        try:
            async with asyncio.timeout(self.settings.lookup_timeout):
                user = await self._lookup(team_id, user_id, fallback_name)
        except (TimeoutError, SlackApiError, OSError, ValueError) as error:
            log_event(
                logger,
                Category.ERROR,
                "slack_member_lookup",
                "failed",
                level="warning",
                user=user_id,
                team=team_id,
                reason=repr(error),
            )
            return UserRef(id=user_id, name=fallback_name or user_id)
        await self.runtime.backend.kv.set(
            key, user.model_dump_json(), ttl=self.settings.role_cache_ttl
        )
        return user

    async def _lookup(self, team_id: str, user_id: str, fallback_name: str | None) -> UserRef:
        token = await self.token(team_id)
        if token is None:
            return UserRef(id=user_id, name=fallback_name or user_id)
        client = self.client(token)
        answer = await client.users_info(user=user_id)
        info: dict[str, Any] = answer.get("user") or {}
        profile: dict[str, Any] = info.get("profile") or {}
        groups = await self._groups_of(team_id, user_id, client)
        name = str(info.get("name") or fallback_name or user_id)
        display = profile.get("display_name") or profile.get("real_name") or None
        return UserRef(
            id=user_id,
            name=name[:200],
            display_name=str(display)[:200] if display else None,
            role=slack_role(info, groups, self.settings.user_groups),
        )

    async def _groups_of(self, team_id: str, user_id: str, client: AsyncWebClient) -> set[str]:
        """Ids and handles of the mapped user groups ``user_id`` belongs to."""
        if not self.settings.user_groups:
            return set()
        key = f"slack:usergroups:{team_id}"
        cached = await self.runtime.backend.kv.get(key)
        if cached is not None:
            members: dict[str, list[str]] = json.loads(cached)
        else:
            answer = await client.usergroups_list(include_users=True)
            members = {}
            for group in answer.get("usergroups") or []:
                users = [str(user) for user in group.get("users") or []]
                for name in (group.get("id"), group.get("handle")):
                    if isinstance(name, str) and name:
                        members[name] = users
            await self.runtime.backend.kv.set(
                key, json.dumps(members), ttl=self.settings.role_cache_ttl
            )
        return {group for group, users in members.items() if user_id in users}
