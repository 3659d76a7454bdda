"""What a host may offer modules that keep secrets (API keys, OAuth tokens): sealing with the
installation's encryption keys, as platform tokens are sealed.

Store the sealed text in a column whose name ends in ``_sealed``: ``waddlebot admin
rotate-keys`` re-encrypts every such column under the newest key, the module's included.
"""

from __future__ import annotations

from typing import Protocol


class SecretOperations(Protocol):
    def seal(self, plaintext: str) -> str:
        """Encrypt (Fernet under the newest key); the result is safe to store."""
        ...

    def unseal(self, sealed: str) -> str:
        """Decrypt with any configured key; raises ``SecretUnreadable`` when none fits."""
        ...
