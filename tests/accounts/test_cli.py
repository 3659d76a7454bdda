"""``waddlebot admin`` account commands, run as real processes on the embedded stack."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.processes import clean_env, run
from waddlebot.accounts.manager import user_by_email
from waddlebot.kernel.security.api_keys import verify_api_key
from waddlebot.kernel.security.passwords import verify_password
from waddlebot.kernel.storage import Database


@pytest.fixture
def env(tmp_path: Path) -> Iterator[dict[str, str]]:
    yield clean_env(tmp_path)


def database(env: dict[str, str]) -> Database:
    return Database(f"sqlite+aiosqlite:///{Path(env['WADDLEBOT_DATA_DIR']) / 'waddlebot.db'}")


async def check_login(env: dict[str, str], email: str, password: str) -> tuple[bool, bool]:
    db = database(env)
    try:
        user = await user_by_email(db, email)
        assert user is not None
        return verify_password(user.password_hash, password), user.is_superuser
    finally:
        await db.close()


def test_create_user_with_a_generated_password(env: dict[str, str]) -> None:
    made = run("admin", "create-user", "--email", "Root@Example.com", "--superuser", env=env)
    assert made.returncode == 0, made.stderr
    assert "created superuser root@example.com" in made.stdout
    password = made.stdout.strip().splitlines()[-1]
    assert len(password) >= 20
    assert "will not be shown again" in made.stderr
    assert asyncio.run(check_login(env, "root@example.com", password)) == (True, True)
    again = run("admin", "create-user", "--email", "root@example.com", env=env)
    assert again.returncode == 1 and "already exists" in again.stderr


def test_create_user_with_a_password_from_stdin(env: dict[str, str]) -> None:
    password = "a passphrase from a vault"
    made = run(
        "admin", "create-user", "--email", "ada@example.com", "--display-name", "Ada",
        "--password-stdin", env=env, stdin=password + "\n",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert password not in made.stdout + made.stderr
    assert asyncio.run(check_login(env, "ada@example.com", password)) == (True, False)
    weak = run(
        "admin", "create-user", "--email", "bo@example.com", "--password-stdin",
        env=env, stdin="short\n",
    )  # fmt: skip
    assert weak.returncode == 1 and "at least 12 characters" in weak.stderr
    bad = run("admin", "create-user", "--email", "not-an-address", env=env)
    assert bad.returncode == 1 and "is not an e-mail address" in bad.stderr


def test_service_account_with_an_owned_key_and_the_limit(env: dict[str, str]) -> None:
    env = {**env, "WADDLEBOT_API_KEYS_PER_USER": "1"}
    made = run("admin", "create-service-account", "twitch-collector", env=env)
    assert made.returncode == 0, made.stderr
    account_id = made.stdout.split("(id ")[1].split(")")[0]
    key_run = run(
        "admin", "create-api-key", "--user", account_id, "--name", "collector",
        "--scope", "events:write", env=env,
    )  # fmt: skip
    assert key_run.returncode == 0, key_run.stderr
    key = key_run.stdout.strip().splitlines()[-1]
    assert f"owner {account_id}" in key_run.stderr

    async def principal() -> tuple[str, str | None, frozenset[str]]:
        db = database(env)
        try:
            found = await verify_api_key(db, key)
            assert found is not None
            return found.kind, found.user_id, found.scopes
        finally:
            await db.close()

    assert asyncio.run(principal()) == ("service_account", account_id, frozenset({"events:write"}))
    over = run(
        "admin", "create-api-key", "--user", account_id, "--name", "second",
        "--scope", "events:write", env=env,
    )  # fmt: skip
    assert over.returncode == 1 and "at most 1 active" in over.stderr
    listed = run("admin", "list-api-keys", "--user", account_id, env=env)
    assert listed.returncode == 0, listed.stderr
    assert "collector" in listed.stdout and "active" in listed.stdout
    assert key not in listed.stdout and key.split("_", 2)[2] not in listed.stdout
    nobody = run(
        "admin", "create-api-key", "--user", "ghost", "--name", "x", "--scope", "account", env=env
    )
    assert nobody.returncode == 1 and "no user" in nobody.stderr


def test_operator_keys_still_work_without_an_owner(env: dict[str, str]) -> None:
    made = run("admin", "create-api-key", "--name", "ops", "--scope", "admin", env=env)
    assert made.returncode == 0, made.stderr
    assert made.stdout.strip().splitlines()[-1].startswith("wbk_")
    listed = run("admin", "list-api-keys", env=env)
    assert "ops" in listed.stdout


def test_unknown_scopes_are_refused_with_the_valid_ones(env: dict[str, str]) -> None:
    refused = run(
        "admin", "create-api-key", "--name", "x", "--scope", "nonsense", "--scope", "admin",
        env=env,
    )  # fmt: skip
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    [line] = refused.stderr.strip().splitlines()
    assert line.startswith("unknown scope 'nonsense'; valid scopes: account, admin, ")
    assert "events:write" in line and "marketplace:publish" in line
    assert "wbk_" not in refused.stdout
    assert "nonsense" not in run("admin", "list-api-keys", env=env).stdout


def test_owner_by_unique_name(env: dict[str, str]) -> None:
    made = run("admin", "create-service-account", "twitch-collector", env=env)
    account_id = made.stdout.split("(id ")[1].split(")")[0]
    by_name = run(
        "admin", "create-api-key", "--user", "Twitch-Collector", "--name", "collector",
        "--scope", "events:write", env=env,
    )  # fmt: skip
    assert by_name.returncode == 0, by_name.stderr
    assert f"owner {account_id}" in by_name.stderr
    assert (
        "collector" in run("admin", "list-api-keys", "--user", "twitch-collector", env=env).stdout
    )

    run("admin", "create-service-account", "twitch-collector", env=env)
    ambiguous = run(
        "admin", "create-api-key", "--user", "twitch-collector", "--name", "second",
        "--scope", "events:write", env=env,
    )  # fmt: skip
    assert ambiguous.returncode == 1
    assert "more than one user is called 'twitch-collector'; use an id: " in ambiguous.stderr
    assert account_id in ambiguous.stderr
    by_id = run(
        "admin", "create-api-key", "--user", account_id, "--name", "second",
        "--scope", "events:write", env=env,
    )  # fmt: skip
    assert by_id.returncode == 0, by_id.stderr
