from __future__ import annotations

from sqlalchemy import select

from waddlebot.kernel.contracts import Role
from waddlebot.kernel.storage import Database
from waddlebot.kernel.storage.models import Command, Community
from waddlebot.modules.core import module as core
from waddlebot.router.registry import CommandEntry, CommandTable, sync_module_commands


def entry(trigger: str, community: str | None = None, **kw: object) -> CommandEntry:
    fields: dict[str, object] = dict(
        community_id=community,
        prefix="!",
        trigger=trigger,
        module="m",
        usage="",
        description="",
        min_role=Role.everyone,
        user_cooldown=0.0,
        global_cooldown=0.0,
        enabled=True,
    )
    fields.update(kw)
    return CommandEntry(**fields)  # type: ignore[arg-type]


def test_community_rows_override_global_ones() -> None:
    table = CommandTable([entry("ping"), entry("ping", "c1", module="custom"), entry("x", "c2")])
    assert table.lookup("c1", "!", "ping").module == "custom"  # type: ignore[union-attr]
    assert table.lookup("c2", "!", "ping").module == "m"  # type: ignore[union-attr]
    assert table.lookup("c1", "!", "x") is None
    assert table.lookup("c1", "#", "ping") is None


def test_a_community_can_disable_a_global_command() -> None:
    table = CommandTable([entry("ping"), entry("ping", "c1", enabled=False)])
    assert table.lookup("c1", "!", "ping") is None
    assert [c.trigger for c in table.available("c1", Role.broadcaster)] == []
    assert [c.trigger for c in table.available("c2", Role.everyone)] == ["ping"]


def test_available_filters_by_role_and_sorts() -> None:
    table = CommandTable([entry("b"), entry("a"), entry("mod", min_role=Role.moderator)])
    assert [c.trigger for c in table.available("c", Role.everyone)] == ["a", "b"]
    assert [c.trigger for c in table.available("c", Role.moderator)] == ["a", "b", "mod"]


async def test_sync_is_idempotent_and_keeps_admin_changes(database: Database) -> None:
    await sync_module_commands(database, [core])
    async with database.session() as session:
        row = await session.scalar(select(Command).where(Command.trigger == "ping"))
        assert row is not None
        row.enabled = False
        row.user_cooldown = 5
        row.description = "stale"
        session.add(Community(id="c1", name="c1"))
        await session.flush()
        session.add(Command(community_id="c1", prefix="!", trigger="ping", module="custom"))
    await sync_module_commands(database, [core])
    table = CommandTable()
    await table.load(database)
    async with database.session() as session:
        rows = (await session.scalars(select(Command).where(Command.trigger == "ping"))).all()
    assert len(rows) == 2
    global_row = next(r for r in rows if r.community_id is None)
    assert (global_row.enabled, global_row.user_cooldown) == (False, 5)
    assert global_row.description == "Check that the bot is alive."
    assert table.lookup("other", "!", "ping") is None
    assert table.lookup("c1", "!", "ping").module == "custom"  # type: ignore[union-attr]


async def test_a_communitys_copy_of_a_builtin_follows_the_code_but_keeps_its_tuning(
    database: Database,
) -> None:
    await sync_module_commands(database, [core])
    async with database.session() as session:
        community = Community(name="c")
        session.add(community)
        await session.flush()
        session.add(
            Command(
                community_id=community.id,
                prefix="!",
                trigger="reload",
                module="core",
                usage="stale",
                description="stale",
                min_role=int(Role.vip),
                permission=None,
                user_cooldown=9.0,
                enabled=False,
            )
        )
    await sync_module_commands(database, [core])
    async with database.session() as session:
        row = await session.scalar(
            select(Command).where(Command.community_id == community.id, Command.trigger == "reload")
        )
    assert row is not None
    assert (row.usage, row.permission) == ("!reload", "commands.manage")
    assert (row.enabled, row.user_cooldown, row.min_role) == (False, 9.0, int(Role.vip))


async def test_event_audiences_gate_listeners_and_fail_open() -> None:
    table = CommandTable()

    async def lobby_only() -> list[str]:
        return ["lobby"]

    async def unreadable() -> list[str]:
        raise RuntimeError("database away")

    table.audience_sources = {("music", "message"): lobby_only, ("ai", "message"): unreadable}
    await table.load_audiences()
    assert table.listens("music", "message", "lobby")
    assert not table.listens("music", "message", "elsewhere")
    assert table.listens("music", "follow", "elsewhere")  # no audience for that type
    assert table.listens("ai", "message", "elsewhere")  # unreadable: listens everywhere
    assert table.listens("quotes", "message", "elsewhere")  # never gated
