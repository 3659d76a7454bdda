"""The portal over plain HTTP on both stacks: CSRF, the security headers, the login form's
rate limit, forms that call the managers (errors next to the field), and 403 for pages the
viewer may not open."""

from __future__ import annotations

import re

import httpx
from sqlalchemy import select

from tests.portal.conftest import (
    MEMBER,
    OWNER,
    PASSWORD,
    csrf_of,
    logged_in,
    portal_bot,
    publish_dice,
)
from tests.support import chatter, set_role
from waddlebot.accounts.manager import create_user
from waddlebot.kernel.security.api_keys import create_api_key
from waddlebot.kernel.settings import Settings
from waddlebot.kernel.storage.models import Membership
from waddlebot.marketplace.catalogue import Catalogue


async def test_state_changing_posts_need_the_csrf_token(stack_settings: Settings) -> None:
    async with portal_bot(stack_settings) as bot, logged_in(bot) as browser:
        page = await browser.get(f"/portal/c/{bot.community_id}/commands")
        assert page.status_code == 200, page.text
        token = csrf_of(page.text)
        target = f"/portal/c/{bot.community_id}/commands/custom"
        form = {
            "name": "discord",
            "response": "hi {user}",
            "cooldown": "0",
            "role": "everyone",
            "enabled": "on",
        }

        refused = await browser.post(target, data=form)
        assert refused.status_code == 403
        assert "did not come from this site" in refused.text
        forged = await browser.post(target, data={**form, "csrf_token": "0" * 64})
        assert forged.status_code == 403
        async with logged_in(bot) as stranger:  # another browser's token is no good here
            await stranger.get("/portal/communities")
            replayed = await stranger.post(target, data={**form, "csrf_token": token})
            assert replayed.status_code == 403
        assert await bot.server.texts("!discord", user="bob") == []

        saved = await browser.post(target, data={**form, "csrf_token": token})
        assert saved.status_code == 303, saved.text
        assert await bot.server.texts("!discord", user="bob") == ["hi bob"]
        # htmx sends the token as a header
        preview = await browser.post(
            f"/portal/c/{bot.community_id}/commands/preview",
            data={"response": "hello {user}"},
            headers={"X-CSRF-Token": token, "HX-Request": "true"},
        )
        assert preview.status_code == 200 and "hello sample_user" in preview.text
        # logging out is a POST too
        assert (await browser.post("/portal/logout")).status_code == 403


async def test_headers_cookies_and_the_login_form(stack_settings: Settings) -> None:
    async with (
        portal_bot(stack_settings, login_attempts_per_email=2) as bot,
        httpx_client(bot.url) as browser,
    ):
        start = await browser.get("/portal")
        assert start.status_code == 303 and start.headers["location"] == "/portal/login"
        form = await browser.get("/portal/login")
        assert form.status_code == 200
        csp = form.headers["content-security-policy"]
        nonce = re.search(r"'nonce-([^']+)'", csp)
        assert nonce is not None and "unsafe-inline" not in csp
        scripts = re.findall(r"<script([^>]*)>", form.text)
        assert scripts and all(f'nonce="{nonce.group(1)}"' in s for s in scripts)
        cookie = form.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie
        assert 'for="email">Email<' in form.text and 'for="password">Password<' in form.text
        token = csrf_of(form.text)

        assert (await browser.post("/portal/login", data={"email": OWNER})).status_code == 403
        wrong = await browser.post(
            "/portal/login", data={"email": OWNER, "password": "nope", "csrf_token": token}
        )
        assert wrong.status_code == 401 and "Wrong e-mail or password." in wrong.text
        await browser.post(
            "/portal/login", data={"email": OWNER, "password": "no", "csrf_token": token}
        )
        limited = await browser.post(
            "/portal/login", data={"email": OWNER, "password": PASSWORD, "csrf_token": token}
        )
        assert limited.status_code == 429
        assert "Too many login attempts; try again in" in limited.text

        ok = await browser.post(
            "/portal/login",
            data={
                "email": MEMBER,
                "password": PASSWORD,
                "csrf_token": token,
                "next": "//evil.example/x",
            },
        )
        assert ok.status_code == 303 and ok.headers["location"] == "/portal/communities"
        session = ok.headers["set-cookie"].lower()
        assert "httponly" in session and "samesite=lax" in session
        assert "secure" not in session  # the public URL is http here


