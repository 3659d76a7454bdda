"""The host a module gets when it runs outside the router (HTTP service, Lambda, OpenWhisk)."""

from __future__ import annotations

from waddlebot.kernel.backends import KeyValue
from waddlebot.kernel.backends.memory import MemoryKeyValue
from waddlebot.kernel.contracts import CommandInfo, Role
from waddlebot.sdk.aliases import AliasOperations
from waddlebot.sdk.errors import CommandError
from waddlebot.sdk.identity import IdentityOperations
from waddlebot.sdk.labels import LabelOperations
from waddlebot.sdk.members import MemberOperations
from waddlebot.sdk.scheduling import SchedulerOperations
from waddlebot.sdk.storage import ModuleStorage
from waddlebot.sdk.timers import TimerOperations


class RemoteHost:
    """Storage in a key-value store the module brings (in-memory by default); the router's
    command table is not reachable from here."""

    def __init__(self, kv: KeyValue | None = None) -> None:
        self.kv = kv if kv is not None else MemoryKeyValue()

    async def list_commands(self, community_id: str, role: Role) -> list[CommandInfo]:
        return []

    async def reload_commands(self) -> int:
        raise CommandError("This module cannot reload the command table.")

    def storage(self, module: str, community_id: str) -> ModuleStorage:
        return ModuleStorage(self.kv, module, community_id)

    def identity(self) -> IdentityOperations | None:
        return None

    def members(self) -> MemberOperations | None:
        return None

    def labels(self) -> LabelOperations | None:
        return None

    def aliases(self) -> AliasOperations | None:
        return None

    def timers(self) -> TimerOperations | None:
        return None

    def scheduler(self) -> SchedulerOperations | None:
        return None  # remote modules receive scheduled runs but cannot schedule (yet)
