"""Fixtures: a fake OpenAI-compatible server (and one for Ollama) on loopback, with the
installation's ``WADDLEBOT_AI_*`` defaults pointing at it, and the module in a harness."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.modules.ai.fakes import FakeModel, ollama_app, openai_app, serving
from waddlebot.modules.ai import commands
from waddlebot.modules.ai import module as ai
from waddlebot.sdk.testing import ModuleHarness


@pytest.fixture(autouse=True)
def _fresh_mention_cache() -> None:
    commands._mentions.clear()


@pytest.fixture
async def model(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeModel]:
    fake = FakeModel()
    async with serving(openai_app(fake)) as url:
        monkeypatch.setenv("WADDLEBOT_AI_PROVIDER", "openai")
        monkeypatch.setenv("WADDLEBOT_AI_BASE_URL", f"{url}/v1")
        monkeypatch.setenv("WADDLEBOT_AI_API_KEY", "sk-installation")
        monkeypatch.setenv("WADDLEBOT_AI_MODEL", "test-model")
        monkeypatch.setenv("WADDLEBOT_AI_TIMEOUT", "2")
        yield fake


@pytest.fixture
async def ollama_model(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeModel]:
    fake = FakeModel()
    async with serving(ollama_app(fake)) as url:
        monkeypatch.setenv("WADDLEBOT_AI_PROVIDER", "ollama")
        monkeypatch.setenv("WADDLEBOT_AI_BASE_URL", url)
        monkeypatch.delenv("WADDLEBOT_AI_API_KEY", raising=False)
        monkeypatch.setenv("WADDLEBOT_AI_MODEL", "llama3.2")
        monkeypatch.setenv("WADDLEBOT_AI_TIMEOUT", "2")
        yield fake


@pytest.fixture
async def bot(model: FakeModel) -> AsyncIterator[ModuleHarness]:
    async with ModuleHarness(ai) as harness:
        yield harness
