"""The platform ladder: a chatter's reported role and badges as one comparable role."""

from __future__ import annotations

from waddlebot.kernel.contracts import Role, UserRef

# Platform badges that imply a role (Twitch badge set ids; other collectors map to these).
BADGE_ROLES: dict[str, Role] = {
    "broadcaster": Role.broadcaster,
    "moderator": Role.moderator,
    "lead_moderator": Role.moderator,
    "vip": Role.vip,
    "subscriber": Role.subscriber,
    "founder": Role.subscriber,
}


def platform_role(user: UserRef | None) -> Role:
    """The higher of the role the collector reported and any badge's role.

    Community roles are folded in by the authoriser (``kernel/security/rbac.py``).
    """
    if user is None:
        return Role.everyone
    role = user.role
    for badge in user.badges:
        role = max(role, BADGE_ROLES.get(badge, Role.everyone))
    return role


def parse_role_map(value: object, *, fold_case: bool = False) -> object:
    """Parse a ``"KEY=role, KEY2=role"`` setting into ``{KEY: Role}`` for settings validators.

    Platform collectors use it to map their groups (Discord role names or ids, Slack user
    groups) onto the ladder; ``fold_case`` lowercases keys that compare case-insensitively.
    Non-strings pass through for pydantic to validate.
    """
    if not isinstance(value, str):
        return value
    mapping: dict[str, Role] = {}
    for part in value.split(","):
        if not part.strip():
            continue
        key, sep, role = part.rpartition("=")
        if not sep or not key.strip():
            raise ValueError(f"expected KEY=role, got {part.strip()!r}")
        mapping[key.strip().lower() if fold_case else key.strip()] = Role.parse(role)
    return mapping
