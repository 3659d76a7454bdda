"""Key rotation re-encrypts every sealed column, on both engines, all or nothing."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from waddlebot.kernel.security.rotation import rotate_secrets
from waddlebot.kernel.security.secrets_box import SecretBox, SecretUnreadable
from waddlebot.kernel.storage import Database
from waddlebot.kernel.storage.models import Community
from waddlebot.overlays.models import OverlayToken


async def seal(db: Database, box: SecretBox, *secrets: str) -> list[str]:
    async with db.session() as session:
        community = Community(name="c")
        session.add(community)
        await session.flush()
        rows = [
            OverlayToken(
                community_id=community.id,
                kind=f"kind{i}",
                token_hash=f"{community.id}-{i}",
                token_sealed=box.encrypt(secret),
            )
            for i, secret in enumerate(secrets)
        ]
        session.add_all(rows)
    return [row.id for row in rows]


async def sealed_values(db: Database) -> list[str]:
    async with db.session() as session:
        return list(
            await session.scalars(
                select(OverlayToken.token_sealed).order_by(OverlayToken.token_hash)
            )
        )


async def test_rotation_moves_every_secret_to_the_newest_key(database: Database) -> None:
    old, new = Fernet.generate_key(), Fernet.generate_key()
    await seal(database, SecretBox([old]), "first", "second")
    counts = await rotate_secrets(database, SecretBox([new, old]))
    assert counts["overlay_tokens"] == 2
    only_new = SecretBox([new])
    assert [only_new.decrypt(v) for v in await sealed_values(database)] == ["first", "second"]
    with pytest.raises(SecretUnreadable):
        SecretBox([old]).decrypt((await sealed_values(database))[0])


async def test_an_unreadable_secret_aborts_and_changes_nothing(database: Database) -> None:
    old, stranger, new = Fernet.generate_key(), Fernet.generate_key(), Fernet.generate_key()
    await seal(database, SecretBox([old]), "readable")
    await seal(database, SecretBox([stranger]), "foreign")
    before = await sealed_values(database)
    with pytest.raises(SecretUnreadable):
        await rotate_secrets(database, SecretBox([new, old]))
    assert await sealed_values(database) == before
