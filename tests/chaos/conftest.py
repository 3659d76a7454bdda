"""Fixtures for the chaos tests: servers of their own that they may kill."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.chaos.servers import OwnPostgres, OwnRedis, postgres_bin
from tests.conftest import IN_CI


def _missing(what: str) -> None:
    if IN_CI:
        pytest.fail(f"{what} is required in CI for the chaos tests")
    pytest.skip(f"{what} not installed")


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    """A redis-server on a free port with AOF in ``tmp_path``; never the shared one."""
    if shutil.which("redis-server") is None:
        _missing("redis-server")
    server = OwnRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def own_postgres() -> Iterator[OwnPostgres]:
    """A throwaway PostgreSQL cluster on a free port; never the shared one."""
    bin_dir = postgres_bin()
    if bin_dir is None or shutil.which("runuser") is None:
        _missing("PostgreSQL server binaries")
    assert bin_dir is not None
    cluster = OwnPostgres(bin_dir)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()
