"""One answer, from question to chat line: settings, block list, cooldown, daily budgets,
conversation memory, the model (with MCP tools, at most :data:`MAX_ROUNDS` rounds of calls),
usage accounting, then the block list again, the length cut and mention neutralising.

Every failure ends as one short line in chat, an ERROR log line and a metric; nothing the
provider said about the failure (or a stack trace) reaches chat.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

from waddlebot.kernel.observability.logging import Category, get_logger, log_event
from waddlebot.kernel.observability.metrics import AI_ANSWERS, AI_TOKENS
from waddlebot.modules.ai.manager import AiBook, AiConfig, today
from waddlebot.modules.ai.providers import (
    Completion,
    FailureKind,
    ProviderFailure,
    provider_for,
)
from waddlebot.modules.ai.safety import blocked, cut, limit_for, neutralise
from waddlebot.modules.ai.tools import CONNECT_TIMEOUT, Toolbox
from waddlebot.sdk import Context

logger = get_logger("waddlebot.modules.ai")

MAX_ROUNDS = 3  # rounds of tool calls before the model must answer in words
MAX_QUESTION = 500
OVERLAY_SECONDS = 20.0
NOT_SET_UP = "AI chat is not set up here yet (an admin can set a provider and model)."
BLOCKED = "Sorry, I can't talk about that here."
REFUSED = "Sorry, I can't help with that one."
EMPTY = "I have no answer to that, sorry."
FAILURES: dict[FailureKind, str] = {
    "timeout": "The AI took too long to answer. Try again in a moment.",
    "down": "The AI service is not reachable right now. Try again later.",
    "auth": "The AI service refused this bot's key. An admin needs to check it.",
    "rate_limited": "The AI service is busy (rate limited). Try again in a minute.",
    "refused": REFUSED,
    "bad_model": "The AI model configured here does not exist. An admin needs to check it.",
    "error": "The AI could not answer that. Try again later.",
}


def estimate(*texts: str) -> int:
    """Tokens when a provider reports none: about four characters per token."""
    return max(1, sum(len(text) for text in texts) // 4)


def memory_key(user_id: str, channel: str) -> str:
    return f"memory:{user_id}:{hashlib.sha256(channel.encode()).hexdigest()[:16]}"


async def answer(ctx: Context, book: AiBook, question: str) -> None:
    """Answer ``question`` in ctx's channel (one reply whatever happens)."""
    question = " ".join(question.split())[:MAX_QUESTION]
    config = await book.config(ctx.community_id)
    if config.provider is None:
        ctx.reply(NOT_SET_UP)
        return
    name = ctx.user_name
    if blocked(question, config.block_list):
        ctx.reply(f"@{name} {BLOCKED}")
        return
    user_id = await ctx.user_id()
    cooling = f"cooldown:{user_id}"
    if config.cooldown > 0:
        until = await ctx.storage.get(cooling)
        if isinstance(until, (int, float)) and until > time.time():
            wait = max(1, round(until - time.time()))
            ctx.reply(f"@{name} please wait {wait}s before asking the AI again.")
            return
    day = today()
    total, mine = await book.spent(ctx.community_id, user_id, day)
    if total >= config.community_budget:
        ctx.reply(f"@{name} the AI has used up today's budget here. Try again tomorrow!")
        return
    if mine >= config.user_budget:
        ctx.reply(f"@{name} you have used up your AI budget for today. Try again tomorrow!")
        return
    channel = f"{ctx.platform.value}:{ctx.event.server_id}:{ctx.event.channel_id}"
    remembered = await _memory(ctx, user_id, channel, config)
    messages: list[dict[str, Any]] = [{"role": "system", "content": config.system_prompt}]
    for asked, said in remembered:
        messages += [{"role": "user", "content": asked}, {"role": "assistant", "content": said}]
    messages.append({"role": "user", "content": question})
    provider_name = config.provider.provider
    spent = 0
    try:
        completion, spent = await _converse(ctx, book, config, messages, user_id)
    except ProviderFailure as failure:
        _failed(ctx, provider_name, failure, user_id)
        ctx.reply(f"@{name} {FAILURES[failure.kind]}")
        if failure.spent:
            await book.record(ctx.community_id, user_id, day, failure.spent)
        return
    await book.record(ctx.community_id, user_id, day, spent)
    AI_TOKENS.labels(provider_name).inc(spent)
    if config.cooldown > 0:
        await ctx.storage.set(cooling, time.time() + config.cooldown, ttl=config.cooldown)
    text = completion.text.strip()
    if completion.refused:
        AI_ANSWERS.labels(provider_name, "refused").inc()
        ctx.reply(f"@{name} {REFUSED}")
        return
    if not text:
        AI_ANSWERS.labels(provider_name, "empty").inc()
        ctx.reply(f"@{name} {EMPTY}")
        return
    if blocked(text, config.block_list):
        AI_ANSWERS.labels(provider_name, "blocked").inc()
        ctx.reply(f"@{name} {BLOCKED}")
        return
    prefix = f"@{name} "
    said = neutralise(cut(text, limit_for(ctx.platform, config.max_chars, len(prefix) + 8)))
    AI_ANSWERS.labels(provider_name, "ok").inc()
    ctx.reply(prefix + said)
    if config.memory_turns > 0:
        kept = [*remembered, (question, said)][-config.memory_turns :]
        await ctx.storage.set(
            memory_key(user_id, channel), [list(pair) for pair in kept], ttl=config.memory_ttl
        )
    if config.overlay != "none":
        ctx.overlay(
            config.overlay,
            {"title": f"{name} asked", "question": question, "text": said},
            duration=OVERLAY_SECONDS,
        )


