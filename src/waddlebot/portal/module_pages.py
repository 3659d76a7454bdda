"""The portal's pages for interaction modules: quotes and saved links, reminders, inventory,
the calendar approval queue and feed URL, shoutout settings.

Each page needs the permission the module's REST API asks for its writes, and calls the same
manager the module's routes call (one validation: a refusal is shown next to its field). The
module managers use the module host (scheduler, labels…): the router's in ``waddlebot up``, the
one ``PortalService`` builds when served alone (``router/host.standalone_host``). A portal
composed without either says so on the calendar and inventory pages (503) rather than failing
half-way.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Request, Response, status

from waddlebot.kernel.errors import Conflict, Forbidden, Invalid, NotFound
from waddlebot.portal.form_tools import back as _done
from waddlebot.portal.form_tools import notice_of
from waddlebot.portal.web import (
    Who,
    audit,
    enter_community,
    one,
    read_form,
    render,
    runtime_of,
)

CALENDAR = "calendar.approve"
SHOUTOUTS = "shoutouts.manage"
MEMORIES = "memories.manage"
QUOTES_PER_PAGE = 20
INVENTORY = "inventory.manage"
HISTORY_PER_PAGE = 20


NOTICES = {
    "approved": "Approved event {name}.",
    "rejected": "Rejected event {name}.",
    "cancelled": "Cancelled event {name}.",
    "feed-rotated": "New feed URL; the old one stopped working.",
    "feed-revoked": "Revoked the feed URL; opening this page issues a new one.",
    "shoutouts-saved": "Saved the shoutout settings.",
    "quote-added": "Added quote {name}.",
    "quote-edited": "Saved quote {name}.",
    "quote-removed": "Removed quote {name}.",
    "url-added": "Saved the link {name}.",
    "url-removed": "Removed the link {name}.",
    "reminder-cancelled": "Cancelled reminder {name}.",
    "item-created": "Created the item {name}.",
    "item-updated": "Saved the item {name}.",
    "item-removed": "Removed the item {name} and everyone's units of it.",
    "gave": "Gave {name}.",
    "took": "Took {name}.",
}


def _notice(request: Request) -> str | None:
    return notice_of(request, NOTICES)


def _needs_router(request: Request) -> Response | None:
    """The notice page when the router (and so the module host) is not in this process."""
    if runtime_of(request).module_host is not None:
        return None
    return render(
        request,
        "modules_pages/needs_router.html",
        {},
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
    )


def _number(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No such event.") from None
    if not 1 <= number <= 2**31 - 1:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No such event.")
    return number


def add_interaction_pages(api: APIRouter) -> None:
    """Add the interaction modules' pages to the portal's router."""

    # --- calendar ----------------------------------------------------------------------

    async def _calendar_page(
        request: Request,
        community_id: str,
        *,
        errors: dict[str, str] | None = None,
        reasons: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> Response:
        from waddlebot.modules.calendar.api import community_zone, event_book, feed_tokens
        from waddlebot.modules.calendar.models import APPROVED, PENDING

        book = event_book(request)
        zone = ZoneInfo(await community_zone(request, community_id))
        pending = await book.listing(community_id, PENDING, limit=100, upcoming=True)
        approved = await book.listing(community_id, APPROVED, limit=100, upcoming=True)
        return render(
            request,
            "modules_pages/calendar.html",
            {
                "pending": pending,
                "approved": approved,
                "zone": zone,
                "feed": await feed_tokens(request).url(community_id),
                "errors": errors or {},
                "reasons": reasons or {},
                "notice": _notice(request),
            },
            status_code=status_code,
        )

    @api.get("/c/{community_id}/calendar")
    async def calendar(community_id: str, request: Request, viewer: Who) -> Response:
        await enter_community(request, viewer, community_id, CALENDAR)
        return _needs_router(request) or await _calendar_page(request, community_id)

    @api.post("/c/{community_id}/calendar/{number}/{action}")
    async def decide_event(
        community_id: str, number: str, action: str, request: Request, viewer: Who
    ) -> Response:
        """Approve, reject (with a reason) or cancel an event, as the REST routes do."""
        from waddlebot.modules.calendar.api import event_book, tell_proposer
        from waddlebot.modules.calendar.manager import remind_minutes_of
        from waddlebot.sdk import web

        await enter_community(request, viewer, community_id, CALENDAR)
        fields = await read_form(request)
        if action not in ("approve", "reject", "cancel"):
            raise HTTPException(status.HTTP_404_NOT_FOUND, "No such action.")
        blocked = _needs_router(request)
        if blocked is not None:
            return blocked
        event = _number(number)
        book = event_book(request)
        reason = one(fields, "reason", 400)
        field = f"event-{event}"
        try:
            if action == "approve":
                info = await book.decide(
                    community_id,
                    event,
                    approve=True,
                    decider=viewer.user_id,
                    remind_minutes=await remind_minutes_of(web.database(request), community_id),
                )
                await tell_proposer(request, book, info, "is approved")
            elif action == "reject":
                info = await book.decide(
                    community_id, event, approve=False, decider=viewer.user_id, reason=reason
                )
                outcome = f"was not approved: {info.reason}" if info.reason else "was not approved"
                await tell_proposer(request, book, info, outcome)
            else:
                info = await book.cancel(community_id, event, who=viewer.user_id, may_approve=True)
                if info.proposed_by != viewer.user_id:
                    await tell_proposer(request, book, info, "is cancelled")
        except (Invalid, Conflict, Forbidden) as refused:
            audit(request, f"calendar_{action}", "refused", community=community_id, event=event)
            return await _calendar_page(
                request,
                community_id,
                errors={field: refused.message},
                reasons={field: reason},
                status_code=refused.status,
            )
        audit(request, f"calendar_{action}", community=community_id, event=event)
        notice = {"approve": "approved", "reject": "rejected", "cancel": "cancelled"}[action]
        return _done(request, f"/c/{community_id}/calendar", notice, info.label)

    @api.post("/c/{community_id}/calendar-feed/{action}")
    async def feed(community_id: str, action: str, request: Request, viewer: Who) -> Response:
        """Rotate or revoke the iCalendar feed URL (the REST ``/feed`` routes)."""
        from waddlebot.modules.calendar.api import feed_tokens

        await enter_community(request, viewer, community_id, CALENDAR)
        await read_form(request)
        if action == "rotate":
            await feed_tokens(request).rotate(community_id)
        elif action == "revoke":
            await feed_tokens(request).revoke(community_id)
        else:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "No such action.")
        audit(request, f"calendar_feed_{action}", community=community_id)
        return _done(request, f"/c/{community_id}/calendar", f"feed-{action}d")

    # --- quotes and saved URLs ------------------------------------------------------------

    async def _quotes_page(
        request: Request,
        community_id: str,
        *,
        form: dict[str, Any] | None = None,
        url_form: dict[str, Any] | None = None,
        edit_form: dict[str, Any] | None = None,
        errors: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> Response:
        from waddlebot.modules.memories.quotes import rest_book
        from waddlebot.modules.memories.url_book import UrlBook
        from waddlebot.sdk import web

        query = request.query_params
        search = query.get("q", "")[:200]
        label = query.get("label", "")[:51]
        try:
            page = max(1, min(int(query.get("page", "1")), 10_000_000))
        except ValueError:
            page = 1
        errors = dict(errors or {})
        try:
            total, quotes = await rest_book(request).listing(
                community_id,
                search=search or None,
                label=label or None,
                limit=QUOTES_PER_PAGE,
                offset=(page - 1) * QUOTES_PER_PAGE,
            )
        except Invalid as bad:
            errors["q"] = bad.message
            total, quotes = 0, []
            status_code = status.HTTP_422_UNPROCESSABLE_CONTENT
        pages = max(1, -(-total // QUOTES_PER_PAGE))
        links = await UrlBook(web.database(request)).listing(community_id)

        def page_link(number: int) -> str:
            return "?" + urlencode({"q": search, "label": label, "page": number})

        return render(
            request,
            "modules_pages/quotes.html",
            {
                "quotes": quotes,
                "total": total,
                "page": page,
                "pages": pages,
                "previous": page_link(page - 1) if page > 1 else None,
                "next": page_link(page + 1) if page < pages else None,
                "search": search,
                "label": label,
                "links": links,
                "form": form or {"text": "", "game": "", "labels": ""},
                "url_form": url_form or {"name": "", "url": "", "description": ""},
                "edit_form": edit_form,
                "errors": errors,
                "notice": _notice(request),
            },
            status_code=status_code,
        )

    @api.get("/c/{community_id}/quotes")
    async def quotes(community_id: str, request: Request, viewer: Who) -> Response:
        await enter_community(request, viewer, community_id, MEMORIES)
        return await _quotes_page(request, community_id)

    @api.get("/c/{community_id}/quotes/{number}")
    async def edit_quote_form(
        community_id: str, number: str, request: Request, viewer: Who
    ) -> Response:
        from waddlebot.modules.memories.quotes import rest_book

        await enter_community(request, viewer, community_id, MEMORIES)
        found = await rest_book(request).get(community_id, _number(number))
        edit = {"number": found.number, "text": found.text}
        return await _quotes_page(request, community_id, edit_form=edit)

    @api.post("/c/{community_id}/quotes")
    async def add_quote(community_id: str, request: Request, viewer: Who) -> Response:
        """Add a quote as ``POST …/quotes`` does (labels must exist; one is checked first)."""
        from waddlebot.modules.memories.models_quotes import GAME_MAX
        from waddlebot.modules.memories.quote_book import QuoteDraft, clean_short, clean_text
        from waddlebot.modules.memories.quotes import display_name, rest_book

        await enter_community(request, viewer, community_id, MEMORIES)
        fields = await read_form(request)
        form = {
            "text": one(fields, "text", 1200),
            "game": one(fields, "game", 300),
            "labels": one(fields, "labels", 600),
        }
        labels = tuple(name for name in form["labels"].replace(",", " ").split() if name)
        errors: dict[str, str] = {}
        try:
            clean_text(form["text"])
        except Invalid as bad:
            errors["text"] = bad.message
        try:
            clean_short(form["game"], GAME_MAX, "game")
        except Invalid as bad:
            errors["game"] = bad.message
        if len(labels) > 10:
            errors["labels"] = "A quote carries at most 10 labels."
        if not errors:
            draft = QuoteDraft(
                text=form["text"],
                added_by=viewer.user_id,
                added_by_name=await display_name(request, viewer.principal),
                game=form["game"],
                labels=labels,
            )
            try:
                added = await rest_book(request).add(community_id, draft)
            except (Invalid, NotFound) as refused:
                errors["labels"] = refused.message
            else:
                audit(request, "quote_add", community=community_id, quote=added.number)
                return _done(
                    request, f"/c/{community_id}/quotes", "quote-added", f"#{added.number}"
                )
        audit(request, "quote_add", "refused", community=community_id)
        return await _quotes_page(
            request,
            community_id,
            form=form,
            errors=errors,
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        )

    @api.post("/c/{community_id}/quotes/{number}")
    async def edit_quote(community_id: str, number: str, request: Request, viewer: Who) -> Response:
        from waddlebot.modules.memories.quotes import rest_book

        await enter_community(request, viewer, community_id, MEMORIES)
        fields = await read_form(request)
        quote = _number(number)
        text = one(fields, "text", 1200)
        try:
            await rest_book(request).edit(community_id, quote, text)
        except Invalid as bad:
            audit(request, "quote_edit", "refused", community=community_id, quote=quote)
            return await _quotes_page(
                request,
                community_id,
                edit_form={"number": quote, "text": text},
                errors={"edit_text": bad.message},
                status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
            )
        audit(request, "quote_edit", community=community_id, quote=quote)
        return _done(request, f"/c/{community_id}/quotes", "quote-edited", f"#{quote}")

    @api.post("/c/{community_id}/quotes/{number}/remove")
    async def remove_quote(
        community_id: str, number: str, request: Request, viewer: Who
    ) -> Response:
        from waddlebot.modules.memories.quotes import rest_book

        await enter_community(request, viewer, community_id, MEMORIES)
        await read_form(request)
        quote = _number(number)
        await rest_book(request).remove(community_id, quote)
        audit(request, "quote_remove", community=community_id, quote=quote)
        return _done(request, f"/c/{community_id}/quotes", "quote-removed", f"#{quote}")

    @api.post("/c/{community_id}/urls")
    async def add_url(community_id: str, request: Request, viewer: Who) -> Response:
        """Save a link as ``POST …/urls`` does (the community's allowed domains apply)."""
        from waddlebot.modules.memories.quotes import display_name
        from waddlebot.modules.memories.url_book import (
            UrlBook,
            check_url,
            clean_description,
            clean_name,
        )
        from waddlebot.modules.memories.urls import allowed_domains
        from waddlebot.sdk import web

        await enter_community(request, viewer, community_id, MEMORIES)
        fields = await read_form(request)
        form = {
            "name": one(fields, "url_name", 60),
            "url": one(fields, "url_url", 2100),
            "description": one(fields, "url_description", 400),
        }
        allowed = await allowed_domains(request, community_id)
        errors: dict[str, str] = {}
        for field, check in (
            ("name", clean_name),
            ("url", lambda value: check_url(value, allowed)),
            ("description", clean_description),
        ):
            try:
                check(form[field])
            except Invalid as bad:
                errors[field] = bad.message
        if not errors:
            try:
                saved = await UrlBook(web.database(request)).add(
                    community_id,
                    form["name"],
                    form["url"],
                    form["description"],
                    allowed=allowed,
                    added_by=viewer.user_id,
                    added_by_name=await display_name(request, viewer.principal),
                )
            except (Invalid, Conflict) as refused:
                errors["name"] = refused.message
            else:
                audit(request, "url_add", community=community_id, url=saved.name)
                return _done(request, f"/c/{community_id}/quotes", "url-added", saved.name)
        audit(request, "url_add", "refused", community=community_id)
        return await _quotes_page(
            request,
            community_id,
            url_form=form,
            errors={f"url_{k}": v for k, v in errors.items()},
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        )

    @api.post("/c/{community_id}/urls/{name}/remove")
    async def remove_url(community_id: str, name: str, request: Request, viewer: Who) -> Response:
        from waddlebot.modules.memories.url_book import UrlBook
        from waddlebot.sdk import web

        await enter_community(request, viewer, community_id, MEMORIES)
        await read_form(request)
        removed = await UrlBook(web.database(request)).remove(community_id, name[:60])
        audit(request, "url_remove", community=community_id, url=removed.name)
        return _done(request, f"/c/{community_id}/quotes", "url-removed", removed.name)

    # --- reminders -------------------------------------------------------------------------

    @api.get("/c/{community_id}/reminders")
    async def reminders(community_id: str, request: Request, viewer: Who) -> Response:
        """Pending reminders for members (as ``GET …/reminders``): the text of a private one
        only for its setter, its target and holders of memories.manage."""
        from waddlebot.modules.memories.reminders_manager import ReminderBook
        from waddlebot.sdk import web

        here = await enter_community(request, viewer, community_id)
        manages = MEMORIES in here.allowed
        found = await ReminderBook(web.database(request)).pending(community_id)
        rows = [
            {
                "info": info,
                "text": info.text
                if manages
                or not info.private
                or viewer.user_id in (info.set_by, info.target.user_id)
                else None,
                "cancel": manages or info.set_by == viewer.user_id,
                "due": info.due_at.astimezone(ZoneInfo(info.time_zone)),
            }
            for info in found
        ]
        return render(
            request,
            "modules_pages/reminders.html",
            {"reminders": rows, "notice": _notice(request)},
        )

    @api.post("/c/{community_id}/reminders/{number}/cancel")
    async def cancel_reminder(
        community_id: str, number: str, request: Request, viewer: Who
    ) -> Response:
        """Cancel one: your own, or anyone's with memories.manage (as ``DELETE``)."""
        from waddlebot.modules.memories.module import module as memories
        from waddlebot.modules.memories.reminders_manager import ReminderBook
        from waddlebot.sdk import web

        here = await enter_community(request, viewer, community_id)
        await read_form(request)
        book = ReminderBook(web.database(request))
        reminder = _number(number)
        info = await book.get(community_id, reminder)
        if info.set_by != viewer.user_id and MEMORIES not in here.allowed:
            audit(request, "reminder_cancel", "denied", community=community_id, reminder=reminder)
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                "Only whoever set this reminder or someone with memories.manage can cancel it.",
            )
        cancelled = await book.cancel(community_id, reminder, viewer.user_id, may_manage=True)
        if cancelled.job_id:
            await web.scheduler(request).cancel(memories.name, community_id, cancelled.job_id)
        audit(request, "reminder_cancel", community=community_id, reminder=reminder)
        return _done(request, f"/c/{community_id}/reminders", "reminder-cancelled", f"#{reminder}")

    # --- inventory -------------------------------------------------------------------------

    def _inventory(request: Request) -> Any:
        """The manager the inventory REST API builds (its labels come from the router host)."""
        from waddlebot.modules.inventory.manager import InventoryManager
        from waddlebot.sdk import web

        return InventoryManager(web.database(request), web.host(request).labels())

    async def _inventory_page(
        request: Request,
        community_id: str,
        *,
        item_form: dict[str, Any] | None = None,
        grant_form: dict[str, Any] | None = None,
        errors: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> Response:
        from sqlalchemy import select

        from waddlebot.identity.lookup import find_account
        from waddlebot.kernel.storage.models import User

        here = request.state.here
        manager = _inventory(request)
        query = request.query_params
        errors = dict(errors or {})
        items = await manager.items(community_id)
        if item_form is None and query.get("edit"):
            found = await manager.item(community_id, query["edit"][:100])
            item_form = {
                "item": found.id,
                "name": found.name,
                "description": found.description,
                "stock": "" if found.stock is None else str(found.stock),
                "labels": " ".join(found.labels),
            }
        platforms = sorted({e.platform for e in here.community.entities}) or ["playground"]
        holder = {"platform": query.get("platform", platforms[0])[:20], "username": ""}
        holdings = None
        if query.get("username"):
            holder["username"] = query["username"][:100]
            account = await find_account(
                runtime_of(request).db, holder["platform"], holder["username"]
            )
            if account is None:
                errors["username"] = (
                    f"No one called {holder['username'].lstrip('@')} is known on "
                    f"{holder['platform']} yet."
                )
            else:
                holdings = await manager.holdings(community_id, user_id=account.user_id, limit=500)
        try:
            offset = max(0, min(int(query.get("offset", "0")), 10_000_000))
        except ValueError:
            offset = 0
        changes = await manager.history(community_id, limit=HISTORY_PER_PAGE + 1, offset=offset)
        people = {c.from_user for c in changes} | {c.to_user for c in changes}
        people |= {c.actor for c in changes}
        async with runtime_of(request).db.read_session() as session:
            names = {
                row.id: row.display_name
                for row in await session.scalars(
                    select(User).where(User.id.in_([p for p in people if p]))
                )
            }
        return render(
            request,
            "modules_pages/inventory.html",
            {
                "items": items,
                "item_form": item_form
                or {"item": "", "name": "", "description": "", "stock": "", "labels": ""},
                "grant_form": grant_form
                or {
                    "action": "give",
                    "platform": platforms[0],
                    "username": "",
                    "item": "",
                    "quantity": "1",
                    "reason": "",
                },
                "platforms": platforms,
                "holder": holder,
                "holdings": holdings,
                "history": changes[:HISTORY_PER_PAGE],
                "names": names,
                "newer": max(0, offset - HISTORY_PER_PAGE) if offset else None,
                "older": offset + HISTORY_PER_PAGE if len(changes) > HISTORY_PER_PAGE else None,
                "errors": errors,
                "notice": _notice(request),
            },
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT
            if errors and status_code == 200
            else status_code,
        )

    @api.get("/c/{community_id}/inventory")
    async def inventory(community_id: str, request: Request, viewer: Who) -> Response:
        await enter_community(request, viewer, community_id, INVENTORY)
        return _needs_router(request) or await _inventory_page(request, community_id)

    @api.post("/c/{community_id}/inventory/items")
    async def save_item(community_id: str, request: Request, viewer: Who) -> Response:
        """Create an item, or (with ``item``) change one, as the REST POST/PATCH do."""
        from waddlebot.modules.inventory.manager import check_name, check_stock
        from waddlebot.sdk.web import actor

        await enter_community(request, viewer, community_id, INVENTORY)
        fields = await read_form(request)
        blocked = _needs_router(request)
        if blocked is not None:
            return blocked
        form = {
            "item": one(fields, "item", 40),
            "name": one(fields, "name", 200),
            "description": one(fields, "description", 600),
            "stock": one(fields, "stock", 20).strip(),
            "labels": one(fields, "labels", 1200),
        }
        labels = [name for name in form["labels"].replace(",", " ").split() if name]
        errors: dict[str, str] = {}
        try:
            check_name(form["name"])
        except Invalid as bad:
            errors["name"] = bad.message
        stock: int | None = None
        try:
            stock = check_stock(int(form["stock"])) if form["stock"] else None
        except ValueError:
            errors["stock"] = "The stock is a whole number, or empty for unlimited."
        except Invalid as bad:
            errors["stock"] = bad.message
        if len(labels) > 20:
            errors["labels"] = "An item carries at most 20 labels."
        if not errors:
            manager = _inventory(request)
            who = actor(viewer.principal)
            try:
                if form["item"]:
                    changes = {
                        "name": form["name"],
                        "description": form["description"],
                        "stock": stock,
                        "labels": labels,
                    }
                    info = await manager.update(community_id, form["item"], changes, who=who)
                else:
                    info = await manager.create(
                        community_id,
                        form["name"],
                        description=form["description"],
                        stock=stock,
                        labels=labels,
                        who=who,
                    )
            except (Invalid, Conflict, NotFound) as refused:
                message = refused.message
                lowered = message.lower()
                field = next((f for f in ("label", "stock", "description") if f in lowered), "name")
                errors["labels" if field == "label" else field] = message
            else:
                notice = "item-updated" if form["item"] else "item-created"
                audit(request, "inventory_item_save", community=community_id, item=info.id)
                return _done(request, f"/c/{community_id}/inventory", notice, info.name)
        audit(request, "inventory_item_save", "refused", community=community_id)
        return await _inventory_page(
            request,
            community_id,
            item_form=form,
            errors=errors,
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        )

    @api.post("/c/{community_id}/inventory/items/{item}/remove")
    async def remove_item(community_id: str, item: str, request: Request, viewer: Who) -> Response:
        from waddlebot.sdk.web import actor

        await enter_community(request, viewer, community_id, INVENTORY)
        await read_form(request)
        blocked = _needs_router(request)
        if blocked is not None:
            return blocked
        manager = _inventory(request)
        info = await manager.item(community_id, item[:100])
        await manager.remove(community_id, info.id, who=actor(viewer.principal))
        audit(request, "inventory_item_remove", community=community_id, item=info.id)
        return _done(request, f"/c/{community_id}/inventory", "item-removed", info.name)

    @api.post("/c/{community_id}/inventory/grant")
    async def grant(community_id: str, request: Request, viewer: Who) -> Response:
        """Give units out of stock, or take units back (REST ``POST …/grants``)."""
        from waddlebot.identity.lookup import find_account
        from waddlebot.modules.inventory.manager import check_quantity
        from waddlebot.sdk.web import actor

        await enter_community(request, viewer, community_id, INVENTORY)
        fields = await read_form(request)
        blocked = _needs_router(request)
        if blocked is not None:
            return blocked
        form = {
            "action": "take" if one(fields, "action", 10) == "take" else "give",
            "platform": one(fields, "grant_platform", 20),
            "username": one(fields, "grant_username", 100).strip(),
            "item": one(fields, "grant_item", 200),
            "quantity": one(fields, "quantity", 20).strip(),
            "reason": one(fields, "reason", 400),
        }
        errors: dict[str, str] = {}
        quantity = 1
        try:
            quantity = check_quantity(int(form["quantity"]))
        except ValueError:
            errors["quantity"] = "The quantity is a whole number, e.g. 3."
        except Invalid as bad:
            errors["quantity"] = bad.message
        account = (
            await find_account(runtime_of(request).db, form["platform"], form["username"])
            if form["username"]
            else None
        )
        if account is None:
            errors["grant_username"] = (
                f"No one called {form['username'].lstrip('@')} is known on "
                f"{form['platform']} yet: they must have chatted once."
            )
        if not errors and account is not None:
            manager = _inventory(request)
            who = actor(viewer.principal)
            try:
                if form["action"] == "give":
                    done = await manager.give(
                        community_id,
                        account.user_id,
                        form["item"],
                        quantity,
                        who=who,
                        reason=form["reason"],
                    )
                else:
                    done = await manager.take(
                        community_id,
                        account.user_id,
                        form["item"],
                        quantity,
                        who=who,
                        reason=form["reason"],
                        name=account.username or form["username"],
                    )
            except (Invalid, Conflict, NotFound) as refused:
                lowered = refused.message.lower()
                errors["reason" if "reason" in lowered else "grant_item"] = refused.message
            else:
                audit(
                    request,
                    f"inventory_{form['action']}",
                    community=community_id,
                    target=account.user_id,
                    item=done.item if done else form["item"],
                    quantity=quantity,
                )
                notice = "gave" if form["action"] == "give" else "took"
                item_name = done.item if done else form["item"]
                return _done(
                    request,
                    f"/c/{community_id}/inventory",
                    notice,
                    f"{quantity} × {item_name} ({form['username'].lstrip('@')})",
                )
        audit(request, f"inventory_{form['action']}", "refused", community=community_id)
        return await _inventory_page(
            request,
            community_id,
            grant_form=form,
            errors=errors,
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        )

    # --- shoutouts ---------------------------------------------------------------------

    async def _shoutouts_page(
        request: Request,
        community_id: str,
        *,
        form: dict[str, Any] | None = None,
        errors: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> Response:
        if form is None:
            current = await (await _shoutout_manager(request, community_id)).current()
            form = {
                "template": current.template,
                "auto_on_raid": current.auto_on_raid,
                "raid_min_viewers": str(current.raid_min_viewers),
                "card_art": current.card_art or "",
            }
        from waddlebot.modules.shoutouts.settings import ALLOWED

        return render(
            request,
            "modules_pages/shoutouts.html",
            {
                "form": form,
                "errors": errors or {},
                "placeholders": ALLOWED,
                "notice": _notice(request),
            },
            status_code=status_code,
        )

    @api.get("/c/{community_id}/shoutouts")
    async def shoutouts(community_id: str, request: Request, viewer: Who) -> Response:
        await enter_community(request, viewer, community_id, SHOUTOUTS)
        return await _shoutouts_page(request, community_id)

    @api.post("/c/{community_id}/shoutouts")
    async def save_shoutouts(community_id: str, request: Request, viewer: Who) -> Response:
        from waddlebot.modules.shoutouts.settings import (
            check_card_art,
            check_min_viewers,
            check_template,
        )

        await enter_community(request, viewer, community_id, SHOUTOUTS)
        fields = await read_form(request)
        form: dict[str, Any] = {
            "template": one(fields, "template", 2000),
            "auto_on_raid": one(fields, "auto_on_raid") == "on",
            "raid_min_viewers": one(fields, "raid_min_viewers", 20).strip(),
            "card_art": one(fields, "card_art", 80).strip(),
        }
        errors: dict[str, str] = {}
        if form["card_art"]:
            try:
                check_card_art(form["card_art"])
            except Invalid as bad:
                errors["card_art"] = bad.message
        try:
            check_template(form["template"])
        except Invalid as bad:
            errors["template"] = bad.message
        viewers = 0
        try:
            viewers = check_min_viewers(int(form["raid_min_viewers"]))
        except ValueError:
            errors["raid_min_viewers"] = "The raid minimum is a whole number of viewers, 0 or more."
        except Invalid as bad:
            errors["raid_min_viewers"] = bad.message
        if not errors:
            manager = await _shoutout_manager(request, community_id)
            await manager.change(
                {
                    "template": form["template"],
                    "auto_on_raid": form["auto_on_raid"],
                    "raid_min_viewers": viewers,
                    "card_art": form["card_art"] or None,
                }
            )
            audit(request, "shoutouts_settings", community=community_id)
            return _done(request, f"/c/{community_id}/shoutouts", "shoutouts-saved")
        audit(request, "shoutouts_settings", "refused", community=community_id)
        return await _shoutouts_page(
            request,
            community_id,
            form=form,
            errors=errors,
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        )


async def _shoutout_manager(request: Request, community_id: str) -> Any:
    """The same manager (and 404 for an unknown community) as the shoutouts REST API."""
    from waddlebot.modules.shoutouts.api import settings_manager

    return await settings_manager(request, community_id)
