"""Overlay URL tokens: one per community and kind, unguessable, rotatable, revocable.

A token is 256 random bits (URL-safe). Look-ups go through its SHA-256, so a leaked database
row does not reveal live URLs by itself; the token is also kept encrypted under the
installation's secret box so the URL can be shown again. Rotating or revoking publishes the old
hash on ``overlay-tokens:<community>``: every process closes the sockets opened with it.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from waddlebot.kernel.backends import Backend
from waddlebot.kernel.settings import Settings
from waddlebot.kernel.storage import Database
from waddlebot.kernel.storage.models import Community
from waddlebot.overlays.models import OverlayToken
from waddlebot.overlays.sanitize import KINDS

TOKEN_BYTES = 32


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def control_channel(community_id: str) -> str:
    """Where token revocations for a community are announced to every process."""
    return f"overlay-tokens:{community_id}"


@dataclass(frozen=True, slots=True)
class OverlayGrant:
    """What a valid token opens: one kind of overlay of one community."""

    community_id: str
    kind: str
    token_hash: str


class UnknownCommunity(LookupError):
    pass


def overlay_url(settings: Settings, token: str) -> str:
    return f"{settings.public_url.rstrip('/')}/overlay/{token}"


class OverlayTokens:
    """Issue, find, rotate and revoke overlay tokens."""

    def __init__(self, db: Database, backend: Backend, settings: Settings) -> None:
        self.db = db
        self.backend = backend
        self.settings = settings

    async def resolve(self, token: str) -> OverlayGrant | None:
        """The grant of a live token, or None."""
        if not token or len(token) > 100:
            return None
        digest = token_hash(token)
        async with self.db.session() as session:  # the primary: a revocation counts at once
            row = await session.scalar(
                select(OverlayToken).where(OverlayToken.token_hash == digest)
            )
        if row is None:
            return None
        return OverlayGrant(community_id=row.community_id, kind=row.kind, token_hash=digest)

    async def live_hashes(self, hashes: set[str]) -> set[str]:
        """Which of ``hashes`` still belong to a live token."""
        if not hashes:
            return set()
        async with self.db.session() as session:
            found = await session.scalars(
                select(OverlayToken.token_hash).where(OverlayToken.token_hash.in_(hashes))
            )
            return set(found)

    async def community_exists(self, community_id: str) -> bool:
        async with self.db.read_session() as session:
            found = await session.scalar(select(Community.id).where(Community.id == community_id))
        return found is not None

    async def tokens(self, community_id: str) -> dict[str, str]:
        """The live token of every kind, issuing the missing ones."""
        if not await self.community_exists(community_id):
            raise UnknownCommunity(f"no community {community_id!r}")
        box = self.settings.secret_box
        async with self.db.session() as session:
            rows = await session.scalars(
                select(OverlayToken).where(OverlayToken.community_id == community_id)
            )
            found = {row.kind: box.decrypt(row.token_sealed) for row in rows}
        for kind in KINDS:
            if kind not in found:
                found[kind] = await self._issue(community_id, kind)
        return {kind: found[kind] for kind in KINDS}

    async def urls(self, community_id: str) -> dict[str, str]:
        return {
            kind: overlay_url(self.settings, token)
            for kind, token in (await self.tokens(community_id)).items()
        }

    async def _issue(self, community_id: str, kind: str) -> str:
        token = secrets.token_urlsafe(TOKEN_BYTES)
        try:
            async with self.db.session() as session:
                session.add(
                    OverlayToken(
                        community_id=community_id,
                        kind=kind,
                        token_hash=token_hash(token),
                        token_sealed=self.settings.secret_box.encrypt(token),
                    )
                )
        except IntegrityError:
            # Another process issued it first: use theirs.
            async with self.db.session() as session:
                sealed = await session.scalar(
                    select(OverlayToken.token_sealed).where(
                        OverlayToken.community_id == community_id, OverlayToken.kind == kind
                    )
                )
            if sealed is None:
                raise
            return self.settings.secret_box.decrypt(sealed)
        return token

    async def rotate(self, community_id: str, kinds: list[str] | None = None) -> dict[str, str]:
        """New tokens for ``kinds`` (default all); the old URLs stop working at once."""
        chosen = _kinds(kinds)
        if not await self.community_exists(community_id):
            raise UnknownCommunity(f"no community {community_id!r}")
        revoked: list[str] = []
        issued: dict[str, str] = {}
        async with self.db.session() as session:
            rows = {
                row.kind: row
                for row in await session.scalars(
                    select(OverlayToken).where(
                        OverlayToken.community_id == community_id, OverlayToken.kind.in_(chosen)
                    )
                )
            }
            for kind in chosen:
                token = secrets.token_urlsafe(TOKEN_BYTES)
                issued[kind] = token
                row = rows.get(kind)
                if row is None:
                    session.add(
                        OverlayToken(
                            community_id=community_id,
                            kind=kind,
                            token_hash=token_hash(token),
                            token_sealed=self.settings.secret_box.encrypt(token),
                        )
                    )
                    continue
                revoked.append(row.token_hash)
                row.token_hash = token_hash(token)
                row.token_sealed = self.settings.secret_box.encrypt(token)
        await self._announce(community_id, revoked)
        return {kind: overlay_url(self.settings, token) for kind, token in issued.items()}

    async def revoke(self, community_id: str, kinds: list[str] | None = None) -> int:
        """Delete the tokens of ``kinds`` (default all) and close their sockets everywhere."""
        chosen = _kinds(kinds)
        async with self.db.session() as session:
            hashes = list(
                await session.scalars(
                    select(OverlayToken.token_hash).where(
                        OverlayToken.community_id == community_id, OverlayToken.kind.in_(chosen)
                    )
                )
            )
            await session.execute(delete(OverlayToken).where(OverlayToken.token_hash.in_(hashes)))
        await self._announce(community_id, hashes)
        return len(hashes)

    async def _announce(self, community_id: str, hashes: list[str]) -> None:
        if hashes:
            await self.backend.pubsub.publish(
                control_channel(community_id), json.dumps({"revoked": hashes})
            )


def _kinds(kinds: list[str] | None) -> list[str]:
    if not kinds:
        return list(KINDS)
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        raise ValueError(f"unknown overlay kind(s) {', '.join(unknown)}; use {', '.join(KINDS)}")
    return list(dict.fromkeys(kinds))
