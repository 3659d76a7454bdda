"""``waddlebot backup`` / ``restore`` as real processes on SQLite and PostgreSQL: back up, wipe,
restore, and the installation answers as before (key, role, sealed token)."""

from __future__ import annotations

import re
import subprocess
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from tests.cli.processes import WADDLEBOT, clean_env, run, start, stop, wait_healthy
from tests.conftest import DATABASE_URL, require_service
from tests.objects_support import aws_credentials, moto_url, new_bucket
from waddlebot.collectors.slack.models import SlackInstallation
from waddlebot.kernel.settings import Settings, normalise_database_url
from waddlebot.kernel.storage import Database
from waddlebot.kernel.storage.models import Community

__all__ = ["aws_credentials", "moto_url"]  # fixtures
SECRET = "backup-test-secret"
TOKEN = "xoxb-plaintext-never-in-a-backup"


class Installation:
    """Where the bot keeps its data, and how to wipe it."""

    def __init__(self, env: dict[str, str], database_url: str, admin_dsn: str | None) -> None:
        self.env = env
        self.database_url = database_url
        self.admin_dsn = admin_dsn

    async def wipe(self) -> None:
        if self.admin_dsn is None:
            Path(make_url(self.database_url).database or "").unlink()
            return
        name = make_url(self.database_url).database
        connection = await asyncpg.connect(self.admin_dsn)
        try:
            await connection.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()


