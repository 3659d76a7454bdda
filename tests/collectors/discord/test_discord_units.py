"""Discord pieces without a network: signatures, roles, normalisation, splitting, commands."""

from __future__ import annotations

import json
import time

import pytest
from nacl.signing import SigningKey
from pydantic import ValidationError

from tests.collectors.discord.fake_discord import command_interaction, signed
from waddlebot.collectors.discord.commands import slash_commands
from waddlebot.collectors.discord.config import DiscordSettings
from waddlebot.collectors.discord.normalise import interaction_event
from waddlebot.collectors.discord.roles import discord_role
from waddlebot.collectors.discord.sender import split_message
from waddlebot.collectors.discord.verify import verify_discord
from waddlebot.kernel.contracts import CommandInfo, EventType, Role

KEY = SigningKey.generate()
PUBLIC = KEY.verify_key.encode().hex()


def test_rfc8032_test_1_key_pair() -> None:
    seed = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    key = SigningKey(seed)
    assert key.verify_key.encode().hex() == (
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
    )
    assert key.sign(b"").signature.hex().startswith("e5564300c360ac729086e2cc806e828a")


def test_signature_accepted_and_every_forgery_rejected() -> None:
    body = command_interaction("ping")
    headers = signed(KEY, body)
    assert verify_discord(PUBLIC, headers, body)
    assert not verify_discord(PUBLIC, headers, body + b" ")
    later = {**headers, "X-Signature-Timestamp": str(int(headers["X-Signature-Timestamp"]) + 1)}
    assert not verify_discord(PUBLIC, later, body)
    assert not verify_discord(SigningKey.generate().verify_key.encode().hex(), headers, body)
    assert not verify_discord(PUBLIC, {**headers, "X-Signature-Ed25519": "zz"}, body)
    assert not verify_discord(PUBLIC, {"X-Signature-Timestamp": "1"}, body)
    assert not verify_discord(PUBLIC, {"X-Signature-Ed25519": headers["X-Signature-Ed25519"]}, body)
    stale = signed(KEY, body, timestamp=int(time.time()) - 301)
    assert not verify_discord(PUBLIC, stale, body)


def test_roles_from_owner_permissions_and_mapped_roles() -> None:
    mapping = {"mods": Role.moderator, "42": Role.vip}
    assert discord_role(is_owner=False, permissions=0) is Role.everyone
    assert discord_role(is_owner=True, permissions=0) is Role.broadcaster
    assert discord_role(is_owner=False, permissions=1 << 3) is Role.broadcaster  # ADMINISTRATOR
    assert discord_role(is_owner=False, permissions=1 << 5) is Role.broadcaster  # MANAGE_GUILD
    assert discord_role(is_owner=False, permissions=1 << 13) is Role.moderator  # MANAGE_MESSAGES
    assert discord_role(is_owner=False, permissions=1 << 40) is Role.moderator  # MODERATE_MEMBERS
    assert discord_role(is_owner=False, permissions=0, role_keys=["Mods"], mapping=mapping) is (
        Role.moderator
    )
    assert (
        discord_role(is_owner=False, permissions=0, role_keys=["42"], mapping=mapping) is Role.vip
    )


def test_reference_interaction_becomes_a_command() -> None:
    payload = json.loads(command_interaction("clip"))
    payload["member"]["permissions"] = "2147483647"
    payload["data"]["options"] = [{"name": "title", "type": 3, "value": "big play"}]
    event = interaction_event(payload, {})
    assert event is not None
    assert event.type is EventType.command and event.text == '!clip "big play"'
    assert event.server_id == "290926798626357250" and event.channel_id == "645027906669510667"
    assert event.user is not None and event.user.role is Role.broadcaster
    raw = interaction_event(json.loads(command_interaction("echo", args="a b")), {})
    assert raw is not None and raw.text == "!echo a b"
    dm = json.loads(command_interaction("ping"))
    dm["user"] = dm.pop("member")["user"]
    del dm["guild_id"]
    assert interaction_event(dm, {}).server_id == "dm"  # type: ignore[union-attr]


def test_split_at_2000_characters() -> None:
    assert split_message("short") == ["short"]
    words = " ".join(["word"] * 700)  # 3499 characters
    pieces = split_message(words)
    assert [len(p) <= 2000 for p in pieces] == [True, True]
    assert " ".join(pieces) == words
    solid = "x" * 4500
    assert [len(p) for p in split_message(solid)] == [2000, 2000, 500]


def test_slash_commands_from_the_registry() -> None:
    commands = [
        CommandInfo(trigger="ping", module="core", usage="!ping", description="Alive?"),
        CommandInfo(trigger="reload", module="core", min_role=Role.moderator),
        CommandInfo(trigger="Bad Name", module="x"),
        CommandInfo(prefix="#", trigger="weather", module="x"),
    ]
    ping, reload = slash_commands(commands)
    assert ping["name"] == "ping" and ping["description"] == "Alive?" and ping["type"] == 1
    assert ping["options"][0]["name"] == "args" and "default_member_permissions" not in ping
    assert reload["default_member_permissions"] == str(1 << 13)


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WADDLEBOT_DISCORD_ROLE_MAP", "Mods=moderator,123=vip")
    monkeypatch.setenv("WADDLEBOT_DISCORD_API_BASE", "http://127.0.0.1:9/api/v10/")
    settings = DiscordSettings()
    assert settings.role_map == {"mods": Role.moderator, "123": Role.vip}
    assert settings.api_base == "http://127.0.0.1:9/api/v10"
    monkeypatch.setenv("WADDLEBOT_DISCORD_INLINE_WAIT", "5")
    with pytest.raises(ValidationError):
        DiscordSettings()