async def test_secure_cookies_behind_https() -> None:
    """The session cookie is Secure when the public URL is https (as the auth API's)."""
    from waddlebot.kernel.security.sessions import cookie_secure

    assert cookie_secure("https://bot.example.com") and not cookie_secure("http://127.0.0.1:8000")


async def test_a_member_without_permissions_gets_403(stack_settings: Settings) -> None:
    async with portal_bot(stack_settings) as bot:
        async with logged_in(bot, MEMBER) as browser:
            home = await browser.get(f"/portal/c/{bot.community_id}")
            assert home.status_code == 200
            assert "Recent commands" not in home.text
            for section in ("commands", "members", "overlays"):
                assert f'/{section}"' not in home.text
                page = await browser.get(f"/portal/c/{bot.community_id}/{section}")
                assert page.status_code == 403, section
                assert "permission" in page.text
            token = csrf_of(home.text)
            posted = await browser.post(
                f"/portal/c/{bot.community_id}/members",
                data={
                    "platform": "playground",
                    "username": "bob",
                    "role": "owner",
                    "csrf_token": token,
                },
            )
            assert posted.status_code == 403
            other = await browser.get("/portal/c/no-such-community")
            assert other.status_code == 403
        async with httpx_client(bot.url) as anonymous:
            away = await anonymous.get(f"/portal/c/{bot.community_id}/commands")
            assert away.status_code == 303
            assert away.headers["location"].startswith("/portal/login?next=/portal/c/")


async def test_form_errors_appear_next_to_their_field(stack_settings: Settings) -> None:
    async with portal_bot(stack_settings) as bot, logged_in(bot) as browser:
        base = f"/portal/c/{bot.community_id}"
        token = csrf_of((await browser.get(f"{base}/commands")).text)
        bad = await browser.post(
            f"{base}/commands/custom",
            data={
                "name": "ba d",
                "response": "x {nope}",
                "cooldown": "-1",
                "role": "everyone",
                "csrf_token": token,
            },
        )
        assert bad.status_code == 422
        assert re.search(r'id="name-error">[^<]*is not a command name', bad.text)
        assert re.search(r'id="response-error">[^<]*unknown variable \{nope\}', bad.text)
        assert 'id="cooldown-error"' in bad.text
        taken = await browser.post(
            f"{base}/commands/custom",
            data={
                "name": "help",
                "response": "x",
                "cooldown": "0",
                "role": "everyone",
                "csrf_token": token,
            },
        )
        assert taken.status_code == 422 and 'id="name-error"' in taken.text

        nobody = await browser.post(
            f"{base}/members",
            data={
                "platform": "playground",
                "username": "ghost",
                "role": "moderator",
                "csrf_token": token,
            },
        )
        assert (
            nobody.status_code == 422 and 'id="username-error">No one called ghost' in nobody.text
        )
        granted = await browser.post(
            f"{base}/members",
            data={
                "platform": "playground",
                "username": "@Bob",
                "role": "moderator",
                "csrf_token": token,
            },
        )
        assert granted.status_code == 303
        async with bot.runtime.db.read_session() as session:
            roles = set(
                await session.scalars(
                    select(Membership.role).where(Membership.community_id == bot.community_id)
                )
            )
        assert "moderator" in roles
        assert await bot.server.texts("!help", user="bob") != []


def httpx_client(url: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=url, timeout=30.0)


