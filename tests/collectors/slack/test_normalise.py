"""Slack payloads → router events (pure functions)."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from tests.collectors.slack.fake_slack import envelope, message
from waddlebot.collectors.slack.config import SlackSettings
from waddlebot.collectors.slack.normalise import (
    command_from_event,
    command_from_slash,
    escape,
)
from waddlebot.collectors.slack.workspace import slack_role
from waddlebot.kernel.contracts import EventType, Role, UserRef


def _payload(event: dict[str, object], event_id: str = "Ev1") -> dict[str, object]:
    loaded: dict[str, object] = json.loads(envelope(event, event_id=event_id))
    return loaded


def test_reference_app_mention_becomes_a_command() -> None:
    event = {
        "type": "app_mention",
        "user": "U061F7AUR",
        "text": "<@U0BOT> !clip last 30s",
        "ts": "1709294096.000200",
        "channel": "C0LAN2Q65",
        "event_ts": "1709294096.000200",
    }
    command = command_from_event(_payload(event, "Ev08MFMKH6"))
    assert command is not None
    assert (command.id, command.team_id, command.channel_id, command.text) == (
        "Ev08MFMKH6",
        "T0001",
        "C0LAN2Q65",
        "!clip last 30s",
    )
    built = command.event(UserRef(id="U061F7AUR", name="viewer"))
    assert built.type is EventType.message and built.reply_to == "1709294096.000200"
    assert built.thread_id is None


def test_messages_keep_their_thread_and_unescape_text() -> None:
    command = command_from_event(
        _payload(message("!echo a &amp; b &lt;3", thread_ts="1709294000.000100"))
    )
    assert command is not None
    assert command.text == "!echo a & b <3"
    assert command.thread_ts == "1709294000.000100"
    assert escape("<!channel> & <@U1>") == "&lt;!channel&gt; &amp; &lt;@U1&gt;"


def test_chatter_bots_self_and_edits_are_ignored() -> None:
    assert command_from_event(_payload(message("hello"))) is None
    assert command_from_event(_payload(message("!ping", bot_id="B1"))) is None
    assert command_from_event(_payload(message("!ping", user="U0BOT"))) is None
    assert command_from_event(_payload(message("!ping", subtype="message_changed"))) is None
    assert command_from_event(_payload(message("!ping")), {"U061F7AUR"}) is None
    assert command_from_event({"type": "url_verification", "challenge": "x"}) is None
    assert command_from_event(_payload(message("!ping", subtype="thread_broadcast"))) is not None


def test_slash_command_text_becomes_a_bang_command() -> None:
    form = {"team_id": "T1", "channel_id": "C1", "user_id": "U1", "user_name": "v", "text": "ping"}
    command = command_from_slash(form, "e1")
    assert command is not None and command.text == "!ping" and command.type is EventType.command
    assert command_from_slash({**form, "text": ""}, "e2").text == "!help"  # type: ignore[union-attr]
    assert command_from_slash({**form, "text": "#weather"}, "e3").text == "#weather"  # type: ignore[union-attr]
    assert command_from_slash({"team_id": "T1"}, "e4") is None


def test_roles_from_owner_admin_flags_and_user_groups() -> None:
    groups = {"S0MODS": Role.moderator, "vips": Role.vip}
    assert slack_role({}, set(), groups) is Role.everyone
    assert slack_role({"is_owner": True}, set(), groups) is Role.broadcaster
    assert slack_role({"is_admin": True}, set(), groups) is Role.broadcaster
    assert slack_role({}, {"S0MODS"}, groups) is Role.moderator
    assert slack_role({}, {"vips", "unmapped"}, groups) is Role.vip


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WADDLEBOT_SLACK_USER_GROUPS", "S0MODS=moderator, vips=VIP")
    monkeypatch.setenv("WADDLEBOT_SLACK_API_BASE", "http://127.0.0.1:9/api")
    settings = SlackSettings()
    assert settings.user_groups == {"S0MODS": Role.moderator, "vips": Role.vip}
    assert settings.api_base == "http://127.0.0.1:9/api/"
    monkeypatch.setenv("WADDLEBOT_SLACK_USER_GROUPS", "S0MODS=emperor")
    with pytest.raises(ValidationError, match="unknown role"):
        SlackSettings()
