"""REST settings (the key sealed, never shown), MCP servers, usage; and MCP tools run for
the model from a real MCP server the test starts over stdio."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import structlog
from sqlalchemy import select

from tests.modules.ai.fakes import FakeModel, Step
from tests.modules.calendar.helpers import key_with_role, user_of
from waddlebot.modules.ai.models import AiSettings
from waddlebot.sdk.testing import ModuleHarness

API = "/api/ai/v1"
SERVER = str(Path(__file__).with_name("mcp_server.py"))


async def test_settings_over_rest(bot: ModuleHarness, model: FakeModel) -> None:
    assert bot.client is not None
    community = await bot.community_id()
    admin = await key_with_role(bot, "ada", "admin")
    member = await key_with_role(bot, "max", "member")
    url = f"{API}/communities/{community}/settings"
    assert (await bot.client.get(url)).status_code == 401
    assert (await bot.client.get(url, headers=member)).status_code == 403
    assert (await bot.client.patch(url, json={"cooldown": 1}, headers=member)).status_code == 403
    shown = (await bot.client.get(url, headers=admin)).json()
    assert shown["configured"] is True and shown["has_key"] is True
    assert shown["model"] == "test-model" and shown["own_provider"] is False
    assert "api_key" not in shown

    bad = await bot.client.patch(url, json={"temperature": 3}, headers=admin)
    assert bad.status_code == 422 and "temperature" in bad.text
    unknown = await bot.client.patch(url, json={"colour": "red"}, headers=admin)
    assert unknown.status_code == 422

    changed = await bot.client.patch(
        url,
        json={"model": "community-model", "api_key": "sk-community", "system_prompt": "Be terse."},
        headers=admin,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["model"] == "community-model" and "sk-community" not in changed.text
    async with bot.runtime.db.session() as session:
        row = await session.scalar(select(AiSettings))
        assert row is not None and row.api_key_sealed and "sk-community" not in row.api_key_sealed
    await bot.reply("!ai hi")
    assert model.keys[-1] == "Bearer sk-community"  # unsealed for the call
    assert model.last["model"] == "community-model"
    assert model.last["messages"][0] == {"role": "system", "content": "Be terse."}

    # a community's own endpoint never receives the installation's key
    own = await bot.client.patch(
        url, json={"base_url": model_url(bot), "api_key": None}, headers=admin
    )
    assert own.json()["own_provider"] is True and own.json()["has_key"] is False
    await bot.reply("!ai again", user="bob")
    assert model.keys[-1] == "Bearer not-needed"

    # PUT replaces everything: back to the installation's defaults
    reset = await bot.client.put(url, json={"cooldown": 5}, headers=admin)
    assert reset.json()["model"] == "test-model" and reset.json()["cooldown"] == 5

    nowhere = await bot.client.patch(
        f"{API}/communities/nope/settings", json={"cooldown": 1}, headers=admin
    )
    assert nowhere.status_code in (403, 404)

    usage = (await bot.client.get(f"{API}/communities/{community}/usage", headers=admin)).json()
    assert usage["total"] == 50 and {u["answers"] for u in usage["users"]} == {1}
    assert usage["users"][0]["user_id"] in {await user_of(bot, "alice"), await user_of(bot, "bob")}


def model_url(bot: ModuleHarness) -> str:
    import os

    return os.environ["WADDLEBOT_AI_BASE_URL"]


async def test_mcp_servers_over_rest(bot: ModuleHarness, monkeypatch: pytest.MonkeyPatch) -> None:
    assert bot.client is not None
    community = await bot.community_id()
    admin = await key_with_role(bot, "ada", "admin")
    url = f"{API}/communities/{community}/mcp-servers"
    body = {"name": "calc", "command": sys.executable, "args": [SERVER], "allowed_tools": ["add"]}
    refused = await bot.client.post(url, json=body, headers=admin)
    assert refused.status_code == 422 and "WADDLEBOT_AI_MCP_COMMANDS" in refused.json()["detail"]
    monkeypatch.setenv("WADDLEBOT_AI_MCP_COMMANDS", sys.executable)
    # the REST side reads the runtime's settings: a harness started with the setting
    async with ModuleHarness(bot.modules[-1], ai_mcp_commands=[sys.executable]) as other:
        assert other.client is not None
        community = await other.community_id()
        admin = await key_with_role(other, "ada", "admin")
        url = f"{API}/communities/{community}/mcp-servers"
        added = await other.client.post(url, json=body, headers=admin)
        assert added.status_code == 201, added.text
        assert added.json()["transport"] == "stdio"
        again = await other.client.post(url, json=body, headers=admin)
        assert again.status_code == 409
        neither = await other.client.post(
            url, json={"name": "x", "allowed_tools": ["a"]}, headers=admin
        )
        assert neither.status_code == 422
        listed = (await other.client.get(url, headers=admin)).json()
        assert [s["name"] for s in listed] == ["calc"]
        assert (await other.client.delete(f"{url}/calc", headers=admin)).status_code == 204
        assert (await other.client.delete(f"{url}/calc", headers=admin)).status_code == 404


def slow_start(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A stdio MCP server is a Python process importing ``mcp``: seconds (over 7 in one CI
    run) on a busy machine. The harness's settings, which these override, beat the
    environment; the product gives servers half the answer's time, at most 10 s."""
    from waddlebot.modules.ai import answer

    monkeypatch.setattr(answer, "CONNECT_TIMEOUT", 20.0)
    return {"ai_timeout": 40, "module_timeout": 42, "playground_reply_timeout": 50}


