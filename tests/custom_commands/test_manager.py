"""The custom-commands manager on real SQLite and PostgreSQL: the counter is atomic, names
another module answers are refused, the helpers the aliases feature calls, the cache."""

from __future__ import annotations

import asyncio

import pytest

from waddlebot.custom_commands.manager import (
    Change,
    CustomCommandManager,
    custom_command_names,
    trigger_taken,
)
from waddlebot.kernel.backends import open_backend
from waddlebot.kernel.contracts.names import COMMANDS_VERSION
from waddlebot.kernel.errors import Conflict, Invalid, NotFound
from waddlebot.kernel.storage import Database
from waddlebot.kernel.storage.models import Community
from waddlebot.modules import builtin_modules
from waddlebot.router.registry import sync_module_commands


async def community(db: Database, name: str = "c") -> str:
    async with db.session() as session:
        row = Community(name=name)
        session.add(row)
    return row.id


async def test_counter_is_atomic_and_durable(database: Database) -> None:
    backend = await open_backend(None)
    manager = CustomCommandManager(database, backend.kv, backend.pubsub)
    here = await community(database)
    await manager.create(here, "hits", Change(response="{count}"), "tester")
    counts = await asyncio.gather(*(manager.count_use(here, "hits") for _ in range(25)))
    assert sorted(counts) == list(range(1, 26))
    # a second manager (another process) sees the stored value
    other = CustomCommandManager(database, backend.kv)
    assert (await other.get(here, "hits")).count == 25
    await backend.close()


async def test_names_checks_and_helpers(database: Database) -> None:
    backend = await open_backend(None)
    await sync_module_commands(database, builtin_modules())
    manager = CustomCommandManager(database, backend.kv)
    here, there = await community(database, "here"), await community(database, "there")
    assert await trigger_taken(database, here, "!ping") == "core"
    assert await trigger_taken(database, here, "command") == "custom-commands"
    assert await trigger_taken(database, here, "discord") is None
    await manager.create(here, "Discord", Change(response="x"), None)
    assert await trigger_taken(database, here, "!discord") == "custom command"
    assert await trigger_taken(database, there, "discord") is None
    await manager.create(here, "about2", Change(response="y"), None)
    assert await custom_command_names(database, here) == ["about2", "discord"]
    assert await custom_command_names(database, there) == []

    with pytest.raises(Conflict, match="already a command of the core module"):
        await manager.create(here, "help", Change(response="x"), None)
    # an installed marketplace module's command (a community row, as the marketplace writes it)
    from waddlebot.kernel.storage.models import Command

    async with database.session() as session:
        session.add(Command(community_id=here, prefix="!", trigger="roll", module="dice"))
    assert await trigger_taken(database, here, "roll") == "dice"
    with pytest.raises(Conflict, match="!roll is already a command of the dice module"):
        await manager.create(here, "roll", Change(response="x"), None)
    await manager.create(there, "roll", Change(response="x"), None)  # not installed there
    with pytest.raises(Conflict, match="already exists here"):
        await manager.create(here, "!DISCORD", Change(response="x"), None)
    with pytest.raises(Invalid, match=r"unknown variable \{x\} \(at character 1\)"):
        await manager.update(here, "discord", Change(response="{x}"), None)
    with pytest.raises(NotFound):
        await manager.update(here, "nope", Change(response="x"), None)
    with pytest.raises(NotFound):
        await manager.create("nope", "x", Change(response="x"), None)
    await backend.close()


async def test_the_cache_follows_the_commands_version(database: Database) -> None:
    backend = await open_backend(None)
    writer = CustomCommandManager(database, backend.kv)
    reader = CustomCommandManager(database, backend.kv)  # as in a router process
    here = await community(database)
    await writer.create(here, "a", Change(response="one"), None)
    found = await reader.find(here, "a")
    assert found is not None and found.response == "one"
    version = await backend.kv.get(COMMANDS_VERSION)
    await writer.update(here, "a", Change(response="two"), None)
    assert await backend.kv.get(COMMANDS_VERSION) != version
    found = await reader.find(here, "A")
    assert found is not None and found.response == "two"
    await writer.delete(here, "a", None)
    assert await reader.find(here, "a") is None
    await backend.close()


async def test_sync_moves_a_moved_command_and_leaves_custom_commands_alone(
    database: Database,
) -> None:
    """``!command`` moved from ``members`` to ``custom-commands``: a community's tuned copy
    follows it; custom command rows (data of a dynamic module) are never rewritten."""
    from sqlalchemy import select

    from waddlebot.kernel.storage.models import Command

    backend = await open_backend(None)
    here = await community(database)
    async with database.session() as session:
        session.add(
            Command(community_id=here, prefix="!", trigger="command", module="members", usage="")
        )
    await CustomCommandManager(database, backend.kv).create(
        here, "quote", Change(response="hi"), None
    )
    await sync_module_commands(database, builtin_modules())
    async with database.read_session() as session:
        rows = {
            row.trigger: row
            for row in await session.scalars(select(Command).where(Command.community_id == here))
        }
    assert rows["command"].module == "custom-commands"
    assert rows["command"].usage.startswith("!command <add|edit|remove|show|enable|disable>")
    assert (rows["quote"].module, rows["quote"].description) == (
        "custom-commands",
        "Custom command.",
    )
    await backend.close()


async def test_a_name_an_alias_holds_is_refused(database: Database) -> None:
    from waddlebot.aliases.models import Alias

    backend = await open_backend(None)
    manager = CustomCommandManager(database, backend.kv)
    here, there = await community(database, "here"), await community(database, "there")
    async with database.session() as session:
        session.add(Alias(community_id=here, name="so", target="!ping"))
    with pytest.raises(Conflict, match=r"!so is already an alias here; remove it"):
        await manager.create(here, "so", Change(response="x"), None)
    await manager.create(there, "so", Change(response="x"), None)  # only where the alias is
    await backend.close()
