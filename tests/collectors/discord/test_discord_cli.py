"""``waddlebot discord sync-commands``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from waddlebot.cli.main import app


def test_sync_commands_dry_run_lists_the_registry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WADDLEBOT_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("WADDLEBOT_DATABASE_URL", raising=False)
    monkeypatch.delenv("WADDLEBOT_REDIS_URL", raising=False)
    result = CliRunner().invoke(app, ["discord", "sync-commands", "--dry-run"])
    assert result.exit_code == 0, result.output
    commands = {command["name"]: command for command in json.loads(result.stdout)}
    assert {"ping", "help", "commands", "about", "reload"} <= set(commands)
    # !reload needs commands.manage (the router checks it); Discord shows it to server managers
    assert commands["reload"]["default_member_permissions"] == str(1 << 5)
    assert "default_member_permissions" not in commands["ping"]


def test_sync_commands_without_application_id_fails_clearly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WADDLEBOT_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("WADDLEBOT_DATABASE_URL", raising=False)
    monkeypatch.delenv("WADDLEBOT_REDIS_URL", raising=False)
    monkeypatch.delenv("WADDLEBOT_DISCORD_APPLICATION_ID", raising=False)
    result = CliRunner().invoke(app, ["discord", "sync-commands"])
    assert result.exit_code == 1
    assert "WADDLEBOT_DISCORD_APPLICATION_ID" in result.output
