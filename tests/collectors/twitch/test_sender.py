"""The Twitch sender against the fake Helix: splitting, whispers, pacing per channel and per
account, 429 + Ratelimit-Reset, 5xx retries, drops and refusals logged and counted."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator

import pytest
import structlog.testing

from tests.collectors.twitch.conftest import twitch_app, twitch_settings
from tests.collectors.twitch.fake_twitch import BOT, STREAMER, FakeTwitch, Recorded
from tests.collectors.twitch.twitch_support import (
    authorise_bot,
    chat_event,
    connect_streamer,
    deliver,
    eventually,
)
from tests.support import LiveServer, live_server
from waddlebot.collectors.twitch.sender import TwitchSender, split_message
from waddlebot.collectors.twitch.service import TwitchService
from waddlebot.kernel.contracts import OutboundMessage, Platform
from waddlebot.kernel.contracts.names import outbound_queue
from waddlebot.kernel.settings import Settings


def test_split_message_cuts_at_spaces_and_never_exceeds_500() -> None:
    words = " ".join(f"word{i}" for i in range(300))
    parts = split_message(words)
    assert all(len(part) <= 500 for part in parts) and len(parts) == 5
    assert " ".join(parts) == words
    solid = "x" * 1201
    assert [len(p) for p in split_message(solid)] == [500, 500, 201]
    assert split_message("short") == ["short"]


async def queue_chat(server: LiveServer, texts: list[str], channel: str = STREAMER["id"]) -> None:
    """Put replies on the Twitch outbound queue, as the router's dispatcher does."""
    messages = [
        OutboundMessage(
            platform=Platform.twitch,
            kind="chat",
            server_id=channel,
            channel_id=channel,
            text=text,
            event_id="e",
        )
        for text in texts
    ]
    await server.app.state.runtime.backend.queues.put(
        outbound_queue("twitch"), [m.model_dump_json().encode() for m in messages], max_length=1000
    )


def busiest_window(calls: list[Recorded], window: float) -> int:
    """The most requests the fake saw within any ``window`` seconds."""
    times = sorted(call.at for call in calls)
    return max(sum(1 for t in times[i:] if t - start < window) for i, start in enumerate(times))


async def metric(server: LiveServer, name: str, **labels: str) -> float:
    text = (await server.client.get("/metrics")).text
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        match = re.match(rf"^{name}\{{(.*)\}} (\S+)$", line)
        if match and ",".join(sorted(match.group(1).split(","))) == wanted:
            return float(match.group(2))
    return 0.0


async def metric_reaches(server: LiveServer, name: str, value: float, **labels: str) -> None:
    """Poll ``/metrics`` until the sample reaches ``value`` (fail after a few seconds)."""
    for _ in range(100):
        if await metric(server, name, **labels) >= value:
            assert await metric(server, name, **labels) == value
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{name}{labels} never reached {value}")


@pytest.fixture
async def paced(stack_settings: Settings, fake_twitch: FakeTwitch) -> AsyncIterator[LiveServer]:
    """A bot with a 1 s chat window (limits 20 / moderator 40) and an authorised account."""
    twitch = twitch_settings(
        fake_twitch, chat_window=1.0, chat_limit_moderator=40, redelivery_after=1.0
    )
    async with live_server(twitch_app(stack_settings, twitch)) as server:
        await authorise_bot(server, fake_twitch)
        yield server


async def test_long_replies_are_split_at_500(bot: LiveServer, fake_twitch: FakeTwitch) -> None:
    await authorise_bot(bot, fake_twitch)
    await deliver(bot.client, chat_event("!echo " + "word " * 250))
    texts = await eventually(
        lambda: fake_twitch.chat_texts() if len(fake_twitch.chat_texts()) >= 3 else None
    )
    assert [len(text) for text in texts] == [500, 500, 249]
    assert "".join(texts) == "|".join(["word"] * 250)


async def test_whispers_go_to_the_whisper_endpoint(
    bot: LiveServer, fake_twitch: FakeTwitch
) -> None:
    await authorise_bot(bot, fake_twitch)
    await deliver(bot.client, chat_event("!whisperme"))
    [whisper] = await eventually(lambda: fake_twitch.calls("POST", "/helix/whispers"))
    assert whisper.query == {"from_user_id": BOT["id"], "to_user_id": "4145994"}
    assert whisper.body == {"message": "psst"}
    assert await eventually(fake_twitch.chat_texts) == ["sent you a whisper"]


