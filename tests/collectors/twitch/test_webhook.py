"""The EventSub webhook over real HTTP: signatures, replay window, challenges, dedupe,
revocations and chat end to end through the real router to the fake Helix."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import structlog.testing
from sqlalchemy import select

from tests.collectors.twitch.conftest import twitch_settings
from tests.collectors.twitch.fake_twitch import BOT, STREAMER, FakeTwitch
from tests.collectors.twitch.twitch_support import (
    SECRET,
    authorise_bot,
    chat_event,
    connect_streamer,
    deliver,
    eventually,
    manager_headers,
    rfc3339,
    stale,
    subscription,
)
from tests.support import IngressOnly, LiveServer, free_port, live_server
from waddlebot.app import create_app
from waddlebot.collectors.twitch.service import TwitchService
from waddlebot.collectors.twitch.signature import (
    SignatureRejected,
    parse_timestamp,
    sign,
    verify,
)
from waddlebot.kernel.settings import Settings
from waddlebot.kernel.storage.models import Entity

VECTOR_ID = "e76c6bd4-55c9-4987-8304-da1588d8988b"
VECTOR_TIMESTAMP = "2024-03-01T12:34:56.123456789Z"
VECTOR_NOW = datetime(2024, 3, 1, 12, 35, tzinfo=UTC)


def vector_headers(signature: str) -> dict[str, str]:
    return {
        "twitch-eventsub-message-id": VECTOR_ID,
        "twitch-eventsub-message-timestamp": VECTOR_TIMESTAMP,
        "twitch-eventsub-message-signature": signature,
    }


def test_reference_vector_signature_verifies_and_tampering_does_not() -> None:
    body = json.dumps(chat_event("hello")).encode()
    signature = sign(SECRET, VECTOR_ID, VECTOR_TIMESTAMP, body)
    assert signature.startswith("sha256=") and len(signature) == 7 + 64
    assert verify(SECRET, vector_headers(signature), body, max_age=600, now=VECTOR_NOW) == VECTOR_ID
    with pytest.raises(SignatureRejected):
        verify(SECRET, vector_headers(signature), body + b" ", max_age=600, now=VECTOR_NOW)
    with pytest.raises(SignatureRejected):
        verify("another-secret-000", vector_headers(signature), body, max_age=600, now=VECTOR_NOW)


def test_nanosecond_timestamps_parse_without_reformatting() -> None:
    assert parse_timestamp(VECTOR_TIMESTAMP) == datetime(2024, 3, 1, 12, 34, 56, 123456, tzinfo=UTC)
    assert parse_timestamp("2021-02-19T23:47:00Z").second == 0
    with pytest.raises(ValueError):
        parse_timestamp("yesterday")


async def test_good_signature_is_accepted(bot: LiveServer) -> None:
    answer = await deliver(bot.client, chat_event("just chatting"))
    assert answer.status_code == 204


@pytest.mark.parametrize(
    "attack",
    ["tampered body", "wrong secret", "stale timestamp", "future timestamp"]
    + [f"missing {h}" for h in ("Id", "Timestamp", "Signature")],
)
async def test_forged_or_replayed_deliveries_are_403(
    edge_bot: LiveServer, fake_twitch: FakeTwitch, attack: str
) -> None:
    body = chat_event("!ping", badges=("moderator",))
    if attack == "tampered body":
        answer = await deliver(
            edge_bot.client, body, tamper=lambda raw: raw.replace(b"!ping", b"!pong")
        )
    elif attack == "wrong secret":
        answer = await deliver(edge_bot.client, body, secret="not-the-secret-at-all")
    elif attack == "stale timestamp":
        answer = await deliver(edge_bot.client, body, timestamp=stale(11))
    elif attack == "future timestamp":
        answer = await deliver(edge_bot.client, body, timestamp=stale(-11))
    else:
        header = "Twitch-Eventsub-Message-" + attack.removeprefix("missing ")
        answer = await deliver(edge_bot.client, body, omit=(header,))
    assert answer.status_code == 403
    await asyncio.sleep(0.2)
    assert fake_twitch.chat == []


async def test_challenge_is_answered_byte_for_byte(edge_bot: LiveServer) -> None:
    challenge = "pogchamp-kappa-360noscope-vohiyo"
    body: dict[str, Any] = {
        "challenge": challenge,
        "subscription": subscription("channel.follow", "2"),
    }
    body["subscription"]["status"] = "webhook_callback_verification_pending"
    answer = await deliver(edge_bot.client, body, kind="webhook_callback_verification")
    assert answer.status_code == 200
    assert answer.content == challenge.encode()
    assert answer.headers["content-type"].split(";")[0] == "text/plain"


async def test_unsigned_challenge_is_refused(edge_bot: LiveServer) -> None:
    body = {"challenge": "abc", "subscription": subscription("channel.follow", "2")}
    answer = await deliver(
        edge_bot.client,
        body,
        kind="webhook_callback_verification",
        omit=("Twitch-Eventsub-Message-Signature", "Twitch-Eventsub-Message-Timestamp"),
    )
    assert answer.status_code == 403


async def test_malformed_bodies_are_clear_4xx(edge_bot: LiveServer) -> None:
    assert (await deliver(edge_bot.client, b"not json")).status_code == 400
    assert (await deliver(edge_bot.client, b'{"no": "subscription"}')).status_code == 400
    broken = chat_event("hi")
    del broken["event"]["chatter_user_id"]
    answer = await deliver(edge_bot.client, broken)
    assert answer.status_code == 400
    assert "chatter_user_id" in answer.text
    no_challenge = {"subscription": subscription("channel.follow", "2")}
    answer = await deliver(edge_bot.client, no_challenge, kind="webhook_callback_verification")
    assert answer.status_code == 400


async def test_ping_from_a_moderator_is_answered_at_helix(
    bot: LiveServer, fake_twitch: FakeTwitch
) -> None:
    await authorise_bot(bot, fake_twitch)
    answer = await deliver(bot.client, chat_event("!ping", badges=("moderator",)))
    assert answer.status_code == 204
    [sent] = await eventually(lambda: fake_twitch.chat)
    assert sent.body == {
        "broadcaster_id": STREAMER["id"],
        "sender_id": BOT["id"],
        "message": "pong",
    }
    assert sent.headers["client-id"] == "fake-client-id"
    assert sent.headers["authorization"].startswith("Bearer user-")
    runtime = bot.app.state.runtime
    async with runtime.db.session() as session:
        entity = await session.scalar(select(Entity).where(Entity.platform == "twitch"))
    assert entity is not None and entity.channel_id == STREAMER["id"]


async def test_nul_characters_from_twitch_are_dropped_not_fatal(
    bot: LiveServer, fake_twitch: FakeTwitch
) -> None:
    """PostgreSQL cannot store NUL: the collector cleans what the platform sent, so the
    member's command is still answered (the router ingress would refuse it with 422)."""
    await authorise_bot(bot, fake_twitch)
    chatter = {"id": "4145994", "login": "viewer\x0032", "display_name": "viewer\x0032"}
    answer = await deliver(
        bot.client, chat_event("!pi\x00ng", chatter=chatter, badges=("moderator",))
    )
    assert answer.status_code == 204
    [sent] = await eventually(lambda: fake_twitch.chat)
    assert sent.body["message"] == "pong"