@pytest.fixture(params=["sqlite", "postgres"])
async def installation(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[Installation]:
    env = clean_env(tmp_path) | {"WADDLEBOT_SECRET_KEY": SECRET}
    if request.param == "sqlite":
        yield Installation(env, Settings(data_dir=tmp_path / "data").resolved_database_url, None)
        return
    server = make_url(
        normalise_database_url(
            require_service(DATABASE_URL, "PostgreSQL", "WADDLEBOT_TEST_DATABASE_URL")
        )
    )
    admin_dsn = server.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"wbtest_{uuid.uuid4().hex[:16]}"
    connection = await asyncpg.connect(admin_dsn)
    await connection.execute(f'CREATE DATABASE "{name}"')
    await connection.close()
    url = server.set(drivername="postgresql", database=name).render_as_string(hide_password=False)
    try:
        yield Installation(env | {"WADDLEBOT_DATABASE_URL": url}, url, admin_dsn)
    finally:
        connection = await asyncpg.connect(admin_dsn)
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await connection.close()


def ok(*args: str, env: dict[str, str]) -> str:
    done = run(*args, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout


async def seed(inst: Installation) -> tuple[str, str, str]:
    """A superuser, an operator key, a community they own, a sealed Slack token."""
    ok("migrate", env=inst.env)
    created = ok(
        "admin", "create-user", "--email", "owner@example.com", "--superuser", env=inst.env
    )
    user_id = re.search(r"\(id (\w+)\)", created).group(1)  # type: ignore[union-attr]
    key = ok(
        "admin", "create-api-key", "--name", "ops", "--scope", "communities:read", env=inst.env
    ).strip()
    settings = Settings(secret_key=SECRET, database_url=inst.database_url)
    db = Database(settings.resolved_database_url)
    try:
        async with db.session() as session:
            community = Community(name="Penguins")
            session.add(community)
            session.add(
                SlackInstallation(
                    team_id="T1",
                    team_name="Penguins",
                    token_sealed=settings.secret_box.encrypt(TOKEN),
                )
            )
        community_id = community.id
    finally:
        await db.close()
    ok(
        "admin",
        "grant-role",
        "--community",
        community_id,
        "--user",
        user_id,
        "--role",
        "owner",
        env=inst.env,
    )
    return key, community_id, user_id


def backup_text(path: Path, postgres: bool) -> bytes:
    """What the backup holds, readable: the SQLite file, or the dump as SQL."""
    if not postgres:
        return path.read_bytes()
    return subprocess.run(
        ["pg_restore", "--file=-", str(path)], capture_output=True, check=True
    ).stdout


async def test_backup_wipe_restore_answers_as_before(
    installation: Installation, tmp_path: Path
) -> None:
    inst = installation
    key, community_id, user_id = await seed(inst)
    file = tmp_path / "waddlebot.backup"
    assert "backed up" in ok("backup", str(file), env=inst.env)

    content = backup_text(file, inst.admin_dsn is not None)
    assert TOKEN.encode() not in content  # sealed secrets stay sealed
    assert b"owner@example.com" in content

    await inst.wipe()
    assert "restored" in ok("restore", str(file), env=inst.env)
    refused = run("restore", str(file), env=inst.env)  # now it holds data: needs --yes
    assert refused.returncode == 1 and "--yes" in refused.stderr
    assert refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr
    assert "restored" in ok("restore", str(file), "--yes", env=inst.env)

    settings = Settings(secret_key=SECRET, database_url=inst.database_url)
    db = Database(settings.resolved_database_url)
    try:
        async with db.read_session() as session:
            sealed = await session.scalar(select(SlackInstallation.token_sealed))
    finally:
        await db.close()
    assert sealed is not None and settings.secret_box.decrypt(sealed) == TOKEN

    server = start(["up"], inst.env)
    url = f"http://127.0.0.1:{inst.env['WADDLEBOT_PORT']}"
    try:
        wait_healthy(url, server)
        answer = httpx.get(
            f"{url}/api/communities/v1/communities/{community_id}/members",
            headers={"X-API-Key": key},
            timeout=10,
        )
    finally:
        stop(server)
    assert answer.status_code == 200, answer.text
    assert [(m["user_id"], m["role"]) for m in answer.json()] == [(user_id, "owner")]


def test_mistakes_get_one_clear_line(tmp_path: Path) -> None:
    env = clean_env(tmp_path)
    missing = run("restore", str(tmp_path / "nope.backup"), env=env)
    assert missing.returncode == 1
    assert missing.stderr == f"error: no backup file at {tmp_path / 'nope.backup'}\n"

    not_a_backup = tmp_path / "junk.backup"
    not_a_backup.write_text("hello")
    junk = run("restore", str(not_a_backup), env=env)
    assert junk.returncode == 1 and "not a SQLite backup" in junk.stderr
    assert junk.stderr.count("\n") == 1

    no_database = run("backup", str(tmp_path / "b"), env=env)
    assert no_database.returncode == 1 and "no database at" in no_database.stderr

    no_tools = env | {
        "WADDLEBOT_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
        "PATH": str(Path(WADDLEBOT).parent),
    }
    missing_tool = run("backup", str(tmp_path / "b"), env=no_tools)
    assert missing_tool.returncode == 1
    assert missing_tool.stderr.startswith("error: pg_dump is not installed")
    assert missing_tool.stderr.count("\n") == 1


async def test_backups_kept_in_the_object_store(
    aws_credentials: None, moto_url: str, tmp_path: Path
) -> None:
    """`backup --upload` to S3 (moto), `backups`, then `restore --from-store` on a wiped bot."""
    env = clean_env(tmp_path) | {
        "WADDLEBOT_SECRET_KEY": SECRET,
        "WADDLEBOT_S3_BUCKET": new_bucket(moto_url),
        "WADDLEBOT_S3_ENDPOINT_URL": moto_url,
    }
    inst = Installation(env, Settings(data_dir=tmp_path / "data").resolved_database_url, None)
    await seed(inst)
    written = ok("backup", str(tmp_path / "nightly backup.db"), "--upload", env=env)
    key = re.search(r"uploaded to the object store as (\S+)", written).group(1)  # type: ignore[union-attr]
    assert re.fullmatch(r"backups/\d{8}T\d{6}Z-nightly-backup\.db", key)
    assert key in ok("backups", env=env)

    await inst.wipe()
    restored = ok("restore", str(tmp_path / "fetched.db"), "--from-store", key, env=env)
    assert f"downloaded {key}" in restored and "restored" in restored
    db = Database(inst.database_url)
    try:
        async with db.read_session() as session:
            assert await session.scalar(select(Community.name)) == "Penguins"
    finally:
        await db.close()

    missing = run("restore", str(tmp_path / "x.db"), "--from-store", "backups/nope", env=env)
    assert missing.returncode == 1 and missing.stderr.count("\n") == 1
    assert "no backup 'backups/nope'" in missing.stderr
    bad = run("restore", str(tmp_path / "x.db"), "--from-store", "../etc/passwd", env=env)
    assert bad.returncode == 1 and "object key" in bad.stderr and "Traceback" not in bad.stderr
