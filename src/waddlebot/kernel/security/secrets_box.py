"""Secrets at rest (platform OAuth tokens): Fernet with key rotation.

Keys come from ``WADDLEBOT_ENCRYPTION_KEYS`` (comma-separated Fernet keys, newest first) or,
when unset, are derived from the secret key. New data is encrypted with the first key; any key
in the list decrypts, so rotating means prepending a new key and re-encrypting at leisure
(:meth:`SecretBox.rotate`).
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # cryptography (~6 MiB) is loaded when the first secret is sealed or read
    from cryptography.fernet import MultiFernet

KEY_BYTES = 32


class SecretUnreadable(Exception):
    """The ciphertext was not made by any configured key (or was tampered with)."""


def derived_key(secret_key: str) -> bytes:
    """A Fernet key derived from the installation's secret key."""
    digest = hashlib.sha256(b"waddlebot-secrets-at-rest:" + secret_key.encode()).digest()
    return base64.urlsafe_b64encode(digest)


def check_key(key: bytes) -> None:
    """Raise ValueError unless ``key`` is a Fernet key (32 url-safe base64-encoded bytes),
    as ``Fernet(key)`` would, without importing cryptography."""
    try:
        raw = base64.urlsafe_b64decode(key)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != KEY_BYTES:
        raise ValueError("Fernet key must be 32 url-safe base64-encoded bytes.")


class SecretBox:
    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise ValueError("at least one encryption key is required")
        for key in keys:
            check_key(key)  # a bad key fails at start, not at the first secret
        self._keys = list(keys)

    @functools.cached_property
    def _fernet(self) -> MultiFernet:
        from cryptography.fernet import Fernet, MultiFernet

        return MultiFernet([Fernet(key) for key in self._keys])

    @classmethod
    def from_settings(cls, secret_key: str, encryption_keys: list[str]) -> SecretBox:
        keys = [key.encode() for key in encryption_keys] or [derived_key(secret_key)]
        return cls(keys)

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        from cryptography.fernet import InvalidToken

        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken:
            raise SecretUnreadable("secret cannot be decrypted with the configured keys") from None

    def seal(self, plaintext: str) -> str:
        """:class:`waddlebot.sdk.secrets.SecretOperations` for modules: :meth:`encrypt`."""
        return self.encrypt(plaintext)

    def unseal(self, sealed: str) -> str:
        return self.decrypt(sealed)

    def rotate(self, ciphertext: str) -> str:
        """Re-encrypt under the newest key."""
        from cryptography.fernet import InvalidToken

        try:
            return self._fernet.rotate(ciphertext.encode()).decode()
        except InvalidToken:
            raise SecretUnreadable("secret cannot be decrypted with the configured keys") from None