async def test_duplicate_delivery_is_acknowledged_and_answered_once(
    bot: LiveServer, fake_twitch: FakeTwitch
) -> None:
    await authorise_bot(bot, fake_twitch)
    body = chat_event("!ping")
    first = await deliver(bot.client, body, message_id="same-id")
    second = await deliver(bot.client, body, message_id="same-id")
    assert (first.status_code, second.status_code) == (204, 204)
    await eventually(lambda: fake_twitch.chat)
    await asyncio.sleep(0.5)
    assert fake_twitch.chat_texts() == ["pong"]


async def test_badges_give_roles(bot: LiveServer, fake_twitch: FakeTwitch) -> None:
    await authorise_bot(bot, fake_twitch)
    await deliver(bot.client, chat_event("!reload", badges=("subscriber",)))
    [refusal] = await eventually(lambda: fake_twitch.chat_texts())
    assert refusal == "@viewer32 !reload needs the commands.manage permission here."
    await deliver(bot.client, chat_event("!modonly", badges=("moderator", "subscriber")))
    texts = await eventually(lambda: fake_twitch.chat_texts()[1:])
    assert texts == ["secret moderator stuff"]
    streamer = dict(STREAMER)
    await deliver(bot.client, chat_event("!modonly", chatter=streamer))
    texts = await eventually(lambda: fake_twitch.chat_texts()[2:])
    assert texts == ["secret moderator stuff"]


