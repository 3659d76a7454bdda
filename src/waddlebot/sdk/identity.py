"""What a host may offer modules about cross-platform identity (the router does; remote
hosts do not)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class IdentityError(Exception):
    """A refusal with a short message meant for the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class LinkedAccount:
    platform: str
    platform_user_id: str
    username: str


@dataclass(frozen=True, slots=True)
class FoundAccount:
    """A platform account someone named in chat, and the WaddleBot user who owns it."""

    user_id: str
    platform: str
    platform_user_id: str
    username: str


class IdentityOperations(Protocol):
    """Link, verify, list and unlink the platform accounts of one WaddleBot user."""

    async def user_of(self, platform: str, platform_user_id: str) -> str | None:
        """The WaddleBot user owning the platform account, or None."""
        ...

    async def find(self, platform: str, name: str) -> FoundAccount | None:
        """The account called ``name`` (``@`` and case ignored, or its platform id) on
        ``platform`` — the resolution every ``@user`` in chat uses — or None."""
        ...

    async def accounts(self, user_id: str) -> list[LinkedAccount]:
        """The user's platform accounts, sorted by platform then username."""
        ...

    async def request_link(
        self,
        *,
        platform: str,
        platform_user_id: str,
        target_platform: str,
        target_username: str,
        event_id: str,
    ) -> LinkedAccount:
        """Send a one-time code to the target account; return that account."""
        ...

    async def verify(self, *, platform: str, platform_user_id: str, code: str) -> str:
        """Link the verifying account to the user who asked; return that user's id."""
        ...

    async def unlink(self, user_id: str, platform: str) -> list[LinkedAccount]:
        """Detach the user's accounts on ``platform`` into fresh users; return them."""
        ...
