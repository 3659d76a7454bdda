"""``SCOPES`` (what ``admin create-api-key`` accepts) names every scope an endpoint asks for."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.test_every_endpoint_requires_credentials import api_routes
from waddlebot.app import create_app
from waddlebot.kernel.security.api_keys import SCOPES
from waddlebot.kernel.settings import Settings


def _calls(dependant: Any) -> Iterator[Any]:
    for sub in dependant.dependencies:
        yield sub.call
        yield from _calls(sub)


def required_scopes(settings: Settings) -> set[str]:
    """The ``scope`` bound into each require_scope/require_permission dependency of the app."""
    found: set[str] = set()
    for route in api_routes(create_app(settings)):
        for call in _calls(route.dependant):
            if call is None or not getattr(call, "__closure__", None):
                continue
            scope = inspect.getclosurevars(call).nonlocals.get("scope")
            if isinstance(scope, str):
                found.add(scope)
    return found


def test_every_required_scope_is_known(tmp_path: Path) -> None:
    required = required_scopes(Settings(data_dir=tmp_path))
    assert {"events:write", "marketplace:publish", "labels:write"} <= required  # the walk works
    assert required <= SCOPES, required - SCOPES
