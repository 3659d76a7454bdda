"""Change stamps: another process's touch moves the generation, this process's own does not."""

from __future__ import annotations

from pathlib import Path

import pytest

from waddlebot.kernel.storage import Database, stamps
from waddlebot.kernel.storage.stamps import ChangeStamp


@pytest.fixture(autouse=True)
def check_every_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stamps, "CHECK_EVERY", 0.0)


def test_another_process_touching_moves_the_generation(tmp_path: Path) -> None:
    path = tmp_path / "db-access"
    here, there = ChangeStamp(path), ChangeStamp(path)  # two processes' views of one file
    assert here.generation() == 0
    there.touch()
    assert here.generation() == 1
    assert here.generation() == 1  # seen once
    there.touch()
    there.touch()
    assert here.generation() == 2  # two touches between checks: one move is enough


def test_a_process_does_not_count_its_own_touch(tmp_path: Path) -> None:
    here = ChangeStamp(tmp_path / "db-access")
    here.touch()
    assert here.generation() == 0


def test_checks_are_spaced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stamps, "CHECK_EVERY", 3600.0)
    path = tmp_path / "db-access"
    here, there = ChangeStamp(path), ChangeStamp(path)
    there.touch()
    assert here.generation() == 0  # not read again within the hour


def test_an_unwritable_directory_is_not_an_error(tmp_path: Path) -> None:
    stamp = ChangeStamp(tmp_path / "missing" / "db-access")
    stamp.touch()  # nothing to write into: ignored
    assert stamp.generation() == 0
    assert not list(tmp_path.iterdir())


def test_only_a_sqlite_file_has_an_access_stamp(tmp_path: Path) -> None:
    on_file = Database(f"sqlite+aiosqlite:///{tmp_path / 'w.db'}")
    assert on_file.access_stamp is not None
    assert on_file.access_stamp.path == tmp_path / "w.db-access"
    assert Database("sqlite+aiosqlite:///:memory:").access_stamp is None
    assert Database("postgresql+asyncpg://u@127.0.0.1/x").access_stamp is None