async def test_an_admin_manages_members_but_not_role_grants(stack_settings: Settings) -> None:
    """admin holds members.manage but not roles.manage: the grants form is hidden and refused."""
    async with portal_bot(stack_settings) as bot:
        await set_role(bot.server, bot.community_id, bot.member_id, "admin")
        async with logged_in(bot, MEMBER) as browser:
            page = await browser.get(f"/portal/c/{bot.community_id}/members")
            assert page.status_code == 200
            assert "its own grant" not in page.text
            refused = await browser.post(
                f"/portal/c/{bot.community_id}/roles/moderator",
                data={"permissions": "overlays.manage", "csrf_token": csrf_of(page.text)},
            )
            assert refused.status_code == 403 and "roles.manage" in refused.text
        async with logged_in(bot) as owner:
            page = await owner.get(f"/portal/c/{bot.community_id}/members")
            assert "Moderator: its own grant" in page.text
            saved = await owner.post(
                f"/portal/c/{bot.community_id}/roles/moderator",
                data={"permissions": "overlays.manage", "csrf_token": csrf_of(page.text)},
            )
            assert saved.status_code == 303
            bad = await owner.post(
                f"/portal/c/{bot.community_id}/roles/owner",
                data={"permissions": "overlays.manage", "csrf_token": csrf_of(page.text)},
            )
            assert bad.status_code == 422 and "owners hold every permission" in bad.text
        # moderators may now manage overlays (by default they may not)
        await set_role(bot.server, bot.community_id, bot.member_id, "moderator")
        async with logged_in(bot, MEMBER) as moderator:
            home = await moderator.get(f"/portal/c/{bot.community_id}")
            assert '/overlays"' in home.text and '/members"' not in home.text
            assert (
                await moderator.get(f"/portal/c/{bot.community_id}/overlays")
            ).status_code == 200


async def test_labels_created_applied_with_expiry_and_removed(stack_settings: Settings) -> None:
    async with portal_bot(stack_settings) as bot, logged_in(bot) as browser:
        base = f"/portal/c/{bot.community_id}/labels"
        page = await browser.get(base)
        assert page.status_code == 200
        token = csrf_of(page.text)
        bad = await browser.post(
            base, data={"name": "-x", "colour": "red", "description": "", "csrf_token": token}
        )
        assert bad.status_code == 422
        assert 'id="name-error"' in bad.text and 'id="colour-error">a colour looks like' in bad.text
        made = await browser.post(
            base,
            data={
                "name": "Stream crew",
                "colour": "#1e90ff",
                "description": "helps with the overlays",
                "permissions": "overlays.manage",
                "csrf_token": token,
            },
        )
        assert made.status_code == 303, made.text
        applied = await browser.post(
            f"{base}/apply",
            data={
                "label": "Stream crew",
                "platform": "playground",
                "username": "bob",
                "days": "7",
                "csrf_token": token,
            },
        )
        assert applied.status_code == 303, applied.text
        listed = (await browser.get(base)).text
        assert "Stream crew" in listed and "#1E90FF" in listed and "until 20" in listed
        bob = await chatter(bot.server, "bob")
        assert await bot.server.texts("!role", user="bob") != []  # chat still works
        removed = await browser.post(
            f"{base}/Stream%20crew/remove",
            data={"target_type": "user", "target_id": bob, "csrf_token": token},
        )
        assert removed.status_code == 303
        assert "until 20" not in (await browser.get(base)).text
        gone = await browser.post(f"{base}/Stream%20crew/delete", data={"csrf_token": token})
        assert gone.status_code == 303
        assert "Stream crew" not in (await browser.get(base)).text


async def test_modules_install_with_a_schema_form(stack_settings: Settings) -> None:
    async with portal_bot(stack_settings) as bot, logged_in(bot) as browser:
        await publish_dice(bot)
        base = f"/portal/c/{bot.community_id}/modules"
        listing = await browser.get(base, params={"q": "coin"})
        assert (
            listing.status_code == 200 and "dice" in listing.text and ">core<" not in listing.text
        )
        form = await browser.get(f"{base}/dice")
        assert 'name="config.max_sides" type="number" value="100" min="2" max="1000"' in form.text
        token = csrf_of(form.text)
        bad = await browser.post(
            f"{base}/dice",
            data={
                "config.max_sides": "1",
                "config.max_dice": "x",
                "enabled": "on",
                "csrf_token": token,
            },
        )
        assert bad.status_code == 422
        assert 'id="max_dice-error">&#39;x&#39; is not a whole number' in bad.text
        bad = await browser.post(
            f"{base}/dice",
            data={
                "config.max_sides": "1",
                "config.max_dice": "3",
                "enabled": "on",
                "csrf_token": token,
            },
        )
        assert bad.status_code == 422
        assert 'id="max_sides-error">1 is less than the minimum of 2' in bad.text
        ok = await browser.post(
            f"{base}/dice",
            data={
                "config.max_sides": "20",
                "config.max_dice": "3",
                "enabled": "on",
                "csrf_token": token,
            },
        )
        assert ok.status_code == 303, ok.text
        installs = await Catalogue(bot.runtime.db, bot.runtime.backend).installs(bot.community_id)
        assert [(row.module_name, row.config, row.enabled) for row, _ in installs] == [
            ("dice", {"max_sides": 20, "max_dice": 3}, True)
        ]
        off = await browser.post(f"{base}/dice/disable", data={"csrf_token": token})
        assert off.status_code == 303
        assert "<strong>disabled</strong>" in (await browser.get(base)).text
        gone = await browser.post(f"{base}/dice/uninstall", data={"csrf_token": token})
        assert gone.status_code == 303
        assert await Catalogue(bot.runtime.db, bot.runtime.backend).installs(bot.community_id) == []


