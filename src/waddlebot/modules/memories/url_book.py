"""``UrlBook``: a community's named links, shared by chat and REST, and the one URL check.

Only absolute ``http``/``https`` URLs with a real host are kept: no other scheme
(``javascript:``, ``data:``, ``file:``), no ``user:password@``, no whitespace, control
characters or backslashes (browsers read ``\\`` as ``/``, which hides the real host), a valid
port. A community may restrict hosts to an allow-list (module config ``url_domains``; a domain
allows its subdomains; empty allows any).
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from waddlebot.kernel.errors import Conflict, Invalid, NotFound
from waddlebot.modules.memories.models_quotes import (
    NAME_MAX,
    URL_DESCRIPTION_MAX,
    URL_MAX,
    SavedUrl,
)
from waddlebot.modules.memories.quote_book import aware, require_community
from waddlebot.sdk.database import ModuleDatabase

NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,49}$")
RESERVED = frozenset({"add", "help", "list", "remove"})  # !url's subcommands
UNSAFE = re.compile(r"[\x00-\x20\x7f\\]")
HOST_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
INVISIBLE = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp"})  # incl. zero-width and bidi marks
URLS_MAX = 500  # per community


@dataclass(frozen=True, slots=True)
class UrlView:
    name: str
    url: str
    description: str
    added_by: str | None
    added_by_name: str
    created_at: datetime


def _view(row: SavedUrl) -> UrlView:
    return UrlView(
        name=row.name,
        url=row.url,
        description=row.description,
        added_by=row.added_by,
        added_by_name=row.added_by_name,
        created_at=aware(row.created_at),
    )


def clean_name(name: str) -> str:
    cleaned = name.strip().lower()
    if not NAME.match(cleaned):
        raise Invalid(
            f"{name[:50]} is not a link name: use 1-50 letters, digits, - or _, "
            "starting with a letter or digit."
        )
    if cleaned in RESERVED:
        raise Invalid(f"{cleaned} is a word !url uses itself; pick another name.")
    return cleaned


def clean_domains(domains: Any) -> list[str]:
    """The configured allow-list as lowercase host names (``*.`` and dots trimmed)."""
    if not isinstance(domains, list):
        return []
    cleaned = []
    for domain in domains:
        if isinstance(domain, str) and domain.strip():
            cleaned.append(domain.strip().lower().removeprefix("*.").strip("."))
    return cleaned


def _host(raw: str) -> str:
    """The host in ASCII (IDNA), lowercased; Invalid when it is not a host name or address."""
    host = raw.rstrip(".").lower()
    if not host:
        raise Invalid("That link has no host.")
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        pass
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        raise Invalid(f"{raw[:100]} is not a valid host name.") from None
    labels = ascii_host.split(".")
    if len(ascii_host) > 253 or not all(HOST_LABEL.match(label) for label in labels):
        raise Invalid(f"{raw[:100]} is not a valid host name.")
    return ascii_host


def check_url(url: str, allowed: Sequence[str] = ()) -> str:
    """``url`` as stored (trimmed), or Invalid saying what is wrong with it."""
    url = url.strip()
    if not url:
        raise Invalid("A link needs a URL.")
    if len(url) > URL_MAX:
        raise Invalid(f"A link is at most {URL_MAX} characters.")
    if UNSAFE.search(url) or any(unicodedata.category(c) in INVISIBLE for c in url):
        raise Invalid("A link cannot contain spaces, control characters or backslashes.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise Invalid("That is not a valid URL.") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise Invalid("Only http:// and https:// links can be saved.")
    if not url.lower().startswith(f"{parts.scheme.lower()}://"):
        raise Invalid("That is not a valid URL.")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise Invalid("Links with a user name or password in them cannot be saved.")
    if parts.hostname is None:
        raise Invalid("That link has no host.")
    if port is not None and port == 0:
        raise Invalid("That is not a valid URL.")
    host = _host(parts.hostname)
    if allowed and not any(host == d or host.endswith("." + d) for d in allowed):
        raise Invalid(f"Links to {host} are not allowed here (allowed: {', '.join(allowed)}).")
    return url


def clean_description(text: str) -> str:
    cleaned = " ".join(text.split())
    if CONTROL.search(cleaned):
        raise Invalid("A description cannot contain control characters.")
    if len(cleaned) > URL_DESCRIPTION_MAX:
        raise Invalid(f"A description is at most {URL_DESCRIPTION_MAX} characters.")
    return cleaned


class UrlBook:
    """Save, show, list and remove a community's named links."""

    def __init__(self, db: ModuleDatabase) -> None:
        self.db = db

    async def add(
        self,
        community_id: str,
        name: str,
        url: str,
        description: str = "",
        *,
        allowed: Sequence[str] = (),
        added_by: str | None = None,
        added_by_name: str = "",
    ) -> UrlView:
        row = SavedUrl(
            community_id=community_id,
            name=clean_name(name),
            url=check_url(url, allowed),
            description=clean_description(description),
            added_by=added_by,
            added_by_name=" ".join(added_by_name.split())[:NAME_MAX],
        )
        try:
            async with self.db.session() as session:
                # write first: SQLite takes its write lock before anything is read
                session.add(row)
                await session.flush()
                count = await session.scalar(
                    select(func.count())
                    .select_from(SavedUrl)
                    .where(SavedUrl.community_id == community_id)
                )
                if int(count or 0) > URLS_MAX:
                    raise Conflict(f"This community has {URLS_MAX} links; remove some first.")
        except IntegrityError:
            await require_community(self.db, community_id)
            raise Conflict(f"There is already a link called {row.name}; remove it first.") from None
        return _view(row)

    async def get(self, community_id: str, name: str) -> UrlView:
        wanted = name.strip().lower()
        async with self.db.read_session() as session:
            row = await session.scalar(
                select(SavedUrl).where(
                    SavedUrl.community_id == community_id, SavedUrl.name == wanted
                )
            )
        if row is None:
            raise NotFound(f"There is no link called {wanted[:50]} here. Try !url list.")
        return _view(row)

    async def listing(self, community_id: str) -> list[UrlView]:
        async with self.db.read_session() as session:
            rows = await session.scalars(
                select(SavedUrl)
                .where(SavedUrl.community_id == community_id)
                .order_by(SavedUrl.name)
            )
            return [_view(row) for row in rows]

    async def remove(self, community_id: str, name: str) -> UrlView:
        wanted = name.strip().lower()
        async with self.db.session() as session:
            row = await session.scalar(
                delete(SavedUrl)
                .where(SavedUrl.community_id == community_id, SavedUrl.name == wanted)
                .returning(SavedUrl)
            )
            if row is None:
                raise NotFound(f"There is no link called {wanted[:50]} here.")
        return _view(row)
