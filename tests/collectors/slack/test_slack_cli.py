"""``waddlebot slack install-url``."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from waddlebot.cli.main import app


def test_slack_install_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WADDLEBOT_PUBLIC_URL", "https://bot.example.org/")
    result = CliRunner().invoke(app, ["slack", "install-url"])
    assert result.stdout.strip() == "https://bot.example.org/auth/slack/install"
