"""Executors run a module for the router. This issue ships the in-process one; HTTP, Lambda
and OpenWhisk executors implement the same :class:`Executor` protocol."""

from __future__ import annotations

import asyncio
from typing import Protocol

from waddlebot.kernel.backends import PubSub
from waddlebot.kernel.contracts import CommandInfo, ModuleRequest, ModuleResponse, Role
from waddlebot.kernel.storage import Database
from waddlebot.router.registry import COMMANDS_CHANGED, CommandTable
from waddlebot.sdk import Module


class ModuleTimeout(Exception):
    """The module did not answer within its time budget."""


class Executor(Protocol):
    name: str

    async def execute(self, request: ModuleRequest, timeout: float) -> ModuleResponse: ...


class RouterHost:
    """What the router offers modules it hosts: the live command table."""

    def __init__(self, table: CommandTable, db: Database, pubsub: PubSub) -> None:
        self.table = table
        self.db = db
        self.pubsub = pubsub

    async def list_commands(self, community_id: str, role: Role) -> list[CommandInfo]:
        return self.table.available(community_id, role)

    async def reload_commands(self) -> int:
        await self.table.load(self.db)
        await self.pubsub.publish(COMMANDS_CHANGED, "reload")
        return len(self.table)


class InProcessExecutor:
    """Calls an SDK module in this process, bounded by a timeout."""

    def __init__(self, module: Module, host: RouterHost) -> None:
        self.name = module.name
        self.module = module
        self.host = host

    async def execute(self, request: ModuleRequest, timeout: float) -> ModuleResponse:
        try:
            return await asyncio.wait_for(self.module.handle(request, self.host), timeout)
        except TimeoutError:
            raise ModuleTimeout(f"{self.name} took longer than {timeout:g}s") from None
