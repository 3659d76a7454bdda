"""API keys: random, shown once, stored as a SHA-256 hash, scoped, expiring, revocable.

A key looks like ``wbk_<lookup>_<secret>``. ``lookup`` finds the row without scanning; the
whole key's hash is compared in constant time. Keys carry 192 bits of randomness, so a fast
hash is safe here (argon2 is for low-entropy passwords).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from waddlebot.kernel.storage import Database
from waddlebot.kernel.storage.models import ApiKey

PREFIX = "wbk_"
ADMIN_SCOPE = "admin"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a service of ours or the holder of an API key, with their scopes."""

    name: str
    scopes: frozenset[str]
    kind: str  # "service" | "api_key" | "local"

    def allows(self, scope: str) -> bool:
        return self.kind == "service" or ADMIN_SCOPE in self.scopes or scope in self.scopes


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


async def create_api_key(
    db: Database,
    *,
    name: str,
    scopes: list[str],
    expires_in: timedelta | None = None,
    user_id: str | None = None,
) -> tuple[str, ApiKey]:
    """Create a key; the plaintext is returned once and never stored."""
    lookup = secrets.token_hex(6)
    key = f"{PREFIX}{lookup}_{secrets.token_urlsafe(24)}"
    row = ApiKey(
        name=name,
        lookup=lookup,
        key_hash=_hash(key),
        scopes=sorted(set(scopes)),
        user_id=user_id,
        expires_at=datetime.now(UTC) + expires_in if expires_in is not None else None,
    )
    async with db.session() as session:
        session.add(row)
    return key, row


async def verify_api_key(db: Database, key: str) -> Principal | None:
    """The principal for ``key`` if it exists, matches, is not revoked and has not expired."""
    if not key.startswith(PREFIX):
        return None
    lookup, _, _ = key[len(PREFIX) :].partition("_")
    async with db.session() as session:
        row = await session.scalar(select(ApiKey).where(ApiKey.lookup == lookup))
        if row is None or not hmac.compare_digest(row.key_hash, _hash(key)):
            return None
        now = datetime.now(UTC)
        if row.revoked_at is not None or (row.expires_at and _aware(row.expires_at) <= now):
            return None
        if row.last_used_at is None or now - _aware(row.last_used_at) > timedelta(minutes=1):
            row.last_used_at = now
        return Principal(name=row.name, scopes=frozenset(row.scopes), kind="api_key")


async def revoke_api_key(db: Database, key_id: str) -> bool:
    """Revoke by id; True when a live key was revoked."""
    async with db.session() as session:
        row = await session.get(ApiKey, key_id)
        if row is None or row.revoked_at is not None:
            return False
        row.revoked_at = datetime.now(UTC)
        return True


def _aware(moment: datetime) -> datetime:
    """SQLite returns naive datetimes; they were stored as UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
