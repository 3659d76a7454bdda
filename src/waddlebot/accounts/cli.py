"""What the ``waddlebot admin`` account commands do, kept out of the CLI module."""

from __future__ import annotations

import secrets
from datetime import timedelta

from waddlebot.accounts.manager import AccountError, create_service_account, create_user
from waddlebot.kernel.security.api_keys import (
    SCOPES,
    ApiKeyInfo,
    create_api_key,
    list_api_keys,
)
from waddlebot.kernel.security.key_copies import gateway_box
from waddlebot.kernel.settings import Settings
from waddlebot.kernel.storage import Database
from waddlebot.kernel.storage.lookup import find_user
from waddlebot.kernel.storage.models import User


def generated_password() -> str:
    """A strong random password for a new user who did not bring one (printed once)."""
    return secrets.token_urlsafe(18)  # 144 bits, 24 characters


async def _database(settings: Settings) -> Database:
    db = Database(settings.resolved_database_url)
    await db.migrate()
    return db


async def add_user(
    settings: Settings,
    *,
    email: str,
    password: str,
    display_name: str | None,
    superuser: bool,
) -> User:
    db = await _database(settings)
    try:
        return await create_user(
            db, email=email, password=password, display_name=display_name, superuser=superuser
        )
    finally:
        await db.close()


async def add_service_account(settings: Settings, name: str) -> User:
    db = await _database(settings)
    try:
        return await create_service_account(db, name)
    finally:
        await db.close()


async def add_api_key(
    settings: Settings,
    *,
    name: str,
    scopes: list[str],
    expires_in_days: int | None,
    user: str | None,
) -> tuple[str, str, str | None]:
    """Create a key (owned by ``user``: an id, e-mail or unique name, when given):
    (key, id, owner id). Raises AccountError for unknown scopes, Refusal for the owner."""
    unknown = sorted(set(scopes) - SCOPES)
    if unknown:
        given, valid = ", ".join(map(repr, unknown)), ", ".join(sorted(SCOPES))
        raise AccountError(f"unknown scope {given}; valid scopes: {valid}")
    db = await _database(settings)
    try:
        owner_id = await find_user(db, user) if user is not None else None
        expires = timedelta(days=expires_in_days) if expires_in_days else None
        key, row = await create_api_key(
            db,
            name=name,
            scopes=scopes,
            expires_in=expires,
            user_id=owner_id,
            limit=settings.api_keys_per_user if owner_id else None,
            gateway_copy=gateway_box(settings),
        )
        return key, row.id, row.user_id
    finally:
        await db.close()


async def keys_of(settings: Settings, user: str | None) -> list[ApiKeyInfo]:
    """Keys of ``user`` (id, e-mail or unique name), or the owner-less operator keys."""
    db = await _database(settings)
    try:
        owner_id = await find_user(db, user) if user is not None else None
        return await list_api_keys(db, owner_id)
    finally:
        await db.close()
