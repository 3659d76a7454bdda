"""The portal in a real headless Chromium (Debian's package, driven by Playwright): log in,
pick the playground community, create a custom command through the form (live preview) and
hear the playground answer it, grant a role, copy an overlay URL and see its preview, create
an API key; a member without permissions sees neither the links nor the pages. axe-core
checks every page for serious or critical violations.

One browser and one server for the module. Screenshots land in ``test-artifacts/portal/``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Browser, Page, async_playwright, expect

from tests.conftest import IN_CI
from tests.portal.conftest import (
    MEMBER,
    OWNER,
    PASSWORD,
    PortalBot,
    portal_bot,
    publish_dice,
    request_songs,
)
from waddlebot.kernel.security.service_tokens import service_headers
from waddlebot.kernel.settings import Settings
from waddlebot.modules.ai.manager import AiBook, Installation, today

# One browser and one portal for the file: its tests share one xdist worker.
pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.xdist_group("portal-browser")]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "portal"
CHROMIUM = os.environ.get("WADDLEBOT_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 20_000  # generous: the CI machine may be busy


@pytest.fixture(scope="module", autouse=True)
def patient_assertions() -> Iterator[None]:
    """expect() waits as long as the pages do here; Playwright's default (5 s) afterwards."""
    expect.set_options(timeout=WAIT_MS)
    yield
    expect.set_options(timeout=5_000)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        message = (
            f"Chromium not found at {CHROMIUM}: install Debian's package "
            "(apt-get install chromium) or set WADDLEBOT_TEST_CHROMIUM"
        )
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def bot(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[PortalBot]:
    settings = Settings(  # type: ignore[arg-type]
        data_dir=tmp_path_factory.mktemp("portal") / "data",
        secret_key="test-secret",
        log_format="console",
    )
    async with portal_bot(settings) as started:
        await publish_dice(started)
        yield started


async def new_page(browser: Browser, width: int = 1280, height: int = 900) -> Page:
    context = await browser.new_context(viewport={"width": width, "height": height})
    await context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = await context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.set_default_navigation_timeout(WAIT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: console_error(errors, message.type, message.text))
    page.errors = errors  # type: ignore[attr-defined]
    return page


def console_error(errors: list[str], kind: str, text: str) -> None:
    """Script errors and CSP refusals count; a 401/403/422 answer the test asked for does not."""
    if kind == "error" and not text.startswith("Failed to load resource"):
        errors.append(text)


async def accessible(page: Page, name: str) -> None:
    """No serious or critical axe-core violations on the page; a screenshot for the docs."""
    results = await Axe().run(page)
    bad: list[dict[str, Any]] = [
        v for v in results.response["violations"] if v["impact"] in ("serious", "critical")
    ]
    assert not bad, f"{name}: " + "; ".join(
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:3]}" for v in bad
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"portal-{name}.png"), full_page=True)


async def log_in(page: Page, bot: PortalBot, email: str) -> None:
    await page.goto(f"{bot.url}/portal")
    await expect(page).to_have_url(f"{bot.url}/portal/login")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("heading", name="Communities")).to_be_visible()


