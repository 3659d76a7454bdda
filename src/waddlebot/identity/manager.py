"""Cross-platform identity linking: one-time codes, merge on verify, unlink, cache invalidation.

Codes live in the shared key-value store, hashed (HMAC under the secret key, bound to the
account they were sent to), with the expiry, attempt counter and resend guard as TTL keys.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from waddlebot.identity.lookup import find_account, user_of_account
from waddlebot.kernel.backends import Backend
from waddlebot.kernel.contracts import OutboundMessage, Platform
from waddlebot.kernel.contracts.names import identity_cache_key, outbound_queue
from waddlebot.kernel.observability.logging import Category, get_logger, log_event
from waddlebot.kernel.security.rbac import access_changed
from waddlebot.kernel.storage import Database
from waddlebot.kernel.storage.merges import run_merge_hooks
from waddlebot.kernel.storage.models import LabelAssignment, Membership, PlatformIdentity, User
from waddlebot.modules import builtin_modules
from waddlebot.sdk.identity import FoundAccount, IdentityError, LinkedAccount

logger = get_logger(__name__)

ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O/1/I/L
CODE_LENGTH = 6
CODE_TTL = 600.0
MAX_ATTEMPTS = 5
RESEND_AFTER = 60.0


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def _code_key(platform: str, platform_user_id: str) -> str:
    return f"identity:code:{platform}:{platform_user_id}"


def _attempts_key(platform: str, platform_user_id: str) -> str:
    return f"identity:attempts:{platform}:{platform_user_id}"


def _resend_key(platform: str, platform_user_id: str) -> str:
    return f"identity:resend:{platform}:{platform_user_id}"


class IdentityManager:
    """Implements :class:`waddlebot.sdk.identity.IdentityOperations` over the database."""

    def __init__(
        self, db: Database, backend: Backend, *, secret: str, outbound_max: int = 10_000
    ) -> None:
        self.db = db
        self.backend = backend
        self.kv = backend.kv
        self._secret = secret.encode()
        self.outbound_max = outbound_max

    def _hash(self, platform: str, platform_user_id: str, code: str) -> str:
        message = f"{platform}\0{platform_user_id}\0{code.upper()}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    # --- reading --------------------------------------------------------------------------

    async def user_of(self, platform: str, platform_user_id: str) -> str | None:
        return await user_of_account(self.db, platform, platform_user_id)

    async def find(self, platform: str, name: str) -> FoundAccount | None:
        row = await find_account(self.db, platform, name)
        if row is None:
            return None
        return FoundAccount(
            user_id=row.user_id,
            platform=row.platform,
            platform_user_id=row.platform_user_id,
            username=row.username,
        )

    async def accounts(self, user_id: str) -> list[LinkedAccount]:
        async with self.db.read_session() as session:
            rows = (
                await session.scalars(
                    select(PlatformIdentity)
                    .where(PlatformIdentity.user_id == user_id)
                    .order_by(PlatformIdentity.platform, PlatformIdentity.username)
                )
            ).all()
        return [LinkedAccount(r.platform, r.platform_user_id, r.username) for r in rows]

    # --- linking --------------------------------------------------------------------------

    async def request_link(
        self,
        *,
        platform: str,
        platform_user_id: str,
        target_platform: str,
        target_username: str,
        event_id: str,
    ) -> LinkedAccount:
        try:
            target_kind = Platform(target_platform.lower())
        except ValueError:
            raise IdentityError(f"I don't know the platform {target_platform!r}.") from None
        requester = await self.user_of(platform, platform_user_id)
        target = await find_account(self.db, target_kind.value, target_username, by_id=False)
        if requester is None or target is None:
            raise IdentityError(
                f"I have never seen {target_username} on {target_kind.value}: they must say "
                "something in a channel I am in first, then try again."
            )
        account = LinkedAccount(target.platform, target.platform_user_id, target.username)
        if target.user_id == requester:
            raise IdentityError(f"{target.username} on {target.platform} is already linked to you.")
        if len(await self.accounts(target.user_id)) > 1:
            self._audit("link_requested", "denied", requester, account, reason="owned")
            raise IdentityError(
                f"{target.username} on {target.platform} is linked to someone else; "
                "they must unlink it first."
            )
        resend = _resend_key(target.platform, target.platform_user_id)
        if not await self.kv.set(resend, requester, ttl=RESEND_AFTER, only_if_absent=True):
            self._audit("link_requested", "denied", requester, account, reason="resend too soon")
            raise IdentityError("A code was sent less than a minute ago; wait before asking again.")
        code = new_code()
        record = {"hash": self._hash(target.platform, target.platform_user_id, code)}
        record["user"] = requester
        await self.kv.set(
            _code_key(target.platform, target.platform_user_id), json.dumps(record), ttl=CODE_TTL
        )
        await self.kv.delete(_attempts_key(target.platform, target.platform_user_id))
        message = OutboundMessage(
            platform=target_kind,
            kind="whisper",
            server_id=target.server_id or "",  # Slack: the workspace whose token can DM them
            channel_id="",
            user_id=target.platform_user_id,
            text=(
                f"Someone on {platform} asked to link this account to theirs. If it was you, "
                f"type !verify {code} here within 10 minutes; otherwise ignore this."
            ),
            event_id=event_id,
        )
        await self.backend.queues.put(
            outbound_queue(target_kind.value),
            [message.model_dump_json().encode()],
            max_length=self.outbound_max,
        )
        self._audit("link_requested", "ok", requester, account, source=platform)
        return account

    async def verify(self, *, platform: str, platform_user_id: str, code: str) -> str:
        account = LinkedAccount(platform, platform_user_id, "")
        key = _code_key(platform, platform_user_id)
        raw = await self.kv.get(key)
        if raw is None:
            self._audit("link_verify", "denied", None, account, reason="no pending code")
            raise IdentityError("There is no pending link code for this account (or it expired).")
        record = json.loads(raw)
        attempts_key = _attempts_key(platform, platform_user_id)
        attempts = await self.kv.incr(attempts_key, ttl=CODE_TTL)
        if attempts > MAX_ATTEMPTS:
            await self.kv.delete(key)
            self._audit("link_verify", "denied", record["user"], account, reason="too many")
            raise IdentityError("Too many wrong codes; ask for a new one with !identity link.")
        expected = self._hash(platform, platform_user_id, code.strip())
        if not hmac.compare_digest(expected, record["hash"]):
            left = MAX_ATTEMPTS - attempts
            self._audit(
                "link_verify", "denied", record["user"], account, reason="wrong code", left=left
            )
            raise IdentityError(f"That code is wrong ({left} attempt(s) left).")
        await self.kv.delete(key, attempts_key)
        requester = str(record["user"])
        await self._merge(requester, platform, platform_user_id)
        self._audit("linked", "ok", requester, account)
        return requester

    async def _merge(self, requester: str, platform: str, platform_user_id: str) -> None:
        """Move the account to ``requester``; the absorbed user's memberships follow."""
        async with self.db.session() as session:
            identity = await session.scalar(
                select(PlatformIdentity).where(
                    PlatformIdentity.platform == platform,
                    PlatformIdentity.platform_user_id == platform_user_id,
                )
            )
            if identity is None:
                raise IdentityError("This account is unknown to me.")
            absorbed = identity.user_id
            if absorbed == requester:
                return
            if await session.get(User, requester) is None:
                raise IdentityError("The account that asked for this link no longer exists.")
            others = await session.scalar(
                select(func.count())
                .select_from(PlatformIdentity)
                .where(PlatformIdentity.user_id == absorbed, PlatformIdentity.id != identity.id)
            )
            if others:
                raise IdentityError("This account is linked to others; unlink it first.")
            identity.user_id = requester
            taken = set(
                (
                    await session.scalars(
                        select(Membership.community_id).where(Membership.user_id == requester)
                    )
                ).all()
            )
            moved = (
                await session.scalars(select(Membership).where(Membership.user_id == absorbed))
            ).all()
            communities = taken | {m.community_id for m in moved}
            for membership in moved:
                if membership.community_id not in taken:
                    membership.user_id = requester
            communities |= await self._move_labels(session, absorbed, requester)
            builtin_modules()  # their merge hooks register on import
            await run_merge_hooks(session, absorbed, requester)
        await self._invalidate([(platform, platform_user_id)], [requester, absorbed], communities)

    @staticmethod
    async def _move_labels(session: AsyncSession, absorbed: str, requester: str) -> set[str]:
        """Labels on the absorbed user follow them (unless the requester wears that label
        already); returns the communities touched."""
        worn = set(
            (
                await session.scalars(
                    select(LabelAssignment.label_id).where(
                        LabelAssignment.target_type == "user",
                        LabelAssignment.target_id == requester,
                    )
                )
            ).all()
        )
        labels = (
            await session.scalars(
                select(LabelAssignment).where(
                    LabelAssignment.target_type == "user", LabelAssignment.target_id == absorbed
                )
            )
        ).all()
        for assignment in labels:
            if assignment.label_id not in worn:
                assignment.target_id = requester
        return {assignment.community_id for assignment in labels}

    async def unlink(self, user_id: str, platform: str) -> list[LinkedAccount]:
        accounts = await self.accounts(user_id)
        detached = [a for a in accounts if a.platform == platform.lower()]
        if not detached:
            raise IdentityError(f"You have no linked account on {platform}.")
        if len(detached) == len(accounts):
            raise IdentityError("That is your only account; there is nothing to unlink it from.")
        async with self.db.session() as session:
            for account in detached:
                fresh = User(display_name=account.username)
                session.add(fresh)
                await session.flush()
                identity = await session.scalar(
                    select(PlatformIdentity).where(
                        PlatformIdentity.platform == account.platform,
                        PlatformIdentity.platform_user_id == account.platform_user_id,
                    )
                )
                if identity is not None:
                    identity.user_id = fresh.id
            communities = set(
                (
                    await session.scalars(
                        select(Membership.community_id).where(Membership.user_id == user_id)
                    )
                ).all()
            )
        await self._invalidate(
            [(a.platform, a.platform_user_id) for a in detached], [user_id], communities
        )
        for account in detached:
            self._audit("unlinked", "ok", user_id, account)
        return detached

    async def _invalidate(
        self, accounts: list[tuple[str, str]], users: list[str], communities: set[str]
    ) -> None:
        keys = [identity_cache_key(platform, account) for platform, account in accounts]
        if keys:
            await self.kv.delete(*keys)
        for community_id in sorted(communities):
            await access_changed(self.kv, community_id, db=self.db)

    @staticmethod
    def _audit(
        action: str, result: str, user: str | None, account: LinkedAccount, **fields: Any
    ) -> None:
        log_event(
            logger,
            Category.AUDIT,
            f"identity_{action}",
            result,
            user=user,
            platform=account.platform,
            platform_user=account.platform_user_id,
            **fields,
        )
