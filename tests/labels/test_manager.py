"""The label manager on both engines and both caches: CRUD, validation, limits, expiry,
search, bulk all-or-nothing, system labels, and label permissions reaching the authorizer."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import structlog
from sqlalchemy import func, select

from waddlebot.kernel.backends import Backend
from waddlebot.kernel.security.rbac import Actor, Authorizer
from waddlebot.kernel.settings import Settings
from waddlebot.kernel.storage import Database
from waddlebot.kernel.storage.models import Community, Entity, LabelAssignment, User
from waddlebot.labels.manager import (
    Conflict,
    Forbidden,
    Invalid,
    LabelChange,
    LabelManager,
    NotFound,
    Operation,
    Target,
    expiry,
)


def settings_for(tmp_path: Path, **limits: int) -> Settings:
    return Settings(data_dir=tmp_path, secret_key="test-secret", **limits)  # type: ignore[arg-type]


async def world(db: Database, *names: str) -> tuple[str, dict[str, str]]:
    """A community and users called ``names``."""
    async with db.session() as session:
        community = Community(name="c")
        session.add(community)
        await session.flush()
        users = {}
        for name in names:
            user = User(display_name=name)
            session.add(user)
            await session.flush()
            users[name] = user.id
    return community.id, users


async def test_crud_and_case_insensitive_names(
    database: Database, backend: Backend, tmp_path: Path
) -> None:
    manager = LabelManager(database, backend.kv, settings_for(tmp_path))
    community, _ = await world(database)
    with structlog.testing.capture_logs() as logs:
        made = await manager.create_label(
            community, "VIP", colour="#1e90ff", description="very", permissions=["labels.manage"]
        )
    assert (made.name, made.colour, made.permissions) == ("VIP", "#1E90FF", ["labels.manage"])
    assert any(e.get("category") == "AUDIT" and e["action"] == "label_created" for e in logs)
    with pytest.raises(Conflict, match="already exists"):
        await manager.create_label(community, "vip")
    assert (await manager.label(community, "vIp")).id == made.id
    changed = await manager.update_label(
        community, "vip", LabelChange(name="Gold", colour="#000000", permissions=[])
    )
    assert (changed.name, changed.colour, changed.permissions) == ("Gold", "#000000", [])
    # renaming to a different case of itself is fine
    assert (await manager.update_label(community, "gold", LabelChange(name="GOLD"))).name == "GOLD"
    await manager.create_label(community, "alpha")
    assert [label.name for label in await manager.labels(community)] == ["alpha", "GOLD"]
    await manager.delete_label(community, "gold")
    with pytest.raises(NotFound, match="no label 'gold'"):
        await manager.label(community, "gold")
    with pytest.raises(NotFound, match="no community"):
        await manager.labels("nope")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": ""}, "1–50 characters"),
        ({"name": "x" * 51}, "1–50 characters"),
        ({"name": "-dash"}, "starting with a letter"),
        ({"name": "bad!"}, "letters, digits"),
        ({"name": "ok", "colour": "red"}, "#RRGGBB"),
        ({"name": "ok", "colour": "#12345"}, "#RRGGBB"),
        ({"name": "ok", "permissions": ["fly"]}, "unknown permission"),
        ({"name": "ok", "description": "d" * 301}, "at most 300"),
    ],
)
async def test_invalid_labels_are_refused(
    database: Database, backend: Backend, tmp_path: Path, kwargs: dict[str, object], message: str
) -> None:
    manager = LabelManager(database, backend.kv, settings_for(tmp_path))
    community, _ = await world(database)
    options = dict(kwargs)
    name = str(options.pop("name"))
    with pytest.raises(Invalid, match=message):
        await manager.create_label(community, name, **options)  # type: ignore[arg-type]
    assert await manager.labels(community) == []


async def test_system_labels_cannot_be_renamed_or_deleted(
    database: Database, backend: Backend, tmp_path: Path
) -> None:
    manager = LabelManager(database, backend.kv, settings_for(tmp_path))
    community, _ = await world(database)
    await manager.create_label(community, "staff", system=True)
    with pytest.raises(Forbidden, match="system label"):
        await manager.delete_label(community, "staff")
    with pytest.raises(Forbidden, match="cannot be renamed"):
        await manager.update_label(community, "staff", LabelChange(name="crew"))
    recoloured = await manager.update_label(community, "staff", LabelChange(colour="#ABCDEF"))
    assert (recoloured.name, recoloured.colour, recoloured.system) == ("staff", "#ABCDEF", True)


async def test_limits_come_from_settings(
    database: Database, backend: Backend, tmp_path: Path
) -> None:
    manager = LabelManager(
        database, backend.kv, settings_for(tmp_path, labels_per_community=3, labels_per_user=2)
    )
    community, users = await world(database, "ann")
    for name in ("a", "b", "c"):
        await manager.create_label(community, name)
    with pytest.raises(Conflict, match="maximum of 3 labels"):
        await manager.create_label(community, "d")
    ann = Target("user", users["ann"])
    await manager.apply(community, "a", [ann])
    await manager.apply(community, "b", [ann])
    await manager.apply(community, "b", [ann])  # re-applying is not another label
    with pytest.raises(Conflict, match="more than the maximum of 2 labels"):
        await manager.apply(community, "c", [ann])
    # removing one and adding another in one request stays within the limit
    await manager.bulk(community, [Operation("remove", "a", ann), Operation("apply", "c", ann)])
    assert [a.label for a in await manager.target_labels(community, "user", ann.target_id)] == [
        "b",
        "c",
    ]
    # other target types are not limited per user
    for name in ("a", "b", "c"):
        await manager.apply(community, name, [Target("module", "dice")])
    # a bigger limit, from settings, lets the third one in
    roomy = LabelManager(database, backend.kv, settings_for(tmp_path, labels_per_user=3))
    await roomy.apply(community, "a", [ann])


async def test_expired_assignments_vanish_everywhere(
    database: Database, backend: Backend, tmp_path: Path
) -> None:
    manager = LabelManager(database, backend.kv, settings_for(tmp_path))
    authorizer = Authorizer(database, backend.kv)
    community, users = await world(database, "ann")
    await manager.create_label(community, "trusted", permissions=["calendar.autoapprove"])
    ann = Target("user", users["ann"])
    await manager.apply(
        community, "trusted", [ann], expires_at=datetime.now(UTC) + timedelta(seconds=1)
    )
    access = await authorizer.access(community, users["ann"])
    assert access.labels == ("trusted",)
    assert "calendar.autoapprove" in access.permissions
    await asyncio.sleep(1.2)
    assert await manager.target_labels(community, "user", ann.target_id) == []
    assert (await manager.assignments(community, "trusted")).total == 0
    assert (await manager.search(community, ["trusted"])).items == []
    # the authorizer caches for a minute; a change anywhere in the community refreshes it
    await manager.create_label(community, "other")
    access = await authorizer.access(community, users["ann"])
    assert access.labels == ()
    assert "calendar.autoapprove" not in access.permissions
    assert await manager.purge_expired(community) == 1
    async with database.read_session() as session:
        assert await session.scalar(select(func.count()).select_from(LabelAssignment)) == 0


def test_expiry_arguments() -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    assert expiry(None, None, now=now) is None
    assert expiry(None, 60, now=now) == now + timedelta(minutes=1)
    assert expiry(now + timedelta(days=1), None, now=now) == now + timedelta(days=1)
    for args, message in [
        ((now, 5), "not both"),
        ((None, 0), "more than 0"),
        ((now - timedelta(seconds=1), None), "in the past"),
        ((datetime(2030, 2, 1), None), "timezone"),
        ((now + timedelta(days=4000), None), "10 years"),
    ]:
        with pytest.raises(Invalid, match=message):
            expiry(*args, now=now)


async def test_search_filters_and_paginates(
    database: Database, backend: Backend, tmp_path: Path
) -> None:
    manager = LabelManager(database, backend.kv, settings_for(tmp_path))
    community, users = await world(database, "ann", "bob", "cat")
    async with database.session() as session:
        entity = Entity(
            platform="playground", server_id="p", channel_id="lobby", community_id=community
        )
        session.add(entity)
    await manager.create_label(community, "red")
    await manager.create_label(community, "blue")
    people = [Target("user", users[n]) for n in ("ann", "bob", "cat")]
    await manager.apply(community, "red", [*people, Target("entity", entity.id)])
    await manager.apply(community, "blue", [people[0], Target("item", "sword")])
    everyone = await manager.assignments(community, "red")
    assert everyone.total == 4
    users_only = await manager.assignments(community, "red", target_type="user", limit=2)
    assert (users_only.total, len(users_only.items)) == (3, 2)
    rest = await manager.assignments(community, "red", target_type="user", limit=2, offset=2)
    assert len(rest.items) == 1
    seen = {a.target_id for a in users_only.items + rest.items}
    assert seen == {p.target_id for p in people}
    entities = await manager.assignments(community, "RED", target_type="entity")
    assert [a.target_id for a in entities.items] == [entity.id]
    both = await manager.search(community, ["red", "blue"], match="all")
    assert [(m.target_type, m.target_id, m.labels) for m in both.items] == [
        ("user", users["ann"], ["blue", "red"])
    ]
    either = await manager.search(community, ["red", "blue"], match="any")
    assert either.total == 5
    items = await manager.search(community, ["blue"], target_type="item")
    assert [(m.target_id, m.labels) for m in items.items] == [("sword", ["blue"])]
    with pytest.raises(NotFound, match="no label 'green'"):
        await manager.search(community, ["green"])
    with pytest.raises(Invalid, match="target_type"):
        await manager.assignments(community, "red", target_type="planet")


async def test_bulk_is_all_or_nothing(database: Database, backend: Backend, tmp_path: Path) -> None:
    manager = LabelManager(database, backend.kv, settings_for(tmp_path))
    community, users = await world(database, "ann", "bob")
    other, _ = await world(database)
    async with database.session() as session:
        foreign = Entity(platform="playground", server_id="p", channel_id="x", community_id=other)
        session.add(foreign)
    await manager.create_label(community, "red")
    ann, bob = Target("user", users["ann"]), Target("user", users["bob"])
    await manager.apply(community, "red", [bob])
    failures = [
        ([Operation("apply", "red", ann), Operation("apply", "nope", ann)], NotFound, "no label"),
        (
            [Operation("apply", "red", ann), Operation("apply", "red", Target("user", "ghost"))],
            NotFound,
            "no user 'ghost'",
        ),
        (
            [
                Operation("apply", "red", ann),
                Operation("apply", "red", Target("entity", foreign.id)),
            ],
            NotFound,
            "in this community",
        ),
        (
            [Operation("apply", "red", ann), Operation("remove", "red", Target("item", "x"))],
            NotFound,
            "does not have",
        ),
        ([Operation("apply", "red", ann), Operation("remove", "RED", ann)], Invalid, "twice"),
        (
            [Operation("apply", "red", ann), Operation("apply", "red", Target("planet", "x"))],
            Invalid,
            "target_type",
        ),
        ([Operation("apply", "red", ann, metadata={"x": "y" * 5000})], Invalid, "metadata"),
        ([], Invalid, "at least one"),
    ]
    for operations, error, message in failures:
        with pytest.raises(error, match=message):
            await manager.bulk(community, operations)
        labelled = await manager.assignments(community, "red")
        assert [a.target_id for a in labelled.items] == [bob.target_id], message
    done = await manager.bulk(
        community,
        [
            Operation("apply", "red", ann, metadata={"why": "helpful"}),
            Operation("remove", "red", bob),
        ],
    )
    assert [(a.target_id, a.metadata) for a in done] == [
        (ann.target_id, {"why": "helpful"}),
        (bob.target_id, {}),
    ]
    assert [a.target_id for a in (await manager.assignments(community, "red")).items] == [
        ann.target_id
    ]


async def test_label_permission_reaches_the_authorizer(
    database: Database, backend: Backend, tmp_path: Path
) -> None:
    manager = LabelManager(database, backend.kv, settings_for(tmp_path))
    authorizer = Authorizer(database, backend.kv)
    community, users = await world(database, "ann")
    actor = Actor(user_id=users["ann"])
    before = await authorizer.check(actor, community, "x", permission="calendar.autoapprove")
    assert not before.allowed
    await manager.create_label(community, "trusted", permissions=["calendar.autoapprove"])
    await manager.apply(community, "trusted", [Target("user", users["ann"])])
    after = await authorizer.check(actor, community, "x", permission="calendar.autoapprove")
    assert after.allowed
    # changing the label's permissions takes effect at once
    await manager.update_label(community, "trusted", LabelChange(permissions=[]))
    again = await authorizer.check(actor, community, "x", permission="calendar.autoapprove")
    assert not again.allowed
    await manager.delete_label(community, "trusted")
    assert (await authorizer.access(community, users["ann"])).labels == ()
