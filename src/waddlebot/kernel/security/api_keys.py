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
from typing import TYPE_CHECKING

from sqlalchemy import ColumnElement, and_, delete, func, or_, select, update

from waddlebot.kernel.security.key_copies import ApiKeyGatewayCopy
from waddlebot.kernel.security.secrets_box import SecretBox
from waddlebot.kernel.storage import Database
from waddlebot.kernel.storage.models import ApiKey, User, new_id

if TYPE_CHECKING:
    from waddlebot.kernel.security.key_cache import VerifiedKeys

PREFIX = "wbk_"
ADMIN_SCOPE = "admin"

# Scopes of APIs that check the caller's permissions in the community they touch. People
# (sessions, and keys a person owns) can hold only these; every other scope (publishing to
# the marketplace, platform connections, identity administration, event ingress, admin) is
# installation-wide and needs an operator key, a service account or a superuser.
COMMUNITY_SCOPES: frozenset[str] = frozenset(
    {
        "account",
        "communities:read",
        "communities:write",
        "labels:read",
        "labels:write",
        "marketplace:read",
        "marketplace:install",
        "overlays:write",
        "overlays:manage",
    }
)

# Installation-wide scopes: operator keys, service accounts and superusers only.
INSTALLATION_SCOPES: frozenset[str] = frozenset(
    {ADMIN_SCOPE, "events:write", "identity:manage", "marketplace:publish", "twitch:manage"}
)
# Every scope an endpoint asks for (tests/kernel/security/test_scopes.py keeps it complete).
SCOPES: frozenset[str] = COMMUNITY_SCOPES | INSTALLATION_SCOPES


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling, with their scopes.

    ``kind`` is ``service`` (our own services), ``api_key`` (a key; ``user_id`` set when a
    person owns it), ``service_account`` (a key a service account owns: scope-limited like an
    operator key, not bound to communities), ``session`` (a logged-in person) or ``kong`` (a
    consumer Kong authenticated, when trusted). Scopes gate which APIs a caller may use at
    all; inside a community, a person is further limited by their permissions there
    (:mod:`waddlebot.kernel.security.rbac`), unless ``superuser``.
    """

    name: str
    scopes: frozenset[str]
    kind: str
    user_id: str | None = None
    superuser: bool = False

    @property
    def installation_wide(self) -> bool:
        """True for callers with every scope, not bound to any community's permissions."""
        return self.kind == "service" or self.superuser or ADMIN_SCOPE in self.scopes

    @property
    def community_bound(self) -> bool:
        """True for people: inside a community they may do only what their role there allows."""
        return (
            not self.installation_wide
            and self.user_id is not None
            and self.kind not in ("service", "service_account")
        )

    def allows(self, scope: str) -> bool:
        if self.installation_wide:
            return True
        if self.kind == "session":
            return scope in COMMUNITY_SCOPES  # a logged-in person: every community API
        if self.community_bound:
            return scope in self.scopes and scope in COMMUNITY_SCOPES
        return scope in self.scopes


