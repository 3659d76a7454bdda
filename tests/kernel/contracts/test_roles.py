from __future__ import annotations

from waddlebot.kernel.contracts import Role, UserRef
from waddlebot.kernel.contracts.roles import parse_role_map, platform_role
from waddlebot.kernel.security.rbac import COMMUNITY_ROLE_LADDER


def user(role: Role = Role.everyone, badges: list[str] | None = None) -> UserRef:
    return UserRef(id="1", name="n", role=role, badges=badges or [])


def test_ladder_order() -> None:
    order = [Role.everyone, Role.subscriber, Role.vip, Role.moderator, Role.broadcaster]
    assert order == sorted(order)


def test_highest_of_reported_role_and_badges() -> None:
    assert platform_role(None) is Role.everyone
    assert platform_role(user()) is Role.everyone
    assert platform_role(user(badges=["subscriber", "vip"])) is Role.vip
    assert platform_role(user(Role.moderator, ["subscriber"])) is Role.moderator
    assert platform_role(user(badges=["unknown-badge"])) is Role.everyone


def test_community_roles_on_the_ladder() -> None:
    assert COMMUNITY_ROLE_LADDER["moderator"] is Role.moderator
    assert COMMUNITY_ROLE_LADDER["admin"] is Role.broadcaster
    assert COMMUNITY_ROLE_LADDER["member"] is Role.everyone


def test_role_parse_names_the_valid_roles() -> None:
    assert Role.parse(" Moderator ") is Role.moderator
    try:
        Role.parse("king")
    except ValueError as error:
        assert "broadcaster" in str(error)
    else:
        raise AssertionError("expected ValueError")


def test_role_maps_from_settings() -> None:
    assert parse_role_map("Mods=moderator, VIP = vip ,") == {
        "Mods": Role.moderator,
        "VIP": Role.vip,
    }
    assert parse_role_map("Mods=moderator", fold_case=True) == {"mods": Role.moderator}
    assert parse_role_map({"a": Role.vip}) == {"a": Role.vip}
    for bad in ("moderator", "=vip", "x=king"):
        try:
            parse_role_map(bad)
        except ValueError:
            continue
        raise AssertionError(f"{bad!r} was accepted")
