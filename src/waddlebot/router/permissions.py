"""The role ladder: platform badges and community roles folded into one comparable role."""

from __future__ import annotations

from waddlebot.kernel.contracts import Role, UserRef

# Community roles (granted in WaddleBot) expressed on the platform ladder.
COMMUNITY_ROLES: dict[str, Role] = {
    "owner": Role.broadcaster,
    "admin": Role.broadcaster,
    "moderator": Role.moderator,
    "member": Role.everyone,
}

# Platform badges that imply a role (Twitch badge set ids; other collectors map to these).
BADGE_ROLES: dict[str, Role] = {
    "broadcaster": Role.broadcaster,
    "moderator": Role.moderator,
    "lead_moderator": Role.moderator,
    "vip": Role.vip,
    "subscriber": Role.subscriber,
    "founder": Role.subscriber,
}


def effective_role(user: UserRef | None, community_role: str | None) -> Role:
    """The highest of: the role the collector reported, any badge's role, the community role."""
    if user is None:
        return Role.everyone
    role = user.role
    for badge in user.badges:
        role = max(role, BADGE_ROLES.get(badge, Role.everyone))
    if community_role is not None:
        role = max(role, COMMUNITY_ROLES.get(community_role, Role.everyone))
    return role
