"""The broker's reconcile against a loopback fake of Kong's Admin API, with real SQLite and
PostgreSQL for our side: live keys become consumers, revoked/expired ones go, drift is repaired,
a second pass changes nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import update

from tests.gateway.kong_fake import FakeKong
from tests.support import free_port, serve_asgi
from waddlebot.accounts.manager import create_user
from waddlebot.gateway.broker import PassReport, consumer_name, reconcile, wanted_consumers
from waddlebot.gateway.kong_admin import KongAdmin
from waddlebot.kernel.errors import DependencyUnavailable
from waddlebot.kernel.security.api_keys import create_api_key, revoke_api_key
from waddlebot.kernel.security.secrets_box import SecretBox, derived_key
from waddlebot.kernel.storage import Database
from waddlebot.kernel.storage.models import ApiKey, User

BOX = SecretBox([derived_key("test-secret")])


@dataclass
class Kong:
    fake: FakeKong
    admin: KongAdmin


@pytest.fixture
async def kong() -> AsyncIterator[Kong]:
    fake = FakeKong()
    async with serve_asgi(fake.app()) as url, httpx.AsyncClient(base_url=url) as client:
        yield Kong(fake, KongAdmin(client))


async def sync(db: Database, kong: Kong) -> PassReport:
    now = datetime.now(UTC)
    wanted = await wanted_consumers(db, BOX, now)
    return await reconcile(kong.admin, wanted.consumers, now)


async def test_live_keys_become_consumers_and_a_second_pass_changes_nothing(
    database: Database, kong: Kong
) -> None:
    plain, row = await create_api_key(
        database, name="ops", scopes=["labels:read", "admin"], gateway_copy=BOX
    )
    expiring, soon = await create_api_key(
        database,
        name="ci",
        scopes=["events:write"],
        expires_in=timedelta(hours=1),
        gateway_copy=BOX,
    )
    first = await sync(database, kong)
    assert (first.created, first.repaired, first.deleted) == (2, 0, 0)
    assert kong.fake.keys_of(consumer_name(row.id)) == [plain]
    assert kong.fake.groups_of(consumer_name(row.id)) == {"admin", "labels:read"}
    assert kong.fake.keys_of(consumer_name(soon.id)) == [expiring]
    ttl = next(key["ttl"] for key in kong.fake.keys.values() if key["key"] == expiring)
    assert 3500 < ttl <= 3600  # Kong drops the credential at the key's expiry by itself

    calls = len(kong.fake.calls)
    second = await sync(database, kong)
    assert (second.created, second.repaired, second.deleted, second.unchanged) == (0, 0, 0, 2)
    assert all(call.startswith("GET ") for call in kong.fake.calls[calls:])


async def test_revoked_expired_and_deactivated_keys_leave_kong(
    database: Database, kong: Kong
) -> None:
    person = await create_user(database, email="p@example.com", password="correct horse battery")
    _, revoked = await create_api_key(database, name="a", scopes=["account"], gateway_copy=BOX)
    _, expired = await create_api_key(database, name="b", scopes=["account"], gateway_copy=BOX)
    _, owned = await create_api_key(
        database, name="c", scopes=["account"], user_id=person.id, gateway_copy=BOX
    )
    _, kept = await create_api_key(database, name="d", scopes=["account"], gateway_copy=BOX)
    assert (await sync(database, kong)).created == 4

    assert await revoke_api_key(database, revoked.id)
    async with database.session() as session:
        past = datetime.now(UTC) - timedelta(seconds=1)
        await session.execute(update(ApiKey).where(ApiKey.id == expired.id).values(expires_at=past))
        await session.execute(update(User).where(User.id == person.id).values(is_active=False))
    report = await sync(database, kong)
    assert report.deleted == 3
    assert set(kong.fake.consumers) == {consumer_name(kept.id)}
    assert consumer_name(owned.id) not in kong.fake.consumers


async def test_drift_is_repaired_and_foreign_consumers_are_left_alone(
    database: Database, kong: Kong
) -> None:
    plain, row = await create_api_key(
        database, name="ops", scopes=["labels:read"], gateway_copy=BOX
    )
    await sync(database, kong)
    mine = consumer_name(row.id)
    # Someone deletes the credential, adds a stale one and a group, and makes consumers.
    for key_id in [k for k, v in kong.fake.keys.items() if v["key"] == plain]:
        del kong.fake.keys[key_id]
    owner = {"id": kong.fake.consumers[mine]["id"]}
    kong.fake.keys["stale"] = {"id": "stale", "key": "wbk_old", "ttl": None, "consumer": owner}
    kong.fake.acls["extra"] = {"id": "extra", "group": "admin", "consumer": owner}
    kong.fake.add_consumer(consumer_name("f" * 32))  # ours by name, no key behind it
    kong.fake.add_consumer("alice")  # somebody else's

    report = await sync(database, kong)
    assert (report.repaired, report.deleted) == (1, 1)
    assert kong.fake.keys_of(mine) == [plain]
    assert kong.fake.groups_of(mine) == {"labels:read"}
    assert set(kong.fake.consumers) == {mine, "alice"}


async def test_missing_consumers_are_recreated_across_pages(database: Database, kong: Kong) -> None:
    kong.fake.page_size = 2
    rows = [
        (await create_api_key(database, name=f"k{n}", scopes=["account"], gateway_copy=BOX))[1]
        for n in range(5)
    ]
    assert (await sync(database, kong)).created == 5
    del kong.fake.consumers[consumer_name(rows[3].id)]  # lost (its credentials with it)
    for table in (kong.fake.keys, kong.fake.acls):
        ids = set(c["id"] for c in kong.fake.consumers.values())
        for entity_id in [i for i, e in table.items() if e["consumer"]["id"] not in ids]:
            del table[entity_id]
    report = await sync(database, kong)
    assert (report.created, report.unchanged, report.deleted) == (1, 4, 0)
    assert len(kong.fake.consumers) == 5


async def test_keys_without_a_copy_are_counted_not_synced(database: Database, kong: Kong) -> None:
    await create_api_key(database, name="old", scopes=["account"])  # WADDLEBOT_KONG_CONSUMERS off
    other = SecretBox([derived_key("another-secret")])
    await create_api_key(database, name="lost", scopes=["account"], gateway_copy=other)
    wanted = await wanted_consumers(database, BOX, datetime.now(UTC))
    assert (wanted.consumers, wanted.uncopied, wanted.unreadable) == ({}, 1, 1)


async def test_the_copy_is_sealed_and_goes_with_revocation(database: Database) -> None:
    from sqlalchemy import select

    from waddlebot.kernel.security.key_copies import ApiKeyGatewayCopy

    plain, row = await create_api_key(database, name="k", scopes=["account"], gateway_copy=BOX)
    async with database.read_session() as session:
        sealed = await session.scalar(select(ApiKeyGatewayCopy.key_sealed))
    assert sealed is not None and plain not in sealed and BOX.unseal(sealed) == plain
    await revoke_api_key(database, row.id)
    async with database.read_session() as session:
        assert await session.scalar(select(ApiKeyGatewayCopy.key_sealed)) is None


async def test_kong_unreachable_is_a_dependency_outage() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    async with httpx.AsyncClient(base_url=url) as client:
        with pytest.raises(DependencyUnavailable, match="kong admin api"):
            await KongAdmin(client).consumers()


async def test_the_copies_follow_an_encryption_key_rotation(database: Database) -> None:
    from cryptography.fernet import Fernet

    from waddlebot.kernel.security.rotation import rotate_secrets

    old = Fernet.generate_key()
    new = Fernet.generate_key()
    plain, _ = await create_api_key(
        database, name="k", scopes=["account"], gateway_copy=SecretBox([old])
    )
    await rotate_secrets(database, SecretBox([new, old]))
    wanted = await wanted_consumers(database, SecretBox([new]), datetime.now(UTC))
    assert [consumer.key for consumer in wanted.consumers.values()] == [plain]
