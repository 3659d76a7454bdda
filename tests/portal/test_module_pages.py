"""The interaction modules' portal pages over plain HTTP on both stacks: each needs its
permission (403 and no link for others), a bad value is shown next to its field (422), and a
change made in the portal is what chat answers next."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI

from tests.portal.conftest import MEMBER, PASSWORD, PortalBot, csrf_of, logged_in
from tests.support import chatter, community_of, free_port, live_server, set_role
from waddlebot.accounts.manager import create_user
from waddlebot.accounts.service import AccountsService
from waddlebot.app import create_app
from waddlebot.collectors.playground.service import PlaygroundService
from waddlebot.communities.service import CommunitiesService
from waddlebot.kernel.settings import Settings
from waddlebot.kernel.storage.models import Community
from waddlebot.modules.calendar import module as calendar
from waddlebot.modules.core import module as core
from waddlebot.modules.inventory import module as inventory
from waddlebot.modules.members import module as members
from waddlebot.modules.memories import module as memories
from waddlebot.modules.shoutouts import module as shoutouts
from waddlebot.portal.service import PortalService
from waddlebot.router.host import standalone_host
from waddlebot.router.service import RouterService

OWNER = "ada@example.com"
MODULE_PAGES = ("quotes", "inventory", "calendar", "shoutouts")  # reminders: any role


def module_app(settings: Settings, *, router: bool = True) -> FastAPI:
    """The portal with the interaction modules (and, in split mode, without the router)."""
    services: list[Any] = [
        PlaygroundService(),
        CommunitiesService(),
        AccountsService(),
        PortalService(host=standalone_host),
    ]
    if router:
        services.insert(
            0, RouterService(modules=[core, members, memories, inventory, calendar, shoutouts])
        )
    return create_app(settings, instances=services)


@asynccontextmanager
async def module_bot(settings: Settings) -> AsyncIterator[PortalBot]:
    port = free_port()
    values = {**settings.model_dump(), "public_url": f"http://127.0.0.1:{port}"}
    async with live_server(module_app(Settings(**values)), port=port) as server:
        db = server.app.state.runtime.db
        community = await community_of(server)
        await chatter(server, "bob")
        owner = await create_user(db, email=OWNER, password=PASSWORD, display_name="Ada")
        member = await create_user(db, email=MEMBER, password=PASSWORD, display_name="Mo")
        await set_role(server, community, owner.id, "owner")
        await set_role(server, community, member.id, "member")
        yield PortalBot(server, community, owner.id, member.id)


async def test_module_pages_need_their_permission(stack_settings: Settings) -> None:
    async with module_bot(stack_settings) as bot:
        home = f"/portal/c/{bot.community_id}"
        async with logged_in(bot, MEMBER) as member:
            page = await member.get(home)
            assert page.status_code == 200
            for slug in MODULE_PAGES:
                assert f'href="{home}/{slug}"' not in page.text
                refused = await member.get(f"{home}/{slug}")
                assert refused.status_code == 403, slug
                assert "permission" in refused.text
        async with logged_in(bot) as owner:
            page = await owner.get(home)
            for slug in MODULE_PAGES:
                assert f'href="{home}/{slug}"' in page.text
                assert (await owner.get(f"{home}/{slug}")).status_code == 200, slug


async def test_calendar_queue_approves_what_chat_proposed(stack_settings: Settings) -> None:
    async with module_bot(stack_settings) as bot, logged_in(bot) as owner:
        day = (datetime.now(UTC) + timedelta(days=4)).date()
        proposed = await bot.server.texts(f"!event add Movie night {day} 20:00 2h", user="bob")
        assert proposed and "is proposed" in proposed[0], proposed
        await bot.server.texts(f"!event add Quiz {day} 21:00 1h", user="bob")
        base = f"/portal/c/{bot.community_id}/calendar"
        page = await owner.get(base)
        assert page.status_code == 200 and "Movie night" in page.text and "Quiz" in page.text
        assert "/api/calendar/v1/feeds/" in page.text
        token = csrf_of(page.text)
        assert (await owner.post(f"{base}/1/approve")).status_code == 403  # no CSRF token

        too_long = await owner.post(
            f"{base}/2/reject", data={"csrf_token": token, "reason": "x" * 301}
        )
        assert too_long.status_code == 422
        assert 'id="event-2-error"' in too_long.text and "at most 300" in too_long.text

        approved = await owner.post(f"{base}/1/approve", data={"csrf_token": token})
        assert approved.status_code == 303, approved.text
        assert "Movie night" in " ".join(await bot.server.texts("!events", user="bob"))
        again = await owner.post(f"{base}/1/approve", data={"csrf_token": token})
        assert again.status_code == 409 and "approved already" in again.text

        rejected = await owner.post(
            f"{base}/2/reject", data={"csrf_token": token, "reason": "busy"}
        )
        assert rejected.status_code == 303
        cancelled = await owner.post(f"{base}/1/cancel", data={"csrf_token": token})
        assert cancelled.status_code == 303
        assert "Movie night" not in " ".join(await bot.server.texts("!events", user="bob"))

        first = (await owner.get(base)).text
        rotated = await owner.post(f"{base}-feed/rotate", data={"csrf_token": token})
        assert rotated.status_code == 303
        second = (await owner.get(base)).text
        url = first.split('id="url-calendar" type="text" value="')[1].split('"')[0]
        assert url not in second
        assert (await owner.get(url)).status_code == 404


async def test_shoutout_settings_form(stack_settings: Settings) -> None:
    async with module_bot(stack_settings) as bot, logged_in(bot) as owner:
        base = f"/portal/c/{bot.community_id}/shoutouts"
        token = csrf_of((await owner.get(base)).text)
        form = {"csrf_token": token, "template": "Go see {name}!", "raid_min_viewers": "5"}
        bad = await owner.post(base, data={**form, "template": "Hi {nope}"})
        assert bad.status_code == 422
        assert 'id="template-error"' in bad.text and "Unknown placeholder {nope}" in bad.text
        negative = await owner.post(base, data={**form, "raid_min_viewers": "-1"})
        assert negative.status_code == 422 and 'id="raid_min_viewers-error"' in negative.text
        sound = await owner.post(base, data={**form, "card_art": "media:jingle.mp3"})
        assert sound.status_code == 422 and 'id="card_art-error"' in sound.text

        saved = await owner.post(
            base, data={**form, "auto_on_raid": "on", "card_art": "media:banner.png"}
        )
        assert saved.status_code == 303, saved.text
        assert 'value="media:banner.png"' in (await owner.get(base)).text
        [reply] = await bot.server.texts("!shoutouts", user="bob", role="broadcaster")
        assert "Shoutout template: Go see {name}!" in reply and "from 5 viewers" in reply


async def test_module_pages_work_in_a_portal_served_alone(stack_settings: Settings) -> None:
    """Served without the router (split mode), the portal builds the module host itself:
    the calendar and inventory pages show and save through the same managers."""
    port = free_port()
    values = {**stack_settings.model_dump(), "public_url": f"http://127.0.0.1:{port}"}
    async with live_server(module_app(Settings(**values), router=False), port=port) as server:
        db = server.app.state.runtime.db
        owner = await create_user(db, email=OWNER, password=PASSWORD, display_name="Ada")
        async with db.session() as session:
            row = Community(name="split")
            session.add(row)
            await session.flush()
            community = row.id
        await set_role(server, community, owner.id, "owner")
        bot = PortalBot(server, community, owner.id, owner.id)
        async with logged_in(bot) as browser:
            for slug in ("calendar", "inventory", "quotes"):
                page = await browser.get(f"/portal/c/{community}/{slug}")
                assert page.status_code == 200, (slug, page.text)
            base = f"/portal/c/{community}/inventory"
            token = csrf_of((await browser.get(base)).text)
            item = {"csrf_token": token, "name": "Badge", "stock": "3", "description": ""}
            created = await browser.post(f"{base}/items", data=item)
            assert created.status_code == 303, created.text
            assert "Badge" in (await browser.get(base)).text


async def test_quotes_and_links(stack_settings: Settings) -> None:
    async with module_bot(stack_settings) as bot, logged_in(bot) as owner:
        base = f"/portal/c/{bot.community_id}"
        token = csrf_of((await owner.get(f"{base}/quotes")).text)
        empty = await owner.post(f"{base}/quotes", data={"csrf_token": token, "text": "  "})
        assert empty.status_code == 422
        assert 'id="text-error"' in empty.text and "A quote needs some text." in empty.text
        unknown = await owner.post(
            f"{base}/quotes", data={"csrf_token": token, "text": "hi", "labels": "nosuch"}
        )
        assert unknown.status_code == 422 and 'id="labels-error"' in unknown.text

        for text in ("I never lose", "Trust me, it is fine", "Never again"):
            added = await owner.post(f"{base}/quotes", data={"csrf_token": token, "text": text})
            assert added.status_code == 303, added.text
        assert "I never lose" in " ".join(await bot.server.texts("!quote 1", user="bob"))
        found = await owner.get(f"{base}/quotes", params={"q": "never"})
        assert "I never lose" in found.text and "Never again" in found.text
        assert "Trust me" not in found.text

        edit_form = await owner.get(f"{base}/quotes/2")
        assert edit_form.status_code == 200 and 'id="edit_text"' in edit_form.text
        bad_edit = await owner.post(f"{base}/quotes/2", data={"csrf_token": token, "text": ""})
        assert bad_edit.status_code == 422 and 'id="edit_text-error"' in bad_edit.text
        edited = await owner.post(f"{base}/quotes/2", data={"csrf_token": token, "text": "Fine."})
        assert edited.status_code == 303
        assert "Fine." in " ".join(await bot.server.texts("!quote 2", user="bob"))
        removed = await owner.post(f"{base}/quotes/3/remove", data={"csrf_token": token})
        assert removed.status_code == 303
        assert "does not exist" in " ".join(await bot.server.texts("!quote 3", user="bob"))

        link = {"csrf_token": token, "url_name": "discord", "url_url": "notaurl"}
        bad_url = await owner.post(f"{base}/urls", data=link)
        assert bad_url.status_code == 422 and 'id="url_url-error"' in bad_url.text
        saved = await owner.post(f"{base}/urls", data={**link, "url_url": "https://discord.gg/x"})
        assert saved.status_code == 303, saved.text
        assert "https://discord.gg/x" in " ".join(
            await bot.server.texts("!url discord", user="bob")
        )
        gone = await owner.post(f"{base}/urls/discord/remove", data={"csrf_token": token})
        assert gone.status_code == 303
        assert "https://discord.gg/x" not in (await owner.get(f"{base}/quotes")).text


async def test_reminders_page_hides_private_texts_and_cancels(stack_settings: Settings) -> None:
    async with module_bot(stack_settings) as bot:
        await bot.server.texts("!remind me in 2h stretch your legs", user="bob")
        await bot.server.texts("!remind me in 3h --private call mom", user="bob")
        base = f"/portal/c/{bot.community_id}/reminders"
        async with logged_in(bot, MEMBER) as member:
            page = await member.get(base)
            assert page.status_code == 200
            assert "stretch your legs" in page.text and "call mom" not in page.text
            assert "(private)" in page.text and f"{base}/1/cancel" not in page.text
            refused = await member.post(f"{base}/1/cancel", data={"csrf_token": csrf_of(page.text)})
            assert refused.status_code == 403
        async with logged_in(bot) as owner:
            page = await owner.get(base)
            assert "call mom" in page.text
            token = csrf_of(page.text)
            for number in (1, 2):
                done = await owner.post(f"{base}/{number}/cancel", data={"csrf_token": token})
                assert done.status_code == 303, done.text
        assert "no reminders pending" in " ".join(await bot.server.texts("!reminders", user="bob"))


async def test_inventory_catalogue_grants_and_history(stack_settings: Settings) -> None:
    async with module_bot(stack_settings) as bot, logged_in(bot) as owner:
        base = f"/portal/c/{bot.community_id}/inventory"
        token = csrf_of((await owner.get(base)).text)
        item = {"csrf_token": token, "name": "Golden Ticket", "stock": "2", "description": "shiny"}
        bad = await owner.post(f"{base}/items", data={**item, "stock": "-1"})
        assert bad.status_code == 422 and 'id="stock-error"' in bad.text
        created = await owner.post(f"{base}/items", data=item)
        assert created.status_code == 303, created.text
        duplicate = await owner.post(f"{base}/items", data=item)
        assert duplicate.status_code in (409, 422) and 'id="name-error"' in duplicate.text

        grant = {
            "csrf_token": token,
            "action": "give",
            "grant_platform": "playground",
            "grant_username": "bob",
            "grant_item": "golden ticket",
            "quantity": "2",
        }
        nobody = await owner.post(f"{base}/grant", data={**grant, "grant_username": "zed"})
        assert nobody.status_code == 422 and 'id="grant_username-error"' in nobody.text
        too_many = await owner.post(f"{base}/grant", data={**grant, "quantity": "3"})
        assert too_many.status_code == 422 and 'id="grant_item-error"' in too_many.text
        gave = await owner.post(f"{base}/grant", data=grant)
        assert gave.status_code == 303, gave.text
        assert "2" in " ".join(await bot.server.texts("!inv", user="bob"))
        took = await owner.post(f"{base}/grant", data={**grant, "action": "take", "quantity": "1"})
        assert took.status_code == 303, took.text

        page = await owner.get(base, params={"platform": "playground", "username": "bob"})
        assert "1 × Golden Ticket" in page.text
        assert "give 2 × Golden Ticket" in page.text and "take 1 × Golden Ticket" in page.text

        listed = await owner.get(base)
        item_id = listed.text.split(f"{base}/items/")[1].split("/remove")[0]
        edit = await owner.get(base, params={"edit": item_id})
        assert 'value="shiny"' in edit.text
        renamed = await owner.post(
            f"{base}/items", data={**item, "item": item_id, "name": "Ticket"}
        )
        assert renamed.status_code == 303, renamed.text
        assert "Ticket" in " ".join(await bot.server.texts("!inv items", user="bob"))
        removed = await owner.post(f"{base}/items/{item_id}/remove", data={"csrf_token": token})
        assert removed.status_code == 303
        assert "No items yet." in (await owner.get(base)).text
