"""Settings problems in words (printed by processes in tests/cli/test_operator_mistakes.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from pydantic_settings import BaseSettings

import waddlebot.app  # noqa: F401 - imports every service, so every settings class exists
from waddlebot.collectors.twitch.settings import TwitchSettings
from waddlebot.kernel.settings import Settings
from waddlebot.kernel.settings_check import (
    SettingInvalid,
    expected,
    explain,
    settings_model,
    usable_data_dir,
)


def every_settings_class() -> list[type[BaseSettings]]:
    found, pending = [], list(BaseSettings.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls.__module__.startswith("waddlebot."):
            found.append(cls)
    return found


def test_every_field_of_every_settings_class_can_be_described() -> None:
    classes = every_settings_class()
    assert Settings in classes and TwitchSettings in classes
    for cls in classes:
        assert settings_model(cls.__name__) is cls
        for name, info in cls.model_fields.items():
            assert expected(info), f"{cls.__name__}.{name}"


@pytest.mark.parametrize(
    ("field", "words"),
    [
        ("port", "an integer from 1 to 65535"),
        ("router_queue_max", "an integer, at least 1"),
        ("playground_reply_timeout", "a number, greater than 0 and at most 60"),
        ("log_format", "one of json, console"),
        ("redis_url", "a string, or unset"),
        ("trust_kong_headers", "true or false"),
        ("rate_limit_user", "an integer, at least 1 (commands per user per window)"),
    ],
)
def test_expected_in_words(field: str, words: str) -> None:
    assert expected(Settings.model_fields[field]) == words


def test_secrets_are_never_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WADDLEBOT_TWITCH_EVENTSUB_SECRET", "hunter2")
    with pytest.raises(ValidationError) as raised:
        TwitchSettings()
    [line] = explain(raised.value).lines
    assert line.startswith("WADDLEBOT_TWITCH_EVENTSUB_SECRET is invalid: string should have at")
    assert "hunter2" not in line


def test_a_rule_across_settings_is_its_own_line() -> None:
    with pytest.raises(ValidationError) as raised:
        Settings(lease_ttl=3, heartbeat_interval=5)
    assert explain(raised.value).lines == [
        "WADDLEBOT_HEARTBEAT_INTERVAL must be shorter than WADDLEBOT_LEASE_TTL (5 >= 3)"
    ]


def test_options_name_what_was_typed() -> None:
    with pytest.raises(ValidationError) as raised:
        Settings(port=0)
    [line] = explain(raised.value, Settings, options={"port": "--port"}).lines
    assert line.startswith("--port '0' is invalid: ")


def test_data_dir_is_created_or_refused(tmp_path: Path) -> None:
    usable_data_dir(tmp_path / "a" / "b")
    assert (tmp_path / "a" / "b").is_dir()
    (tmp_path / "file").write_text("")
    with pytest.raises(SettingInvalid, match="it is a file, not a directory"):
        usable_data_dir(tmp_path / "file")
    with pytest.raises(SettingInvalid, match="it cannot be created"):
        usable_data_dir(tmp_path / "file" / "below")
