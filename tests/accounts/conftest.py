"""Accounts test helpers: the accounts + identity services over real HTTP on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest

from tests.support import LiveServer, live_server
from waddlebot.accounts.manager import create_user
from waddlebot.accounts.service import AccountsService
from waddlebot.app import create_app
from waddlebot.identity.service import IdentityService
from waddlebot.kernel.settings import Settings
from waddlebot.kernel.storage.models import User

AUTH = "/api/auth/v1"
PASSWORD = "correct horse battery staple"

Launcher = Callable[..., AbstractAsyncContextManager[LiveServer]]


def with_overrides(settings: Settings, **overrides: Any) -> Settings:
    """``settings`` (either stack) with some knobs changed."""
    return Settings(**{**settings.model_dump(), **overrides})


@pytest.fixture
def launch(stack_settings: Settings) -> Launcher:
    """Start the accounts and identity services on either stack, with setting overrides."""

    @asynccontextmanager
    async def start(**overrides: Any) -> AsyncIterator[LiveServer]:
        settings = with_overrides(stack_settings, **overrides)
        app = create_app(settings, instances=[AccountsService(), IdentityService()])
        async with live_server(app) as bot:
            yield bot

    return start


async def add_user(
    bot: LiveServer, email: str = "ada@example.com", *, superuser: bool = False
) -> User:
    return await create_user(
        bot.app.state.runtime.db, email=email, password=PASSWORD, superuser=superuser
    )


async def logged_in(bot: LiveServer, email: str, password: str = PASSWORD) -> httpx.AsyncClient:
    """A new browser (its own cookie jar) logged in as ``email``; close it when done."""
    browser = httpx.AsyncClient(base_url=bot.url, timeout=30.0)
    answer = await browser.post(f"{AUTH}/login", json={"email": email, "password": password})
    assert answer.status_code == 200, answer.text
    return browser
