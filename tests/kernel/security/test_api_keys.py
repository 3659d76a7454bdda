"""API keys on both engines: hashed storage, verification, revocation, expiry, scopes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import text, update

from waddlebot.kernel.security.api_keys import (
    ADMIN_SCOPE,
    PREFIX,
    Principal,
    create_api_key,
    revoke_api_key,
    verify_api_key,
)
from waddlebot.kernel.security.service_tokens import service_token
from waddlebot.kernel.storage import Database
from waddlebot.kernel.storage.models import ApiKey


def aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def load(db: Database, key_id: str) -> ApiKey:
    async with db.session() as session:
        row = await session.get(ApiKey, key_id)
    assert row is not None
    return row


async def test_created_key_verifies_with_its_name_and_scopes(database: Database) -> None:
    key, row = await create_api_key(
        database, name="overlay-bot", scopes=["router:write", "overlay", "overlay"]
    )
    assert key.startswith(PREFIX)

    principal = await verify_api_key(database, key)

    assert principal == Principal(
        name="overlay-bot", scopes=frozenset({"router:write", "overlay"}), kind="api_key"
    )
    stored = await load(database, row.id)
    assert stored.scopes == ["overlay", "router:write"]
    assert stored.expires_at is None  # no expiry unless asked
    assert stored.revoked_at is None

    others = {(await create_api_key(database, name=f"k{i}", scopes=[]))[0] for i in range(4)}
    assert len(others | {key}) == 5


async def test_plaintext_is_not_stored_anywhere_in_the_row(database: Database) -> None:
    key, row = await create_api_key(database, name="secretive", scopes=["a"])
    secret = key[len(PREFIX) :].partition("_")[2]
    assert len(secret) == 32  # token_urlsafe(24)

    async with database.engine.connect() as connection:
        result = await connection.execute(
            text("SELECT * FROM api_keys WHERE id = :id"), {"id": row.id}
        )
        stored = result.mappings().one()
    values = [str(value) for value in stored.values() if value is not None]
    assert values
    for value in values:
        assert key not in value
        assert secret not in value
    assert stored["key_hash"] != key
    assert len(stored["key_hash"]) == 64  # a SHA-256 hex digest


WRONG_KEYS: dict[str, Callable[[str], str]] = {
    "last-char": lambda key: key[:-1] + ("A" if key[-1] != "A" else "B"),
    "appended": lambda key: key + "x",
    "secret-dropped": lambda key: key[: key.index("_", len(PREFIX)) + 1],
    "other-lookup": lambda key: "wbk_000000000000" + key[key.index("_", len(PREFIX)) :],
    "other-prefix": lambda key: "xyz_" + key[len(PREFIX) :],
    "upper-case": lambda key: key.upper(),
    "empty": lambda key: "",
    "garbage": lambda key: "garbage",
    "prefix-only": lambda key: PREFIX,
    "underscores": lambda key: PREFIX + "___",
}


async def test_wrong_or_malformed_keys_are_refused(database: Database) -> None:
    key, _ = await create_api_key(database, name="real", scopes=["a"])
    for case, mangle in WRONG_KEYS.items():
        wrong = mangle(key)
        assert wrong != key, case
        assert await verify_api_key(database, wrong) is None, case

    # Another key's secret under this key's lookup, or a service token: refused too.
    other, _ = await create_api_key(database, name="other", scopes=[ADMIN_SCOPE])
    lookup = key[len(PREFIX) :].partition("_")[0]
    other_secret = other[len(PREFIX) :].partition("_")[2]
    assert await verify_api_key(database, f"{PREFIX}{lookup}_{other_secret}") is None
    assert await verify_api_key(database, service_token("secret", "real")) is None

    assert await verify_api_key(database, key) is not None  # the real keys still work
    assert await verify_api_key(database, other) is not None


async def test_revoked_key_is_refused(database: Database) -> None:
    key, row = await create_api_key(database, name="revoke-me", scopes=[])
    keep, _ = await create_api_key(database, name="keep", scopes=[])
    assert await verify_api_key(database, key) is not None

    assert await revoke_api_key(database, row.id) is True

    assert await verify_api_key(database, key) is None
    assert (await load(database, row.id)).revoked_at is not None
    assert await revoke_api_key(database, row.id) is False  # already revoked
    assert await revoke_api_key(database, "0" * 32) is False  # no such key
    assert await verify_api_key(database, keep) is not None  # other keys unaffected


async def test_expired_keys_are_refused(database: Database) -> None:
    expired, row = await create_api_key(
        database, name="old", scopes=[], expires_in=timedelta(seconds=-1)
    )
    assert row.expires_at is not None
    assert await verify_api_key(database, expired) is None

    key, row = await create_api_key(database, name="soon", scopes=[], expires_in=timedelta(hours=1))
    assert row.expires_at is not None
    stored_expiry = (await load(database, row.id)).expires_at
    assert stored_expiry is not None
    remaining = aware(stored_expiry) - datetime.now(UTC)
    assert timedelta(minutes=59) < remaining <= timedelta(hours=1)
    assert await verify_api_key(database, key) is not None

    async with database.session() as session:
        await session.execute(
            update(ApiKey)
            .where(ApiKey.id == row.id)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    assert await verify_api_key(database, key) is None


async def test_zero_lifetime_key_is_already_expired(database: Database) -> None:
    key, _ = await create_api_key(database, name="zero", scopes=[], expires_in=timedelta(0))
    assert await verify_api_key(database, key) is None


async def test_verify_records_last_used_at(database: Database) -> None:
    key, row = await create_api_key(database, name="used", scopes=[])
    assert (await load(database, row.id)).last_used_at is None
    assert await verify_api_key(database, key + "x") is None
    assert (await load(database, row.id)).last_used_at is None  # failures leave no trace

    before = datetime.now(UTC)
    assert await verify_api_key(database, key) is not None
    after = datetime.now(UTC)

    last_used = (await load(database, row.id)).last_used_at
    assert last_used is not None
    assert before - timedelta(seconds=1) <= aware(last_used) <= after + timedelta(seconds=1)


# --- Principal.allows -----------------------------------------------------------------------


def test_principal_allows_only_its_scopes() -> None:
    principal = Principal(name="k", scopes=frozenset({"router:read", "overlay"}), kind="api_key")
    assert principal.allows("router:read")
    assert principal.allows("overlay")
    assert not principal.allows("router:write")
    assert not principal.allows("router")  # no prefix matching
    assert not principal.allows(ADMIN_SCOPE)


def test_admin_scope_allows_everything() -> None:
    admin = Principal(name="root", scopes=frozenset({ADMIN_SCOPE}), kind="api_key")
    assert admin.allows("router:write")
    assert admin.allows("anything-at-all")
    assert admin.allows(ADMIN_SCOPE)


def test_principal_without_scopes_allows_nothing() -> None:
    nobody = Principal(name="k", scopes=frozenset(), kind="api_key")
    assert not nobody.allows("router:read")
    assert not nobody.allows(ADMIN_SCOPE)


def test_services_are_trusted_for_every_scope() -> None:
    service = Principal(name="router", scopes=frozenset(), kind="service")
    assert service.allows("router:write")
    assert service.allows(ADMIN_SCOPE)
