"""Password login, sessions, logout and password change on both stacks."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import update

from tests.accounts.conftest import AUTH, PASSWORD, Launcher, add_user, logged_in
from waddlebot.kernel.security.sessions import COOKIE_NAME, _key
from waddlebot.kernel.storage.models import User

# Logins read the user from the primary, so signing in right after an account is created or
# its password changed works against a replica too.
pytestmark = pytest.mark.replica_reads


async def test_login_sets_an_httponly_cookie_and_me_answers(launch: Launcher) -> None:
    async with launch() as bot:
        user = await add_user(bot)
        answer = await bot.client.post(
            f"{AUTH}/login", json={"email": "ADA@example.com ", "password": PASSWORD}
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["user"]["id"] == user.id
        cookie = answer.headers["set-cookie"]
        assert cookie.startswith(f"{COOKIE_NAME}=")
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
        me = await bot.client.get(f"{AUTH}/me")
        assert me.status_code == 200
        assert me.json() == {
            "id": user.id,
            "display_name": "ada",
            "email": "ada@example.com",
            "superuser": False,
            "kind": "person",
            "accounts": [],
        }


async def test_wrong_password_and_unknown_email_get_the_same_answer(launch: Launcher) -> None:
    async with launch() as bot:
        await add_user(bot)
        wrong = await bot.client.post(
            f"{AUTH}/login", json={"email": "ada@example.com", "password": "not the password"}
        )
        unknown = await bot.client.post(
            f"{AUTH}/login", json={"email": "nobody@example.com", "password": PASSWORD}
        )
        assert wrong.status_code == unknown.status_code == 401
        assert wrong.json() == unknown.json() == {"detail": "wrong e-mail or password"}
        assert COOKIE_NAME not in bot.client.cookies
        assert (await bot.client.get(f"{AUTH}/me")).status_code == 401


async def test_inactive_users_and_service_accounts_cannot_log_in(launch: Launcher) -> None:
    async with launch() as bot:
        user = await add_user(bot)
        browser = await logged_in(bot, "ada@example.com")
        async with bot.app.state.runtime.db.session() as session:
            await session.execute(update(User).where(User.id == user.id).values(is_active=False))
        assert (await browser.get(f"{AUTH}/me")).status_code == 401  # the live session, too
        await browser.aclose()
        refused = await bot.client.post(
            f"{AUTH}/login", json={"email": "ada@example.com", "password": PASSWORD}
        )
        assert refused.status_code == 401


async def test_login_is_rate_limited_per_email_and_per_ip(launch: Launcher) -> None:
    async with launch(login_attempts_per_email=3, login_attempts_per_ip=5) as bot:
        await add_user(bot)
        bad = {"email": "ada@example.com", "password": "guess guess guess"}
        for _ in range(3):
            assert (await bot.client.post(f"{AUTH}/login", json=bad)).status_code == 401
        limited = await bot.client.post(
            f"{AUTH}/login", json={"email": "ada@example.com", "password": PASSWORD}
        )
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) >= 1
        # Other e-mails from the same address: the per-IP limit (5) stops them too.
        other = {"email": "eve@example.com", "password": "guess guess guess"}
        assert (await bot.client.post(f"{AUTH}/login", json=other)).status_code == 401
        assert (await bot.client.post(f"{AUTH}/login", json=other)).status_code == 429


async def test_session_expires_after_its_ttl(launch: Launcher) -> None:
    async with launch(login_session_ttl=60) as bot:
        await add_user(bot)
        browser = await logged_in(bot, "ada@example.com")
        assert (await browser.get(f"{AUTH}/me")).status_code == 200
        # Make the stored session as good as expired (a 60 s minimum is too long to wait).
        kv = bot.app.state.runtime.backend.kv
        token = browser.cookies[COOKIE_NAME]
        raw = await kv.get(_key(token))
        assert raw is not None
        await kv.set(_key(token), raw, ttl=0.5)
        await asyncio.sleep(0.8)
        assert (await browser.get(f"{AUTH}/me")).status_code == 401
        await browser.aclose()


async def test_logout_ends_the_session_server_side(launch: Launcher) -> None:
    async with launch() as bot:
        await add_user(bot)
        browser = await logged_in(bot, "ada@example.com")
        token = browser.cookies[COOKIE_NAME]
        answer = await browser.post(f"{AUTH}/logout")
        assert answer.status_code == 204
        assert COOKIE_NAME not in browser.cookies
        # Replaying the old cookie (e.g. a stolen copy) no longer works.
        bot.client.cookies.set(COOKIE_NAME, token)
        assert (await bot.client.get(f"{AUTH}/me")).status_code == 401
        assert (await browser.post(f"{AUTH}/logout")).status_code == 401
        await browser.aclose()


async def test_a_session_reaches_other_services_within_its_rights(launch: Launcher) -> None:
    """Identity administration needs an installation-wide caller: a person is refused (403,
    authenticated), a superuser's session is admitted, no session is 401."""
    async with launch() as bot:
        await add_user(bot)
        root = await add_user(bot, "root@example.com", superuser=True)
        path = f"/api/identity/v1/users/{root.id}/identities"
        assert (await bot.client.get(path)).status_code == 401
        person = await logged_in(bot, "ada@example.com")
        assert (await person.get(path)).status_code == 403
        admin = await logged_in(bot, "root@example.com")
        assert (await admin.get(path)).status_code == 404  # admitted: root has no accounts
        await person.aclose()
        await admin.aclose()


async def test_password_change_revokes_the_other_sessions(launch: Launcher) -> None:
    async with launch() as bot:
        await add_user(bot)
        laptop = await logged_in(bot, "ada@example.com")
        phone = await logged_in(bot, "ada@example.com")
        new = "a much better passphrase"
        wrong = await laptop.post(
            f"{AUTH}/password", json={"current_password": "nope", "new_password": new}
        )
        assert wrong.status_code == 403
        weak = await laptop.post(
            f"{AUTH}/password", json={"current_password": PASSWORD, "new_password": "short"}
        )
        assert weak.status_code == 422 and "at least 12" in weak.json()["detail"]
        changed = await laptop.post(
            f"{AUTH}/password", json={"current_password": PASSWORD, "new_password": new}
        )
        assert changed.status_code == 204, changed.text
        assert (await laptop.get(f"{AUTH}/me")).status_code == 200  # got a fresh session
        assert (await phone.get(f"{AUTH}/me")).status_code == 401
        old = {"email": "ada@example.com", "password": PASSWORD}
        assert (await bot.client.post(f"{AUTH}/login", json=old)).status_code == 401
        fresh = await logged_in(bot, "ada@example.com", new)
        await fresh.aclose()
        await laptop.aclose()
        await phone.aclose()


async def test_bad_login_bodies_are_422(launch: Launcher) -> None:
    async with launch() as bot:
        for body in ({}, {"email": "a@b.c"}, {"email": "x", "password": "y" * 2000}):
            answer = await bot.client.post(f"{AUTH}/login", json=body)
            assert answer.status_code == 422, body
