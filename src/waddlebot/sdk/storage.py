"""Per-module storage scoped to one community: ``await ctx.storage.set("count", 3)``.

Keys live under ``module:<module>:<community>:`` so two modules, or two communities using the
same module, never see each other's data. Values are JSON; a TTL makes a key expire.
"""

from __future__ import annotations

import json
from typing import Any

from waddlebot.kernel.backends import KeyValue

MAX_KEY = 200


class ModuleStorage:
    """JSON values in the cache backend, namespaced by module and community."""

    def __init__(self, kv: KeyValue, module: str, community_id: str) -> None:
        self._kv = kv
        self.prefix = f"module:{module}:{community_id}:"

    def _key(self, key: str) -> str:
        if not key or len(key) > MAX_KEY:
            raise ValueError(f"storage keys are 1–{MAX_KEY} characters")
        return self.prefix + key

    async def get(self, key: str, default: Any = None) -> Any:
        raw = await self._kv.get(self._key(key))
        return default if raw is None else json.loads(raw)

    async def set(self, key: str, value: Any, *, ttl: float | None = None) -> None:
        await self._kv.set(self._key(key), json.dumps(value), ttl=ttl)

    async def delete(self, key: str) -> bool:
        return await self._kv.delete(self._key(key)) > 0

    async def incr(self, key: str, amount: int = 1) -> int:
        """Atomically add ``amount`` to an integer (0 when missing); return the new value."""
        return await self._kv.incr(self._key(key), amount)
