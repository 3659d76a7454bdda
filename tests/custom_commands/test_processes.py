"""Custom commands in real ``waddlebot`` processes: the counter survives a restart of
``waddlebot up`` (same data directory on SQLite; the same database on PostgreSQL), and
``waddlebot commands import`` writes what chat then answers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.cli.processes import clean_env, run, start, stop, wait_healthy
from tests.conftest import DATABASE_URL, fresh_postgres_database, require_service
from waddlebot.kernel.security.service_tokens import service_headers

FIXTURES = Path(__file__).parent / "fixtures"


@contextmanager
def up(env: dict[str, str]) -> Iterator[str]:
    process = start(["up"], env)
    url = f"http://127.0.0.1:{env['WADDLEBOT_PORT']}"
    try:
        wait_healthy(url, process)
        yield url
    finally:
        stop(process)


def say(url: str, env: dict[str, str], text: str, role: str = "everyone") -> list[str]:
    secret = (Path(env["WADDLEBOT_DATA_DIR"]) / "secret.key").read_text().strip()
    answer = httpx.post(
        f"{url}/api/playground/v1/messages",
        json={"channel": "lobby", "user": "alice", "role": role, "text": text},
        headers=service_headers(secret, "test"),
        timeout=15,
    )
    assert answer.status_code == 200, answer.text
    return [reply["text"] for reply in answer.json()["replies"]]


@pytest.fixture(params=["sqlite", "postgres"])
async def env(request: pytest.FixtureRequest, tmp_path: Path) -> object:
    environment = clean_env(tmp_path)
    if request.param == "sqlite":
        yield environment  # the default: waddlebot.db in the data directory
        return
    url = require_service(DATABASE_URL, "PostgreSQL", "WADDLEBOT_TEST_DATABASE_URL")
    async with fresh_postgres_database(url) as fresh:
        yield {**environment, "WADDLEBOT_DATABASE_URL": fresh}


def test_the_counter_survives_a_restart(env: dict[str, str]) -> None:
    with up(env) as url:
        assert say(url, env, "!command add hits {user} hit #{count}", "broadcaster") == [
            "!hits added."
        ]
        assert say(url, env, "!hits") == ["alice hit #1"]
        assert say(url, env, "!hits") == ["alice hit #2"]
    with up(env) as url:  # a new process, the same data
        assert say(url, env, "!hits") == ["alice hit #3"]
        assert say(url, env, "!command show hits", "broadcaster") == [
            "!hits, used 3 times: {user} hit #{count}"
        ]


def test_import_from_the_command_line(env: dict[str, str]) -> None:
    with up(env) as url:
        say(url, env, "hello")  # the lobby becomes a community
    result = run(
        "commands",
        "import",
        str(FIXTURES / "nightbot_commands.json"),
        "--from",
        "nightbot",
        "--community",
        "lobby",
        env=env,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Imported 4 command(s) from nightbot into ")
    assert "  !time  (Nightbot's 'regular' level became vip)" in lines
    assert lines[lines.index("Skipped 2:") + 1].startswith("  !followage: uses $(urlfetch")
    again = run(
        "commands",
        "import",
        str(FIXTURES / "nightbot_commands.json"),
        "--from",
        "nightbot",
        "--community",
        "lobby",
        env=env,
    )
    assert again.returncode == 0, again.stderr
    assert "Imported 0 command(s)" in again.stdout
    assert "  !discord: !discord already exists here; change it with !command edit discord" in (
        again.stdout
    )
    with up(env) as url:
        assert say(url, env, "!hug @bob because") == [
            "alice hugs bob! That's hug number 42. Reason: @bob because"
        ]


def test_import_refusals_are_one_line_and_fail(env: dict[str, str], tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{nope")
    unreadable = run(
        "commands", "import", str(broken), "--from", "nightbot", "--community", "x", env=env
    )
    assert unreadable.returncode == 1
    assert unreadable.stderr.strip() == f"{broken} is not JSON"
    unknown = run(
        "commands",
        "import",
        str(FIXTURES / "nightbot_commands.json"),
        "--from",
        "nightbot",
        "--community",
        "nowhere",
        env=env,
    )
    assert unknown.returncode == 1
    assert unknown.stderr.strip() == "no community with id or name 'nowhere'"
    tool = run("commands", "import", str(broken), "--from", "moobot", "--community", "x", env=env)
    assert tool.returncode == 1
    assert "unknown tool 'moobot'" in tool.stderr
