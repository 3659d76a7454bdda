"""``waddlebot stats COMMUNITY`` as a real process against the embedded database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.processes import clean_env, run


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return clean_env(tmp_path)


def test_stats_prints_a_table_and_json(env: dict[str, str]) -> None:
    chat = run("chat", "--user", "alice", env=env, stdin="!ping\n!ping\n!help\n")
    assert chat.returncode == 0, chat.stderr
    table = run("stats", "Lobby", env=env)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].endswith("3 commands, 3 chat messages")
    assert lines[-4].split() == ["!ping", "core", "2"]  # the top command
    assert lines[-1].split() == ["core", "3"]

    answer = run("stats", "Lobby", "--json", "--from", "2026-01-01", "--to", "2026-01-02", env=env)
    assert answer.returncode == 0, answer.stderr
    body = json.loads(answer.stdout)
    assert [day["day"] for day in body["days"]] == ["2026-01-01", "2026-01-02"]

    backwards = run("stats", "Lobby", "--from", "2026-02-01", "--to", "2026-01-01", env=env)
    assert backwards.returncode == 1 and "from must not be after to" in backwards.stderr
    garbled = run("stats", "Lobby", "--from", "yesterday", env=env)
    assert garbled.returncode == 2 and "YYYY-MM-DD" in garbled.stderr
    unknown = run("stats", "nowhere", env=env)
    assert unknown.returncode == 1