async def test_fifty_replies_are_paced_per_channel_and_none_is_lost(
    paced: LiveServer, fake_twitch: FakeTwitch
) -> None:
    texts = [f"reply {i}" for i in range(50)]
    await queue_chat(paced, texts)
    await eventually(lambda: len(fake_twitch.chat_texts()) >= 50, timeout=20)
    assert sorted(fake_twitch.chat_texts()) == sorted(texts)
    # 20 per 1 s window; 0.2 s of slack for arrival jitter on a loaded machine (unpaced, all
    # 50 would arrive within a fraction of that)
    assert busiest_window(fake_twitch.chat, 0.8) <= 20


async def test_moderated_channels_get_the_higher_limit(
    paced: LiveServer, fake_twitch: FakeTwitch
) -> None:
    await connect_streamer(paced, bot_is_moderator=True)
    await queue_chat(paced, [f"reply {i}" for i in range(50)])
    await eventually(lambda: len(fake_twitch.chat_texts()) >= 50, timeout=20)
    assert 20 < busiest_window(fake_twitch.chat, 0.9) <= 40


async def test_the_account_limit_spans_channels(
    stack_settings: Settings, fake_twitch: FakeTwitch
) -> None:
    twitch = twitch_settings(fake_twitch, chat_window=1.0, account_limit=10)
    async with live_server(twitch_app(stack_settings, twitch)) as server:
        await authorise_bot(server, fake_twitch)
        await queue_chat(server, [f"a{i}" for i in range(12)], channel="111")
        await queue_chat(server, [f"b{i}" for i in range(12)], channel="222")
        await eventually(lambda: len(fake_twitch.chat_texts()) >= 24, timeout=20)
    assert busiest_window(fake_twitch.chat, 0.9) <= 10


async def test_429_is_waited_out_until_ratelimit_reset(
    paced: LiveServer, fake_twitch: FakeTwitch
) -> None:
    before = await metric(paced, "waddlebot_twitch_rate_limited_total", kind="chat")
    reset = int(time.time()) + 1
    fake_twitch.fail("/helix/chat/messages", 429, headers={"Ratelimit-Reset": str(reset)})
    await queue_chat(paced, ["after the limit"])
    await eventually(lambda: fake_twitch.chat_texts() == ["after the limit"])
    refused, sent = fake_twitch.chat
    assert time.time() >= reset - 0.05 and sent.at > refused.at
    assert await metric(paced, "waddlebot_twitch_rate_limited_total", kind="chat") == before + 1


async def test_5xx_is_retried_with_backoff(paced: LiveServer, fake_twitch: FakeTwitch) -> None:
    fake_twitch.fail("/helix/chat/messages", 503, times=2)
    await queue_chat(paced, ["eventually"])
    await eventually(lambda: fake_twitch.chat_texts() == ["eventually"])
    assert len(fake_twitch.chat) == 3


async def test_exhausted_retries_are_redelivered_not_lost(
    stack_settings: Settings, fake_twitch: FakeTwitch
) -> None:
    twitch = twitch_settings(fake_twitch, send_retries=0, redelivery_after=0.5)
    async with live_server(twitch_app(stack_settings, twitch)) as server:
        await authorise_bot(server, fake_twitch)
        fake_twitch.fail("/helix/chat/messages", 500, times=2)
        await queue_chat(server, ["persistent"])
        await eventually(lambda: fake_twitch.chat_texts() == ["persistent"])
        assert len(fake_twitch.chat) == 3


async def test_long_message_redelivery_does_not_repeat_sent_parts(
    stack_settings: Settings, fake_twitch: FakeTwitch
) -> None:
    twitch = twitch_settings(fake_twitch, send_retries=0, redelivery_after=0.5)
    async with live_server(twitch_app(stack_settings, twitch)) as server:
        await authorise_bot(server, fake_twitch)
        fake_twitch.fail("/helix/chat/messages", 500, skip=1)  # the second part fails once
        await queue_chat(server, ["a" * 500 + " " + "b" * 10])
        await eventually(lambda: len(fake_twitch.chat_texts()) >= 2)
    assert fake_twitch.chat_texts() == ["a" * 500, "b" * 10]
    assert len(fake_twitch.chat) == 3  # a, b refused, b again: never a twice


async def test_dropped_messages_are_logged_and_counted(
    paced: LiveServer, fake_twitch: FakeTwitch
) -> None:
    labels = {"kind": "chat", "reason": "msg_duplicate"}
    before = await metric(paced, "waddlebot_twitch_send_failures_total", **labels)
    fake_twitch.drop_reason = {"code": "msg_duplicate", "message": "duplicate message"}
    with structlog.testing.capture_logs() as logs:
        await queue_chat(paced, ["same again"])
        await eventually(lambda: fake_twitch.chat)
        await metric_reaches(paced, "waddlebot_twitch_send_failures_total", before + 1, **labels)
        await eventually(lambda: any(log["action"] == "outbound_failed" for log in logs))
    [dropped] = [log for log in logs if log["action"] == "twitch_message_dropped"]
    assert (dropped["code"], dropped["reason"]) == ("msg_duplicate", "duplicate message")
    [failed] = [log for log in logs if log["action"] == "outbound_failed"]
    assert failed["result"] == "rejected" and "msg_duplicate" in failed["reason"]
    assert len(fake_twitch.chat) == 1  # not retried


