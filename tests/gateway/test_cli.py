"""``waddlebot gateway kong-config``: the same text the drift test expects, to stdout or a
file, with the upstream template and without key-auth on request."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

from waddlebot.cli.main import app
from waddlebot.gateway.kong_config import kong_config, render
from waddlebot.gateway.routes import all_served_paths

runner = CliRunner()


def test_prints_the_generated_configuration() -> None:
    result = runner.invoke(app, ["gateway", "kong-config"])
    assert result.exit_code == 0, result.output
    assert result.stdout == render(kong_config(all_served_paths()))


def test_writes_a_file_with_another_upstream_and_no_key_auth(tmp_path: Path) -> None:
    target = tmp_path / "kong.yml"
    result = runner.invoke(
        app,
        [
            "gateway",
            "kong-config",
            "--output",
            str(target),
            "--upstream",
            "http://waddlebot-{service}.bots.svc:8000",
            "--no-key-auth",
        ],
    )
    assert result.exit_code == 0, result.output
    config = yaml.safe_load(target.read_text())
    urls = {service["name"]: service["url"] for service in config["services"]}
    assert urls["labels"] == "http://waddlebot-labels.bots.svc:8000"
    plugins = {
        plugin["name"]
        for service in config["services"]
        for route in service["routes"]
        for plugin in route["plugins"]
    }
    assert "key-auth" not in plugins


def test_an_upstream_without_the_service_placeholder_is_refused() -> None:
    result = runner.invoke(app, ["gateway", "kong-config", "--upstream", "http://kong:8000"])
    assert result.exit_code == 2
    assert "{service}" in result.output