async def test_built_in_commands_switched_and_tuned(stack_settings: Settings) -> None:
    async with portal_bot(stack_settings) as bot, logged_in(bot) as browser:
        base = f"/portal/c/{bot.community_id}/commands"
        token = csrf_of((await browser.get(base)).text)
        command = {"prefix": "!", "trigger": "ping", "csrf_token": token}
        tuned = await browser.post(
            f"{base}/builtin",
            data={
                **command,
                "user_cooldown": "30",
                "global_cooldown": "0",
                "min_role": "moderator",
            },
        )
        assert tuned.status_code == 303, tuned.text
        refused = await bot.server.texts("!ping", user="bob")
        assert refused and "moderator" in refused[0]
        assert await bot.server.texts("!ping", user="mod", role="moderator") != []
        bad = await browser.post(
            f"{base}/builtin",
            data={**command, "user_cooldown": "-5", "global_cooldown": "", "min_role": "everyone"},
        )
        assert bad.status_code == 422 and 'id="builtin-error">user_cooldown must be' in bad.text
        off = await browser.post(f"{base}/builtin", data={**command, "enabled": "false"})
        assert off.status_code == 303
        assert "disabled" in (await bot.server.texts("!ping", user="mod", role="moderator"))[0]


async def test_a_superuser_sees_every_community(stack_settings: Settings) -> None:
    async with portal_bot(stack_settings) as bot:
        await create_user(
            bot.runtime.db, email="root@example.com", password=PASSWORD, superuser=True
        )
        async with logged_in(bot, "root@example.com") as browser:
            listed = await browser.get("/portal/communities")
            assert f'href="/portal/c/{bot.community_id}"' in listed.text
            home = await browser.get(f"/portal/c/{bot.community_id}")
            assert "You administer this installation." in home.text
            for section in ("commands", "members", "labels", "modules", "overlays"):
                assert f'/{section}"' in home.text
            assert (await browser.get("/portal/c/no-such-community")).status_code == 404
        async with logged_in(bot, MEMBER) as member:  # a member sees only their communities
            other = await bot.server.texts("hello", user="zed", channel="elsewhere")
            assert other is not None
            listed = await member.get("/portal/communities")
            assert listed.text.count('href="/portal/c/') == 1


async def test_a_key_revoked_on_the_account_page_is_refused_at_once(
    stack_settings: Settings,
) -> None:
    async with portal_bot(stack_settings) as bot, logged_in(bot) as browser:
        key, row = await create_api_key(
            bot.runtime.db, name="script", scopes=["account"], user_id=bot.owner_id
        )
        headers = {"X-API-Key": key}
        async with httpx.AsyncClient(base_url=bot.url, timeout=30.0) as script:
            assert (await script.get("/api/auth/v1/me", headers=headers)).status_code == 200
            assert (await script.get("/api/auth/v1/me", headers=headers)).status_code == 200
            page = await browser.get("/portal/account")
            assert page.status_code == 200, page.text
            revoked = await browser.post(
                f"/portal/account/keys/{row.id}/revoke", data={"csrf_token": csrf_of(page.text)}
            )
            assert revoked.status_code in (200, 303), revoked.text
            assert (await script.get("/api/auth/v1/me", headers=headers)).status_code == 401