async def _memory(
    ctx: Context, user_id: str, channel: str, config: AiConfig
) -> list[tuple[str, str]]:
    """The last exchanges with this user in this channel, oldest first (expired: none)."""
    if config.memory_turns <= 0:
        return []
    stored = await ctx.storage.get(memory_key(user_id, channel), [])
    pairs = [
        (str(pair[0]), str(pair[1])) for pair in stored if isinstance(pair, list) and len(pair) == 2
    ]
    return pairs[-config.memory_turns :]


async def _converse(
    ctx: Context,
    book: AiBook,
    config: AiConfig,
    messages: list[dict[str, Any]],
    user_id: str,
) -> tuple[Completion, int]:
    """Ask the model, running the tool calls it makes; the final turn and tokens spent."""
    assert config.provider is not None
    provider = provider_for(config.provider)
    timeout = book.installation.timeout
    deadline = time.monotonic() + timeout
    servers = [server.spec() for server in await book.servers(ctx.community_id)]
    max_tokens = min(1024, config.max_chars // 2 + 64)
    spent = 0
    # starting servers may use half the time at most; the model gets the rest
    toolbox = Toolbox(
        servers,
        call_timeout=min(5.0, timeout / 3),
        connect_timeout=min(CONNECT_TIMEOUT, timeout / 2),
    )
    async with toolbox:
        for round_ in range(MAX_ROUNDS + 1):
            left = deadline - time.monotonic()
            if left <= 0.2:
                raise ProviderFailure("timeout", "no time left for the model", spent=spent)
            tools = toolbox.schemas if round_ < MAX_ROUNDS else []
            try:
                completion = await provider.complete(
                    messages,
                    tools=tools,
                    temperature=config.temperature,
                    max_tokens=max_tokens,
                    timeout=left,
                )
            except ProviderFailure as failure:
                failure.spent = spent
                raise
            spent += completion.tokens or estimate(
                *(str(m.get("content") or "") for m in messages), completion.text
            )
            if not completion.tool_calls or not tools:
                return completion, spent
            messages.append(
                {
                    "role": "assistant",
                    "content": completion.text or None,
                    "tool_calls": [
                        {
                            "id": call.id,
                            "type": "function",
                            "function": {
                                "name": call.name,
                                "arguments": json.dumps(call.arguments),
                            },
                        }
                        for call in completion.tool_calls
                    ],
                }
            )
            for call in completion.tool_calls:
                offered = toolbox.offered.get(call.name)
                log_event(
                    logger,
                    Category.AUDIT,
                    "ai:tool_call",
                    "called" if offered and call.valid else "refused",
                    community=ctx.community_id,
                    user=user_id,
                    tool=call.name,
                    server=offered.server if offered else None,
                    arguments=json.dumps(call.arguments)[:500],
                )
                if not call.valid:
                    result = "Error: the arguments were not a JSON object."
                else:
                    result = await toolbox.call(call.name, call.arguments)
                messages.append(
                    {"role": "tool", "tool_call_id": call.id, "name": call.name, "content": result}
                )
    raise ProviderFailure("error", "the tool loop did not end", spent=spent)  # unreachable


def _failed(ctx: Context, provider: str, failure: ProviderFailure, user_id: str) -> None:
    AI_ANSWERS.labels(provider, failure.kind).inc()
    log_event(
        logger,
        Category.ERROR,
        "ai:answer",
        failure.kind,
        level="error",
        community=ctx.community_id,
        user=user_id,
        provider=provider,
        detail=failure.detail[:500],
    )
