"""Settings: WADDLEBOT_* environment, URL normalisation, the generated secret key."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import inspect

from waddlebot.kernel.settings import SECRET_KEY_FILE, Settings, normalise_database_url
from waddlebot.kernel.storage import Database


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No WADDLEBOT_* variable from the outside leaks in; run inside an empty directory."""
    for name in list(os.environ):
        if name.startswith("WADDLEBOT_"):
            monkeypatch.delenv(name)
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    return workdir


def test_defaults() -> None:
    settings = Settings()
    assert settings.data_dir == Path(".waddlebot")
    assert settings.database_url is None
    assert settings.database_replica_urls == []
    assert settings.redis_url is None
    assert settings.redis_namespace == "wb"
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert (settings.log_level, settings.log_format) == ("INFO", "json")
    assert settings.playground == "on"
    assert settings.is_loopback_bind


def test_environment_overrides_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("WADDLEBOT_PORT", "9001")
    monkeypatch.setenv("WADDLEBOT_HOST", "0.0.0.0")
    monkeypatch.setenv("WADDLEBOT_LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("WADDLEBOT_LOG_FORMAT", "console")
    monkeypatch.setenv("WADDLEBOT_REDIS_URL", "redis://cache:6379/2")
    monkeypatch.setenv("WADDLEBOT_REDIS_NAMESPACE", "prod-1")
    monkeypatch.setenv("WADDLEBOT_DATA_DIR", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("WADDLEBOT_ROUTER_WORKERS", "3")
    monkeypatch.setenv("WADDLEBOT_MODULE_TIMEOUT", "1.5")
    monkeypatch.setenv("WADDLEBOT_PLAYGROUND", "off")

    settings = Settings()

    assert settings.port == 9001
    assert settings.host == "0.0.0.0"
    assert not settings.is_loopback_bind
    assert settings.log_level == "DEBUG"
    assert settings.log_format == "console"
    assert settings.redis_url == "redis://cache:6379/2"
    assert settings.redis_namespace == "prod-1"
    assert settings.data_dir == tmp_path / "elsewhere"
    assert settings.router_workers == 3
    assert settings.worker_slots == 3  # said outright, it wins
    assert settings.module_timeout == 1.5
    assert settings.playground == "off"


def test_events_in_flight_default_by_backend(tmp_path: Path) -> None:
    assert Settings(data_dir=tmp_path).worker_slots == 8  # embedded
    assert Settings(data_dir=tmp_path, redis_url="redis://cache:6379/0").worker_slots == 32


def test_explicit_arguments_beat_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WADDLEBOT_PORT", "9001")
    assert Settings(port=7000).port == 7000


def test_unprefixed_variables_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "9001")
    monkeypatch.setenv("DATABASE_URL", "postgresql://elsewhere/db")
    settings = Settings()
    assert settings.port == 8000
    assert settings.database_url is None


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1"])
def test_loopback_hosts(host: str) -> None:
    assert Settings(host=host).is_loopback_bind


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "example.com"])
def test_non_loopback_hosts(host: str) -> None:
    assert not Settings(host=host).is_loopback_bind


def test_replica_urls_are_split_on_commas(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "WADDLEBOT_DATABASE_REPLICA_URLS",
        " postgresql://r1/db ,postgres://r2/db,, sqlite:///replica.db ,",
    )
    assert Settings().database_replica_urls == [
        "postgresql://r1/db",
        "postgres://r2/db",
        "sqlite:///replica.db",
    ]


def test_single_and_empty_replica_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WADDLEBOT_DATABASE_REPLICA_URLS", "postgresql://only/db")
    assert Settings().database_replica_urls == ["postgresql://only/db"]
    monkeypatch.setenv("WADDLEBOT_DATABASE_REPLICA_URLS", "")
    assert Settings().database_replica_urls == []
    assert Settings(database_replica_urls=["a", "b"]).database_replica_urls == ["a", "b"]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u:p@db:5432/wb", "postgresql+asyncpg://u:p@db:5432/wb"),
        ("postgres://u:p@db/wb", "postgresql+asyncpg://u:p@db/wb"),
        ("sqlite:///data/wb.db", "sqlite+aiosqlite:///data/wb.db"),
        ("sqlite:////abs/wb.db", "sqlite+aiosqlite:////abs/wb.db"),
        ("postgresql+asyncpg://u@db/wb", "postgresql+asyncpg://u@db/wb"),
        ("sqlite+aiosqlite:///wb.db", "sqlite+aiosqlite:///wb.db"),
        ("postgresql+psycopg://u@db/wb", "postgresql+psycopg://u@db/wb"),
        ("mysql://u@db/wb", "mysql://u@db/wb"),
    ],
)
def test_normalise_database_url(url: str, expected: str) -> None:
    assert normalise_database_url(url) == expected