async def test_an_owner_runs_the_community_from_the_portal(
    browser: Browser, bot: PortalBot
) -> None:
    page = await new_page(browser)
    await page.goto(f"{bot.url}/portal/login")
    await accessible(page, "login")
    await page.get_by_label("Email").fill(OWNER)
    await page.get_by_label("Password").fill("wrong password")
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("alert")).to_have_text("Wrong e-mail or password.")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("heading", name="Communities")).to_be_visible()
    await accessible(page, "communities")

    # pick the playground community, then its commands
    await page.get_by_role("link", name="lobby").first.click()
    await expect(page.get_by_role("heading", name="Channels")).to_be_visible()
    await accessible(page, "community")
    await page.get_by_role("navigation", name="lobby").get_by_role("link", name="Commands").click()
    await expect(page.get_by_role("heading", name="Commands", exact=True)).to_be_visible()

    await page.get_by_label("Name", exact=True).fill("discord")
    await page.get_by_label("Response", exact=True).fill(
        "Join us, {user}! You are visitor #{count}."
    )
    await expect(page.locator("#preview")).to_have_text(
        "WaddleBot Join us, sample_user! You are visitor #42."
    )
    await page.get_by_role("button", name="Save", exact=True).click()
    await expect(page.get_by_role("status").first).to_have_text("Saved the new command !discord.")
    await expect(page.get_by_role("cell", name="!discord", exact=True)).to_be_visible()
    await accessible(page, "commands")
    assert await bot.server.texts("!discord", user="bob") == ["Join us, bob! You are visitor #1."]

    # a bad template is refused next to its field, with the live preview saying why
    await page.get_by_label("Name", exact=True).fill("broken")
    await page.get_by_label("Response", exact=True).fill("Hi {nope}")
    await expect(page.locator("#preview .error")).to_contain_text("unknown variable {nope}")
    await page.get_by_role("button", name="Save", exact=True).click()
    await expect(page.locator("#response-error")).to_contain_text("unknown variable {nope}")
    await expect(page.get_by_label("Response", exact=True)).to_have_attribute(
        "aria-invalid", "true"
    )
    await accessible(page, "commands-error")

    # grant bob a role
    await page.get_by_role("link", name="Members and roles").click()
    await page.get_by_label("Username").fill("bob")
    await page.get_by_label("Role", exact=True).select_option("moderator")
    await page.get_by_role("button", name="Grant").click()
    await expect(page.get_by_role("status").first).to_have_text("bob now holds the role.")
    row = page.get_by_role("row").filter(has_text="playground: bob")
    await expect(row.get_by_role("cell", name="moderator")).to_be_visible()
    await accessible(page, "members")
    # what a role may do: give moderators overlays.manage
    moderators = page.locator("form").filter(has_text="Moderator: its own grant")
    await moderators.get_by_label("overlays.manage").check()
    await moderators.get_by_role("button", name="Save moderator").click()
    await expect(page.get_by_role("status").first).to_have_text(
        "Saved what the moderator role may do."
    )
    grants = page.get_by_role("region", name="What each role may do")
    moderator_row = grants.get_by_role("row").filter(has_text="changed")
    await expect(moderator_row).to_contain_text("moderator")
    await expect(moderator_row).to_contain_text("overlays.manage")

    # labels: create one, put it on bob for a week
    await page.get_by_role("link", name="Labels").click()
    await page.get_by_label("Name", exact=True).fill("Stream crew")
    await page.get_by_label("Description").fill("Runs the overlays")
    await page.get_by_role("checkbox", name="overlays.manage").check()
    await page.get_by_role("button", name="Create label").click()
    await expect(page.get_by_role("status").first).to_have_text("Created the label Stream crew.")
    person = page.get_by_role("region", name="Put a label on someone")
    await person.get_by_label("Username").fill("bob")
    await person.get_by_label("For how many days").fill("7")
    await page.get_by_role("button", name="Apply label").click()
    await expect(page.get_by_role("status").first).to_have_text("Applied Stream crew → bob.")
    await expect(page.get_by_role("button", name="Take Stream crew off bob")).to_be_visible()
    await accessible(page, "labels")

    # modules: install dice with a form made from its JSON Schema; a bad value is refused
    await page.get_by_role("link", name="Modules").click()
    await page.get_by_role("link", name="Install dice").click()
    await page.get_by_label("Max sides").fill("1")
    await page.get_by_label("Max sides").evaluate("field => field.removeAttribute('min')")
    await page.get_by_role("button", name="Install").click()
    await expect(page.locator("#max_sides-error")).to_have_text("1 is less than the minimum of 2")
    await accessible(page, "module-config")
    await page.get_by_label("Max sides").fill("20")
    await page.get_by_role("button", name="Install").click()
    await expect(page.get_by_role("status").first).to_have_text(
        "Saved dice: installed with this configuration."
    )
    await accessible(page, "modules")

    # overlays: copy a URL, see the preview show what the community pushes
    await page.get_by_role("link", name="Overlays").click()
    url_field = page.get_by_label("Ticker overlay URL")
    url = await url_field.input_value()
    assert url.startswith(f"{bot.url}/overlay/")
    await page.locator("#overlay-ticker").get_by_role("button", name="Copy").click()
    await expect(page.locator("#copied-ticker")).to_have_text("Copied to the clipboard.")
    assert await page.evaluate("navigator.clipboard.readText()") == url
    preview = page.frame_locator('iframe[title="Preview of the ticker overlay"]')
    await expect(preview.locator("body")).to_have_attribute("data-connected", "true")
    pushed = await bot.server.client.post(
        f"/api/browser-sources/v1/communities/{bot.community_id}/display",
        json={"kind": "ticker", "content": {"text": "Hello from the portal test"}},
        headers=service_headers(bot.runtime.settings.resolved_secret_key, "test"),
    )
    assert pushed.status_code == 202, pushed.text
    await expect(preview.locator("#ticker .item").first).to_have_text("Hello from the portal test")
    alerts = page.frame_locator('iframe[title="Preview of the alert overlay"]')
    await expect(alerts.locator("body")).to_have_attribute("data-connected", "true")
    await page.get_by_role("button", name="Send a test alert").click()
    await expect(page.locator("#test-alert-status")).to_contain_text("Sent a test alert")
    await expect(alerts.locator("#alert")).to_contain_text("Test alert from the portal")
    await page.wait_for_timeout(700)  # let the ticker rise in for the screenshot
    await accessible(page, "overlays")

    # my account: a key shown once
    await page.get_by_role("link", name="My account").click()
    await page.get_by_label("Key name").fill("stream deck")
    await page.get_by_label("communities:read").check()
    await page.get_by_role("button", name="Create key").click()
    key = await page.get_by_label("New API key").input_value()
    assert key.startswith("wbk_")
    answer = await bot.server.client.get(
        "/api/communities/v1/communities", headers={"Authorization": f"Bearer {key}"}
    )
    assert answer.status_code == 200 and answer.json()[0]["id"] == bot.community_id
    await accessible(page, "account")
    await page.reload()  # the page came by a redirect: reloading neither re-posts nor re-shows
    await expect(page.get_by_label("New API key")).to_have_count(0)
    await expect(page.get_by_role("cell", name="stream deck", exact=True)).to_be_visible()

    # the overview lists the latest commands from the execution log (written in batches)
    await page.get_by_role("link", name="Communities").click()
    await page.get_by_role("link", name="lobby").first.click()
    recent = page.get_by_role("row").filter(has_text="bob").filter(has_text="discord")
    for _ in range(20):
        if await recent.count():
            break
        await page.wait_for_timeout(250)
        await page.reload()
    await expect(recent.first).to_contain_text("ok")
    await accessible(page, "overview")

    await page.get_by_role("button", name="Log out").click()
    await expect(page).to_have_url(f"{bot.url}/portal/login")
    assert page.errors == []  # type: ignore[attr-defined]
    await page.context.close()