async def test_the_bots_own_messages_are_ignored(bot: LiveServer, fake_twitch: FakeTwitch) -> None:
    await authorise_bot(bot, fake_twitch)
    answer = await deliver(bot.client, chat_event("!ping", chatter=BOT, badges=("moderator",)))
    assert answer.status_code == 204
    await deliver(bot.client, chat_event("!ping"))
    await eventually(lambda: fake_twitch.chat)
    await asyncio.sleep(0.3)
    assert fake_twitch.chat_texts() == ["pong"]  # only the viewer's


async def test_acknowledgement_does_not_wait_for_module_work(
    bot: LiveServer, fake_twitch: FakeTwitch
) -> None:
    await authorise_bot(bot, fake_twitch)
    # !slow sleeps 30 s in its module; the webhook must answer long before that.
    answer = await asyncio.wait_for(deliver(bot.client, chat_event("!slow")), timeout=3)
    assert answer.status_code == 204


async def test_revocation_is_recorded_and_visible(
    bot: LiveServer, fake_twitch: FakeTwitch, caplog: pytest.LogCaptureFixture
) -> None:
    await authorise_bot(bot, fake_twitch)
    status = await connect_streamer(bot)
    chat = next(s for s in status["subscriptions"] if s["type"] == "channel.chat.message")
    body = {"subscription": dict(fake_twitch.subscriptions[chat["twitch_id"]])}
    body["subscription"]["status"] = "authorization_revoked"
    answer = await deliver(bot.client, body, kind="revocation")
    assert answer.status_code == 204
    headers = await manager_headers(bot)
    status = (await bot.client.get("/api/twitch/v1/channels/streamer", headers=headers)).json()
    revoked = next(s for s in status["subscriptions"] if s["type"] == "channel.chat.message")
    assert (revoked["status"], revoked["reason"]) == ("revoked", "authorization_revoked")
    assert status["healthy"] is False


async def test_timestamp_helper_matches_twitch_format() -> None:
    assert rfc3339().endswith("123Z")


async def test_events_the_router_refuses_are_redelivered_not_lost(
    stack_settings: Settings, fake_twitch: FakeTwitch
) -> None:
    """A full router queue: Twitch gets a 503, and the same message id is not a duplicate."""
    full = stack_settings.model_copy(update={"router_queue_max": 1})
    app = create_app(full, instances=[IngressOnly(), TwitchService(twitch_settings(fake_twitch))])
    async with live_server(app) as server:
        assert (await deliver(server.client, chat_event("!ping"))).status_code == 204
        body = chat_event("!ping")
        first = await deliver(server.client, body, message_id="retry-me")
        again = await deliver(server.client, body, message_id="retry-me")
    assert (first.status_code, again.status_code) == (503, 503)
    assert first.headers["Retry-After"] == again.headers["Retry-After"] == "5"


async def test_redis_away_answers_503_with_retry_after_so_twitch_redelivers(
    fake_twitch: FakeTwitch, tmp_path: Path
) -> None:
    settings = Settings(
        data_dir=tmp_path, secret_key="s", redis_url=f"redis://127.0.0.1:{free_port()}/0"
    )
    app = create_app(
        settings, instances=[IngressOnly(), TwitchService(twitch_settings(fake_twitch))]
    )
    async with live_server(app) as server:
        answer = await deliver(server.client, chat_event("!ping"))
    assert answer.status_code == 503, answer.text
    assert answer.headers["Retry-After"] == "5"


async def test_revocation_leaves_an_audit_line(bot: LiveServer, fake_twitch: FakeTwitch) -> None:
    await authorise_bot(bot, fake_twitch)
    status = await connect_streamer(bot)
    raid = next(s for s in status["subscriptions"] if s["type"] == "channel.raid")
    body = {
        "subscription": {**fake_twitch.subscriptions[raid["twitch_id"]], "status": "user_removed"}
    }
    with structlog.testing.capture_logs() as logs:
        assert (await deliver(bot.client, body, kind="revocation")).status_code == 204
    [audit] = [log for log in logs if log["action"] == "twitch_subscription_revoked"]
    assert (audit["category"], audit["result"]) == ("AUDIT", "user_removed")
    assert audit["subscription"] == raid["twitch_id"] and audit["known"] is True
