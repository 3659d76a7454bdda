"""Slack sender: chat replies (in the channel or thread), slash-command answers through
``response_url``, whispers as DMs. Paced per channel, 429/Retry-After honoured across
processes (the back-off is recorded in the shared backend)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from waddlebot.collectors.pacing import hold_until, wait_for_slot, wait_if_held
from waddlebot.collectors.sender import OutboundSender, PermanentDeliveryError
from waddlebot.collectors.slack.config import SlackSettings
from waddlebot.collectors.slack.normalise import escape
from waddlebot.collectors.slack.workspace import SlackWorkspaces
from waddlebot.kernel.backends import Backend
from waddlebot.kernel.contracts import OutboundMessage, Platform
from waddlebot.kernel.observability.platforms import PLATFORM_HEALTH

if TYPE_CHECKING:  # slack_sdk (~2 MiB, ~10 with aiohttp) is imported where it is first used
    from slack_sdk.web.async_slack_response import AsyncSlackResponse

RESPONSE_URL_TTL = 30 * 60
RESPONSE_URL_USES = 5
MAX_RATE_LIMITED = 5
TOKEN_ERRORS = frozenset({"invalid_auth", "token_revoked", "account_inactive"})
PERMANENT_ERRORS = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "no_permission",
        "missing_scope",
        "msg_too_long",
        "user_not_found",
        "cannot_dm_bot",
        "restricted_action",
    }
)


def response_url_key(event_id: str) -> str:
    return f"slack:response-url:{event_id}"


class SlackRateLimited(Exception):
    """Still rate limited after honouring Retry-After several times: retry later."""


class SlackSender(OutboundSender):
    platform = Platform.slack.value

    def __init__(
        self, backend: Backend, settings: SlackSettings, workspaces: SlackWorkspaces
    ) -> None:
        super().__init__(backend)
        self.settings = settings
        self.workspaces = workspaces

    async def deliver(self, message: OutboundMessage) -> None:
        if message.kind == "whisper":
            await self._whisper(message)
            return
        response_url = await self.backend.kv.get(response_url_key(message.event_id))
        if response_url is not None:
            uses = await self.backend.kv.incr(
                f"slack:response-url-uses:{message.event_id}", ttl=RESPONSE_URL_TTL
            )
            if uses <= RESPONSE_URL_USES:
                await self._respond(response_url.decode(), message)
                return
        await self._post(message.server_id, message.channel_id, message.text, message.thread_id)

    async def _whisper(self, message: OutboundMessage) -> None:
        if not message.user_id:
            raise PermanentDeliveryError("whisper without a user")
        team = message.server_id
        key = f"slack:dm:{team}:{message.user_id}"
        channel = await self.backend.kv.get(key)
        if channel is None:
            answer = await self._call(
                team,
                "conversations.open",
                lambda client: client.conversations_open(users=message.user_id),
            )
            opened = (answer.get("channel") or {}).get("id")
            if not isinstance(opened, str):
                raise PermanentDeliveryError("conversations.open returned no channel")
            await self.backend.kv.set(key, opened, ttl=24 * 3600)
            channel = opened.encode()
        await self._post(team, channel.decode(), message.text, None)

    async def _post(self, team: str, channel: str, text: str, thread_ts: str | None) -> None:
        await wait_for_slot(
            self.backend.kv,
            f"slack:{team}:{channel}",
            limit=self.settings.channel_rate,
            window=1.0,
        )
        arguments: dict[str, Any] = {"channel": channel, "text": escape(text)}
        if thread_ts:
            arguments["thread_ts"] = thread_ts
        await self._call(
            team, "chat.postMessage", lambda client: client.chat_postMessage(**arguments)
        )

    async def _call(
        self,
        team: str,
        method: str,
        call: Callable[[Any], Awaitable[AsyncSlackResponse]],
    ) -> AsyncSlackResponse:
        token = await self.workspaces.token(team)
        if token is None:
            raise PermanentDeliveryError(f"no Slack bot token for workspace {team}")
        from slack_sdk.errors import SlackApiError

        client = self.workspaces.client(token)
        hold = f"slack:{team}:{method}"
        for _ in range(MAX_RATE_LIMITED):
            await wait_if_held(self.backend.kv, hold)
            try:
                answer = await call(client)
            except SlackApiError as error:
                if error.response.status_code == 429:
                    await hold_until(self.backend.kv, hold, self._retry_after(error.response))
                    continue
                code = error.response.get("error")
                if code in TOKEN_ERRORS:  # uninstalled, revoked, deactivated: health shows it
                    self.workspaces.forget_token(team)
                    PLATFORM_HEALTH.token("slack", valid=False)
                if code in PERMANENT_ERRORS:
                    raise PermanentDeliveryError(f"{method}: {code}") from None
                raise
            PLATFORM_HEALTH.token("slack", valid=True)
            return answer
        raise SlackRateLimited(f"{method} still rate limited")

    async def _respond(self, url: str, message: OutboundMessage) -> None:
        # Imported here: slack_sdk's async clients pull in aiohttp (~10 MiB), which an
        # installation without Slack never needs.
        from slack_sdk.webhook.async_client import AsyncWebhookClient

        webhook = AsyncWebhookClient(url, timeout=10)
        hold = f"slack:response-url:{message.event_id}"
        for _ in range(MAX_RATE_LIMITED):
            await wait_if_held(self.backend.kv, hold)
            answer = await webhook.send(text=escape(message.text), response_type="in_channel")
            if answer.status_code == 429:
                await hold_until(self.backend.kv, hold, self._retry_after(answer))
                continue
            if answer.status_code in (404, 410):
                raise PermanentDeliveryError(f"response_url answered {answer.status_code}")
            if answer.status_code >= 400:
                raise RuntimeError(f"response_url answered {answer.status_code}: {answer.body}")
            return
        raise SlackRateLimited("response_url still rate limited")

    def _retry_after(self, response: Any) -> float:
        headers = response.headers or {}
        value = None
        for name, header in headers.items():
            if name.lower() == "retry-after":
                value = header
        try:
            seconds = float(value) if value is not None else 1.0
        except (TypeError, ValueError):
            seconds = 1.0
        return min(max(seconds, 0.05), self.settings.max_retry_after)
