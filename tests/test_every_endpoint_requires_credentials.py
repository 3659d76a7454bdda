"""Every REST endpoint of every service refuses a caller without a key or a session.

The app is built with every service (``waddlebot up``), bound as if on a network interface
(so the loopback operator's conveniences are off), and every route is called over real HTTP
without credentials. The only endpoints allowed to answer are the ones listed below, each
with the reason it is open; a new endpoint that forgets its dependency fails this test.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

from tests.support import live_server
from waddlebot.app import create_app
from waddlebot.kernel.settings import Settings

OPEN: dict[str, str] = {
    "/healthz": "health check",
    "/readyz": "health check",
    "/metrics": "health check (Prometheus scrape)",
    "/webhooks/": "platform webhook, verified by the platform's signature",
    "/auth/twitch/callback": "platform OAuth redirect, verified by its signed state",
    "/auth/slack/install": "redirect to Slack's consent page for a workspace admin to approve",
    "/auth/slack/callback": "platform OAuth redirect, verified by its signed state",
    "/overlay": "OBS overlay page, authenticated by the token in its URL",
    "/ws/overlay/": "OBS overlay socket, authenticated by the token in its URL",
    "/api/calendar/v1/feeds/": "iCalendar feed, authenticated by the token in its URL",
    "/api/auth/v1/login": "password login: how a session is obtained",
    "/api/auth/v1/oauth/": "OAuth login start/callback: how a session is obtained",
    "/portal": "web portal: anonymous visitors are sent to its log-in form (tests/portal)",
    "/portal/": "web portal: anonymous visitors are sent to its log-in form (tests/portal)",
}


def open_reason(path: str) -> str | None:
    for prefix, reason in OPEN.items():
        if path == prefix or (prefix.endswith("/") and path.startswith(prefix)):
            return reason
        if prefix == "/overlay" and path.startswith("/overlay/"):
            return reason
    return None


def api_routes(app: FastAPI) -> Iterator[APIRoute]:
    """Every API route, through routers FastAPI includes lazily."""
    for _, route in api_paths(app):
        yield route


def api_paths(app: FastAPI) -> Iterator[tuple[str, APIRoute]]:
    """Every API route with its full path, through routers FastAPI includes lazily (with the
    prefix they were included under, e.g. a built-in module's ``/api/<module>/v1``)."""

    def walk(routes: list[Any], prefix: str) -> Iterator[tuple[str, APIRoute]]:
        for route in routes:
            if hasattr(route, "original_router"):
                context = getattr(route, "include_context", None)
                inner = prefix + (getattr(context, "prefix", "") or "")
                yield from walk(route.original_router.routes, inner)
            elif isinstance(route, APIRoute):
                yield prefix + route.path, route

    yield from walk(list(app.routes), "")


async def test_no_endpoint_answers_an_anonymous_caller(stack_settings: Settings) -> None:
    # as if bound to a network interface: the loopback operator conveniences are off
    settings = stack_settings.model_copy(update={"host": "0.0.0.0"})
    app = create_app(settings)
    routes = list(api_paths(app))
    assert len(routes) > 30  # the walk found every service's routes
    checked: list[str] = []
    async with live_server(app) as bot:
        for full, route in routes:
            if open_reason(full) is not None:
                continue
            path = re.sub(r"\{[^}]+\}", "x", full)
            for method in sorted(route.methods):
                answer = await bot.client.request(
                    method, path, json={} if method in ("POST", "PUT", "PATCH") else None
                )
                assert answer.status_code == 401, (
                    f"{method} {full}: {answer.status_code} {answer.text[:300]}"
                )
                checked.append(f"{method} {full}")
    assert "GET /api/marketplace/v1/modules" in checked
    assert "DELETE /api/memories/v1/communities/{community_id}/quotes/{number}" in checked
    assert "POST /api/playground/v1/messages" in checked
    assert "PATCH /api/communities/v1/communities/{community_id}/custom-commands/{name}" in checked
    assert "DELETE /api/memories/v1/communities/{community_id}/reminders/{number}" in checked
    assert "POST /api/calendar/v1/communities/{community_id}/events/{number}/approve" in checked
    assert "PUT /api/shoutouts/v1/communities/{community_id}/settings" in checked
    assert all(not path.startswith("GET /api/calendar/v1/feeds/") for path in checked)
    assert "POST /api/inventory/v1/communities/{community_id}/grants" in checked
