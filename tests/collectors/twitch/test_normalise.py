"""Every EventSub type we subscribe to becomes the right Event (payloads in the documented
shape), and a follow travels end to end to a module and back out to the fake Helix."""

from __future__ import annotations

from typing import Any

import pytest

from tests.collectors.twitch.fake_twitch import FakeTwitch
from tests.collectors.twitch.twitch_support import (
    authorise_bot,
    chat_event,
    deliver,
    eventually,
    subscription,
)
from tests.support import LiveServer
from waddlebot.collectors.twitch.normalise import MalformedNotification, normalise
from waddlebot.kernel.contracts import EventType, Platform, Role

CHANNEL = {
    "broadcaster_user_id": "1337",
    "broadcaster_user_login": "cooler_user",
    "broadcaster_user_name": "Cooler_User",
}
USER = {"user_id": "1234", "user_login": "cool_user", "user_name": "Cool_User"}

CASES: list[tuple[str, dict[str, Any], EventType, dict[str, Any], str]] = [
    (
        "channel.follow",
        {**USER, **CHANNEL, "followed_at": "2024-03-01T12:34:56.0123456Z"},
        EventType.follow,
        {"followed_at": "2024-03-01T12:34:56.0123456Z"},
        "",
    ),
    (
        "channel.subscribe",
        {**USER, **CHANNEL, "tier": "1000", "is_gift": False},
        EventType.subscribe,
        {"tier": "1000", "is_gift": False},
        "",
    ),
    (
        "channel.subscription.gift",
        {**USER, **CHANNEL, "tier": "1000", "total": 5, "cumulative_total": 9,
         "is_anonymous": False},
        EventType.gift_subscription,
        {"tier": "1000", "total": 5, "cumulative_total": 9, "is_anonymous": False},
        "",
    ),
    (
        "channel.subscription.message",
        {**USER, **CHANNEL, "tier": "2000", "message": {"text": "Love the stream!", "emotes": []},
         "cumulative_months": 15, "streak_months": 1, "duration_months": 6},
        EventType.resubscribe,
        {"tier": "2000", "cumulative_months": 15, "streak_months": 1, "duration_months": 6},
        "Love the stream!",
    ),
    (
        "channel.cheer",
        {**USER, **CHANNEL, "is_anonymous": False, "message": "pogchamp Cheer100", "bits": 100},
        EventType.cheer,
        {"bits": 100, "is_anonymous": False},
        "pogchamp Cheer100",
    ),
    (
        "channel.channel_points_custom_reward_redemption.add",
        {**USER, **CHANNEL, "id": "r-1", "user_input": "play a song", "status": "unfulfilled",
         "reward": {"id": "w-1", "title": "Song", "cost": 100, "prompt": ""},
         "redeemed_at": "2024-03-01T12:34:56Z"},
        EventType.redemption,
        {"id": "r-1", "status": "unfulfilled", "redeemed_at": "2024-03-01T12:34:56Z",
         "reward": {"id": "w-1", "title": "Song", "cost": 100, "prompt": ""}},
        "play a song",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("kind", "event", "expected", "data", "text"), CASES)
def test_user_events(
    kind: str, event: dict[str, Any], expected: EventType, data: dict[str, Any], text: str
) -> None:
    normalised = normalise(kind, event, "msg-1")
    assert normalised is not None
    assert normalised.id == "msg-1"
    assert normalised.type is expected
    assert normalised.platform is Platform.twitch
    assert (normalised.server_id, normalised.channel_id) == ("1337", "1337")
    assert normalised.channel_name == "cooler_user"
    assert normalised.user is not None
    assert (normalised.user.id, normalised.user.name) == ("1234", "cool_user")
    assert normalised.user.display_name == "Cool_User"
    assert normalised.data == data
    assert normalised.text == text


def test_anonymous_cheer_has_no_user() -> None:
    event = {**CHANNEL, "is_anonymous": True, "user_id": None, "user_login": None,
             "user_name": None, "message": "Cheer1", "bits": 1}  # fmt: skip
    normalised = normalise("channel.cheer", event, "m")
    assert normalised is not None and normalised.user is None
    assert normalised.data["bits"] == 1


def test_raid_is_from_the_raider_into_our_channel() -> None:
    event = {
        "from_broadcaster_user_id": "1234",
        "from_broadcaster_user_login": "cool_user",
        "from_broadcaster_user_name": "Cool_User",
        "to_broadcaster_user_id": "1337",
        "to_broadcaster_user_login": "cooler_user",
        "to_broadcaster_user_name": "Cooler_User",
        "viewers": 9001,
    }
    raid = normalise("channel.raid", event, "m")
    assert raid is not None and raid.type is EventType.raid
    assert raid.channel_id == "1337" and raid.user is not None and raid.user.name == "cool_user"
    assert raid.data == {"viewers": 9001}


@pytest.mark.parametrize(
    ("kind", "expected"),
    [("stream.online", EventType.stream_online), ("stream.offline", EventType.stream_offline)],
)
def test_stream_online_offline(kind: str, expected: EventType) -> None:
    event = {"id": "9001", **CHANNEL, "type": "live", "started_at": "2024-03-01T12:34:56Z"}
    if kind == "stream.offline":
        event = dict(CHANNEL)
    normalised = normalise(kind, event, "m")
    assert normalised is not None and normalised.type is expected
    assert normalised.user is None and normalised.channel_id == "1337"


def test_chat_message_keeps_text_fragments_badges_and_reply_parent() -> None:
    body = chat_event("!so @friend", badges=("vip", "subscriber"), message_id="chat-1")
    body["event"]["reply"] = {
        "parent_message_id": "parent-1",
        "parent_message_body": "hello",
        "parent_user_id": "1",
        "parent_user_name": "A",
        "parent_user_login": "a",
        "thread_message_id": "thread-1",
        "thread_user_id": "1",
        "thread_user_name": "A",
        "thread_user_login": "a",
    }
    message = normalise("channel.chat.message", body["event"], "eventsub-1")
    assert message is not None
    assert (message.id, message.type, message.text) == ("chat-1", EventType.message, "!so @friend")
    assert message.user is not None
    assert message.user.badges == ["vip", "subscriber"] and message.user.role is Role.vip
    assert message.thread_id == "thread-1"
    assert message.data["reply_parent_message_id"] == "parent-1"
    assert message.data["eventsub_id"] == "eventsub-1"
    assert message.data["fragments"][0]["type"] == "text"


def test_broadcaster_is_broadcaster_without_a_badge() -> None:
    body = chat_event("hi", chatter={"id": "1971641", "login": "streamer", "display_name": "S"})
    message = normalise("channel.chat.message", body["event"], "m")
    assert message is not None and message.user is not None
    assert message.user.role is Role.broadcaster


def test_unknown_types_are_ignored_and_malformed_ones_raise() -> None:
    assert normalise("channel.update", {**CHANNEL}, "m") is None
    with pytest.raises(MalformedNotification):
        normalise("channel.follow", {"user_id": "1"}, "m")


async def test_follow_reaches_a_module_and_its_reply_reaches_helix(
    bot: LiveServer, fake_twitch: FakeTwitch
) -> None:
    await authorise_bot(bot, fake_twitch)
    body = {
        "subscription": subscription("channel.follow", "2"),
        "event": {**USER, "broadcaster_user_id": "1971641", "broadcaster_user_login": "streamer",
                  "broadcaster_user_name": "Streamer", "followed_at": "2024-03-01T12:34:56Z"},
    }  # fmt: skip
    assert (await deliver(bot.client, body)).status_code == 204
    texts = await eventually(fake_twitch.chat_texts)
    assert texts == ["thanks for the follow, cool_user!"]
