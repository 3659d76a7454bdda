"""Choose the backend from configuration: a Redis URL selects Redis, none the in-memory one."""

from __future__ import annotations

from waddlebot.kernel.backends.base import Backend


async def open_backend(redis_url: str | None, *, namespace: str = "wb") -> Backend:
    """Open the backend the settings ask for; ``namespace`` prefixes every Redis key."""
    if redis_url:
        from waddlebot.kernel.backends.redis import RedisBackend

        backend = RedisBackend.from_url(redis_url, namespace=namespace)
        await backend.ping()
        return backend
    from waddlebot.kernel.backends.memory import MemoryBackend

    return MemoryBackend()
