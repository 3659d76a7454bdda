"""Cooldowns and rate limits: per user, per command and per entity.

Rate limits (sliding windows) protect the bot and the platform from floods; cooldowns stop a
single command from being spammed. Broadcasters skip rate limits; moderators and above skip
cooldowns, as chat moderators expect.
"""

from __future__ import annotations

from dataclasses import dataclass

from waddlebot.kernel.backends import KeyValue, RateWindow
from waddlebot.kernel.contracts import Role
from waddlebot.kernel.observability.metrics import RATE_LIMIT_HITS
from waddlebot.router.registry import CommandEntry


@dataclass(frozen=True, slots=True)
class Refusal:
    scope: str  # user_rate | entity_rate | global_cooldown | user_cooldown
    retry_after: float


@dataclass(frozen=True, slots=True)
class LimitPolicy:
    user_limit: int
    entity_limit: int
    window: float


class Limiter:
    def __init__(self, kv: KeyValue, policy: LimitPolicy) -> None:
        self.kv = kv
        self.policy = policy

    async def check(
        self, command: CommandEntry, entity_id: str, user_key: str, role: Role
    ) -> Refusal | None:
        """None when the command may run now; otherwise what stopped it and for how long."""
        if role < Role.broadcaster:
            refusal = await self._rate_limits(entity_id, user_key)
            if refusal is not None:
                return self._count(refusal)
        if role < Role.moderator:
            refusal = await self._cooldowns(command, entity_id, user_key)
            if refusal is not None:
                return self._count(refusal)
        return None

    async def _rate_limits(self, entity_id: str, user_key: str) -> Refusal | None:
        policy = self.policy
        user = f"rl:user:{entity_id}:{user_key}"
        decision = await self.kv.hit_rate_limits(  # both windows in one round trip
            RateWindow(user, policy.user_limit, policy.window),
            RateWindow(f"rl:entity:{entity_id}", policy.entity_limit, policy.window),
        )
        if decision.allowed:
            return None
        reason = "user_rate" if decision.refused_by == user else "entity_rate"
        return Refusal(reason, decision.retry_after)

    async def _cooldowns(
        self, command: CommandEntry, entity_id: str, user_key: str
    ) -> Refusal | None:
        name = f"{command.prefix}{command.trigger}"
        global_key = f"cd:global:{entity_id}:{name}"
        if command.global_cooldown > 0 and not await self.kv.set(
            global_key, "1", ttl=command.global_cooldown, only_if_absent=True
        ):
            return Refusal("global_cooldown", await self._left(global_key))
        user_key_cd = f"cd:user:{entity_id}:{user_key}:{name}"
        if command.user_cooldown > 0 and not await self.kv.set(
            user_key_cd, "1", ttl=command.user_cooldown, only_if_absent=True
        ):
            if command.global_cooldown > 0:
                await self.kv.delete(global_key)  # this run did not happen: free the slot
            return Refusal("user_cooldown", await self._left(user_key_cd))
        return None

    async def _left(self, key: str) -> float:
        return await self.kv.ttl(key) or 0.0

    async def first_notice(self, refusal: Refusal, entity_id: str, user_key: str) -> bool:
        """True once per refusal window, so a spammer is told once, not on every message."""
        ttl = max(refusal.retry_after, 1.0)
        return await self.kv.set(
            f"rl:notice:{entity_id}:{user_key}:{refusal.scope}", "1", ttl=ttl, only_if_absent=True
        )

    @staticmethod
    def _count(refusal: Refusal) -> Refusal:
        RATE_LIMIT_HITS.labels(refusal.scope).inc()
        return refusal
