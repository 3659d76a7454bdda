"""Identity: one WaddleBot user behind many platform accounts (linking, unlinking, REST)."""

from waddlebot.identity.manager import IdentityManager

__all__ = ["IdentityManager"]
