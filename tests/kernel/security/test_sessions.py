"""Login sessions on both backends: hashed keys, TTL, sliding refresh, revocation."""

from __future__ import annotations

import asyncio

from waddlebot.kernel.backends import Backend
from waddlebot.kernel.security.sessions import SessionStore, cookie_secure


async def test_create_get_revoke(backend: Backend) -> None:
    store = SessionStore(backend.kv, ttl=60)
    token = await store.create("u1", method="password")
    found = await store.get(token)
    assert found is not None and found.user_id == "u1" and found.method == "password"
    assert await backend.kv.get(f"login-session:{token}") is None  # only the hash is a key
    assert await store.get(token + "x") is None
    assert await store.get("") is None
    assert await store.revoke(token)
    assert await store.get(token) is None


async def test_expires_after_ttl(backend: Backend) -> None:
    store = SessionStore(backend.kv, ttl=1)
    token = await store.create("u1", method="password")
    assert await store.get(token) is not None
    await asyncio.sleep(1.3)
    assert await store.get(token) is None


async def test_ttl_slides_when_used(backend: Backend) -> None:
    store = SessionStore(backend.kv, ttl=2)
    token = await store.create("u1", method="password")
    for _ in range(4):  # 2.4 s in total, longer than the TTL, but used every 0.6 s
        await asyncio.sleep(0.6)
        assert await store.get(token) is not None


async def test_revoke_all_ends_every_session_of_one_user(backend: Backend) -> None:
    store = SessionStore(backend.kv, ttl=60)
    first = await store.create("u1", method="password")
    second = await store.create("u1", method="twitch")
    other = await store.create("u2", method="password")
    await store.revoke_all("u1")
    assert await store.get(first) is None
    assert await store.get(second) is None
    assert await store.get(other) is not None
    fresh = await store.create("u1", method="password")
    assert await store.get(fresh) is not None


def test_cookie_secure_follows_the_public_url() -> None:
    assert cookie_secure("https://bot.example.com")
    assert not cookie_secure("http://127.0.0.1:8000")
