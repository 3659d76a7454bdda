"""Account operations shared by the HTTP API and the ``waddlebot admin`` commands."""

from __future__ import annotations

import re

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from waddlebot.accounts.oauth import ProviderAccount
from waddlebot.kernel.observability.logging import Category, get_logger, log_event
from waddlebot.kernel.security.passwords import hash_password
from waddlebot.kernel.storage import Database
from waddlebot.kernel.storage.models import PlatformIdentity, User

logger = get_logger(__name__)

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}$")


class AccountError(ValueError):
    """A refused account operation; the message is safe to show."""


def normalise_email(email: str) -> str:
    """Trimmed, lower-cased, and plausibly an address (no MX check: that is the mail's job)."""
    cleaned = email.strip().lower()
    if len(cleaned) > 320 or not _EMAIL.match(cleaned) or "." not in cleaned.rpartition("@")[2]:
        raise AccountError(f"{email!r} is not an e-mail address")
    return cleaned


async def user_by_email(db: Database, email: str, *, fresh: bool = False) -> User | None:
    """The user with this e-mail (case-insensitive), or None (``fresh``: from the primary)."""
    async with db.read_session(fresh=fresh) as session:
        found: User | None = await session.scalar(
            select(User).where(func.lower(User.email) == email.strip().lower())
        )
    return found


async def create_user(
    db: Database,
    *,
    email: str,
    password: str,
    display_name: str | None = None,
    superuser: bool = False,
) -> User:
    """A person who can log in with ``email`` and ``password`` (argon2id-hashed)."""
    address = normalise_email(email)
    name = (display_name or address.partition("@")[0]).strip()[:200]
    if not name:
        raise AccountError("the display name must not be empty")
    row = User(
        display_name=name,
        email=address,
        password_hash=hash_password(password),
        is_superuser=superuser,
        kind="person",
    )
    try:
        async with db.session() as session:
            if await session.scalar(select(User.id).where(func.lower(User.email) == address)):
                raise AccountError(f"a user with the e-mail {address} already exists")
            session.add(row)
    except IntegrityError:
        raise AccountError(f"a user with the e-mail {address} already exists") from None
    log_event(logger, Category.AUDIT, "user_created", "ok", user=row.id, superuser=superuser)
    return row


async def create_service_account(db: Database, name: str) -> User:
    """A ``kind="service"`` user: no password, holds API keys for collectors and modules."""
    cleaned = name.strip()
    if not cleaned or len(cleaned) > 200:
        raise AccountError("a service account needs a name of 1 to 200 characters")
    row = User(display_name=cleaned, kind="service", password_hash=None)
    async with db.session() as session:
        session.add(row)
    log_event(logger, Category.AUDIT, "service_account_created", "ok", user=row.id, name=cleaned)
    return row


async def user_for_login(db: Database, account: ProviderAccount) -> User:
    """The user behind a platform account, created (with the account) on first login.

    An account already seen in chat keeps its user, so logging in with Twitch shows the same
    person the bot knows. The latest username is stored, as the router does.
    """

    async def find() -> User | None:
        async with db.session() as session:
            identity = await session.scalar(
                select(PlatformIdentity).where(
                    PlatformIdentity.platform == account.platform,
                    PlatformIdentity.platform_user_id == account.user_id,
                )
            )
            if identity is None:
                return None
            identity.username = account.name
            identity.server_id = account.server_id or identity.server_id
            found: User | None = await session.get(User, identity.user_id)
            return found

    found = await find()
    if found is not None:
        return found
    try:
        async with db.session() as session:
            user = User(display_name=account.name, kind="person")
            session.add(user)
            await session.flush()
            session.add(
                PlatformIdentity(
                    user_id=user.id,
                    platform=account.platform,
                    platform_user_id=account.user_id,
                    username=account.name,
                    server_id=account.server_id,
                )
            )
    except IntegrityError:
        found = await find()  # a concurrent login (or a chat message) created it first
        if found is None:
            raise
        return found
    log_event(logger, Category.AUDIT, "user_created", "ok", user=user.id, platform=account.platform)
    return user
