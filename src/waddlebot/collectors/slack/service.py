"""The Slack collector as a service: webhooks or Socket Mode, OAuth install flow, sender.

- ``POST /webhooks/slack/events``: Events API (``url_verification``, ``message``,
  ``app_mention``), signed, deduplicated on ``event_id`` and on the message itself.
- ``POST /webhooks/slack/commands``: the ``/waddlebot`` slash command; ephemeral ack at once,
  the answer through ``response_url``.
- With ``WADDLEBOT_SLACK_APP_TOKEN``, the same events and slash commands also arrive over
  Socket Mode (``socket_mode.py``), a supervised task; both transports feed ``intake.py``.
- ``GET /auth/slack/install`` → Slack → ``GET /auth/slack/callback``: a workspace installs the
  app; its bot token is stored encrypted.

Acknowledgement is fast: the request only verifies, deduplicates, looks the member up
(cached, bounded by ``WADDLEBOT_SLACK_LOOKUP_TIMEOUT``) and queues the event at the router;
module work happens after the answer. If the router cannot take the event, the dedupe marks
are removed and Slack gets a 503, so its retry is processed.
"""

from __future__ import annotations

import html
import json
import secrets
from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Request, Response, status
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from waddlebot.collectors.slack.config import SlackSettings
from waddlebot.collectors.slack.intake import Outcome, SlackIntake
from waddlebot.collectors.slack.metrics import SLACK_REQUESTS
from waddlebot.collectors.slack.models import SlackInstallation
from waddlebot.collectors.slack.sender import SlackSender
from waddlebot.collectors.slack.verify import verify_slack
from waddlebot.collectors.slack.workspace import SlackWorkspaces
from waddlebot.kernel.contracts.v1 import storable
from waddlebot.kernel.observability.logging import Category, get_logger, log_event
from waddlebot.kernel.observability.platforms import PLATFORM_HEALTH
from waddlebot.kernel.runtime import Runtime
from waddlebot.kernel.security.signed_state import InvalidState, StateSigner
from waddlebot.kernel.service import Service
from waddlebot.kernel.web import RETRY_AFTER_SECONDS, get_runtime

logger = get_logger(__name__)
STATE_COOKIE = "wb_slack_install"
STATE_MAX_AGE = 600


class SlackService(Service):
    name = "slack"

    def __init__(self, settings: SlackSettings | None = None) -> None:
        super().__init__()
        self.settings = settings or SlackSettings()
        self._workspaces: SlackWorkspaces | None = None
        self._intake: SlackIntake | None = None

    def workspaces(self, runtime: Runtime) -> SlackWorkspaces:
        if self._workspaces is None:
            self._workspaces = SlackWorkspaces(runtime, self.settings)
        return self._workspaces

    def intake(self, runtime: Runtime) -> SlackIntake:
        if self._intake is None:
            self._intake = SlackIntake(runtime, self.settings, self.workspaces(runtime))
        return self._intake

    def chat_api(self) -> APIRouter:
        return slack_api(self)

    async def start(self, runtime: Runtime) -> None:
        settings = self.settings
        PLATFORM_HEALTH.configured("slack", bool(settings.signing_secret or settings.app_token))
        sender = SlackSender(runtime.backend, settings, self.workspaces(runtime))
        self.spawn("sender", sender.run)
        if settings.app_token:
            # Socket Mode (slack_sdk + aiohttp, ~10 MiB) is imported only when it is used.
            from waddlebot.collectors.slack.socket_mode import SlackSocket

            socket = SlackSocket(settings, self.workspaces(runtime), self.intake(runtime))
            self.spawn("socket", socket.run)


def _verified(service: SlackService, request: Request, body: bytes, endpoint: str) -> bool:
    secret = service.settings.signing_secret
    if secret and verify_slack(
        secret, request.headers, body, window=service.settings.replay_window
    ):
        return True
    SLACK_REQUESTS.labels(endpoint, "bad_signature").inc()
    log_event(
        logger,
        Category.AUTH,
        f"slack_{endpoint}",
        "denied",
        reason="bad signature" if secret else "WADDLEBOT_SLACK_SIGNING_SECRET is not set",
    )
    return False


