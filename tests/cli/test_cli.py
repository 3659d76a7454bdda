"""The ``waddlebot`` command line, run as real processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.cli.processes import run, start, stop, wait_healthy
from waddlebot.kernel.security.service_tokens import service_headers


@pytest.fixture
def running(env: dict[str, str]) -> Iterator[str]:
    """``waddlebot up`` as its own process on a free loopback port."""
    process = start(["up"], env)
    url = f"http://127.0.0.1:{env['WADDLEBOT_PORT']}"
    try:
        wait_healthy(url, process)
        yield url
    finally:
        stop(process)


def test_version(env: dict[str, str]) -> None:
    result = run("version", env=env)
    assert result.returncode == 0
    assert result.stdout.startswith("waddlebot 0.")


@pytest.mark.parametrize(
    "command", ["up", "serve", "migrate", "chat", "version", "admin", "commands"]
)
def test_every_command_has_help(env: dict[str, str], command: str) -> None:
    result = run(command, "--help", env=env)
    assert result.returncode == 0, result.stderr
    assert "Usage" in result.stdout


def test_serve_rejects_unknown_service(env: dict[str, str]) -> None:
    result = run("serve", "nonsense", env=env)
    assert result.returncode != 0
    assert "unknown service 'nonsense'" in result.stdout + result.stderr


def test_migrate_creates_the_embedded_database(env: dict[str, str]) -> None:
    result = run("migrate", env=env)
    assert result.returncode == 0, result.stderr
    assert (Path(env["WADDLEBOT_DATA_DIR"]) / "waddlebot.db").exists()
    assert (Path(env["WADDLEBOT_DATA_DIR"]) / "secret.key").stat().st_mode & 0o777 == 0o600
    assert (Path(env["WADDLEBOT_DATA_DIR"]) / "objects").is_dir()  # the object store, ready
    assert "object store ready: the data directory" in result.stdout
    assert run("migrate", env=env).returncode == 0  # idempotent


def test_migrate_names_an_unreachable_object_store_in_one_line(env: dict[str, str]) -> None:
    result = run(
        "migrate",
        env={
            **env,
            "WADDLEBOT_S3_BUCKET": "waddlebot",
            "WADDLEBOT_S3_ENDPOINT_URL": "http://127.0.0.1:9",
            "AWS_ACCESS_KEY_ID": "x",
            "AWS_SECRET_ACCESS_KEY": "y",
        },
    )
    assert result.returncode == 1
    assert "object store unavailable" in result.stderr
    assert "Traceback" not in result.stderr


def test_chat_embedded_ping_help_and_refusal(env: dict[str, str]) -> None:
    """No server running: ``chat`` starts an embedded instance for the conversation."""
    result = run("chat", "--user", "alice", env=env, stdin="!ping\n!help\n!reload\nhello\n")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "bot: pong"
    assert lines[1].startswith("bot: You can use: !about, ")
    usable = lines[1].removeprefix("bot: You can use: ").split(". Type")[0].split(", ")
    assert usable == sorted(usable)
    assert {
        "!ai",
        "!ask",
        "!commands",
        "!help",
        "!ping",
        "!role",
        "!timezone",
        "!verify",
        "!whoami",
    } <= set(usable)
    assert "!reload" not in usable and "!so" not in usable  # commands.manage, moderators
    assert lines[2] == "bot: @alice !reload needs the commands.manage permission here."
    assert len(lines) == 3  # plain chat gets no answer


def test_chat_as_broadcaster_sees_manager_commands(env: dict[str, str]) -> None:
    result = run("chat", "--role", "broadcaster", env=env, stdin="!commands\n!reload\n")
    assert result.returncode == 0, result.stderr
    listing, reloaded = result.stdout.splitlines()
    assert "!reload" in listing
    assert reloaded.startswith("bot: Command table reloaded: ")


def test_chat_rejects_unknown_role(env: dict[str, str]) -> None:
    result = run("chat", "--role", "emperor", env=env)
    assert result.returncode != 0
    assert "unknown role 'emperor'" in result.stdout + result.stderr


def test_up_serves_the_playground_and_chat_talks_to_it(env: dict[str, str], running: str) -> None:
    body = {"channel": "lobby", "user": "alice", "role": "moderator", "text": "!ping"}
    anonymous = httpx.post(f"{running}/api/playground/v1/messages", json=body, timeout=10)
    assert anonymous.status_code == 401  # even from loopback: no default credentials
    secret = (Path(env["WADDLEBOT_DATA_DIR"]) / "secret.key").read_text().strip()
    answer = httpx.post(
        f"{running}/api/playground/v1/messages",
        json=body,
        timeout=10,
        headers=service_headers(secret, "test"),
    )
    assert answer.status_code == 200
    assert answer.json()["replies"] == [{"type": "chat", "text": "pong"}]
    result = run("chat", "--url", running, "--user", "bob", env=env, stdin="!reload\n!about\n")
    assert result.returncode == 0, result.stderr
    refusal, about = result.stdout.splitlines()
    assert refusal == "bot: @bob !reload needs the commands.manage permission here."
    assert about.startswith("bot: WaddleBot 0.")
    assert httpx.get(f"{running}/readyz", timeout=5).json()["status"] == "ready"
    assert "waddlebot_events_in_total" in httpx.get(f"{running}/metrics", timeout=5).text


def test_an_admin_key_opens_the_playground_to_other_machines(env: dict[str, str]) -> None:
    created = run("admin", "create-api-key", "--name", "ops", "--scope", "admin", env=env)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    assert key.startswith("wbk_")
    env = {**env, "WADDLEBOT_HOST": "0.0.0.0"}
    process = start(["up"], env)
    url = f"http://127.0.0.1:{env['WADDLEBOT_PORT']}"
    body = {"channel": "lobby", "user": "alice", "role": "broadcaster", "text": "!ping"}
    try:
        wait_healthy(url, process)
        refused = httpx.post(f"{url}/api/playground/v1/messages", json=body, timeout=10)
        assert refused.status_code == 401
        allowed = httpx.post(
            f"{url}/api/playground/v1/messages", json=body, timeout=10, headers={"X-API-Key": key}
        )
        assert allowed.status_code == 200
        assert allowed.json()["replies"] == [{"type": "chat", "text": "pong"}]
    finally:
        stop(process)


def test_rotate_secrets_runs_against_the_configured_database(env: dict[str, str]) -> None:
    """The CLI wiring; what rotation does is tested in tests/kernel/security/test_rotation.py."""
    from cryptography.fernet import Fernet

    env = {**env, "WADDLEBOT_ENCRYPTION_KEYS": Fernet.generate_key().decode()}
    rotated = run("admin", "rotate-secrets", env=env)
    assert rotated.returncode == 0, rotated.stderr
    assert "overlay_tokens: 0 row(s) re-encrypted" in rotated.stdout