async def test_the_model_calls_allow_listed_mcp_tools(
    model: FakeModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    from waddlebot.modules.ai import module as ai

    monkeypatch.setenv("WADDLEBOT_AI_MCP_COMMANDS", sys.executable)
    slow = slow_start(monkeypatch)
    async with ModuleHarness(ai, ai_mcp_commands=[sys.executable], **slow) as bot:
        assert bot.client is not None
        community = await bot.community_id()
        admin = await key_with_role(bot, "ada", "admin")
        added = await bot.client.post(
            f"{API}/communities/{community}/mcp-servers",
            json={
                "name": "calc",
                "command": sys.executable,
                "args": [SERVER],
                "allowed_tools": ["add", "big"],
            },
            headers=admin,
        )
        assert added.status_code == 201, added.text
        model.say(
            Step(tool_calls=[("calc__add", {"a": 2, "b": 3}), ("calc__secret", {})]),
            Step(tool_calls=[("calc__big", {})]),
            Step(text="2 + 3 = 5."),
        )
        with structlog.testing.capture_logs() as logs:
            assert await bot.reply("!ai what is 2+3?") == "@alice 2 + 3 = 5."
        offered = sorted(t["function"]["name"] for t in model.requests[0]["tools"])
        assert offered == ["calc__add", "calc__big"]  # "secret" and "slow" never offered
        results = [m for m in model.requests[1]["messages"] if m["role"] == "tool"]
        assert [r["content"] for r in results] == [
            "5",
            "Error: no tool named calc__secret is available.",
        ]
        big = [m for m in model.requests[2]["messages"] if m["role"] == "tool"][-1]
        assert len(big["content"]) == 2000
        audit = [e for e in logs if e.get("action") == "ai:tool_call"]
        assert [(e["tool"], e["result"]) for e in audit] == [
            ("calc__add", "called"),
            ("calc__secret", "refused"),
            ("calc__big", "called"),
        ]
        assert all(e["community"] == community and e["user"] for e in audit)


async def test_the_tool_loop_is_bounded(model: FakeModel, monkeypatch: pytest.MonkeyPatch) -> None:
    from waddlebot.modules.ai import module as ai

    slow = slow_start(monkeypatch)
    async with ModuleHarness(ai, ai_mcp_commands=[sys.executable], **slow) as bot:
        assert bot.client is not None
        community = await bot.community_id()
        admin = await key_with_role(bot, "ada", "admin")
        monkeypatch.setenv("WADDLEBOT_AI_MCP_COMMANDS", sys.executable)
        await bot.client.post(
            f"{API}/communities/{community}/mcp-servers",
            json={
                "name": "calc",
                "command": sys.executable,
                "args": [SERVER],
                "allowed_tools": ["add"],
            },
            headers=admin,
        )
        loop = Step(tool_calls=[("calc__add", {"a": 1, "b": 1})])
        model.say(loop, loop, loop, Step(text="Done."))
        assert await bot.reply("!ai loop forever") == "@alice Done."
        assert len(model.requests) == 4
        assert "tools" not in model.requests[3]  # the last round must answer in words


async def test_ollama_calls_mcp_tools_too(
    ollama_model: FakeModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    from waddlebot.modules.ai import module as ai

    slow = slow_start(monkeypatch)
    async with ModuleHarness(ai, ai_mcp_commands=[sys.executable], **slow) as bot:
        assert bot.client is not None
        community = await bot.community_id()
        admin = await key_with_role(bot, "ada", "admin")
        await bot.client.post(
            f"{API}/communities/{community}/mcp-servers",
            json={
                "name": "calc",
                "command": sys.executable,
                "args": [SERVER],
                "allowed_tools": ["add"],
            },
            headers=admin,
        )
        ollama_model.say(
            Step(tool_calls=[("calc__add", {"a": 40, "b": 2})]), Step(text="It is 42.")
        )
        assert await bot.reply("!ai 40+2?") == "@alice It is 42."
        assert [t["function"]["name"] for t in ollama_model.requests[0]["tools"]] == ["calc__add"]
        follow_up = ollama_model.requests[1]["messages"]
        assert follow_up[-2]["tool_calls"] == [
            {"function": {"name": "calc__add", "arguments": {"a": 40, "b": 2}}}
        ]
        assert follow_up[-1]["role"] == "tool" and follow_up[-1]["content"] == "42"
        assert follow_up[-1]["tool_name"] == "calc__add"


async def test_streamable_http_mcp_servers(
    model: FakeModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio
    import subprocess

    from tests.support import free_port
    from waddlebot.modules.ai import module as ai

    slow = slow_start(monkeypatch)
    port = free_port()
    child = subprocess.Popen(
        [sys.executable, SERVER, str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        async with asyncio.timeout(20):
            while True:
                try:
                    _, writer = await asyncio.open_connection("127.0.0.1", port)
                except OSError:
                    await asyncio.sleep(0.1)
                    continue
                writer.close()
                break
        async with ModuleHarness(ai, **slow) as bot:
            assert bot.client is not None
            community = await bot.community_id()
            admin = await key_with_role(bot, "ada", "admin")
            added = await bot.client.post(
                f"{API}/communities/{community}/mcp-servers",
                json={
                    "name": "web",
                    "url": f"http://127.0.0.1:{port}/mcp",
                    "allowed_tools": ["add"],
                },
                headers=admin,
            )
            assert added.status_code == 201 and added.json()["transport"] == "http"
            model.say(Step(tool_calls=[("web__add", {"a": 1, "b": 2})]), Step(text="Three."))
            assert await bot.reply("!ai 1+2") == "@alice Three."
            tool = [m for m in model.requests[1]["messages"] if m["role"] == "tool"]
            assert tool[0]["content"] == "3"
    finally:
        child.terminate()
        child.wait(timeout=10)
