"""``QuoteBook``: every rule about a community's quotes, shared by chat, REST and the importer.

Numbers come from the kernel's per-community counter (``next_number``, kind ``quote``), bumped
as the *first* statement of the transaction inserting the quote: on PostgreSQL the row lock
orders concurrent adds, on SQLite the write lock is taken before anything is read, so two adds
never get the same number and a removed number is never handed out again.

Labels live in the core label tables, on items ``quote:<number>`` (numbers are stable), through
:class:`waddlebot.sdk.labels.LabelOperations`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, and_, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from waddlebot.kernel.errors import Invalid, NotFound
from waddlebot.kernel.storage.models import Community
from waddlebot.modules.memories.models_quotes import (
    GAME_MAX,
    NAME_MAX,
    QUOTE_TEXT_MAX,
    Quote,
)
from waddlebot.sdk.database import ModuleDatabase, next_number, on_user_merge, utcnow
from waddlebot.sdk.labels import LabelError, LabelOperations

ITEM_PREFIX = "quote:"
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
NEWLINES = re.compile(r"\s*[\r\n]+\s*")
SEARCH_WORDS_MAX = 10


@dataclass(frozen=True, slots=True)
class QuoteDraft:
    """A quote about to be stored (from chat, REST or an import)."""

    text: str
    added_by: str | None = None
    added_by_name: str = ""
    game: str = ""
    quoted_at: datetime | None = None
    labels: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class QuoteView:
    """A stored quote as chat and REST show it."""

    number: int
    text: str
    added_by: str | None
    added_by_name: str
    game: str
    quoted_at: datetime
    updated_at: datetime
    labels: list[str] = field(default_factory=list)


def item_id(number: int) -> str:
    return f"{ITEM_PREFIX}{number}"


def clean_text(text: str) -> str:
    """The quote as stored: one line, no control characters, within the length limit."""
    cleaned = NEWLINES.sub(" ", text).strip()
    if not cleaned:
        raise Invalid("A quote needs some text.")
    if CONTROL.search(cleaned):
        raise Invalid("A quote cannot contain control characters.")
    if len(cleaned) > QUOTE_TEXT_MAX:
        raise Invalid(f"A quote is at most {QUOTE_TEXT_MAX} characters.")
    return cleaned


def clean_short(value: str, limit: int, what: str) -> str:
    cleaned = " ".join(value.split())
    if CONTROL.search(cleaned):
        raise Invalid(f"The {what} cannot contain control characters.")
    if len(cleaned) > limit:
        raise Invalid(f"The {what} is at most {limit} characters.")
    return cleaned


def aware(moment: datetime) -> datetime:
    """A stored time as aware UTC (SQLite hands back naive UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _view(row: Quote, labels: list[str] | None = None) -> QuoteView:
    return QuoteView(
        number=row.number,
        text=row.text,
        added_by=row.added_by,
        added_by_name=row.added_by_name,
        game=row.game,
        quoted_at=aware(row.quoted_at),
        updated_at=aware(row.updated_at),
        labels=labels or [],
    )


class QuoteBook:
    """Add, find, change and remove a community's quotes."""

    def __init__(self, db: ModuleDatabase, labels: LabelOperations | None = None) -> None:
        self.db = db
        self.labels = labels

    # --- writing ------------------------------------------------------------------------

    async def add(self, community_id: str, draft: QuoteDraft) -> QuoteView:
        """Store one quote under the community's next number, then put its labels on it.

        Labels are checked before anything is written; should labelling still fail (a label
        deleted in between), the quote is taken out again and the refusal raised.
        """
        labels = await self._existing_labels(community_id, draft.labels)
        [row] = await self._insert(community_id, [draft])
        applied: list[str] = []
        if labels:
            operations = self._label_operations()
            try:
                for label in labels:
                    applied.append(
                        await operations.label_item(
                            community_id, label, item_id(row.number), who=draft.added_by
                        )
                    )
            except Exception:
                await self._delete(community_id, row.number)
                await operations.forget_item(community_id, item_id(row.number))
                raise
        return _view(row, applied)

    async def add_many(self, community_id: str, drafts: Sequence[QuoteDraft]) -> list[QuoteView]:
        """Store every draft (an import) in one transaction, numbered in order; no labels."""
        if not drafts:
            return []
        return [_view(row) for row in await self._insert(community_id, list(drafts))]

    async def edit(self, community_id: str, number: int, text: str) -> QuoteView:
        cleaned = clean_text(text)
        async with self.db.session() as session:
            # write first: SQLite takes its write lock before anything is read
            changed = await session.execute(
                update(Quote)
                .where(Quote.community_id == community_id, Quote.number == number)
                .values(text=cleaned, updated_at=utcnow())
            )
            if not getattr(changed, "rowcount", 0):
                raise NotFound(f"Quote #{number} does not exist.")
            row = await self._row(session, community_id, number)
        return await self._with_labels(community_id, row)

    async def remove(self, community_id: str, number: int) -> QuoteView:
        """Delete the quote (its number stays used) and the labels on it."""
        async with self.db.session() as session:
            row = await session.scalar(
                delete(Quote)
                .where(Quote.community_id == community_id, Quote.number == number)
                .returning(Quote)
            )
            if row is None:
                raise NotFound(f"Quote #{number} does not exist.")
        if self.labels is not None:
            await self.labels.forget_item(community_id, item_id(number))
        return _view(row)

    # --- reading ------------------------------------------------------------------------

    async def get(self, community_id: str, number: int) -> QuoteView:
        async with self.db.read_session() as session:
            row = await self._row(session, community_id, number)
        return await self._with_labels(community_id, row)

    async def random(self, community_id: str, label: str | None = None) -> QuoteView:
        """A random quote (carrying ``label``); NotFound with a reply-ready message."""
        query = select(Quote).where(Quote.community_id == community_id)
        if label is not None:
            numbers = await self._numbers_labelled(community_id, label)
            if not numbers:
                raise NotFound(f"No quote is labelled #{label.lstrip('#')} here.")
            query = query.where(Quote.number.in_(numbers))
        async with self.db.read_session() as session:
            row = await session.scalar(query.order_by(func.random()).limit(1))
        if row is None:
            if label is not None:
                raise NotFound(f"No quote is labelled #{label.lstrip('#')} here.")
            raise NotFound("There are no quotes here yet. Add one with !quote add TEXT.")
        return await self._with_labels(community_id, row)

    async def search(
        self, community_id: str, words: Sequence[str], *, limit: int = 5
    ) -> tuple[int, list[QuoteView]]:
        """How many quotes contain every word (case ignored), and the first ``limit`` of them
        by number."""
        total, rows = await self.listing(community_id, search=" ".join(words), limit=limit)
        return total, rows

    async def listing(
        self,
        community_id: str,
        *,
        search: str | None = None,
        label: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[int, list[QuoteView]]:
        """One page of quotes by number (matching ``search`` words, carrying ``label``) and
        how many match in all."""
        conditions: list[ColumnElement[bool]] = [Quote.community_id == community_id]
        if search is not None and search.strip():
            words = search.split()
            if len(words) > SEARCH_WORDS_MAX:
                raise Invalid(f"Search for at most {SEARCH_WORDS_MAX} words.")
            conditions.extend(
                func.lower(Quote.text).contains(word.lower(), autoescape=True) for word in words
            )
        if label is not None and label.strip():
            conditions.append(Quote.number.in_(await self._numbers_labelled(community_id, label)))
        where = and_(*conditions)
        page = select(Quote).where(where).order_by(Quote.number).limit(limit).offset(offset)
        async with self.db.read_session() as session:
            total = int(await session.scalar(select(func.count()).where(where)) or 0)
            rows = list(await session.scalars(page))
        labels = await self._labels_of(community_id, [row.number for row in rows])
        return total, [_view(row, labels_for(labels, row.number)) for row in rows]

    async def texts(self, community_id: str) -> set[str]:
        """Every quote text of the community (an import skips what is already there)."""
        async with self.db.read_session() as session:
            rows = await session.scalars(
                select(Quote.text).where(Quote.community_id == community_id)
            )
            return set(rows)

    async def count(self, community_id: str) -> int:
        async with self.db.read_session() as session:
            found = await session.scalar(
                select(func.count()).select_from(Quote).where(Quote.community_id == community_id)
            )
        return int(found or 0)

    # --- internals ----------------------------------------------------------------------

    async def _insert(self, community_id: str, drafts: list[QuoteDraft]) -> list[Quote]:
        cleaned = [
            (
                clean_text(draft.text),
                clean_short(draft.added_by_name, NAME_MAX, "name"),
                clean_short(draft.game, GAME_MAX, "game"),
            )
            for draft in drafts
        ]
        try:
            return await self._store(community_id, drafts, cleaned)
        except IntegrityError:
            await require_community(self.db, community_id)
            raise

    async def _store(
        self, community_id: str, drafts: list[QuoteDraft], cleaned: list[tuple[str, str, str]]
    ) -> list[Quote]:
        async with self.db.session() as session:
            last = await next_number(session, community_id, "quote", count=len(drafts))
            first = last - len(drafts) + 1
            now = utcnow()
            rows = [
                Quote(
                    community_id=community_id,
                    number=first + index,
                    text=text,
                    added_by=draft.added_by,
                    added_by_name=name,
                    game=game,
                    quoted_at=aware(draft.quoted_at or now),
                    created_at=now,
                    updated_at=now,
                )
                for index, (draft, (text, name, game)) in enumerate(
                    zip(drafts, cleaned, strict=True)
                )
            ]
            session.add_all(rows)
        return rows

    async def _delete(self, community_id: str, number: int) -> None:
        async with self.db.session() as session:
            await session.execute(
                delete(Quote).where(Quote.community_id == community_id, Quote.number == number)
            )

    @staticmethod
    async def _row(session: AsyncSession, community_id: str, number: int) -> Quote:
        row = await session.scalar(
            select(Quote).where(Quote.community_id == community_id, Quote.number == number)
        )
        if row is None:
            raise NotFound(f"Quote #{number} does not exist.")
        return row

    def _label_operations(self) -> LabelOperations:
        if self.labels is None:
            raise Invalid("Labels are not available here.")
        return self.labels

    async def _existing_labels(self, community_id: str, wanted: Sequence[str]) -> list[str]:
        """``wanted`` spelled as the community's labels are; NotFound naming a missing one."""
        names = [name.strip().lstrip("#") for name in wanted if name.strip().lstrip("#")]
        if not names:
            return []
        try:
            listed = await self._label_operations().community_labels(community_id)
        except LabelError as refusal:  # chat's wording of a refusal (no such community)
            raise NotFound(refusal.message) from None
        known = {label.name.lower(): label.name for label in listed}
        found: list[str] = []
        for name in names:
            spelled = known.get(name.lower())
            if spelled is None:
                raise NotFound(f"There is no label #{name} here (create it first with !label).")
            if spelled not in found:
                found.append(spelled)
        return found

    async def _numbers_labelled(self, community_id: str, label: str) -> list[int]:
        if self.labels is None:
            return []
        ids = await self.labels.items_labelled(community_id, label.strip().lstrip("#"), ITEM_PREFIX)
        return [int(i[len(ITEM_PREFIX) :]) for i in ids if i[len(ITEM_PREFIX) :].isdigit()]

    async def _labels_of(self, community_id: str, numbers: list[int]) -> dict[int, list[str]]:
        """The label names on each quote number (none where the host offers no labels)."""
        if self.labels is None or not numbers:
            return {}
        found = await self.labels.item_labels(community_id, [item_id(n) for n in numbers])
        return {int(key[len(ITEM_PREFIX) :]): value for key, value in found.items()}

    async def _with_labels(self, community_id: str, row: Quote) -> QuoteView:
        labels = await self._labels_of(community_id, [row.number])
        return _view(row, labels_for(labels, row.number))


async def require_community(db: ModuleDatabase, community_id: str) -> None:
    """NotFound when the community does not exist (a write named one that is gone)."""
    async with db.read_session() as session:
        found = await session.scalar(select(Community.id).where(Community.id == community_id))
    if found is None:
        raise NotFound(f"There is no community {community_id[:40]!r}.")


def labels_for(labels: dict[int, list[str]], number: int) -> list[str]:
    return sorted(labels.get(number, []), key=str.lower)


@on_user_merge
async def merge_quote_authors(session: AsyncSession, absorbed: str, kept: str) -> None:
    """Quotes and links someone added follow them when two users are merged."""
    from waddlebot.modules.memories.models_quotes import SavedUrl

    for model in (Quote, SavedUrl):
        await session.execute(update(model).where(model.added_by == absorbed).values(added_by=kept))