async def test_a_member_sees_neither_links_nor_pages(browser: Browser, bot: PortalBot) -> None:
    page = await new_page(browser, 390, 844)  # a phone
    await log_in(page, bot, MEMBER)
    await page.get_by_role("link", name="lobby").first.click()
    await expect(page.get_by_role("heading", name="Channels")).to_be_visible()
    for title in ("Commands", "Members and roles", "Overlays"):
        await expect(page.get_by_role("link", name=title)).to_have_count(0)
    await accessible(page, "member-phone")
    for section in ("commands", "members", "overlays"):
        answer = await page.goto(f"{bot.url}/portal/c/{bot.community_id}/{section}")
        assert answer is not None and answer.status == 403
        await expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    await accessible(page, "forbidden")
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390  # nothing spills sideways on a phone
    await page.context.close()


async def test_interaction_module_pages(browser: Browser, bot: PortalBot) -> None:
    """Each module page as the owner (axe; the music queue and the AI usage filled in), and a
    calendar event proposed in chat approved in the queue, then listed by ``!events``."""
    day = (datetime.now(UTC) + timedelta(days=5)).date()
    proposed = await bot.server.texts(f"!event add Launch party {day} 20:00 2h", user="carol")
    assert proposed and "is proposed" in proposed[0], proposed
    await request_songs(bot)  # the music page with a queue, the AI page with usage
    installation = Installation.from_settings(bot.runtime.settings)
    await AiBook(bot.runtime.db, installation, None).record(
        bot.community_id, bot.owner_id, today(), 420
    )
    page = await new_page(browser)
    await log_in(page, bot, OWNER)
    await page.get_by_role("link", name="lobby").first.click()
    community = page.get_by_role("navigation", name="lobby")
    for title, heading in (
        ("Quotes", "Quotes"),
        ("Reminders", "Reminders"),
        ("Inventory", "Inventory"),
        ("Shoutouts", "Shoutouts"),
        ("AI chat", "AI chat"),
        ("Music", "Music"),
        ("Calendar", "Calendar"),
    ):
        await community.get_by_role("link", name=title, exact=True).click()
        await expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
        await accessible(page, title.lower().replace(" ", "-"))
    await page.get_by_role("button", name="Approve event #1 Launch party").click()
    await expect(page.get_by_role("status").first).to_have_text('Approved event #1 "Launch party".')
    upcoming = page.get_by_role("region", name="Upcoming events")
    await expect(upcoming.get_by_role("cell", name="#1 Launch party", exact=True)).to_be_visible()
    await accessible(page, "calendar-approved")
    assert "Launch party" in " ".join(await bot.server.texts("!events", user="carol"))
    assert page.errors == []  # type: ignore[attr-defined]
    await page.context.close()


