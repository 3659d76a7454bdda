"""What Slack sends, whichever way it came: a signed webhook or a Socket Mode envelope.

Both transports hand the same payloads (an ``event_callback`` envelope, a slash command's
fields) to :class:`SlackIntake`, which normalises, deduplicates in the shared backend, looks
the member up and queues the event at the router. Only the transport's answer differs: HTTP
turns an :class:`Outcome` into a status code, the socket into an acknowledgement (or none, so
Slack redelivers).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from waddlebot.collectors.dedupe import first_delivery, forget_delivery
from waddlebot.collectors.ingress import IngressRefused, RouterIngress
from waddlebot.collectors.slack.config import SlackSettings
from waddlebot.collectors.slack.metrics import SLACK_REQUESTS
from waddlebot.collectors.slack.normalise import (
    SlackCommand,
    command_from_event,
    command_from_slash,
    escape,
)
from waddlebot.collectors.slack.sender import RESPONSE_URL_TTL, response_url_key
from waddlebot.collectors.slack.workspace import SlackWorkspaces
from waddlebot.kernel.errors import DependencyUnavailable
from waddlebot.kernel.ids import new_id
from waddlebot.kernel.observability.logging import Category, get_logger, log_event
from waddlebot.kernel.runtime import Runtime

logger = get_logger(__name__)
PLATFORM = "slack"
INGRESS_BUSY_RETRY = 1.0
BUSY = {"response_type": "ephemeral", "text": "WaddleBot is busy, try again shortly."}


class Outcome(StrEnum):
    accepted = "accepted"
    duplicate = "duplicate"
    ignored = "ignored"  # nothing to do (plain chat, bots, edits)
    invalid = "invalid"  # a payload missing what it needs
    refused = "refused"  # the router could not take it: Slack should redeliver


@dataclass(frozen=True, slots=True)
class SlashAnswer:
    """What a slash command gets back at once (``body``: the ephemeral message, if any)."""

    outcome: Outcome
    body: dict[str, Any] | None = None


class SlackIntake:
    """Slack payloads → the router, the same for webhooks and Socket Mode."""

    def __init__(self, runtime: Runtime, settings: SlackSettings, workspaces: SlackWorkspaces):
        self.runtime = runtime
        self.settings = settings
        self.workspaces = workspaces

    async def event(self, payload: Mapping[str, Any], *, endpoint: str) -> Outcome:
        """An ``event_callback`` envelope (the Events API body, or a socket's payload)."""
        bot_user = None
        team = payload.get("team_id")
        if not self.settings.bot_token and isinstance(team, str):
            bot_user = await self.workspaces.bot_user_id(team)
        command = command_from_event(payload, {bot_user} if bot_user else ())
        if command is None:
            return self._count(endpoint, Outcome.ignored)
        kv = self.runtime.backend.kv
        keys = [command.id]
        if command.ts:  # a mention arrives as message *and* app_mention: answer it once
            keys.append(f"msg:{command.channel_id}:{command.ts}")
        for done, key in enumerate(keys):
            if not await first_delivery(kv, PLATFORM, key):
                for earlier in keys[:done]:
                    await forget_delivery(kv, PLATFORM, earlier)
                return self._count(endpoint, Outcome.duplicate)
        if not await self._submit(command, endpoint):
            for key in keys:
                await forget_delivery(kv, PLATFORM, key)
            return Outcome.refused
        return self._count(endpoint, Outcome.accepted)

    async def slash(self, form: Mapping[str, str], *, endpoint: str) -> SlashAnswer:
        """A slash command's fields: ack with an ephemeral line, answer via ``response_url``."""
        command = command_from_slash(form, new_id())
        if command is None:
            return SlashAnswer(self._count(endpoint, Outcome.invalid))
        kv = self.runtime.backend.kv
        trigger = form.get("trigger_id")
        if trigger and not await first_delivery(kv, PLATFORM, f"cmd:{trigger}"):
            return SlashAnswer(self._count(endpoint, Outcome.duplicate))
        if command.response_url:
            await kv.set(response_url_key(command.id), command.response_url, ttl=RESPONSE_URL_TTL)
        if not await self._submit(command, endpoint):
            return SlashAnswer(Outcome.refused, BUSY)
        running = {"response_type": "ephemeral", "text": f"Running `{escape(command.text)}`…"}
        return SlashAnswer(self._count(endpoint, Outcome.accepted), running)

    def interactive(self, payload: Mapping[str, Any], *, endpoint: str) -> Outcome:
        """A button, menu or shortcut: WaddleBot posts none, so there is nothing to run yet
        (acknowledged all the same, or Slack shows the user an error)."""
        return self._count(endpoint, Outcome.ignored)

    async def _submit(self, command: SlackCommand, endpoint: str) -> bool:
        """Queue ``command`` at the router; False (logged, counted) when it cannot take it."""
        try:
            user = await self.workspaces.member(command.team_id, command.user_id, command.user_name)
            ingress = RouterIngress(
                self.runtime, collector=PLATFORM, busy_retry_for=INGRESS_BUSY_RETRY
            )
            await ingress.submit([command.event(user)])
        except (IngressRefused, DependencyUnavailable, OSError) as error:
            self._count(endpoint, Outcome.refused)
            log_event(
                logger,
                Category.ERROR,
                f"slack_{endpoint}",
                "refused",
                level="warning",
                reason=str(error),
            )
            return False
        return True

    @staticmethod
    def _count(endpoint: str, outcome: Outcome) -> Outcome:
        SLACK_REQUESTS.labels(endpoint, outcome.value).inc()
        return outcome
