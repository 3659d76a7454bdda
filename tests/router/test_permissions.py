from __future__ import annotations

from waddlebot.kernel.contracts import Role, UserRef
from waddlebot.router.permissions import effective_role, parse_role_map


def user(role: Role = Role.everyone, badges: list[str] | None = None) -> UserRef:
    return UserRef(id="1", name="n", role=role, badges=badges or [])


def test_ladder_order() -> None:
    order = [Role.everyone, Role.subscriber, Role.vip, Role.moderator, Role.broadcaster]
    assert order == sorted(order)


def test_highest_of_reported_role_badges_and_community_role() -> None:
    assert effective_role(None, "owner") is Role.everyone
    assert effective_role(user(), None) is Role.everyone
    assert effective_role(user(badges=["subscriber", "vip"]), None) is Role.vip
    assert effective_role(user(Role.moderator, ["subscriber"]), None) is Role.moderator
    assert effective_role(user(), "moderator") is Role.moderator
    assert effective_role(user(), "admin") is Role.broadcaster
    assert effective_role(user(), "member") is Role.everyone
    assert effective_role(user(badges=["unknown-badge"]), "unknown-role") is Role.everyone


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
