"""Discord member → role ladder. Pure: permissions are the integer bit set Discord sends."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from waddlebot.kernel.contracts import Role

ADMINISTRATOR = 1 << 3
MANAGE_GUILD = 1 << 5
MANAGE_MESSAGES = 1 << 13
MODERATE_MEMBERS = 1 << 40


def discord_role(
    *,
    is_owner: bool,
    permissions: int,
    role_keys: Iterable[str] = (),
    mapping: Mapping[str, Role] | None = None,
) -> Role:
    """Owner, ADMINISTRATOR or MANAGE_GUILD → broadcaster; MANAGE_MESSAGES or
    MODERATE_MEMBERS → moderator; mapped role names/ids may raise it further."""
    role = Role.everyone
    if is_owner or permissions & (ADMINISTRATOR | MANAGE_GUILD):
        role = Role.broadcaster
    elif permissions & (MANAGE_MESSAGES | MODERATE_MEMBERS):
        role = Role.moderator
    for key in role_keys:
        role = max(role, (mapping or {}).get(key.lower(), Role.everyone))
    return role


def parse_permissions(value: object) -> int:
    """Discord sends permissions as a decimal string."""
    try:
        return int(str(value))
    except ValueError:
        return 0
