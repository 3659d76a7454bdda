"""Slack Socket Mode: events and slash commands over an outgoing WebSocket (no public URL).

slack_sdk's aiohttp ``SocketModeClient`` does the protocol: ``apps.connections.open`` with the
app-level token for a ``wss://`` URL, pings, reconnecting on ``disconnect`` (e.g.
``refresh_requested``) and on a stale or closed socket. Each envelope goes to the same
:class:`SlackIntake` as the webhooks and is acknowledged with its ``envelope_id`` once the
router has it (a slash command's ack carries the ephemeral "Running …" line). An event the
router refuses is not acknowledged, so Slack redelivers it, as after a webhook's 503.

Several instances may each hold a socket (Slack allows ten per app and spreads envelopes over
them); Slack's retries landing on another instance are dropped by the shared dedupe.

:meth:`SlackSocket.run` is supervised by the service: the first URL is asked for here so a bad
token fails the task (``/readyz`` shows it), and a client without a live socket for
``WADDLEBOT_SLACK_SOCKET_TIMEOUT`` seconds is closed and the task restarted with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.async_client import AsyncBaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from waddlebot.collectors.slack.config import SlackSettings
from waddlebot.collectors.slack.intake import Outcome, SlackIntake
from waddlebot.collectors.slack.metrics import SLACK_REQUESTS
from waddlebot.collectors.slack.workspace import SlackWorkspaces
from waddlebot.kernel.contracts.v1 import storable
from waddlebot.kernel.errors import DependencyUnavailable
from waddlebot.kernel.observability.logging import Category, get_logger, log_event
from waddlebot.kernel.observability.platforms import PLATFORM_HEALTH
from waddlebot.kernel.outages import dependency_of, describe
from waddlebot.kernel.supervision import report_healthy

CONNECTION = "socket mode"
CLOSE_TIMEOUT = 5.0
# envelope type → the endpoint label of waddlebot_slack_requests_total
ENDPOINTS = {
    "events_api": "socket_events",
    "slash_commands": "socket_commands",
    "interactive": "socket_interactive",
}
logger = get_logger(__name__)
sdk_logger = logging.getLogger("waddlebot.collectors.slack.socket_mode.sdk")


class SocketModeDown(DependencyUnavailable):
    """Slack gave no socket URL, or no socket lived for longer than the configured timeout:
    an outage of Slack (or of the way to it), logged once and retried with backoff."""

    def __init__(self, detail: str) -> None:
        super().__init__("slack", detail)


class SlackSocket:
    def __init__(
        self, settings: SlackSettings, workspaces: SlackWorkspaces, intake: SlackIntake
    ) -> None:
        assert settings.app_token, "Socket Mode needs WADDLEBOT_SLACK_APP_TOKEN"
        self.settings = settings
        self.workspaces = workspaces
        self.intake = intake

    async def run(self) -> None:
        """Hold one socket until cancelled; raise (to be restarted) when it stays down."""
        settings = self.settings
        client = SocketModeClient(
            app_token=str(settings.app_token),
            web_client=self.workspaces.client(),  # no bot token: apps.connections.open
            ping_interval=settings.socket_ping_interval,
            logger=sdk_logger,
        )
        client.message_listeners.append(self._on_message)
        client.socket_mode_request_listeners.append(self._on_request)
        try:
            client.wss_uri = await self._socket_url(client)
            try:  # slack_sdk retries one URL forever: bound it, and restart with a new one
                async with asyncio.timeout(settings.socket_timeout):
                    await client.connect()  # type: ignore[no-untyped-call]  # slack_sdk: untyped
            except TimeoutError:
                raise SocketModeDown(
                    f"no Slack Socket Mode connection within {settings.socket_timeout:g} s"
                ) from None
            await self._watch(client)
        finally:
            PLATFORM_HEALTH.connection("slack", False, CONNECTION, "reconnecting")
            with contextlib.suppress(Exception):
                async with asyncio.timeout(CLOSE_TIMEOUT):
                    await client.close()  # type: ignore[no-untyped-call]
            await client.aiohttp_client_session.close()

    async def _socket_url(self, client: SocketModeClient) -> str:
        """The first ``wss://`` URL, asked for here so a refused token fails the task."""
        try:
            return await client.issue_new_wss_url()
        except SlackApiError as error:
            raise SocketModeDown(f"apps.connections.open: {error.response.get('error')}") from None
        except (aiohttp.ClientError, OSError) as error:
            raise SocketModeDown(f"apps.connections.open: {error!r}") from error

    async def _watch(self, client: SocketModeClient) -> None:
        """The client reconnects by itself; give up (and restart) only when that fails."""
        down_since: float | None = None
        while True:
            await asyncio.sleep(self.settings.socket_ping_interval)
            if await client.is_connected():
                down_since = None
                report_healthy()
                continue
            now = time.monotonic()
            down_since = down_since or now
            if now - down_since >= self.settings.socket_timeout:
                raise SocketModeDown(
                    f"no Slack Socket Mode connection for {self.settings.socket_timeout:g} s"
                )

    async def _on_message(
        self, client: AsyncBaseSocketModeClient, message: dict[str, Any], raw: str | None
    ) -> None:
        if message.get("type") == "hello":
            count = message.get("num_connections")
            detail = f"{count} connections" if isinstance(count, int) else "connected"
            PLATFORM_HEALTH.connection("slack", True, CONNECTION, detail)
        elif message.get("type") == "disconnect":
            reason = str(message.get("reason") or "disconnect")
            PLATFORM_HEALTH.connection("slack", False, CONNECTION, reason)

    async def _on_request(
        self, client: AsyncBaseSocketModeClient, request: SocketModeRequest
    ) -> None:
        """One envelope: handled like its webhook, then acknowledged with its envelope id;
        left unacknowledged when it could not be queued, so Slack redelivers it."""
        try:
            response = await self._handle(request)
        except Exception as error:  # the webhook's 503: the cache or database is away
            dependency = dependency_of(error)
            if dependency is None:
                raise  # a bug: slack_sdk logs it with its traceback
            SLACK_REQUESTS.labels(_endpoint(request), Outcome.refused.value).inc()
            log_event(
                logger,
                Category.ERROR,
                "slack_socket_envelope",
                "refused",
                level="warning",
                dependency=dependency,
                reason=describe(error),
            )
            return
        if response is not None:
            await client.send_socket_mode_response(response)

    async def _handle(self, request: SocketModeRequest) -> SocketModeResponse | None:
        payload: Any = storable(request.payload)  # NUL cannot be stored: drop it
        ack: dict[str, Any] | None = None
        endpoint = _endpoint(request)
        if request.type == "events_api":
            if await self.intake.event(payload, endpoint=endpoint) is Outcome.refused:
                return None  # Slack redelivers (retry_attempt); the dedupe keeps it once
        elif request.type == "slash_commands":
            form = {key: str(value) for key, value in payload.items() if value is not None}
            ack = (await self.intake.slash(form, endpoint=endpoint)).body
        else:  # interactive (and any envelope type Slack adds later)
            self.intake.interactive(payload, endpoint=endpoint)
        return SocketModeResponse(request.envelope_id, ack)


def _endpoint(request: SocketModeRequest) -> str:
    return ENDPOINTS.get(request.type, "socket_other")
