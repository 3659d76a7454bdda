"""Budgets, memory, block list, cooldown, mentions and mention neutralising, settings in
chat, and the Ollama provider, through the real pipeline."""

from __future__ import annotations

from pathlib import Path

from tests.modules.ai.fakes import FakeModel, Step
from waddlebot.kernel.contracts import Platform
from waddlebot.kernel.settings import Settings
from waddlebot.modules.ai import module as ai
from waddlebot.modules.ai.safety import ZWSP, blocked, cut, limit_for, neutralise
from waddlebot.sdk.testing import ModuleHarness

OWNER = {"user": "streamer", "role": "broadcaster"}


async def _setup(bot: ModuleHarness, *lines: str) -> None:
    for line in lines:
        reply = await bot.reply(line, **OWNER)
        assert reply.startswith("AI "), reply


async def test_daily_budgets_per_user_and_community(
    model: FakeModel, stack_settings: Settings, tmp_path: Path
) -> None:
    """On SQLite and PostgreSQL: usage is an atomic per-day upsert."""
    options = stack_settings.model_dump(
        include={"database_url", "redis_url", "redis_namespace", "secret_key"}
    )
    async with ModuleHarness(ai, **options) as bot:
        await _setup(bot, "!ai set cooldown 0", "!ai set user_budget 50", "!ai set budget 120")
        assert (await bot.reply("!ai one")).startswith("@alice You asked")  # 25 tokens
        assert (await bot.reply("!ai two")).startswith("@alice You asked")  # 50
        assert await bot.reply("!ai three") == (
            "@alice you have used up your AI budget for today. Try again tomorrow!"
        )
        model.say(Step(text="no usage reported", usage=None))  # estimated from characters
        assert await bot.reply("!ai four", user="bob") == "@bob no usage reported"
        assert (await bot.reply("!ai five", user="carol")).startswith("@carol You asked")
        assert (await bot.reply("!ai six", user="dave")).startswith("@dave You asked")
        assert await bot.reply("!ai seven", user="erin") == (
            "@erin the AI has used up today's budget here. Try again tomorrow!"
        )
        assert len(model.requests) == 5  # refusals never reach the provider


async def test_memory_keeps_the_last_exchanges_per_user_and_channel(
    bot: ModuleHarness, model: FakeModel
) -> None:
    await _setup(bot, "!ai set cooldown 0", "!ai set memory 2")
    for question in ("q1", "q2", "q3"):
        await bot.reply(f"!ai {question}")
    await bot.reply("!ai q4")
    said = [(m["role"], m["content"]) for m in model.last["messages"][1:]]
    assert said == [
        ("user", "q2"),
        ("assistant", "You asked: q2"),
        ("user", "q3"),
        ("assistant", "You asked: q3"),
        ("user", "q4"),
    ]
    await bot.reply("!ai other", user="bob")  # bob starts fresh
    assert len(model.last["messages"]) == 2
    await bot.reply("!ai elsewhere", channel="kitchen")  # so does another channel
    assert len(model.last["messages"]) == 2


async def test_block_list_applies_to_questions_and_answers(
    bot: ModuleHarness, model: FakeModel
) -> None:
    await _setup(bot, "!ai set cooldown 0", "!ai set block crypto, pump.it")
    assert await bot.reply("!ai tell me about Crypto") == (
        "@alice Sorry, I can't talk about that here."
    )
    assert model.requests == []  # never asked
    assert (await bot.reply("!ai cryptography?")).startswith("@alice You asked")  # whole words
    model.say(Step(text="Try pump.it today"))
    assert await bot.reply("!ai tips") == "@alice Sorry, I can't talk about that here."
    assert blocked("a+b (c", ["(c"]) == "(c"  # terms are text, not patterns


async def test_cooldown_per_user(bot: ModuleHarness) -> None:
    assert (await bot.reply("!ai one")).startswith("@alice You asked")
    assert (await bot.reply("!ai two")).startswith("@alice please wait")
    assert (await bot.reply("!ai two", user="bob")).startswith("@bob You asked")


async def test_mentions_answer_only_when_turned_on(bot: ModuleHarness, model: FakeModel) -> None:
    assert await bot.texts("hey @waddlebot how are you?") == []
    assert await bot.texts("no mention here") == []
    assert model.requests == []
    community = await bot.community_id()
    assert not bot.router.table.listens("ai", "message", community)  # chat never reaches ai
    await _setup(bot, "!ai set mention on", "!ai set name pengu")
    assert bot.router.table.listens("ai", "message", community)
    assert await bot.texts("@waddlebot hi") == []  # another name now
    assert await bot.texts("hey @Pengu, how are you?") == ["@alice You asked: hey how are you?"]


async def test_answers_never_ping_anyone(bot: ModuleHarness, model: FakeModel) -> None:
    model.say(Step(text="Hi @everyone and @here, ask <@&123> or <@456>!"))
    reply = await bot.reply("!ai greet")
    assert "@everyone" not in reply and "@here" not in reply
    assert "<@&123>" not in reply and "<@456>" not in reply
    assert reply == (
        f"@alice Hi @{ZWSP}everyone and @{ZWSP}here, ask <@{ZWSP}&123> or <@{ZWSP}456>!"
    )


