"""Who is asking in chat, as host operations (roles, labels) need to know them."""

from __future__ import annotations

from dataclasses import dataclass

from waddlebot.kernel.contracts import UserRef


@dataclass(frozen=True, slots=True)
class Caller:
    """The platform and the account as the platform reported it: its own role and badges,
    not ``ctx.role`` (which already folds in the community role)."""

    platform: str
    user: UserRef