def slack_api(service: SlackService) -> APIRouter:
    api = APIRouter(tags=["slack"])

    @api.post("/webhooks/slack/events")
    async def events(request: Request) -> Response:
        body = await request.body()
        if not _verified(service, request, body, "events"):
            return JSONResponse({"detail": "invalid signature"}, status.HTTP_401_UNAUTHORIZED)
        try:
            payload: Any = storable(json.loads(body))  # NUL cannot be stored: drop it
        except ValueError:
            return JSONResponse({"detail": "body is not JSON"}, status.HTTP_400_BAD_REQUEST)
        if not isinstance(payload, dict):
            return JSONResponse({"detail": "body is not an object"}, status.HTTP_400_BAD_REQUEST)
        if payload.get("type") == "url_verification":
            SLACK_REQUESTS.labels("events", "url_verification").inc()
            return JSONResponse({"challenge": str(payload.get("challenge", ""))})
        outcome = await service.intake(get_runtime(request)).event(payload, endpoint="events")
        if outcome is Outcome.refused:
            return Response(
                status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},  # Slack redelivers
            )
        return Response(status_code=status.HTTP_200_OK)

    @api.post("/webhooks/slack/commands")
    async def commands(request: Request) -> Response:
        body = await request.body()
        if not _verified(service, request, body, "commands"):
            return JSONResponse({"detail": "invalid signature"}, status.HTTP_401_UNAUTHORIZED)
        form = storable(dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)))
        if form.get("ssl_check") == "1":
            return Response(status_code=status.HTTP_200_OK)
        answer = await service.intake(get_runtime(request)).slash(form, endpoint="commands")
        if answer.outcome is Outcome.invalid:
            return JSONResponse({"detail": "incomplete slash command"}, 400)
        if answer.body is None:
            return Response(status_code=status.HTTP_200_OK)
        return JSONResponse(answer.body)

    @api.get("/auth/slack/install", include_in_schema=False)
    async def install(request: Request) -> Response:
        settings = service.settings
        if not settings.client_id or not settings.client_secret:
            return HTMLResponse("Slack OAuth is not configured.", status.HTTP_404_NOT_FOUND)
        runtime = get_runtime(request)
        nonce = secrets.token_urlsafe(16)
        state = _signer(runtime).sign({"nonce": nonce})
        query = urlencode(
            {
                "client_id": settings.client_id,
                "scope": settings.scopes,
                "redirect_uri": _redirect_uri(runtime),
                "state": state,
            }
        )
        answer = RedirectResponse(f"{settings.authorize_url}?{query}", status.HTTP_302_FOUND)
        answer.set_cookie(
            STATE_COOKIE,
            nonce,
            max_age=STATE_MAX_AGE,
            httponly=True,
            samesite="lax",
            secure=runtime.settings.public_url.startswith("https://"),
            path="/auth/slack",
        )
        return answer

    @api.get("/auth/slack/callback", include_in_schema=False)
    async def callback(request: Request) -> Response:
        settings = service.settings
        runtime = get_runtime(request)
        params = request.query_params
        if not settings.client_id or not settings.client_secret:
            return HTMLResponse("Slack OAuth is not configured.", status.HTTP_404_NOT_FOUND)
        try:
            state = _signer(runtime).verify(params.get("state", ""), max_age=STATE_MAX_AGE)
        except InvalidState as error:
            log_event(logger, Category.AUTH, "slack_install", "denied", reason=str(error))
            return HTMLResponse("The install link expired or was tampered with.", 400)
        cookie = request.cookies.get(STATE_COOKIE, "")
        if not secrets.compare_digest(cookie, str(state.get("nonce", ""))):
            log_event(logger, Category.AUTH, "slack_install", "denied", reason="state cookie")
            return HTMLResponse("Start the install from this browser.", 400)
        if params.get("error") or not params.get("code"):
            return HTMLResponse(
                f"Slack did not install the app: {html.escape(params.get('error', 'no code'))}",
                400,
            )
        from slack_sdk.errors import SlackApiError  # loaded with Slack, not at start

        try:
            # client credentials in the form body (Slack accepts them there or as Basic auth)
            answer = (
                await service.workspaces(runtime)
                .client()
                .api_call(
                    "oauth.v2.access",
                    data={
                        "client_id": settings.client_id,
                        "client_secret": settings.client_secret,
                        "code": params["code"],
                        "redirect_uri": _redirect_uri(runtime),
                    },
                )
            )
        except SlackApiError as error:
            log_event(
                logger,
                Category.AUTH,
                "slack_install",
                "failed",
                reason=str(error.response.get("error")),
            )
            return HTMLResponse("Slack refused the install code.", 400)
        team = answer.get("team") or {}
        token = answer.get("access_token")
        if not isinstance(team.get("id"), str) or not isinstance(token, str):
            return HTMLResponse("Slack's answer had no workspace or token.", 502)
        await _store_installation(runtime, team, token, answer.data)
        service.workspaces(runtime).forget_token(team["id"])
        log_event(logger, Category.AUDIT, "slack_install", "ok", team=team["id"])
        page = HTMLResponse(
            f"WaddleBot is installed in {html.escape(str(team.get('name') or team['id']))}."
        )
        page.delete_cookie(STATE_COOKIE, path="/auth/slack")
        return page

    return api


def _signer(runtime: Runtime) -> StateSigner:
    return StateSigner(runtime.settings.resolved_secret_key, "slack-install")


def _redirect_uri(runtime: Runtime) -> str:
    return runtime.settings.public_url.rstrip("/") + "/auth/slack/callback"


async def _store_installation(
    runtime: Runtime, team: dict[str, Any], token: str, answer: Any
) -> None:
    data: dict[str, Any] = answer if isinstance(answer, dict) else {}
    sealed = runtime.settings.secret_box.encrypt(token)
    async with runtime.db.session() as session:
        row = await session.get(SlackInstallation, team["id"])
        if row is None:
            row = SlackInstallation(team_id=team["id"], token_sealed=sealed)
            session.add(row)
        row.token_sealed = sealed
        row.team_name = str(team.get("name") or "")[:200]
        row.bot_user_id = str(data.get("bot_user_id") or "")[:32]
        row.app_id = str(data.get("app_id") or "")[:32]
        row.scope = str(data.get("scope") or "")
