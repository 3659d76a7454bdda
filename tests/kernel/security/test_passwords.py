"""Password hashing: argon2id, minimum length, no match without a hash."""

from __future__ import annotations

import pytest

from waddlebot.kernel.security.passwords import (
    MIN_LENGTH,
    WeakPassword,
    hash_password,
    needs_rehash,
    verify_password,
)


def test_hash_and_verify() -> None:
    hashed = hash_password("correct horse battery")
    assert hashed.startswith("$argon2id$")
    assert "correct horse" not in hashed
    assert verify_password(hashed, "correct horse battery")
    assert not verify_password(hashed, "correct horse battery!")
    assert not needs_rehash(hashed)


def test_two_hashes_of_one_password_differ() -> None:
    assert hash_password("correct horse battery") != hash_password("correct horse battery")


@pytest.mark.parametrize("password", ["short", "x" * (MIN_LENGTH - 1), " " * 20, "y" * 2000])
def test_weak_passwords_are_refused_with_a_reason(password: str) -> None:
    with pytest.raises(WeakPassword, match="password must"):
        hash_password(password)


def test_no_hash_never_matches() -> None:
    assert not verify_password(None, "anything at all here")
    assert not verify_password("", "anything at all here")
    assert not verify_password("not-a-hash", "anything at all here")
    assert needs_rehash("not-a-hash")
