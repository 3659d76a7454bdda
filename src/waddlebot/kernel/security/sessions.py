"""Server-side login sessions in the backend's key-value store, with a sliding TTL.

The browser holds a random token in an HttpOnly cookie; the store holds only the token's
SHA-256 (under ``login-session:``; ``session:`` belongs to the router's chat sessions), so a
dump of Redis gives nobody a usable cookie. Each user has an epoch counter: a session records
the epoch it was made in, and bumping the counter ends every session of that user at once.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from waddlebot.kernel.backends import KeyValue

COOKIE_NAME = "waddlebot_session"
_SESSION_PREFIX = "login-session:"
_EPOCH_PREFIX = "login-epoch:"


@dataclass(frozen=True, slots=True)
class LoginSession:
    """A live session: whose it is and when it started."""

    user_id: str
    created_at: str
    method: str  # "password", or the OAuth provider's name


def _key(token: str) -> str:
    return _SESSION_PREFIX + hashlib.sha256(token.encode()).hexdigest()


def _epoch_key(user_id: str) -> str:
    return _EPOCH_PREFIX + user_id


async def _epoch(kv: KeyValue, user_id: str) -> int:
    raw = await kv.get(_epoch_key(user_id))
    return int(raw) if raw is not None else 0


class SessionStore:
    """Create, read (refreshing the TTL), revoke one, revoke all of a user's."""

    def __init__(self, kv: KeyValue, *, ttl: int) -> None:
        self.kv = kv
        self.ttl = ttl

    async def create(self, user_id: str, *, method: str) -> str:
        """A new session for ``user_id``; returns the token for the cookie (never stored)."""
        token = secrets.token_urlsafe(32)
        record = {
            "user_id": user_id,
            "epoch": await _epoch(self.kv, user_id),
            "created_at": datetime.now(UTC).isoformat(),
            "method": method,
        }
        await self.kv.set(_key(token), json.dumps(record), ttl=self.ttl)
        return token

    async def get(self, token: str) -> LoginSession | None:
        """The live session for ``token``; its TTL slides when half of it has been used."""
        if not token or len(token) > 256:
            return None
        key = _key(token)
        raw = await self.kv.get(key)
        if raw is None:
            return None
        try:
            record = json.loads(raw)
            session = LoginSession(
                user_id=str(record["user_id"]),
                created_at=str(record["created_at"]),
                method=str(record.get("method", "password")),
            )
            epoch = int(record["epoch"])
        except (ValueError, KeyError, TypeError):
            await self.kv.delete(key)
            return None
        if epoch != await _epoch(self.kv, session.user_id):
            await self.kv.delete(key)  # revoked by "log out everywhere" / password change
            return None
        left = await self.kv.ttl(key)
        if left is not None and left < self.ttl / 2:
            await self.kv.set(key, raw, ttl=self.ttl)
        return session

    async def revoke(self, token: str) -> bool:
        """End one session; True when it existed."""
        return bool(await self.kv.delete(_key(token)))

    async def revoke_all(self, user_id: str) -> None:
        """End every session of ``user_id`` (bumps their epoch)."""
        await self.kv.incr(_epoch_key(user_id))


def cookie_secure(public_url: str) -> bool:
    """Mark the cookie Secure when browsers reach us over HTTPS."""
    return public_url.lower().startswith("https://")