class ApiKeyLimitReached(Exception):
    """The owner already has as many active keys as allowed (``api_keys_per_user``)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"at most {limit} active API keys per user; revoke one first")
        self.limit = limit


@dataclass(frozen=True, slots=True)
class ApiKeyInfo:
    """What may be shown about a key after creation: never the key or its hash."""

    id: str
    name: str
    prefix: str  # "wbk_<lookup>_", enough to recognise the key
    scopes: list[str]
    user_id: str | None
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None and (
            self.expires_at is None or self.expires_at > datetime.now(UTC)
        )


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _active(now: datetime) -> ColumnElement[bool]:
    return and_(
        ApiKey.revoked_at.is_(None), or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > now)
    )


async def create_api_key(
    db: Database,
    *,
    name: str,
    scopes: list[str],
    expires_in: timedelta | None = None,
    user_id: str | None = None,
    limit: int | None = None,
    gateway_copy: SecretBox | None = None,
) -> tuple[str, ApiKey]:
    """Create a key; the plaintext is returned once and never stored in the clear.

    With ``gateway_copy`` (``key_copies.gateway_box``), the key is also kept sealed in that box
    for the API gateway, which must be given the key itself (see ``key_copies``).

    With ``limit`` and an owner, refuse (:class:`ApiKeyLimitReached`) when the owner already
    has that many active keys; the owner is locked meanwhile so two concurrent requests
    cannot both squeeze under the limit.
    """
    lookup = secrets.token_hex(6)
    key = f"{PREFIX}{lookup}_{secrets.token_urlsafe(24)}"
    now = datetime.now(UTC)
    row = ApiKey(
        id=new_id(),
        name=name,
        lookup=lookup,
        key_hash=_hash(key),
        scopes=sorted(set(scopes)),
        user_id=user_id,
        created_at=now,
        expires_at=now + expires_in if expires_in is not None else None,
    )
    async with db.session() as session:
        if limit is not None and user_id is not None:
            # A no-op write takes the owner's row lock (PostgreSQL) or the write lock (SQLite)
            # before counting, so concurrent creations are counted one after another.
            await session.execute(update(User).where(User.id == user_id).values(id=User.id))
            active = await session.scalar(
                select(func.count(ApiKey.id)).where(ApiKey.user_id == user_id, _active(now))
            )
            if (active or 0) >= limit:
                raise ApiKeyLimitReached(limit)
        session.add(row)
        if gateway_copy is not None:
            await session.flush()  # the key's row first: the copy refers to it
            session.add(ApiKeyGatewayCopy(api_key_id=row.id, key_sealed=gateway_copy.seal(key)))
    return key, row


async def list_api_keys(db: Database, user_id: str | None) -> list[ApiKeyInfo]:
    """Metadata of the keys ``user_id`` owns (None: owner-less operator keys), newest first."""
    owner = ApiKey.user_id.is_(None) if user_id is None else ApiKey.user_id == user_id
    async with db.read_session() as session:
        rows = (
            await session.scalars(
                select(ApiKey).where(owner).order_by(ApiKey.created_at.desc(), ApiKey.id)
            )
        ).all()
    return [key_info(row) for row in rows]


def key_info(row: ApiKey) -> ApiKeyInfo:
    """The showable metadata of a stored key."""
    return ApiKeyInfo(
        id=row.id,
        name=row.name,
        prefix=f"{PREFIX}{row.lookup}_",
        scopes=list(row.scopes),
        user_id=row.user_id,
        created_at=_aware(row.created_at),
        expires_at=_aware(row.expires_at) if row.expires_at else None,
        last_used_at=_aware(row.last_used_at) if row.last_used_at else None,
        revoked_at=_aware(row.revoked_at) if row.revoked_at else None,
    )


async def verify_api_key(
    db: Database, key: str, keys: VerifiedKeys | None = None
) -> Principal | None:
    """The principal for ``key`` if it exists, matches, is not revoked and has not expired.

    With ``keys`` (the process's cache), a key verified in the last few seconds is answered
    from memory; revoking it through :func:`revoke_api_key` with the same cache forgets it.
    """
    if not key.startswith(PREFIX):
        return None
    key_hash = _hash(key)
    if keys is not None and (cached := keys.get(key_hash)) is not None:
        return cached
    seen = keys.generation if keys is not None else 0
    lookup, _, _ = key[len(PREFIX) :].partition("_")
    async with db.session() as session:
        row = await session.scalar(select(ApiKey).where(ApiKey.lookup == lookup))
        if row is None or not hmac.compare_digest(row.key_hash, key_hash):
            return None
        now = datetime.now(UTC)
        if row.revoked_at is not None or (row.expires_at and _aware(row.expires_at) <= now):
            return None
        owner = await session.get(User, row.user_id) if row.user_id else None
        if owner is not None and not owner.is_active:
            return None
        if row.last_used_at is None or now - _aware(row.last_used_at) > timedelta(minutes=1):
            row.last_used_at = now
        principal = Principal(
            name=row.name,
            scopes=frozenset(row.scopes),
            kind="service_account" if owner is not None and owner.kind == "service" else "api_key",
            user_id=row.user_id,
            superuser=bool(owner and owner.is_superuser),
        )
        expires_at = _aware(row.expires_at) if row.expires_at else None
    if keys is not None:
        keys.put(key_hash, principal, expires_at, seen=seen)
    return principal


async def revoke_api_key(
    db: Database,
    key_id: str,
    *,
    owner_id: str | None = None,
    keys: VerifiedKeys | None = None,
) -> bool:
    """Revoke by id; True when a live key was revoked.

    With ``owner_id``, only a key that user owns is revoked (someone else's reads as missing).
    With ``keys`` (the process's cache), the key stops working at once in this process and,
    through pub/sub, in the others; without it (the CLI), within the cache's TTL.
    """
    async with db.session() as session:
        row = await session.get(ApiKey, key_id)
        if row is None or row.revoked_at is not None:
            return False
        if owner_id is not None and row.user_id != owner_id:
            return False
        row.revoked_at = datetime.now(UTC)
        key_hash = row.key_hash
        # A revoked key is never given to the gateway again: its sealed copy goes now.
        await session.execute(
            delete(ApiKeyGatewayCopy).where(ApiKeyGatewayCopy.api_key_id == key_id)
        )
    if keys is not None:
        await keys.revoked(key_hash)
    return True


def _aware(moment: datetime) -> datetime:
    """SQLite returns naive datetimes; they were stored as UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
