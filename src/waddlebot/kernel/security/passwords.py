"""Password hashing with argon2id (argon2-cffi's recommended parameters).

Passwords are low-entropy secrets, so they get a slow, memory-hard hash; API keys and session
tokens are random and only need SHA-256 (see :mod:`api_keys`, :mod:`sessions`).
"""

from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 12
MAX_LENGTH = 1024  # argon2 copes, but an unbounded body is a cheap denial of service

_hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """Verified against when the e-mail is unknown, so both answers take the same time. Made
    on first use: a hash costs ~0.1 s, which every process paid at import before."""
    return _hasher.hash("waddlebot-dummy-password-for-timing")


class WeakPassword(ValueError):
    """The password does not meet the minimum requirements; the message says which."""


def check_strength(password: str) -> None:
    """Raise :class:`WeakPassword` unless ``password`` is long enough (length beats rules)."""
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"the password must be at least {MIN_LENGTH} characters long")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"the password must be at most {MAX_LENGTH} characters long")
    if not password.strip():
        raise WeakPassword("the password must not be only whitespace")


def hash_password(password: str) -> str:
    """The argon2id hash of an acceptable password (raises :class:`WeakPassword`)."""
    check_strength(password)
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches; a missing hash (no password login) never matches."""
    if len(password) > MAX_LENGTH:
        return False
    try:
        return _hasher.verify(password_hash or _dummy_hash(), password) and bool(password_hash)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with older parameters and should be replaced on login."""
    try:
        return _hasher.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True
