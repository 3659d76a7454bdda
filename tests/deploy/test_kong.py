"""deploy/compose/kong/kong.yml: generated from the application's routes and still equal to the
generator's output; every route reaches its service through exactly one Kong route, with a key
exactly where the application asks for a principal."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from tests.deploy.support import DEPLOY
from waddlebot.gateway.kong_config import kong_config, render
from waddlebot.gateway.routes import ServedPath, all_served_paths

KONG_FILE = DEPLOY / "compose" / "kong" / "kong.yml"
Route = dict[str, Any]


@pytest.fixture(scope="module")
def served() -> list[ServedPath]:
    return all_served_paths()


@pytest.fixture(scope="module")
def committed() -> dict[str, Any]:
    loaded = yaml.safe_load(KONG_FILE.read_text())
    assert isinstance(loaded, dict)
    return loaded


def routes_of(config: dict[str, Any]) -> list[tuple[str, Route]]:
    """(Kong service name, route) for every route."""
    return [
        (service["name"], route) for service in config["services"] for route in service["routes"]
    ]


def kong_match(path: str, config: dict[str, Any]) -> list[tuple[str, Route]]:
    """The routes Kong's router would pick for ``path``: every matching regex path (they are
    evaluated first), else the routes holding the longest matching prefix (a string prefix).
    More than one answer is an ambiguity the config must not have."""
    routes = routes_of(config)
    regex = [
        (service, route)
        for service, route in routes
        for candidate in route["paths"]
        if candidate.startswith("~") and re.match(candidate[1:], path)
    ]
    if regex:
        return regex
    prefixes = [
        (len(candidate), service, route)
        for service, route in routes
        for candidate in route["paths"]
        if not candidate.startswith("~") and path.startswith(candidate)
    ]
    if not prefixes:
        return []
    longest = max(length for length, _, _ in prefixes)
    return [(service, route) for length, service, route in prefixes if length == longest]


def has_key_auth(route: Route) -> bool:
    return any(plugin["name"] == "key-auth" for plugin in route.get("plugins", []))


def coverage_problems(paths: list[ServedPath], config: dict[str, Any]) -> list[str]:
    """Why ``config`` does not route ``paths`` right: not exactly one route, the wrong
    service, a key where the application asks for none or none where it asks for one."""
    problems = []
    for served in paths:
        matched = kong_match(served.sample, config)
        if len(matched) != 1:
            problems.append(f"{served.path}: {len(matched)} Kong routes")
            continue
        service, route = matched[0]
        if service != served.service:
            problems.append(f"{served.path}: reaches {service}, served by {served.service}")
        if has_key_auth(route) and not served.keyed:
            problems.append(f"{served.path}: public, but Kong asks for a key")
        if served.keyed and not has_key_auth(route):
            problems.append(f"{served.path}: needs a principal, but Kong asks for no key")
    return problems


def test_committed_file_is_the_generators_output(served: list[ServedPath]) -> None:
    expected = render(kong_config(served))
    assert KONG_FILE.read_text() == expected, (
        "deploy/compose/kong/kong.yml is stale: run `make kong-config`"
    )


def test_every_route_reaches_its_service_through_exactly_one_kong_route(
    served: list[ServedPath], committed: dict[str, Any]
) -> None:
    assert committed["_format_version"] == "3.0"
    assert coverage_problems(served, committed) == []


def test_paths_carrying_their_own_secret_need_no_key(served: list[ServedPath]) -> None:
    """Webhooks (signed), OAuth callbacks, overlays and their socket (token in the URL), the
    iCal feed (token), the portal (session cookie) and the login API: never behind key-auth."""
    keyless = {path.path for path in served if not path.keyed}
    for path in (
        "/webhooks/twitch/eventsub",
        "/webhooks/slack/events",
        "/webhooks/discord/interactions",
        "/auth/twitch/callback",
        "/auth/slack/callback",
        "/auth/spotify/callback",
        "/api/auth/v1/oauth/{provider_name}/callback",
        "/api/auth/v1/login",
        "/overlay/{token}",
        "/ws/overlay/{token}",
        "/api/calendar/v1/feeds/{token}.ics",
        "/portal/login",
        "/portal/c/{community_id}",
    ):
        assert path in keyless, path
    assert "/api/communities/v1/communities" not in keyless


def test_a_new_uncovered_or_wrongly_keyed_route_fails(served: list[ServedPath]) -> None:
    """The checker itself: a route Kong does not know, one it sends elsewhere, and a public
    path that falls under a keyed prefix are each reported."""
    config = kong_config(served)
    added = [
        ServedPath("/brand-new/{thing}", "labels", keyed=True),
        ServedPath("/api/labels/v1/public-badge/{token}", "labels", keyed=False),
        ServedPath("/api/marketplace/v1/stats", "labels", keyed=True),
    ]
    problems = coverage_problems(added, config)
    assert problems == [
        "/brand-new/{thing}: 0 Kong routes",
        "/api/labels/v1/public-badge/{token}: public, but Kong asks for a key",
        "/api/marketplace/v1/stats: reaches marketplace, served by labels",
    ]
    # Generated with them, the config covers them too (the new public path gets its own route).
    assert coverage_problems(served + added, kong_config(served + added)) == []


def test_api_routes_are_rate_and_size_limited_and_measured(committed: dict[str, Any]) -> None:
    assert [plugin["name"] for plugin in committed["plugins"]] == ["prometheus"]
    for service, route in routes_of(committed):
        names = {plugin["name"] for plugin in route["plugins"]}
        assert {"rate-limiting", "request-size-limiting"} <= names, (service, route["name"])
        assert route["strip_path"] is False


def test_without_key_auth_the_routes_stay_the_same(served: list[ServedPath]) -> None:
    """``--no-key-auth`` (Kong without consumers) drops only the key-auth plugins."""
    keyed, open_ = kong_config(served), kong_config(served, key_auth=False)
    for (_, with_key), (_, without) in zip(routes_of(keyed), routes_of(open_), strict=True):
        assert with_key["paths"] == without["paths"]
        assert not has_key_auth(without)
