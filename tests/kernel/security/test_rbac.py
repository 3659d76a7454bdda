"""The Authorizer on both engines and both caches: roles, grants, labels, expiry, logging."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog
from sqlalchemy import select

from waddlebot.communities.manager import Acting, CommunityManager
from waddlebot.kernel.backends import Backend
from waddlebot.kernel.backends.memory import MemoryBackend
from waddlebot.kernel.contracts import Role
from waddlebot.kernel.observability.logging import add_audit_sink, remove_audit_sink
from waddlebot.kernel.security.rbac import (
    ACCESS_TTL,
    DEFAULT_GRANTS,
    PERMISSIONS,
    SHARED_ACCESS_TTL,
    Actor,
    Authorizer,
    UnknownPermission,
    access_changed,
    claim_first_owner,
    role_permissions,
    validate_permissions,
)
from waddlebot.kernel.storage import Database, stamps
from waddlebot.kernel.storage.models import (
    Community,
    CommunityRoleGrant,
    Label,
    LabelAssignment,
    Membership,
    User,
)


async def community_with(db: Database, **roles: str) -> tuple[str, dict[str, str]]:
    """A community and users named after ``roles`` (``name=role``; role "" = no membership)."""
    users: dict[str, str] = {}
    async with db.session() as session:
        community = Community(name="c")
        session.add(community)
        await session.flush()
        for name, role in roles.items():
            user = User(display_name=name)
            session.add(user)
            await session.flush()
            users[name] = user.id
            if role:
                session.add(Membership(community_id=community.id, user_id=user.id, role=role))
    return community.id, users


def test_roles_hold_their_grant_and_everything_beneath() -> None:
    assert role_permissions("owner", {}) == set(PERMISSIONS)
    assert role_permissions("member", {}) == set()
    moderator = role_permissions("moderator", {})
    assert moderator == set(DEFAULT_GRANTS["moderator"])
    assert {"calendar.approve", "memories.manage", "shoutouts.manage", "music.manage"} <= moderator
    admin = role_permissions("admin", {})
    assert {"commands.manage", "members.manage", "calendar.approve"} <= admin
    assert "roles.manage" not in admin
    # an override replaces the role's own grant; roles above still inherit it
    overrides = {"moderator": ["commands.manage"]}
    assert role_permissions("moderator", overrides) == {"commands.manage"}
    assert "commands.manage" in role_permissions("admin", {"admin": [], **overrides})
    assert role_permissions(None, overrides) == set()


def test_unknown_permissions_are_refused_by_name() -> None:
    assert validate_permissions(["labels.manage", "labels.manage"]) == ["labels.manage"]
    with pytest.raises(UnknownPermission, match=r"unknown permission\(s\): nope\.nope"):
        validate_permissions(["nope.nope"])


async def test_decisions_follow_roles_overrides_and_platform_ladder(
    database: Database, backend: Backend
) -> None:
    community, users = await community_with(
        database, olga="owner", adam="admin", mona="moderator", mel="member", nobody=""
    )
    authorizer = Authorizer(database, backend.kv)

    async def allowed(name: str, permission: str, platform: Role = Role.everyone) -> bool:
        actor = Actor(user_id=users[name], platform_role=platform)
        decision = await authorizer.check(actor, community, "test", permission=permission)
        return decision.allowed

    assert await allowed("olga", "roles.manage")
    assert await allowed("adam", "commands.manage")
    assert not await allowed("adam", "roles.manage")
    assert await allowed("mona", "calendar.approve")
    assert not await allowed("mona", "commands.manage")
    assert not await allowed("mel", "calendar.approve")
    assert not await allowed("nobody", "calendar.approve")
    # the platform vouches: a broadcaster acts as owner, a platform moderator as moderator
    assert await allowed("nobody", "roles.manage", Role.broadcaster)
    assert await allowed("mel", "calendar.approve", Role.moderator)
    assert not await allowed("mel", "calendar.approve", Role.vip)

    # the community gives moderators commands.manage: effective on the next decision
    async with database.session() as session:
        session.add(
            CommunityRoleGrant(
                community_id=community, role="moderator", permissions=["commands.manage"]
            )
        )
    assert not await allowed("mona", "commands.manage")  # cached until told
    await access_changed(backend.kv, community)
    assert await allowed("mona", "commands.manage")
    assert not await allowed("mona", "calendar.approve")  # the override replaced the default
    assert await allowed("adam", "commands.manage")


async def test_min_role_uses_the_higher_of_platform_and_community_role(
    database: Database, backend: Backend
) -> None:
    community, users = await community_with(database, mona="moderator", mel="member")
    authorizer = Authorizer(database, backend.kv)
    mona = await authorizer.check(
        Actor(users["mona"]), community, "!modonly", min_role=Role.moderator
    )
    assert mona.allowed and mona.access is not None and mona.access.ladder == Role.moderator
    mel = await authorizer.check(Actor(users["mel"]), community, "!modonly", min_role=Role.vip)
    assert not mel.allowed and mel.reason == "needs vip"
    vip = await authorizer.check(
        Actor(users["mel"], platform_role=Role.vip), community, "!x", min_role=Role.vip
    )
    assert vip.allowed


async def test_labels_grant_permissions_until_they_expire(
    database: Database, backend: Backend
) -> None:
    community, users = await community_with(database, mel="member")
    authorizer = Authorizer(database, backend.kv)
    async with database.session() as session:
        trusted = Label(
            community_id=community, name="trusted", permissions=["calendar.autoapprove"]
        )
        lapsed = Label(community_id=community, name="lapsed", permissions=["labels.manage"])
        session.add_all([trusted, lapsed])
        await session.flush()
        session.add_all(
            [
                LabelAssignment(
                    label_id=trusted.id,
                    community_id=community,
                    target_type="user",
                    target_id=users["mel"],
                ),
                LabelAssignment(
                    label_id=lapsed.id,
                    community_id=community,
                    target_type="user",
                    target_id=users["mel"],
                    expires_at=datetime.now(UTC) - timedelta(seconds=1),
                ),
            ]
        )
    await access_changed(backend.kv, community)
    access = await authorizer.access(community, users["mel"])
    assert access.labels == ("trusted",)
    assert access.permissions == {"calendar.autoapprove"}
    denied = await authorizer.check(
        Actor(users["mel"]), community, "label", permission="labels.manage"
    )
    assert not denied.allowed and denied.missing == ["labels.manage"]


async def test_a_cached_label_stops_granting_the_moment_it_expires(
    database: Database, backend: Backend
) -> None:
    community, users = await community_with(database, mel="member")
    authorizer = Authorizer(database, backend.kv)
    async with database.session() as session:
        helper = Label(community_id=community, name="helper", permissions=["labels.manage"])
        session.add(helper)
        await session.flush()
        session.add(
            LabelAssignment(
                label_id=helper.id,
                community_id=community,
                target_type="user",
                target_id=users["mel"],
                expires_at=datetime.now(UTC) + timedelta(seconds=1.5),
            )
        )
    await access_changed(backend.kv, community)
    assert (await authorizer.access(community, users["mel"])).labels == ("helper",)
    await asyncio.sleep(1.7)  # no event: the cached entry ended with the label
    assert (await authorizer.access(community, users["mel"])).labels == ()


async def test_entries_live_long_only_in_a_store_every_process_shares(
    database: Database, backend: Backend
) -> None:
    """Long where every process's changes reach the cache: a shared store (Redis), or this
    process's memory beside a SQLite file (other processes touch its access stamp)."""
    community, users = await community_with(database, mel="member")
    await Authorizer(database, backend.kv).access(community, users["mel"])
    stamped = not backend.kv.shared and database.access_stamp is not None
    ttl = await backend.kv.ttl(f"access-grants:{community}:0" + (".0" if stamped else ""))
    expected = SHARED_ACCESS_TTL if backend.kv.shared or stamped else ACCESS_TTL
    assert ttl is not None and expected - 5 < ttl <= expected
    assert backend.kv.shared == (type(backend).__name__ == "RedisBackend")
    assert stamped == (not backend.kv.shared and database.dialect == "sqlite")


