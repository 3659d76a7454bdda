"""The inventory's data: the one place chat, REST, platform grants and identity merges change
items and holdings.

Every change is one transaction that starts by locking the item's row (an ``UPDATE …
RETURNING``: a row lock on PostgreSQL, the write lock on SQLite, taken before anything is
read), so changes of one item are serialised; stock and holdings then move with conditional
``UPDATE``s (``… WHERE stock_left >= n``, ``… WHERE quantity >= n``) whose row counts are
checked, and a history row is written in the same transaction. Two gives of the last unit
never both succeed and a send of more than one holds is refused, on either engine.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from waddlebot.kernel.errors import Conflict, Invalid, NotFound
from waddlebot.kernel.storage.models import Community, User
from waddlebot.modules.inventory.models import InventoryChange, InventoryHolding, InventoryItem
from waddlebot.sdk.database import ModuleDatabase, new_id, on_user_merge, utcnow
from waddlebot.sdk.labels import LabelError, LabelOperations

MAX_NAME = 100
MAX_DESCRIPTION = 500
MAX_REASON = 200
MAX_QUANTITY = 1_000_000
MAX_ITEMS = 500
ITEM_PREFIX = "item:"


def item_key(name: str) -> str:
    """How names compare: trimmed, inner spaces collapsed, case ignored."""
    return " ".join(name.split()).lower()


def check_name(name: str) -> str:
    """A catalogue name as it will be shown; :class:`Invalid` for empty or overlong ones."""
    clean = " ".join(name.split())
    if not clean:
        raise Invalid("An item needs a name.")
    if len(clean) > MAX_NAME:
        raise Invalid(f"An item's name is at most {MAX_NAME} characters.")
    if clean.startswith("@"):
        raise Invalid("An item's name cannot start with @.")
    return clean


def check_quantity(quantity: int) -> int:
    if not 1 <= quantity <= MAX_QUANTITY:
        raise Invalid(f"The quantity must be 1 to {MAX_QUANTITY:,}.")
    return quantity


def check_stock(stock: int | None) -> int | None:
    if stock is not None and not 0 <= stock <= 1_000_000_000:
        raise Invalid("The stock must be 0 to 1,000,000,000 (or none for unlimited).")
    return stock


def label_id(item_id: str) -> str:
    """The id an item carries in the labels tables."""
    return f"{ITEM_PREFIX}{item_id}"


@dataclass(frozen=True, slots=True)
class ItemInfo:
    id: str
    name: str
    description: str
    stock: int | None
    stock_left: int | None
    held: int
    labels: list[str]
    created_by: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class HoldingInfo:
    user_id: str
    item_id: str
    item: str
    quantity: int


@dataclass(frozen=True, slots=True)
class Transfer:
    """What a give/take/send left: the item, how many moved, what the people now hold."""

    item: str
    quantity: int
    to_held: int | None  # the receiver's units after (give, send)
    from_held: int | None  # the giver's units after (take, send)
    stock_left: int | None


@dataclass(frozen=True, slots=True)
class ChangeInfo:
    id: str
    action: str
    item_id: str | None
    item: str
    actor: str | None
    from_user: str | None
    to_user: str | None
    quantity: int
    reason: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class _Locked:
    id: str
    name: str
    stock: int | None
    stock_left: int | None


class InventoryManager:
    """A community's catalogue, holdings and history over the installation's database.

    ``labels`` (the host's label operations) shows and filters items by label; without it
    items simply carry none.
    """

    def __init__(self, db: ModuleDatabase, labels: LabelOperations | None = None) -> None:
        self.db = db
        self.labels = labels

    # --- catalogue ------------------------------------------------------------------------

    async def items(self, community_id: str, label: str | None = None) -> list[ItemInfo]:
        """The catalogue by name; with ``label`` only the items carrying it."""
        async with self.db.read_session() as session:
            query = select(InventoryItem).where(InventoryItem.community_id == community_id)
            if label is not None:
                ids = await self._labelled(community_id, label)
                query = query.where(InventoryItem.id.in_(ids))
            rows = list((await session.scalars(query.order_by(InventoryItem.name_key))).all())
            held = await self._held(session, [row.id for row in rows])
        return await self._infos(community_id, rows, held)

    async def item(self, community_id: str, name_or_id: str) -> ItemInfo:
        async with self.db.read_session() as session:
            row = await self._find(session, community_id, name_or_id)
            held = await self._held(session, [row.id])
        [info] = await self._infos(community_id, [row], held)
        return info

    async def create(
        self,
        community_id: str,
        name: str,
        *,
        description: str = "",
        stock: int | None = None,
        labels: Sequence[str] = (),
        who: str | None = None,
    ) -> ItemInfo:
        name = check_name(name)
        description = _description(description)
        check_stock(stock)
        await self._check_labels(community_id, labels)
        try:
            async with self.db.session() as session:
                if await session.get(Community, community_id) is None:
                    raise NotFound(f"Community {community_id} does not exist.")
                count = await session.scalar(
                    select(func.count())
                    .select_from(InventoryItem)
                    .where(InventoryItem.community_id == community_id)
                )
                if (count or 0) >= MAX_ITEMS:
                    raise Conflict(f"A community has at most {MAX_ITEMS} items.")
                row = InventoryItem(
                    id=new_id(),
                    community_id=community_id,
                    name=name,
                    name_key=item_key(name),
                    description=description,
                    stock=stock,
                    stock_left=stock,
                    created_by=who,
                )
                session.add(row)
                await session.flush()
                _record(session, community_id, "create", row, who, quantity=stock or 0)
        except IntegrityError:
            raise Conflict(f"There is already an item called {name} here.") from None
        for label in labels:
            await self._label(community_id, label, row.id, who)
        return await self.item(community_id, row.id)

    async def update(
        self,
        community_id: str,
        name_or_id: str,
        changes: dict[str, Any],
        *,
        who: str | None = None,
    ) -> ItemInfo:
        """Rename, describe, restock (``stock`` None: unlimited) or relabel an item.

        A stock below what people hold now is refused (units are never taken silently).
        """
        unknown = set(changes) - {"name", "description", "stock", "labels"}
        if unknown or not changes:
            raise Invalid("There is nothing to change (name, description, stock, labels).")
        labels = changes.get("labels")
        if labels is not None:
            await self._check_labels(community_id, labels)
        try:
            async with self.db.session() as session:
                locked = await self._lock(session, community_id, name_or_id)
                row = await session.get(InventoryItem, locked.id, populate_existing=True)
                assert row is not None
                notes: list[str] = []
                if "name" in changes:
                    new = check_name(str(changes["name"]))
                    if new != row.name:
                        notes.append(f"renamed from {row.name}")
                    row.name, row.name_key = new, item_key(new)
                if "description" in changes:
                    row.description = _description(str(changes["description"] or ""))
                if "stock" in changes:
                    stock = check_stock(changes["stock"])
                    held = (await self._held(session, [row.id])).get(row.id, 0)
                    if stock is not None and stock < held:
                        raise Conflict(
                            f"People hold {held} {row.name} now; the stock cannot be below that."
                        )
                    row.stock = stock
                    row.stock_left = None if stock is None else stock - held
                    notes.append(f"stock {'unlimited' if stock is None else stock}")
                await session.flush()
                _record(
                    session,
                    community_id,
                    "update",
                    row,
                    who,
                    quantity=row.stock or 0,
                    reason="; ".join(notes),
                )
        except IntegrityError:
            raise Conflict(f"There is already an item called {changes['name']} here.") from None
        if labels is not None:
            current = set((await self._infos(community_id, [row], {}))[0].labels)
            wanted = {label.strip().lstrip("#") for label in labels}
            lowered = {w.lower() for w in wanted}
            for label in current:
                if label.lower() not in lowered:
                    await self._unlabel(community_id, label, row.id, who)
            for label in wanted:
                if label.lower() not in {c.lower() for c in current}:
                    await self._label(community_id, label, row.id, who)
        return await self.item(community_id, row.id)

    async def remove(self, community_id: str, name_or_id: str, *, who: str | None) -> int:
        """Delete an item and everyone's units of it; returns how many units were held."""
        async with self.db.session() as session:
            locked = await self._lock(session, community_id, name_or_id)
            held = (await self._held(session, [locked.id])).get(locked.id, 0)
            await session.execute(
                delete(InventoryHolding).where(InventoryHolding.item_id == locked.id)
            )
            await session.execute(delete(InventoryItem).where(InventoryItem.id == locked.id))
            _record(session, community_id, "remove", locked, who, quantity=held)
        if self.labels is not None:
            await self.labels.forget_item(community_id, label_id(locked.id))
        return held

    async def label(
        self, community_id: str, name_or_id: str, label: str, *, who: str | None, on: bool
    ) -> tuple[str, str]:
        """Put ``label`` on an item (``on``) or take it off; returns (item, label) names."""
        found = await self.item(community_id, name_or_id)
        await self._check_labels(community_id, [label])
        if on:
            spelled = await self._label(community_id, label, found.id, who)
        else:
            spelled = await self._unlabel(community_id, label, found.id, who)
        return found.name, spelled

    # --- holdings -------------------------------------------------------------------------

    async def holdings(
        self,
        community_id: str,
        *,
        user_id: str | None = None,
        item: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[HoldingInfo]:
        """Holdings by item name (then person); for one person and/or one item."""
        async with self.db.read_session() as session:
            query = (
                select(InventoryHolding, InventoryItem.name)
                .join(InventoryItem, InventoryItem.id == InventoryHolding.item_id)
                .where(InventoryHolding.community_id == community_id)
            )
            if user_id is not None:
                query = query.where(InventoryHolding.user_id == user_id)
            if item is not None:
                found = await self._find(session, community_id, item)
                query = query.where(InventoryHolding.item_id == found.id)
            rows = await session.execute(
                query.order_by(InventoryItem.name_key, InventoryHolding.user_id)
                .limit(limit)
                .offset(offset)
            )
            return [
                HoldingInfo(
                    user_id=holding.user_id,
                    item_id=holding.item_id,
                    item=name,
                    quantity=holding.quantity,
                )
                for holding, name in rows
            ]

    async def give(
        self,
        community_id: str,
        user_id: str,
        item: str,
        quantity: int = 1,
        *,
        who: str | None,
        reason: str = "",
        action: str = "give",
        ref: str | None = None,
    ) -> Transfer | None:
        """Create ``quantity`` units out of stock for ``user_id``.

        ``ref`` (e.g. a redemption id) makes the grant count once: a second call with the
        same ``ref`` changes nothing and returns None.
        """
        check_quantity(quantity)
        try:
            async with self.db.session() as session:
                locked = await self._lock(session, community_id, item)
                if ref is not None and await session.scalar(
                    select(InventoryChange.id).where(
                        InventoryChange.community_id == community_id, InventoryChange.ref == ref
                    )
                ):
                    return None
                await self._known(session, user_id)
                if locked.stock_left is not None:
                    taken = await session.execute(
                        update(InventoryItem)
                        .where(InventoryItem.id == locked.id, InventoryItem.stock_left >= quantity)
                        .values(stock_left=InventoryItem.stock_left - quantity)
                        .execution_options(synchronize_session=False)
                    )
                    if _rowcount(taken) != 1:
                        raise Conflict(_out_of_stock(locked))
                held = await self._add(session, community_id, locked.id, user_id, quantity)
                _record(
                    session,
                    community_id,
                    action,
                    locked,
                    who,
                    to_user=user_id,
                    quantity=quantity,
                    reason=reason,
                    ref=ref,
                )
        except IntegrityError:
            if ref is not None:
                return None  # the same grant, committed by someone else meanwhile
            raise
        left = None if locked.stock_left is None else locked.stock_left - quantity
        return Transfer(locked.name, quantity, held, None, left)

    async def take(
        self,
        community_id: str,
        user_id: str,
        item: str,
        quantity: int = 1,
        *,
        who: str | None,
        reason: str = "",
        name: str = "They",
    ) -> Transfer:
        """Remove ``quantity`` of someone's units; they go back into stock."""
        check_quantity(quantity)
        async with self.db.session() as session:
            locked = await self._lock(session, community_id, item)
            held = await self._subtract(session, locked, user_id, quantity, name)
            if locked.stock_left is not None:
                await session.execute(
                    update(InventoryItem)
                    .where(InventoryItem.id == locked.id)
                    .values(stock_left=InventoryItem.stock_left + quantity)
                    .execution_options(synchronize_session=False)
                )
            _record(
                session,
                community_id,
                "take",
                locked,
                who,
                from_user=user_id,
                quantity=quantity,
                reason=reason,
            )
        left = None if locked.stock_left is None else locked.stock_left + quantity
        return Transfer(locked.name, quantity, None, held, left)

    async def send(
        self,
        community_id: str,
        from_user: str,
        to_user: str,
        item: str,
        quantity: int = 1,
        *,
        who: str | None = None,
        reason: str = "",
    ) -> Transfer:
        """Move ``quantity`` of ``from_user``'s units to ``to_user`` (stock unchanged)."""
        check_quantity(quantity)
        if from_user == to_user:
            raise Invalid("You cannot send items to yourself.")
        async with self.db.session() as session:
            locked = await self._lock(session, community_id, item)
            await self._known(session, to_user)
            sender_left = await self._subtract(session, locked, from_user, quantity, "You")
            received = await self._add(session, community_id, locked.id, to_user, quantity)
            _record(
                session,
                community_id,
                "send",
                locked,
                who or from_user,
                from_user=from_user,
                to_user=to_user,
                quantity=quantity,
                reason=reason,
            )
        return Transfer(locked.name, quantity, received, sender_left, locked.stock_left)

    # --- history --------------------------------------------------------------------------

    async def history(
        self,
        community_id: str,
        *,
        user_id: str | None = None,
        item: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[ChangeInfo]:
        """Changes, newest first; for one person (either side) and/or one item (its id or
        name, also of items removed since)."""
        query = select(InventoryChange).where(InventoryChange.community_id == community_id)
        if user_id is not None:
            query = query.where(
                or_(InventoryChange.from_user == user_id, InventoryChange.to_user == user_id)
            )
        if item is not None:
            query = query.where(
                or_(
                    InventoryChange.item_id == item,
                    func.lower(InventoryChange.item_name) == item_key(item),
                )
            )
        async with self.db.read_session() as session:
            rows = await session.scalars(
                query.order_by(InventoryChange.created_at.desc(), InventoryChange.id.desc())
                .limit(limit)
                .offset(offset)
            )
            return [
                ChangeInfo(
                    id=row.id,
                    action=row.action,
                    item_id=row.item_id,
                    item=row.item_name,
                    actor=row.actor,
                    from_user=row.from_user,
                    to_user=row.to_user,
                    quantity=row.quantity,
                    reason=row.reason,
                    created_at=row.created_at,
                )
                for row in rows
            ]

    # --- inside a transaction -------------------------------------------------------------

    async def _lock(self, session: AsyncSession, community_id: str, name_or_id: str) -> _Locked:
        """Lock the item's row (the first statement of the transaction) and read it."""
        found = (
            await session.execute(
                update(InventoryItem)
                .where(InventoryItem.community_id == community_id, _matches(name_or_id))
                .values(stock_left=InventoryItem.stock_left)
                .returning(
                    InventoryItem.id,
                    InventoryItem.name,
                    InventoryItem.stock,
                    InventoryItem.stock_left,
                )
                .execution_options(synchronize_session=False)
            )
        ).first()
        if found is None:
            raise NotFound(_missing(name_or_id))
        return _Locked(found.id, found.name, found.stock, found.stock_left)

    async def _add(
        self, session: AsyncSession, community_id: str, item_id: str, user_id: str, quantity: int
    ) -> int:
        """Add units to a holding (created at need); the new quantity."""
        insert = postgresql_insert if self.db.dialect == "postgresql" else sqlite_insert
        statement = insert(InventoryHolding).values(
            id=new_id(),
            community_id=community_id,
            item_id=item_id,
            user_id=user_id,
            quantity=quantity,
            updated_at=utcnow(),
        )
        upsert = statement.on_conflict_do_update(
            index_elements=[InventoryHolding.item_id, InventoryHolding.user_id],
            set_={
                "quantity": InventoryHolding.quantity + statement.excluded.quantity,
                "updated_at": statement.excluded.updated_at,
            },
        ).returning(InventoryHolding.quantity)
        return int((await session.execute(upsert)).scalar_one())

    @staticmethod
    async def _subtract(
        session: AsyncSession, locked: _Locked, user_id: str, quantity: int, name: str
    ) -> int:
        """Take units off a holding only if there are enough; the quantity left."""
        left = (
            await session.execute(
                update(InventoryHolding)
                .where(
                    InventoryHolding.item_id == locked.id,
                    InventoryHolding.user_id == user_id,
                    InventoryHolding.quantity >= quantity,
                )
                .values(quantity=InventoryHolding.quantity - quantity, updated_at=utcnow())
                .returning(InventoryHolding.quantity)
                .execution_options(synchronize_session=False)
            )
        ).scalar_one_or_none()
        if left is None:
            have = await session.scalar(
                select(InventoryHolding.quantity).where(
                    InventoryHolding.item_id == locked.id, InventoryHolding.user_id == user_id
                )
            )
            verb = "have" if name == "You" else "has"
            raise Conflict(f"{name} {verb} only {have or 0} {locked.name}, not {quantity}.")
        if left == 0:
            await session.execute(
                delete(InventoryHolding).where(
                    InventoryHolding.item_id == locked.id,
                    InventoryHolding.user_id == user_id,
                    InventoryHolding.quantity == 0,
                )
            )
        return int(left)

    @staticmethod
    async def _known(session: AsyncSession, user_id: str) -> None:
        if await session.get(User, user_id) is None:
            raise NotFound(f"User {user_id} does not exist.")

    @staticmethod
    async def _find(session: AsyncSession, community_id: str, name_or_id: str) -> InventoryItem:
        row = await session.scalar(
            select(InventoryItem).where(
                InventoryItem.community_id == community_id, _matches(name_or_id)
            )
        )
        if row is None:
            raise NotFound(_missing(name_or_id))
        return row

    @staticmethod
    async def _held(session: AsyncSession, item_ids: list[str]) -> dict[str, int]:
        if not item_ids:
            return {}
        rows = await session.execute(
            select(InventoryHolding.item_id, func.sum(InventoryHolding.quantity))
            .where(InventoryHolding.item_id.in_(item_ids))
            .group_by(InventoryHolding.item_id)
        )
        return {item_id: int(total or 0) for item_id, total in rows}

    # --- labels ---------------------------------------------------------------------------

    async def _infos(
        self, community_id: str, rows: list[InventoryItem], held: dict[str, int]
    ) -> list[ItemInfo]:
        labels: dict[str, list[str]] = {}
        if self.labels is not None and rows:
            labels = await self.labels.item_labels(community_id, [label_id(row.id) for row in rows])
        return [
            ItemInfo(
                id=row.id,
                name=row.name,
                description=row.description,
                stock=row.stock,
                stock_left=row.stock_left,
                held=held.get(row.id, 0),
                labels=labels.get(label_id(row.id), []),
                created_by=row.created_by,
                created_at=row.created_at,
            )
            for row in rows
        ]

    def _operations(self) -> LabelOperations:
        if self.labels is None:
            raise Invalid("Labels are not available here.")
        return self.labels

    async def _check_labels(self, community_id: str, labels: Sequence[str]) -> None:
        """Refuse unknown labels before anything is written (no half-made items)."""
        if not labels:
            return
        with _label_refusals():
            listed = await self._operations().community_labels(community_id)
        known = {info.name.lower() for info in listed}
        for label in labels:
            if label.strip().lstrip("#").lower() not in known:
                raise NotFound(f"There is no label {label.strip()} here.")

    async def _labelled(self, community_id: str, label: str) -> list[str]:
        with _label_refusals():
            ids = await self._operations().items_labelled(community_id, label, ITEM_PREFIX)
        return [item_id.removeprefix(ITEM_PREFIX) for item_id in ids]

    async def _label(self, community_id: str, label: str, item_id: str, who: str | None) -> str:
        with _label_refusals():
            return await self._operations().label_item(
                community_id, label.strip().lstrip("#"), label_id(item_id), who=who
            )

    async def _unlabel(self, community_id: str, label: str, item_id: str, who: str | None) -> str:
        with _label_refusals():
            return await self._operations().unlabel_item(
                community_id, label.strip().lstrip("#"), label_id(item_id), who=who
            )


@contextmanager
def _label_refusals() -> Iterator[None]:
    """The label host's own refusals (unknown community or label) as a 404."""
    try:
        yield
    except LabelError as refusal:
        raise NotFound(refusal.message) from None


GRANT_DESCRIPTION = "Grants an item (inventory)."


def configured_commands(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The config's item-granting ``commands``, by trigger (``!daily`` → ``daily``)."""
    found: dict[str, dict[str, Any]] = {}
    for name, spec in (config.get("commands") or {}).items():
        if isinstance(spec, dict):
            found[str(name).strip().lower().removeprefix("!")] = spec
    return found


def _matches(name_or_id: str) -> ColumnElement[bool]:
    return or_(InventoryItem.name_key == item_key(name_or_id), InventoryItem.id == name_or_id)


def _missing(name_or_id: str) -> str:
    return f"There is no item called {' '.join(name_or_id.split())[:MAX_NAME]} here."


def _out_of_stock(locked: _Locked) -> str:
    if not locked.stock_left:
        return f"{locked.name} is out of stock."
    return f"Only {locked.stock_left} {locked.name} left in stock."


def _description(text: str) -> str:
    clean = text.strip()
    if len(clean) > MAX_DESCRIPTION:
        raise Invalid(f"A description is at most {MAX_DESCRIPTION} characters.")
    return clean


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def _record(
    session: AsyncSession,
    community_id: str,
    action: str,
    item: InventoryItem | _Locked,
    who: str | None,
    *,
    from_user: str | None = None,
    to_user: str | None = None,
    quantity: int = 0,
    reason: str = "",
    ref: str | None = None,
) -> None:
    session.add(
        InventoryChange(
            id=new_id(),
            community_id=community_id,
            action=action,
            item_id=item.id,
            item_name=item.name,
            actor=who,
            from_user=from_user,
            to_user=to_user,
            quantity=quantity,
            reason=reason.strip()[:MAX_REASON],
            ref=ref,
            created_at=utcnow(),
        )
    )


@on_user_merge
async def follow_merge(session: AsyncSession, absorbed: str, kept: str) -> None:
    """The absorbed user's units join the kept user's (summed where both hold an item);
    their history names the kept user from now on (except the merge lines themselves)."""
    for column in (InventoryChange.from_user, InventoryChange.to_user):
        await session.execute(
            update(InventoryChange)
            .where(column == absorbed)
            .values({column.key: kept})
            .execution_options(synchronize_session=False)
        )
    holdings = (
        await session.scalars(select(InventoryHolding).where(InventoryHolding.user_id == absorbed))
    ).all()
    for holding in holdings:
        summed = await session.execute(
            update(InventoryHolding)
            .where(InventoryHolding.item_id == holding.item_id, InventoryHolding.user_id == kept)
            .values(quantity=InventoryHolding.quantity + holding.quantity, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        if _rowcount(summed):
            await session.delete(holding)
        else:
            holding.user_id = kept
        name = await session.scalar(
            select(InventoryItem.name).where(InventoryItem.id == holding.item_id)
        )
        session.add(
            InventoryChange(
                id=new_id(),
                community_id=holding.community_id,
                action="merge",
                item_id=holding.item_id,
                item_name=name or "",
                actor=kept,
                from_user=absorbed,
                to_user=kept,
                quantity=holding.quantity,
                reason="accounts linked",
                created_at=utcnow(),
            )
        )
    await session.flush()
