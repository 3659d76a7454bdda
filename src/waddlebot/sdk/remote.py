"""The host a module gets when it runs outside the router (HTTP service, Lambda, OpenWhisk).

Storage: the router puts a :class:`HostAccess` (its host API URL and a short-lived token for
this module and community) into every request it sends; :meth:`RemoteHost.run` binds the
request's storage to it, so a remote module's data lives in the router's database like a
built-in module's. A request without host access (a module tested or run in isolation, e.g.
``module.handle(request, RemoteHost())``) falls back to this process's memory.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import httpx

from waddlebot.kernel.contracts import (
    CommandInfo,
    HostAccess,
    ModuleRequest,
    ModuleResponse,
    Role,
    StorageCounter,
    StorageDeleted,
    StorageIncrement,
    StorageKeys,
    StorageValue,
    StorageWrite,
)
from waddlebot.kernel.http_clients import http_client
from waddlebot.kernel.settings import Settings
from waddlebot.sdk.aliases import AliasOperations
from waddlebot.sdk.community import CommunityOperations
from waddlebot.sdk.custom_commands import CustomCommandOperations
from waddlebot.sdk.database import ModuleDatabase
from waddlebot.sdk.errors import CommandError, ModuleUnavailable
from waddlebot.sdk.identity import IdentityOperations
from waddlebot.sdk.labels import LabelOperations
from waddlebot.sdk.members import MemberOperations
from waddlebot.sdk.module import Module
from waddlebot.sdk.scheduling import SchedulerOperations
from waddlebot.sdk.secrets import SecretOperations
from waddlebot.sdk.storage import DataStore, MemoryDataStore, ModuleStorage, Scope, StorageRefused
from waddlebot.sdk.timers import TimerOperations
from waddlebot.sdk.triggers import TriggerClaim
from waddlebot.sdk.twitch import TwitchOperations


class RemoteHost:
    """What a module served outside the router gets: storage through the router's host API
    (or in memory without one); the router's command table is not reachable from here."""

    def __init__(self, store: DataStore | None = None, *, timeout: float = 10.0) -> None:
        self.store: DataStore = store if store is not None else MemoryDataStore()
        self.timeout = timeout

    @asynccontextmanager
    async def bind(self, request: ModuleRequest) -> AsyncIterator[RemoteHost]:
        """This host for one request: with the request's host access, if it has one."""
        if request.host is None:
            yield self
            return
        async with RemoteDataStore.open(request.host, timeout=self.timeout) as store:
            yield RemoteHost(store, timeout=self.timeout)

    async def run(self, module: Module, request: ModuleRequest) -> ModuleResponse:
        """Handle ``request`` with ``module`` on this host (what every adapter calls)."""
        async with self.bind(request) as host:
            return await module.handle(request, host)

    async def list_commands(self, community_id: str, role: Role) -> list[CommandInfo]:
        return []

    async def reload_commands(self) -> int:
        raise CommandError("This module cannot reload the command table.")

    def storage(self, module: str, community_id: str) -> ModuleStorage:
        return ModuleStorage(self.store, module, community_id)

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

    def custom_commands(self) -> CustomCommandOperations | None:
        return None

    def database(self) -> ModuleDatabase | None:
        return None

    def community(self) -> CommunityOperations | None:
        return None

    def twitch(self) -> TwitchOperations | None:
        return None

    def secrets(self) -> SecretOperations | None:
        return None

    def settings(self) -> Settings | None:
        return None  # the installation's settings stay on the router

    async def module_config(self, community_id: str, module: str) -> dict[str, Any]:
        return {}  # remote modules receive their configuration in each request

    async def claim_triggers(
        self,
        community_id: str,
        module: str,
        wanted: Sequence[str],
        keep: Sequence[str],
        description: str,
    ) -> TriggerClaim:
        raise CommandError("This module cannot change the command table.")


class RemoteDataStore:
    """:class:`DataStore` over the router's host API. The token fixes module and community,
    so the scope's module and community are the router's to decide, not ours."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    @classmethod
    @asynccontextmanager
    async def open(cls, access: HostAccess, *, timeout: float) -> AsyncIterator[RemoteDataStore]:
        # kernel/http_clients: a plain httpx.AsyncClient loads a TLS context when it is made
        # (16 ms of CPU measured here), and a client is made for every module request.
        async with http_client(
            base_url=access.url.rstrip("/") + "/storage/",
            headers={"Authorization": f"Bearer {access.token}"},
            timeout=timeout,
            follow_redirects=False,
        ) as client:
            yield cls(client)

    async def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            answer = await self.client.request(method, path, **kwargs)
        except httpx.HTTPError as error:
            raise ModuleUnavailable(f"the router's host API is unreachable: {error!r}") from None
        if answer.status_code == 422:
            try:
                detail = answer.json().get("detail")
            except ValueError:
                detail = None
            raise StorageRefused(detail if isinstance(detail, str) else "Storage refused that.")
        if answer.status_code >= 400:
            raise ModuleUnavailable(
                f"the router's host API answered {answer.status_code}: {answer.text[:200]}"
            )
        return answer

    @staticmethod
    def _user(scope: Scope) -> dict[str, str]:
        return {"user": scope.user} if scope.user else {}

    async def get(self, scope: Scope, key: str) -> str | None:
        answer = await self._call("GET", "values", params={"key": key, **self._user(scope)})
        found = StorageValue.model_validate_json(answer.content)
        if not found.found:
            return None
        return json.dumps(found.value, separators=(",", ":"), ensure_ascii=False)

    async def set(self, scope: Scope, key: str, value: str, ttl: float | None) -> None:
        body = StorageWrite(key=key, value=json.loads(value), ttl=ttl, user=scope.user or None)
        await self._call("PUT", "values", json=body.model_dump(mode="json"))

    async def delete(self, scope: Scope, key: str) -> bool:
        answer = await self._call("DELETE", "values", params={"key": key, **self._user(scope)})
        return StorageDeleted.model_validate_json(answer.content).deleted

    async def incr(self, scope: Scope, key: str, amount: int) -> int:
        body = StorageIncrement(key=key, amount=amount, user=scope.user or None)
        answer = await self._call("POST", "counters", json=body.model_dump(mode="json"))
        return StorageCounter.model_validate_json(answer.content).value

    async def keys(self, scope: Scope, prefix: str, limit: int) -> list[str]:
        params: dict[str, Any] = {"prefix": prefix, "limit": limit, **self._user(scope)}
        answer = await self._call("GET", "keys", params=params)
        return StorageKeys.model_validate_json(answer.content).keys
