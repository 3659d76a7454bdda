"""``waddlebot admin grant-role`` as a real process against the embedded database."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.cli.processes import clean_env, run


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return clean_env(tmp_path)


def test_grant_role_bootstraps_an_owner(env: dict[str, str]) -> None:
    chat = run("chat", "--user", "alice", env=env, stdin="!role show\n")
    assert chat.stdout.splitlines() == ["bot: You have no role here."], chat.stderr
    database = Path(env["WADDLEBOT_DATA_DIR"]) / "waddlebot.db"
    with sqlite3.connect(database) as connection:
        [(community,)] = connection.execute("SELECT id FROM communities").fetchall()

    granted = run(
        "admin",
        "grant-role",
        "--community",
        community,
        "--user",
        "playground:alice",
        "--role",
        "owner",
        env=env,
    )
    assert granted.returncode == 0, granted.stderr
    assert granted.stdout.strip().endswith(f"is now owner in {community}")
    chat = run("chat", "--user", "alice", env=env, stdin="!role show\n!reload\n")
    lines = chat.stdout.splitlines()
    assert lines[0] == "bot: Your role here: owner."
    assert lines[1].startswith("bot: Command table reloaded: ")

    demoted = run(
        "admin", "grant-role", "--community", community, "--user", "playground:alice",
        "--role", "member", env=env,
    )  # fmt: skip
    assert demoted.returncode == 1
    assert "the last owner of a community cannot be demoted" in demoted.stderr
    unknown = run(
        "admin", "grant-role", "--community", community, "--user", "twitch:nobody",
        "--role", "admin", env=env,
    )  # fmt: skip
    assert unknown.returncode == 1 and "no account 'nobody' on 'twitch'" in unknown.stderr


def test_grant_role_takes_a_unique_community_name(env: dict[str, str]) -> None:
    chat = run("chat", "--user", "alice", "--channel", "lobby", env=env, stdin="!ping\n")
    assert chat.returncode == 0, chat.stderr
    granted = run(
        "admin", "grant-role", "--community", "Lobby", "--user", "playground:alice",
        "--role", "owner", env=env,
    )  # fmt: skip
    assert granted.returncode == 0, granted.stderr
    assert granted.stdout.strip().endswith("is now owner in Lobby")
    nowhere = run(
        "admin", "grant-role", "--community", "nowhere", "--user", "playground:alice",
        "--role", "owner", env=env,
    )  # fmt: skip
    assert nowhere.returncode == 1
    assert nowhere.stderr.strip() == "no community with id or name 'nowhere'"