def test_neutralise_and_cut() -> None:
    assert neutralise("@everyone <@!42> <!channel> @bob") == (
        f"@{ZWSP}everyone <@{ZWSP}!42> <{ZWSP}!channel> @{ZWSP}bob"
    )
    assert neutralise("mail me at a@b.c") == "mail me at a@b.c"
    text = "First sentence here. Second one is longer than the room we have left."
    assert cut(text, 40) == "First sentence here."
    assert cut("no sentence end in this long text at all", 20) == "no sentence end in…"
    assert limit_for(Platform.twitch, 4000) == 500
    assert limit_for(Platform.discord, 4000) == 2000
    assert limit_for(Platform.discord, 300) == 300


async def test_long_answers_are_cut_at_a_sentence(bot: ModuleHarness, model: FakeModel) -> None:
    await _setup(bot, "!ai set max_chars 60")
    model.say(
        Step(
            text="The first sentence fits. "
            + "A much longer second sentence that will not fit. " * 3
        )
    )
    assert await bot.reply("!ai long") == "@alice The first sentence fits."


async def test_settings_in_chat_need_ai_manage(bot: ModuleHarness) -> None:
    assert await bot.reply("!ai set model x") == (
        "@alice !ai set needs the ai.manage permission here."
    )
    assert await bot.reply("!ai set key sk-123", **OWNER) == (
        "Never paste an API key in chat: set it over the REST API."
    )
    assert await bot.reply("!ai set temperature 5", **OWNER) == (
        "temperature: Input should be less than or equal to 2"
    )
    assert (await bot.reply("!ai set overlay ticker", **OWNER)).endswith("overlay ticker.")
    assert (await bot.reply("!ai settings", **OWNER)).startswith("AI: openai test-model;")


async def test_overlay_gets_the_answer_when_asked(bot: ModuleHarness) -> None:
    await _setup(bot, "!ai set overlay general")
    answer = await bot.say("!ai hello")
    assert [r["text"] for r in answer["replies"]] == ["@alice You asked: hello"]


async def test_ollama_provider(ollama_model: FakeModel) -> None:
    async with ModuleHarness(ai) as bot:
        ollama_model.say(Step(text="Hello from llama."))
        assert await bot.reply("!ai hi") == "@alice Hello from llama."
        sent = ollama_model.last
        assert sent["model"] == "llama3.2" and sent["stream"] is False
        assert sent["messages"][-1] == {"role": "user", "content": "hi"}
        ollama_model.say(Step(status=500))
        assert await bot.reply("!ai again", user="bob") == (
            "@bob The AI service is not reachable right now. Try again later."
        )
        ollama_model.say(Step(status=404))
        assert await bot.reply("!ai again", user="carol") == (
            "@carol The AI model configured here does not exist. An admin needs to check it."
        )


async def test_bad_mention_value(bot: ModuleHarness) -> None:
    assert await bot.reply("!ai set mention maybe", **OWNER) == "Usage: !ai set mention on|off"


async def test_overlay_action_carries_the_answer(bot: ModuleHarness) -> None:
    """The module's own response (what the router dispatches to the overlay hub)."""
    from tests.module_support import module_request
    from waddlebot.kernel.contracts import ChatAction, OverlayAction, UserRef

    await _setup(bot, "!ai set overlay ticker")
    assert await bot.texts("hello") == []  # registers alice
    request = module_request("ai", "what", "now?", community=await bot.community_id())
    event = request.event.model_copy(
        update={
            "server_id": "playground",
            "channel_id": "lobby",
            "user": UserRef(id="alice", name="alice"),
        }
    )
    request = request.model_copy(update={"event": event, "user": event.user})
    response = await ai.handle(request, bot.router.factory.host)
    assert len(response.actions) == 2, response
    chat, overlay = response.actions
    assert isinstance(chat, ChatAction) and chat.text == "@alice You asked: what now?"
    assert isinstance(overlay, OverlayAction) and overlay.kind == "ticker"
    assert overlay.content == {
        "title": "alice asked",
        "question": "what now?",
        "text": "You asked: what now?",
    }


async def test_usage_follows_a_merged_user(bot: ModuleHarness) -> None:
    from sqlalchemy import select

    from waddlebot.kernel.storage.merges import run_merge_hooks
    from waddlebot.kernel.storage.models import PlatformIdentity
    from waddlebot.modules.ai.models import AiUsage

    await _setup(bot, "!ai set cooldown 0")
    await bot.reply("!ai one")
    await bot.reply("!ai two", user="bob")
    await bot.reply("!ai three", user="carol")
    async with bot.runtime.db.read_session() as session:
        ids = dict(
            (
                await session.execute(
                    select(PlatformIdentity.platform_user_id, PlatformIdentity.user_id)
                )
            ).all()
        )
    async with bot.runtime.db.session() as session:
        await run_merge_hooks(session, ids["bob"], ids["alice"])
    async with bot.runtime.db.read_session() as session:
        rows = {r.user_id: r.tokens for r in await session.scalars(select(AiUsage))}
    assert rows == {ids["alice"]: 50, ids["carol"]: 25}
