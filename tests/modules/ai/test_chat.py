"""!ai through the real pipeline against a fake OpenAI-compatible server on loopback."""

from __future__ import annotations

import pytest

from tests.modules.ai.fakes import FakeModel, Step
from waddlebot.modules.ai import module as ai
from waddlebot.sdk.testing import ModuleHarness

OWNER = {"user": "streamer", "role": "broadcaster"}


async def test_ai_answers_with_the_installation_provider(
    bot: ModuleHarness, model: FakeModel
) -> None:
    model.say(Step(text="Penguins cannot fly, but they swim at 10 km/h."))
    assert await bot.reply("!ai can penguins fly?") == (
        "@alice Penguins cannot fly, but they swim at 10 km/h."
    )
    sent = model.last
    assert sent["model"] == "test-model"
    assert sent["messages"][0]["role"] == "system"
    assert sent["messages"][-1] == {"role": "user", "content": "can penguins fly?"}
    assert model.keys[-1] == "Bearer sk-installation"
    assert "tools" not in sent  # no MCP servers: no tools offered
    # !ask is the same command
    assert (await bot.reply("!ask hello", user="bob")).startswith("@bob You asked: hello")
    assert await bot.reply("!ai") == "Usage: !ai QUESTION"


async def test_without_a_provider_the_module_says_it_is_not_set_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("WADDLEBOT_AI_PROVIDER", raising=False)
    monkeypatch.delenv("WADDLEBOT_AI_MODEL", raising=False)
    async with ModuleHarness(ai) as bot:
        assert await bot.reply("!ai hi") == (
            "AI chat is not set up here yet (an admin can set a provider and model)."
        )


async def test_failures_are_one_short_line(bot: ModuleHarness, model: FakeModel) -> None:
    model.say(
        Step(status=429, code="rate_limit_exceeded"),
        Step(status=401, code="invalid_api_key"),
        Step(status=500),
        Step(delay=3.0),
        Step(text="", finish_reason="content_filter"),
        Step(text="", usage=10),
    )
    assert await bot.reply("!ai one") == (
        "@alice The AI service is busy (rate limited). Try again in a minute."
    )
    assert await bot.reply("!ai two") == (
        "@alice The AI service refused this bot's key. An admin needs to check it."
    )
    assert await bot.reply("!ai three") == (
        "@alice The AI service is not reachable right now. Try again later."
    )
    assert await bot.reply("!ai four") == (
        "@alice The AI took too long to answer. Try again in a moment."
    )
    assert await bot.reply("!ai five") == "@alice Sorry, I can't help with that one."
    # an answer that came back starts the cooldown, whatever it said
    assert await bot.reply("!ai six") == "@alice please wait 30s before asking the AI again."
    assert await bot.reply("!ai six", user="bob") == "@bob I have no answer to that, sorry."


async def test_an_unreachable_provider_is_a_line_too(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.support import free_port

    monkeypatch.setenv("WADDLEBOT_AI_PROVIDER", "openai")
    monkeypatch.setenv("WADDLEBOT_AI_BASE_URL", f"http://127.0.0.1:{free_port()}/v1")
    monkeypatch.setenv("WADDLEBOT_AI_MODEL", "m")
    async with ModuleHarness(ai) as bot:
        assert await bot.reply("!ai hello?") == (
            "@alice The AI service is not reachable right now. Try again later."
        )
