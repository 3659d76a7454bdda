"""The playground end to end over real HTTP: collector → router → module → sender → reply,
on both SQLite + in-memory and PostgreSQL + Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select

from tests.support import LiveServer, build_app, live_server
from waddlebot.kernel.settings import Settings
from waddlebot.kernel.storage.models import CommandExecution, Community, Entity


@pytest.fixture
async def bot(stack_settings: Settings) -> AsyncIterator[LiveServer]:
    async with live_server(build_app(stack_settings)) as server:
        yield server


async def test_ping_answers_pong(bot: LiveServer) -> None:
    body = await bot.say("!ping", role="moderator")
    assert body["status"] == "ok"
    assert body["replies"] == [{"type": "chat", "text": "pong"}]


async def test_trigger_is_case_insensitive(bot: LiveServer) -> None:
    assert await bot.texts("!PING") == ["pong"]


async def test_help_lists_only_what_the_role_may_run(bot: LiveServer) -> None:
    [everyone] = await bot.texts("!help")
    assert "!ping" in everyone and "!help" in everyone
    assert "!modonly" not in everyone and "!reload" not in everyone
    [moderator] = await bot.texts("!help", role="moderator")
    assert "!modonly" in moderator and "!reload" not in moderator  # needs commands.manage
    [broadcaster] = await bot.texts("!help", role="broadcaster")  # acts as owner
    assert "!modonly" in broadcaster and "!reload" in broadcaster


async def test_help_for_one_command(bot: LiveServer) -> None:
    assert await bot.texts("!help ping") == ["!ping: Check that the bot is alive. Usage: !ping"]
    [missing] = await bot.texts("!help modonly")
    assert "no command !modonly you can use" in missing


async def test_commands_lists_commands(bot: LiveServer) -> None:
    [listing] = await bot.texts("!commands", role="broadcaster")
    assert listing.startswith("Commands: ")
    assert "!about" in listing and "!modonly" in listing


async def test_permission_refusal_is_a_short_reply(bot: LiveServer) -> None:
    body = await bot.say("!modonly", user="bob")
    assert body["status"] == "refused"
    assert body["replies"] == [
        {"type": "chat", "text": "@bob !modonly is for moderators and above."}
    ]
    assert await bot.texts("!modonly", role="moderator") == ["secret moderator stuff"]


async def test_failing_module_gives_friendly_reply(bot: LiveServer) -> None:
    body = await bot.say("!boom")
    assert body["status"] == "failed"
    assert body["replies"][0]["text"] == "@alice sorry, !boom failed. Try again later."
    assert await bot.texts("!ping") == ["pong"]  # the worker survived


async def test_command_error_becomes_the_reply(bot: LiveServer) -> None:
    assert await bot.texts("!refuse") == ["usage: !refuse <nothing>"]


async def test_quoted_arguments_stay_together(bot: LiveServer) -> None:
    assert await bot.texts("!echo \"two words\" one 'three more words'") == [
        "two words|one|three more words"
    ]
    assert await bot.texts('!echo "unbalanced quote') == ['"unbalanced|quote']


async def test_whispers_come_back_as_whispers(bot: LiveServer) -> None:
    for _ in range(5):  # in the order the module made them, every time
        body = await bot.say("!whisperme")
        assert body["replies"] == [
            {"type": "whisper", "text": "psst"},
            {"type": "chat", "text": "sent you a whisper"},
        ]


async def test_cooldown_tells_once_then_stays_quiet(bot: LiveServer) -> None:
    assert await bot.texts("!cool") == ["cool"]
    [notice] = await bot.texts("!cool")
    assert notice.startswith("@alice !cool is on cooldown, try again in ")
    assert await bot.texts("!cool") == []
    assert await bot.texts("!cool", user="carol") == ["cool"]  # per user
    assert await bot.texts("!cool", role="moderator") == ["cool"]  # moderators skip cooldowns


async def test_plain_chat_and_unknown_commands_are_ignored(bot: LiveServer) -> None:
    assert (await bot.say("hello there"))["status"] == "ignored"
    assert (await bot.say("!doesnotexist"))["status"] == "ignored"


async def test_unknown_channel_registers_a_community_and_logs_executions(
    bot: LiveServer,
) -> None:
    await bot.texts("!ping", channel="brand-new")
    await bot.texts("!modonly", channel="brand-new")
    runtime = bot.app.state.runtime
    router = next(s for s in bot.app.state.services if s.name == "router")
    await router.executions.flush()
    async with runtime.db.session() as session:
        entity = await session.scalar(select(Entity).where(Entity.channel_id == "brand-new"))
        assert entity is not None
        assert await session.get(Community, entity.community_id) is not None
        rows = (
            await session.scalars(
                select(CommandExecution).where(CommandExecution.entity_id == entity.id)
            )
        ).all()
    assert sorted((row.trigger, row.status) for row in rows) == [
        ("!modonly", "refused"),
        ("!ping", "ok"),
    ]
    assert all(row.total_ms >= row.module_ms >= 0 for row in rows)
    async with runtime.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Community)) >= 1


async def test_invalid_playground_message_is_422(bot: LiveServer) -> None:
    assert (await bot.client.post("/api/playground/v1/messages", json={})).status_code == 401
    answer = await bot.client.post(
        "/api/playground/v1/messages", json={"channel": "lobby", "text": ""}, headers=bot.operator
    )
    assert answer.status_code == 422
    answer = await bot.client.post(
        "/api/playground/v1/messages",
        json={"text": "!ping", "role": "emperor"},
        headers=bot.operator,
    )
    assert answer.status_code == 422
    assert "unknown role 'emperor'" in answer.text
