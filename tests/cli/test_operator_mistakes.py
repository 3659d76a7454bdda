"""Mistakes a new operator makes, each answered by one line on stderr and a non-zero exit,
never a traceback, and (for servers) before the banner and before any service starts."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from tests.cli.processes import WADDLEBOT, run
from tests.support import free_port
from waddlebot.app import SERVICES
from waddlebot.cli.preflight import SHARED_THROUGH_BACKEND

BANNER = "is starting on"


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    """The refusal: a non-zero exit, exactly one line on stderr, no traceback."""
    assert result.returncode != 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_an_unusable_data_directory(env: dict[str, str]) -> None:
    result = run("up", env={**env, "WADDLEBOT_DATA_DIR": "/proc/x"})
    line = one_line(result)
    assert line.startswith("WADDLEBOT_DATA_DIR='/proc/x' is unusable: it cannot be created")
    assert "expected a directory this user can create and write to" in line
    assert BANNER not in result.stdout


def test_a_data_directory_that_is_a_file(env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    line = one_line(
        run("admin", "list-api-keys", env={**env, "WADDLEBOT_DATA_DIR": str(tmp_path / "file")})
    )
    assert "is unusable: it is a file, not a directory" in line


@pytest.mark.parametrize(
    ("args", "extra", "expected"),
    [
        (["--port", "99999"], {}, "--port '99999' is invalid: input should be less than or equal"),
        ([], {"WADDLEBOT_PORT": "abc"}, "WADDLEBOT_PORT='abc' is invalid: input should be a valid"),
    ],
)
def test_a_bad_port(
    env: dict[str, str], args: list[str], extra: dict[str, str], expected: str
) -> None:
    result = run("up", *args, env={**env, **extra})
    line = one_line(result)
    assert line.startswith(expected)
    assert line.endswith("expected an integer from 1 to 65535")
    assert result.returncode == 2
    assert BANNER not in result.stdout


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("WADDLEBOT_LOG_FORMAT", "xml", "expected one of json, console"),
        ("WADDLEBOT_ROUTER_WORKERS", "0", "expected an integer from 1 to 256"),
        ("WADDLEBOT_PLAYGROUND_REPLY_TIMEOUT", "-1", "expected a number, greater than 0 and at"),
        ("WADDLEBOT_KONG_TRUSTED_PROXIES", "10.0.0.0/33", "does not appear to be an IPv4 or IPv6"),
    ],
)
def test_any_invalid_setting_in_any_command(
    env: dict[str, str], variable: str, value: str, expected: str
) -> None:
    for command in (["up"], ["admin", "list-api-keys"]):
        result = run(*command, env={**env, variable: value})
        line = one_line(result)
        assert line.startswith(f"{variable}='{value}' is invalid: ")
        assert expected in line
        assert BANNER not in result.stdout


def test_a_port_already_in_use(env: dict[str, str]) -> None:
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        result = run("up", "--port", str(port), env=env)
    line = one_line(result)
    assert line.startswith(f"cannot listen on 127.0.0.1:{port}: the port is already in use")
    assert BANNER not in result.stdout


@pytest.mark.parametrize(
    ("service", "extra"),
    [
        ("router", {}),
        ("playground", {"WADDLEBOT_ROUTER_URL": "http://127.0.0.1:1"}),
        ("communities", {}),
    ],
)
def test_serve_without_redis_is_refused(
    env: dict[str, str], service: str, extra: dict[str, str]
) -> None:
    line = one_line(run("serve", service, env={**env, **extra}))
    assert line.startswith(f"waddlebot serve {service} needs WADDLEBOT_REDIS_URL: ")
    assert "waddlebot up" in line


def test_every_service_says_why_it_needs_a_shared_backend() -> None:
    """A new service must decide what it shares; an unlisted one would start without Redis."""
    assert set(SHARED_THROUGH_BACKEND) == set(SERVICES)


def test_a_collector_alone_needs_the_router_address(env: dict[str, str]) -> None:
    redis = {"WADDLEBOT_REDIS_URL": "redis://127.0.0.1:1/0"}  # never reached: refused first
    line = one_line(run("serve", "playground", env={**env, **redis}))
    assert line.startswith("waddlebot serve playground needs WADDLEBOT_ROUTER_URL")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["manifest", "no_such_package.module"], "cannot import 'no_such_package.module': "),
        (["manifest", "json:dumps"], "json:dumps is a function, not a waddlebot.sdk.Module"),
        (["manifest", "json"], "'json' has no 'module' (expected package.module:attribute)"),
        (["serve", "no_such_package:module", "--secret", "s"], "cannot import 'no_such_package'"),
    ],
)
def test_module_references_that_are_not_modules(
    env: dict[str, str], args: list[str], expected: str
) -> None:
    assert one_line(run("module", *args, env=env)).startswith(expected)


def test_a_module_that_fails_on_import(env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "broken_module.py").write_text("raise RuntimeError('boom')\n")
    result = subprocess.run(
        [WADDLEBOT, "module", "manifest", "broken_module"],  # the current directory imports
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert one_line(result).startswith("importing 'broken_module' failed: RuntimeError: boom (")


def test_chat_with_a_refused_key(env: dict[str, str]) -> None:
    result = run("chat", "--api-key", "wbk_wrong", env=env, stdin="!ping\n!help\n")
    line = one_line(result)
    assert line.startswith("the playground refused the API key: ")
    assert result.stdout == ""


def test_quiet_by_default(env: dict[str, str]) -> None:
    """No Alembic chatter on admin commands, no Discord gateway warning inside chat."""
    env = {**env, "WADDLEBOT_LOG_LEVEL": "INFO"}
    listed = run("admin", "list-api-keys", env=env)
    assert listed.returncode == 0, listed.stderr
    assert "Context impl" not in listed.stderr and "Will assume" not in listed.stderr
    chat = run("chat", env=env, stdin="!ping\n")
    assert chat.stdout == "bot: pong\n"
    assert chat.stderr == ""


def test_serve_discord_gateway_without_a_token(env: dict[str, str]) -> None:
    shared = {"WADDLEBOT_REDIS_URL": "redis://127.0.0.1:1/0", "WADDLEBOT_ROUTER_URL": "http://x"}
    line = one_line(run("serve", "discord-gateway", env={**env, **shared}))
    assert line.startswith("waddlebot serve discord-gateway needs WADDLEBOT_DISCORD_BOT_TOKEN")


def test_the_kong_broker_needs_the_admin_url(env: dict[str, str]) -> None:
    redis = {"WADDLEBOT_REDIS_URL": "redis://127.0.0.1:1/0"}  # never reached: refused first
    line = one_line(run("serve", "kong-broker", env={**env, **redis}))
    assert line.startswith("waddlebot serve kong-broker needs WADDLEBOT_KONG_ADMIN_URL")