async def test_permanent_refusals_are_not_retried(
    paced: LiveServer, fake_twitch: FakeTwitch
) -> None:
    labels = {"kind": "chat", "reason": "http_400"}
    before = await metric(paced, "waddlebot_twitch_send_failures_total", **labels)
    fake_twitch.fail("/helix/chat/messages", 400, message="invalid broadcaster")
    await queue_chat(paced, ["refused"])
    await eventually(lambda: fake_twitch.chat)
    await queue_chat(paced, ["next one"])
    await eventually(lambda: fake_twitch.chat_texts() == ["next one"])
    assert len(fake_twitch.chat) == 2  # the refused one was tried once
    await metric_reaches(paced, "waddlebot_twitch_send_failures_total", before + 1, **labels)


async def test_reply_in_thread_names_the_parent_message(
    stack_settings: Settings, fake_twitch: FakeTwitch
) -> None:
    twitch = twitch_settings(fake_twitch, reply_in_thread=True)
    async with live_server(twitch_app(stack_settings, twitch)) as server:
        await authorise_bot(server, fake_twitch)
        await deliver(server.client, chat_event("!ping", message_id="chat-42"))
        [sent] = await eventually(lambda: fake_twitch.chat)
    assert sent.body["reply_parent_message_id"] == "chat-42"


async def test_without_an_authorised_bot_replies_are_refused_loudly(
    bot: LiveServer, fake_twitch: FakeTwitch
) -> None:
    labels = {"kind": "chat", "reason": "not_authorised"}
    before = await metric(bot, "waddlebot_twitch_send_failures_total", **labels)
    await queue_chat(bot, ["nobody to send as"])
    await metric_reaches(bot, "waddlebot_twitch_send_failures_total", before + 1, **labels)
    assert fake_twitch.chat == []


async def stop_sender() -> None:
    """Stop the running Twitch sender as a shutdown does (its task cancelled, awaited)."""
    [task] = [t for t in asyncio.all_tasks() if t.get_name() == "twitch:sender"]
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def test_a_burst_to_one_channel_goes_out_in_order_as_the_window_allows(
    stack_settings: Settings, fake_twitch: FakeTwitch
) -> None:
    """3 per 2 s, a visibility timeout shorter than the waits: all 10, once each, in order."""
    twitch = twitch_settings(fake_twitch, chat_window=2.0, chat_limit=3, redelivery_after=0.5)
    texts = [f"burst {i}" for i in range(10)]
    async with live_server(twitch_app(stack_settings, twitch)) as server:
        await authorise_bot(server, fake_twitch)
        await queue_chat(server, texts)
        await eventually(lambda: len(fake_twitch.chat_texts()) >= 10, timeout=30)
        await asyncio.sleep(0.6)  # room for a stray second delivery to show up
    assert fake_twitch.chat_texts() == texts
    assert busiest_window(fake_twitch.chat, 1.9) <= 3


async def test_paced_messages_survive_a_sender_restart_in_order(
    stack_settings: Settings, fake_twitch: FakeTwitch
) -> None:
    """Queued, the sender stopped while they wait for the window, a new sender started: every
    message goes out once, in order, without waiting for the (2 min) redelivery timeout."""
    twitch = twitch_settings(fake_twitch, chat_window=2.0, chat_limit=3)
    texts = [f"queued {i}" for i in range(8)]
    async with live_server(twitch_app(stack_settings, twitch)) as server:
        await authorise_bot(server, fake_twitch)
        await queue_chat(server, texts)
        await eventually(lambda: len(fake_twitch.chat_texts()) >= 3)
        await asyncio.sleep(0.2)  # the fourth is now waiting for the window
        await stop_sender()
        assert fake_twitch.chat_texts() == texts[:3]
        runtime = server.app.state.runtime
        [service] = [s for s in server.app.state.services if isinstance(s, TwitchService)]
        assert service.twitch is not None
        successor = TwitchSender(
            runtime.backend, settings=twitch, helix=service.twitch.helix, db=runtime.db
        )
        running = asyncio.create_task(successor.run())
        try:
            await eventually(lambda: len(fake_twitch.chat_texts()) >= 8, timeout=30)
        finally:
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running
    assert fake_twitch.chat_texts() == texts