async def test_overview_chart_audit_aliases_and_platforms(browser: Browser, bot: PortalBot) -> None:
    """portal3's pages: the overview's SVG chart, the audit page's filters, an alias made in
    the Commands page, and the Platforms page of an installation administrator."""
    from waddlebot.accounts.manager import create_user

    page = await new_page(browser)
    await log_in(page, bot, OWNER)
    base = f"{bot.url}/portal/c/{bot.community_id}"
    await page.goto(base)
    await expect(
        page.get_by_role("img", name="Chat messages and commands per hour, last 7 days")
    ).to_be_visible()
    await accessible(page, "overview-chart")
    await page.goto(base + "/commands")
    await page.get_by_label("Alias name").fill("hb")
    await page.get_by_label("Runs").fill("!help")
    await page.get_by_role("button", name="Save alias").click()
    await expect(page.get_by_role("status")).to_have_text("Saved the alias !hb.")
    await page.get_by_label("Timer name").fill("hydrate")
    await page.get_by_label("Every", exact=True).fill("15m")
    await page.get_by_label("Says", exact=True).fill("Drink some water!")
    await page.get_by_role("button", name="Add timer").click()
    await expect(page.get_by_role("status")).to_have_text(
        "Added the timer hydrate; it speaks in its channel from now on."
    )
    await page.get_by_role("link", name="Edit the timer hydrate").click()
    await expect(page.get_by_label("Every", exact=True)).to_have_value("15m")
    await accessible(page, "timer-edit")
    # the audit store writes in batches off the request path: look again until it is there
    for _ in range(40):
        await page.goto(base + "/audit")
        await page.get_by_label("Category").select_option("AUDIT")
        await page.get_by_role("button", name="Filter").click()
        if await page.get_by_text("portal_alias_saved").count():
            break
        await asyncio.sleep(0.5)
    await expect(page.get_by_text("portal_alias_saved")).to_be_visible()
    await accessible(page, "audit")
    await page.context.close()

    await create_user(bot.runtime.db, email="root@example.com", password=PASSWORD, superuser=True)
    admin = await new_page(browser)
    await log_in(admin, bot, "root@example.com")
    await admin.get_by_role("link", name="Platforms").click()
    await expect(admin.get_by_role("heading", name="Discord")).to_be_visible()
    await accessible(admin, "platforms")
    assert not admin.errors  # type: ignore[attr-defined]
    await admin.context.close()