def test_configured_database_url_is_normalised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WADDLEBOT_DATABASE_URL", "postgres://wb:pw@db:5432/waddlebot")
    settings = Settings()
    assert settings.database_url == "postgres://wb:pw@db:5432/waddlebot"
    assert settings.resolved_database_url == "postgresql+asyncpg://wb:pw@db:5432/waddlebot"


def test_default_database_is_sqlite_inside_the_data_dir(clean_environment: Path) -> None:
    settings = Settings()
    expected = clean_environment / ".waddlebot" / "waddlebot.db"
    assert settings.resolved_database_url == f"sqlite+aiosqlite:///{expected.resolve()}"


async def test_default_database_file_is_created_in_the_data_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    data_dir = tmp_path / "fresh" / "data"
    monkeypatch.setenv("WADDLEBOT_DATA_DIR", str(data_dir))
    db = Database(Settings().resolved_database_url)
    try:
        await db.migrate()
        async with db.engine.connect() as connection:
            tables = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
    finally:
        await db.close()
    assert (data_dir / "waddlebot.db").is_file()
    assert "communities" in tables


def test_secret_key_is_generated_once_with_mode_0600(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = Settings(data_dir=data_dir).resolved_secret_key
    path = data_dir / SECRET_KEY_FILE

    assert len(first) >= 48
    assert path.read_text() == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    second = Settings(data_dir=data_dir).resolved_secret_key
    assert second == first
    assert Settings(data_dir=tmp_path / "other").resolved_secret_key != first


def test_existing_secret_file_is_read_and_stripped(tmp_path: Path) -> None:
    (tmp_path / SECRET_KEY_FILE).write_text("  from-an-earlier-run\n")
    assert Settings(data_dir=tmp_path).resolved_secret_key == "from-an-earlier-run"


def test_explicit_secret_key_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / SECRET_KEY_FILE).write_text("stored")
    assert Settings(data_dir=tmp_path, secret_key="explicit").resolved_secret_key == "explicit"

    monkeypatch.setenv("WADDLEBOT_SECRET_KEY", "from-env")
    assert Settings(data_dir=tmp_path).resolved_secret_key == "from-env"

    untouched = tmp_path / "untouched"
    assert Settings(data_dir=untouched).resolved_secret_key == "from-env"
    assert not (untouched / SECRET_KEY_FILE).exists()  # nothing generated when one is given


@pytest.mark.parametrize("port", ["0", "65536", "-1", "http", ""])
def test_invalid_port_is_refused(monkeypatch: pytest.MonkeyPatch, port: str) -> None:
    monkeypatch.setenv("WADDLEBOT_PORT", port)
    with pytest.raises(ValidationError, match="port"):
        Settings()


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("WADDLEBOT_LOG_FORMAT", "xml"),
        ("WADDLEBOT_REDIS_NAMESPACE", "has spaces"),
        ("WADDLEBOT_REDIS_NAMESPACE", "a:b"),
        ("WADDLEBOT_PLAYGROUND", "sometimes"),
        ("WADDLEBOT_ROUTER_WORKERS", "0"),
        ("WADDLEBOT_PLAYGROUND_REPLY_TIMEOUT", "61"),
        ("WADDLEBOT_MODULE_TIMEOUT", "0"),
    ],
)
def test_invalid_values_are_refused(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError):
        Settings()


@pytest.mark.parametrize("legacy", ["auto", "key"])
def test_earlier_playground_values_mean_on(legacy: str) -> None:
    assert Settings(playground=legacy).playground == "on"  # type: ignore[arg-type]
    assert Settings(playground="off").playground == "off"


def test_the_scheduler_lease_must_outlast_a_module_call() -> None:
    with pytest.raises(ValidationError, match="SCHEDULER_LEASE must be longer"):
        Settings(scheduler_lease=5, module_timeout=10)  # type: ignore[call-arg]
    assert Settings(scheduler_lease=11, module_timeout=10).scheduler_lease == 11  # type: ignore[call-arg]