async def test_a_change_made_by_another_process_reaches_this_ones_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Embedded: ``waddlebot up`` and a CLI command share the SQLite file and nothing else.
    A grant changed through the other process's manager (its own Database and in-memory
    backend) is seen here within about a second, although this process cached the old one
    for an hour."""
    monkeypatch.setattr(stamps, "CHECK_EVERY", 0.2)
    url = f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    server_db, cli_db = Database(url), Database(url)
    server_backend, cli_backend = MemoryBackend(), MemoryBackend()
    try:
        await server_db.migrate()
        community, users = await community_with(server_db, mo="moderator")
        server = Authorizer(server_db, server_backend.kv)
        before = await server.access(community, users["mo"])
        assert "labels.manage" not in before.permissions
        cli = CommunityManager(cli_db, cli_backend.kv)
        operator = Acting(who="cli", installation_wide=True, via="cli")
        await cli.set_role_grant(community, "moderator", ["labels.manage"], operator)
        deadline = asyncio.get_running_loop().time() + 5
        while "labels.manage" not in (await server.access(community, users["mo"])).permissions:
            assert asyncio.get_running_loop().time() < deadline, "the change never arrived"
            await asyncio.sleep(0.05)
    finally:
        for db in (server_db, cli_db):
            await db.close()
        for opened in (server_backend, cli_backend):
            await opened.close()


async def test_every_decision_is_logged_with_who_where_what_and_result(
    database: Database, backend: Backend
) -> None:
    community, users = await community_with(database, mel="member")
    authorizer = Authorizer(database, backend.kv)
    with structlog.testing.capture_logs() as logs:
        await authorizer.check(
            Actor(users["mel"], via="rest"), community, "PUT /x", permission="roles.manage"
        )
        await authorizer.check(Actor(None, superuser=True, via="rest"), community, "GET /y")
    authz = [entry for entry in logs if entry.get("category") == "AUTHZ"]
    assert [(e["action"], e["result"]) for e in authz] == [
        ("PUT /x", "denied"),
        ("GET /y", "allowed"),
    ]
    assert authz[0]["community"] == community and authz[0]["user"] == users["mel"]
    assert authz[0]["permission"] == "roles.manage" and authz[0]["via"] == "rest"


async def test_an_allowed_chat_command_is_a_debug_line_and_not_audited(
    database: Database, backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    """Its execution row records it; refusals and REST decisions stay INFO and audited."""
    community, users = await community_with(database, mel="member")
    authorizer = Authorizer(database, backend.kv)
    audited: list[dict[str, Any]] = []
    add_audit_sink(audited.append)
    chat = Actor(users["mel"], via="chat")
    try:
        caplog.set_level(logging.INFO, "waddlebot.kernel.security.rbac")
        with structlog.testing.capture_logs() as at_info:
            await authorizer.check(chat, community, "!ping")
            await authorizer.check(chat, community, "!mod", min_role=Role.moderator)
            await authorizer.check(Actor(users["mel"], via="rest"), community, "GET /z")
        caplog.set_level(logging.DEBUG, "waddlebot.kernel.security.rbac")
        with structlog.testing.capture_logs() as at_debug:
            await authorizer.check(chat, community, "!ping")
    finally:
        remove_audit_sink(audited.append)
    assert [(e["action"], e["result"], e["log_level"]) for e in at_info] == [
        ("!mod", "denied", "info"),
        ("GET /z", "allowed", "info"),
    ]
    assert [(e["action"], e["log_level"]) for e in at_debug] == [("!ping", "debug")]
    assert [(r["action"], r["result"]) for r in audited] == [
        ("!mod", "denied"),
        ("GET /z", "allowed"),
    ]


async def test_the_first_broadcaster_claims_an_unowned_community_once(
    database: Database, backend: Backend
) -> None:
    community, users = await community_with(database, first="", second="")
    assert await claim_first_owner(database, backend.kv, community, users["first"])
    assert not await claim_first_owner(database, backend.kv, community, users["second"])
    await backend.kv.delete(f"community-owned:{community}")  # even without the cache hint
    assert not await claim_first_owner(database, backend.kv, community, users["second"])
    async with database.session() as session:
        owners = (
            await session.scalars(
                select(Membership.user_id).where(
                    Membership.community_id == community, Membership.role == "owner"
                )
            )
        ).all()
    assert owners == [users["first"]]
    access = await Authorizer(database, backend.kv).access(community, users["first"])
    assert access.membership_role == "owner"
