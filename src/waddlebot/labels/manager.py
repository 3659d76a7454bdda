"""Labels: a community's named tags for its users, channels (entities), modules and items.

One set of rules for REST and chat:

- a label has a name (1–50 characters, letters/digits/space/``_``/``-``, unique per community
  whatever the case), a ``#RRGGBB`` colour, a description, optional permissions it grants the
  users wearing it, and a ``system`` flag: system labels cannot be renamed or deleted here;
- an assignment puts a label on a target (``user`` — a WaddleBot user; ``entity`` — one of the
  community's channels; ``module``; ``item``) with optional metadata and expiry; an expired
  assignment is never returned, grants nothing, and is purged on the next write;
- limits: ``labels_per_community`` labels, and ``labels_per_user`` labels on one user in one
  community (:class:`~waddlebot.kernel.settings.Settings`); going over is a 409;
- applying or removing many at once is all-or-nothing: everything is validated first, then
  written in one transaction.

Every change is logged (AUDIT) and bumps the community's access version
(:func:`~waddlebot.kernel.security.rbac.access_changed`), so label permissions take effect on
the next message or request everywhere.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar

from pydantic import BaseModel
from sqlalchemy import delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from waddlebot.identity.lookup import find_account, user_of_account
from waddlebot.kernel.backends import KeyValue
from waddlebot.kernel.contracts.roles import platform_role
from waddlebot.kernel.errors import Conflict, Forbidden, Invalid, NotFound, Refusal
from waddlebot.kernel.observability.logging import Category, get_logger, log_event
from waddlebot.kernel.security.rbac import (
    Actor,
    Authorizer,
    UnknownPermission,
    access_changed,
    validate_permissions,
)
from waddlebot.kernel.settings import Settings
from waddlebot.kernel.storage import Database
from waddlebot.kernel.storage.models import (
    Community,
    Entity,
    Label,
    LabelAssignment,
    User,
)
from waddlebot.sdk.caller import Caller
from waddlebot.sdk.labels import (
    HeldLabel,
    LabelError,
    LabelInfo,
    PersonLabels,
)

logger = get_logger(__name__)
T = TypeVar("T")

TargetType = Literal["user", "entity", "module", "item"]
TARGET_TYPES: tuple[str, ...] = ("user", "entity", "module", "item")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _-]{0,49}$")
COLOUR_PATTERN = re.compile(r"^#[0-9A-Fa-f]{6}$")
TARGET_ID_PATTERN = re.compile(r"^[^\x00-\x1f\x7f]{1,200}$")
DEFAULT_COLOUR = "#808080"
MAX_DESCRIPTION = 300
MAX_METADATA_BYTES = 4096
MAX_DURATION = timedelta(days=3650)
MAX_BATCH = 500


# --- views (also the REST answers) ------------------------------------------------------


class LabelView(BaseModel):
    id: str
    name: str
    colour: str
    description: str
    system: bool
    permissions: list[str]
    created_at: datetime


class AssignmentView(BaseModel):
    label: str
    target_type: str
    target_id: str
    metadata: dict[str, Any]
    expires_at: datetime | None
    created_by: str | None
    created_at: datetime


class AssignmentPage(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[AssignmentView]


class TargetMatch(BaseModel):
    target_type: str
    target_id: str
    labels: list[str]


class SearchPage(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[TargetMatch]


@dataclass(frozen=True, slots=True)
class Target:
    target_type: str
    target_id: str


@dataclass(frozen=True, slots=True)
class LabelChange:
    """What to change about a label (None: leave as is)."""

    name: str | None = None
    colour: str | None = None
    description: str | None = None
    permissions: list[str] | None = None


@dataclass(frozen=True, slots=True)
class Operation:
    """One step of a bulk request: put ``label`` on a target, or take it off."""

    op: Literal["apply", "remove"]
    label: str
    target: Target
    expires_at: datetime | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


# --- validation -------------------------------------------------------------------------


def now_utc() -> datetime:
    return datetime.now(UTC)


def aware(value: datetime | None) -> datetime | None:
    """SQLite hands datetimes back naive; everything here is UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def validate_name(name: str) -> str:
    text = name.strip()
    if not NAME_PATTERN.match(text):
        raise Invalid(
            "a label name is 1–50 characters: letters, digits, spaces, '_' and '-', "
            "starting with a letter or digit"
        )
    return text


def validate_colour(colour: str) -> str:
    if not COLOUR_PATTERN.match(colour):
        raise Invalid("a colour looks like #RRGGBB, e.g. #1E90FF")
    return colour.upper()


def validate_description(description: str) -> str:
    if len(description) > MAX_DESCRIPTION:
        raise Invalid(f"a description is at most {MAX_DESCRIPTION} characters")
    return description


def validate_label_permissions(names: list[str]) -> list[str]:
    try:
        return validate_permissions(names)
    except UnknownPermission as error:
        raise Invalid(str(error)) from None


def validate_metadata(metadata: Any) -> dict[str, Any]:
    if not isinstance(metadata, dict):
        raise Invalid("metadata must be a JSON object")
    size = len(json.dumps(metadata, separators=(",", ":")).encode())
    if size > MAX_METADATA_BYTES:
        raise Invalid(f"metadata is at most {MAX_METADATA_BYTES} bytes of JSON (got {size})")
    return metadata


def validate_target(target_type: str, target_id: str) -> Target:
    if target_type not in TARGET_TYPES:
        raise Invalid(f"target_type must be one of {', '.join(TARGET_TYPES)}")
    if not TARGET_ID_PATTERN.match(target_id) or not target_id.strip():
        raise Invalid("a target id is 1–200 printable characters")
    return Target(target_type, target_id)


def expiry(
    expires_at: datetime | None, expires_in: float | None, *, now: datetime | None = None
) -> datetime | None:
    """The moment an assignment ends, from an absolute time or a number of seconds."""
    if expires_at is not None and expires_in is not None:
        raise Invalid("give expires_at or expires_in, not both")
    moment = now or now_utc()
    if expires_in is not None:
        if expires_in <= 0 or expires_in > MAX_DURATION.total_seconds():
            raise Invalid("expires_in is a number of seconds, more than 0 and at most 10 years")
        return moment + timedelta(seconds=expires_in)
    if expires_at is None:
        return None
    if expires_at.tzinfo is None:
        raise Invalid("expires_at needs a timezone, e.g. 2030-01-01T00:00:00Z")
    if expires_at <= moment:
        raise Invalid("expires_at is in the past")
    if expires_at - moment > MAX_DURATION:
        raise Invalid("expires_at is at most 10 years away")
    return expires_at.astimezone(UTC)


def _label_view(row: Label) -> LabelView:
    return LabelView(
        id=row.id,
        name=row.name,
        colour=row.colour,
        description=row.description,
        system=row.system,
        permissions=list(row.permissions or []),
        created_at=aware(row.created_at) or row.created_at,
    )


def _assignment_view(row: LabelAssignment, label: str) -> AssignmentView:
    return AssignmentView(
        label=label,
        target_type=row.target_type,
        target_id=row.target_id,
        metadata=dict(row.extra or {}),
        expires_at=aware(row.expires_at),
        created_by=row.created_by,
        created_at=aware(row.created_at) or row.created_at,
    )


def _active(now: datetime) -> Any:
    return or_(LabelAssignment.expires_at.is_(None), LabelAssignment.expires_at > now)


def _sentence(message: str) -> str:
    """An API message as a chat reply: capitalised, ending in a full stop."""
    text = message[:1].upper() + message[1:]
    return text if text.endswith((".", "!", "?")) else f"{text}."


class LabelManager:
    """The labels API's rules; implements :class:`waddlebot.sdk.labels.LabelOperations`."""

    def __init__(self, db: Database, kv: KeyValue, settings: Settings) -> None:
        self.db = db
        self.kv = kv
        self.settings = settings
        self.authorizer = Authorizer(db, kv)

    # --- labels -------------------------------------------------------------------------

    async def labels(self, community_id: str) -> list[LabelView]:
        async with self.db.read_session() as session:
            await self._require_community(session, community_id)
            rows = await session.scalars(
                select(Label)
                .where(Label.community_id == community_id)
                .order_by(func.lower(Label.name))
            )
            return [_label_view(row) for row in rows]

    async def label(self, community_id: str, name: str) -> LabelView:
        async with self.db.read_session() as session:
            await self._require_community(session, community_id)
            return _label_view(await self._label(session, community_id, name))

    async def create_label(
        self,
        community_id: str,
        name: str,
        *,
        colour: str | None = None,
        description: str = "",
        permissions: Sequence[str] = (),
        system: bool = False,
        who: str | None = None,
        via: str = "rest",
    ) -> LabelView:
        name = validate_name(name)
        colour = validate_colour(colour) if colour is not None else DEFAULT_COLOUR
        description = validate_description(description)
        granted = validate_label_permissions(list(permissions))
        limit = self.settings.labels_per_community
        try:
            async with self.db.session() as session:
                await self._require_community(session, community_id)
                await self._refuse_duplicate(session, community_id, name)
                count = await session.scalar(
                    select(func.count())
                    .select_from(Label)
                    .where(Label.community_id == community_id)
                )
                if (count or 0) >= limit:
                    raise Conflict(f"this community already has the maximum of {limit} labels")
                row = Label(
                    community_id=community_id,
                    name=name,
                    colour=colour,
                    description=description,
                    permissions=granted,
                    system=system,
                )
                session.add(row)
                await session.flush()
                view = _label_view(row)
        except IntegrityError:
            raise Conflict(f"a label named {name!r} already exists here") from None
        await access_changed(self.kv, community_id, db=self.db)
        self._audit("label_created", community_id, who, via, label=name, permissions=granted)
        return view

    async def update_label(
        self,
        community_id: str,
        name: str,
        change: LabelChange,
        *,
        who: str | None = None,
        via: str = "rest",
    ) -> LabelView:
        new_name = validate_name(change.name) if change.name is not None else None
        colour = validate_colour(change.colour) if change.colour is not None else None
        description = (
            validate_description(change.description) if change.description is not None else None
        )
        granted = (
            validate_label_permissions(change.permissions)
            if change.permissions is not None
            else None
        )
        try:
            async with self.db.session() as session:
                await self._require_community(session, community_id)
                row = await self._label(session, community_id, name, lock=True)
                previous = row.name
                if new_name is not None and new_name != row.name:
                    if row.system:
                        raise Forbidden(f"{row.name!r} is a system label; it cannot be renamed")
                    if new_name.lower() != row.name.lower():
                        await self._refuse_duplicate(session, community_id, new_name)
                    row.name = new_name
                if colour is not None:
                    row.colour = colour
                if description is not None:
                    row.description = description
                if granted is not None:
                    row.permissions = granted
                await session.flush()
                view = _label_view(row)
        except IntegrityError:
            raise Conflict(f"a label named {new_name!r} already exists here") from None
        await access_changed(self.kv, community_id, db=self.db)
        self._audit(
            "label_updated",
            community_id,
            who,
            via,
            label=view.name,
            previous=previous,
            permissions=view.permissions,
        )
        return view

    async def delete_label(
        self, community_id: str, name: str, *, who: str | None = None, via: str = "rest"
    ) -> LabelView:
        async with self.db.session() as session:
            await self._require_community(session, community_id)
            row = await self._label(session, community_id, name, lock=True)
            if row.system:
                raise Forbidden(f"{row.name!r} is a system label; it cannot be deleted")
            view = _label_view(row)
            removed = await session.execute(
                delete(LabelAssignment).where(LabelAssignment.label_id == row.id)
            )
            await session.delete(row)
        await access_changed(self.kv, community_id, db=self.db)
        self._audit(
            "label_deleted",
            community_id,
            who,
            via,
            label=view.name,
            assignments=getattr(removed, "rowcount", None),
        )
        return view

    # --- assignments --------------------------------------------------------------------

    async def apply(
        self,
        community_id: str,
        label: str,
        targets: Sequence[Target],
        *,
        expires_at: datetime | None = None,
        metadata: dict[str, Any] | None = None,
        who: str | None = None,
        via: str = "rest",
    ) -> list[AssignmentView]:
        """Put ``label`` on every target (refreshing expiry and metadata where it already is)."""
        extra = validate_metadata(metadata or {})
        operations = [
            Operation("apply", label, target, expires_at=expires_at, metadata=extra)
            for target in targets
        ]
        return await self.bulk(community_id, operations, who=who, via=via)

    async def remove(
        self,
        community_id: str,
        label: str,
        targets: Sequence[Target],
        *,
        who: str | None = None,
        via: str = "rest",
    ) -> list[AssignmentView]:
        """Take ``label`` off every target; each must be wearing it (404 otherwise)."""
        operations = [Operation("remove", label, target) for target in targets]
        return await self.bulk(community_id, operations, who=who, via=via)

    async def bulk(
        self,
        community_id: str,
        operations: Sequence[Operation],
        *,
        who: str | None = None,
        via: str = "rest",
    ) -> list[AssignmentView]:
        """Apply and remove in one transaction: all of it happens, or (on any refusal) none."""
        if not operations:
            raise Invalid("name at least one target")
        if len(operations) > MAX_BATCH:
            raise Invalid(f"at most {MAX_BATCH} changes per request")
        steps = [(op.label.strip().lower(), op.target) for op in operations]
        if len(set(steps)) != len(steps):
            raise Invalid("a label and target pair is listed twice")
        for op in operations:
            validate_target(op.target.target_type, op.target.target_id)
            validate_metadata(op.metadata)
        now = now_utc()
        results: list[AssignmentView] = []
        try:
            async with self.db.session() as session:
                await self._require_community(session, community_id)
                await self._purge(session, community_id, now)
                labels: dict[str, Label] = {}
                for op in operations:
                    key = op.label.strip().lower()
                    if key not in labels:
                        labels[key] = await self._label(session, community_id, op.label)
                await self._check_targets(session, community_id, [op.target for op in operations])
                current = await self._assignments(
                    session, community_id, [op.target for op in operations]
                )
                await self._check_user_limit(session, community_id, operations, labels, current)
                for op in operations:
                    row = labels[op.label.strip().lower()]
                    existing = current.get((row.id, op.target))
                    if op.op == "remove":
                        if existing is None:
                            raise NotFound(
                                f"{op.target.target_type} {op.target.target_id!r} "
                                f"does not have the label {row.name!r}"
                            )
                        results.append(_assignment_view(existing, row.name))
                        await session.delete(existing)
                        continue
                    if existing is None:
                        existing = LabelAssignment(
                            label_id=row.id,
                            community_id=community_id,
                            target_type=op.target.target_type,
                            target_id=op.target.target_id,
                            created_by=who,
                            created_at=now,
                        )
                        session.add(existing)
                    existing.expires_at = op.expires_at
                    existing.extra = dict(op.metadata)
                    await session.flush()
                    results.append(_assignment_view(existing, row.name))
        except IntegrityError:
            raise Conflict("the labels changed at the same moment; try again") from None
        await access_changed(self.kv, community_id, db=self.db)
        for op, view in zip(operations, results, strict=True):
            self._audit(
                "label_applied" if op.op == "apply" else "label_removed",
                community_id,
                who,
                via,
                label=view.label,
                target_type=view.target_type,
                target=view.target_id,
                expires_at=view.expires_at.isoformat() if view.expires_at else None,
            )
        return results

    async def target_labels(
        self, community_id: str, target_type: str, target_id: str
    ) -> list[AssignmentView]:
        """The active labels on one target, by label name."""
        target = validate_target(target_type, target_id)
        async with self.db.read_session() as session:
            await self._require_community(session, community_id)
            rows = await session.execute(
                select(LabelAssignment, Label.name)
                .join(Label, Label.id == LabelAssignment.label_id)
                .where(
                    LabelAssignment.community_id == community_id,
                    LabelAssignment.target_type == target.target_type,
                    LabelAssignment.target_id == target.target_id,
                    _active(now_utc()),
                )
                .order_by(func.lower(Label.name))
            )
            return [_assignment_view(row, name) for row, name in rows]

    async def assignments(
        self,
        community_id: str,
        label: str,
        *,
        target_type: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> AssignmentPage:
        """Who wears ``label`` (optionally only targets of one type), oldest first."""
        if target_type is not None and target_type not in TARGET_TYPES:
            raise Invalid(f"target_type must be one of {', '.join(TARGET_TYPES)}")
        async with self.db.read_session() as session:
            await self._require_community(session, community_id)
            row = await self._label(session, community_id, label)
            conditions = [LabelAssignment.label_id == row.id, _active(now_utc())]
            if target_type is not None:
                conditions.append(LabelAssignment.target_type == target_type)
            total = await session.scalar(
                select(func.count()).select_from(LabelAssignment).where(*conditions)
            )
            found = await session.scalars(
                select(LabelAssignment)
                .where(*conditions)
                .order_by(LabelAssignment.created_at, LabelAssignment.id)
                .limit(limit)
                .offset(offset)
            )
            items = [_assignment_view(a, row.name) for a in found]
        return AssignmentPage(total=total or 0, limit=limit, offset=offset, items=items)

    async def search(
        self,
        community_id: str,
        labels: Sequence[str],
        *,
        match: Literal["any", "all"] = "any",
        target_type: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> SearchPage:
        """Targets wearing any (or all) of ``labels``, with the ones they wear, by target."""
        if not labels:
            raise Invalid("name at least one label")
        if target_type is not None and target_type not in TARGET_TYPES:
            raise Invalid(f"target_type must be one of {', '.join(TARGET_TYPES)}")
        async with self.db.read_session() as session:
            await self._require_community(session, community_id)
            rows = {}
            for name in labels:
                found = await self._label(session, community_id, name)
                rows[found.id] = found.name
            conditions = [
                LabelAssignment.community_id == community_id,
                LabelAssignment.label_id.in_(list(rows)),
                _active(now_utc()),
            ]
            if target_type is not None:
                conditions.append(LabelAssignment.target_type == target_type)
            grouped = (
                select(LabelAssignment.target_type, LabelAssignment.target_id)
                .where(*conditions)
                .group_by(LabelAssignment.target_type, LabelAssignment.target_id)
            )
            if match == "all":
                grouped = grouped.having(
                    func.count(func.distinct(LabelAssignment.label_id)) == len(rows)
                )
            total = await session.scalar(select(func.count()).select_from(grouped.subquery()))
            page = (
                await session.execute(
                    grouped.order_by(LabelAssignment.target_type, LabelAssignment.target_id)
                    .limit(limit)
                    .offset(offset)
                )
            ).all()
            worn: dict[tuple[str, str], list[str]] = {(t, i): [] for t, i in page}
            if page:
                detail = await session.execute(
                    select(
                        LabelAssignment.target_type,
                        LabelAssignment.target_id,
                        LabelAssignment.label_id,
                    ).where(
                        *conditions,
                        LabelAssignment.target_id.in_([i for _, i in page]),
                    )
                )
                for kind, target_id, label_id in detail:
                    if (kind, target_id) in worn:
                        worn[(kind, target_id)].append(rows[label_id])
        items = [
            TargetMatch(target_type=kind, target_id=target_id, labels=sorted(names, key=str.lower))
            for (kind, target_id), names in worn.items()
        ]
        return SearchPage(total=total or 0, limit=limit, offset=offset, items=items)

    async def purge_expired(self, community_id: str | None = None) -> int:
        """Delete expired assignments (of one community, or all); returns how many."""
        async with self.db.session() as session:
            removed = await self._purge(session, community_id, now_utc())
        return removed

    # --- chat (LabelOperations) -----------------------------------------------------------

    async def community_labels(self, community_id: str) -> list[LabelInfo]:
        return [
            LabelInfo(
                name=v.name,
                colour=v.colour,
                description=v.description,
                system=v.system,
                permissions=tuple(v.permissions),
            )
            for v in await self._chat(self.labels(community_id))
        ]

    async def labels_of(
        self, community_id: str, caller: Caller, username: str | None = None
    ) -> PersonLabels:
        if username is None:
            user_id, name = await self._caller_id(caller), caller.user.name
        else:
            user_id, name = await self._resolve(caller.platform, username)
        found = await self._chat(self.target_labels(community_id, "user", user_id))
        return PersonLabels(name=name, labels=[HeldLabel(a.label, a.expires_at) for a in found])

    async def apply_to(
        self,
        community_id: str,
        caller: Caller,
        username: str,
        label: str,
        duration: timedelta | None = None,
    ) -> tuple[str, HeldLabel]:
        me = await self._authorize_chat(community_id, caller, "label_apply")
        user_id, name = await self._resolve(caller.platform, username)
        until = now_utc() + duration if duration is not None else None
        [view] = await self._chat(
            self.apply(
                community_id, label, [Target("user", user_id)], expires_at=until, who=me, via="chat"
            )
        )
        return name, HeldLabel(view.label, view.expires_at)

    async def remove_from(
        self, community_id: str, caller: Caller, username: str, label: str
    ) -> tuple[str, str]:
        me = await self._authorize_chat(community_id, caller, "label_remove")
        user_id, name = await self._resolve(caller.platform, username)
        try:
            [view] = await self.remove(
                community_id, label, [Target("user", user_id)], who=me, via="chat"
            )
        except NotFound as refusal:
            if refusal.message.startswith("user "):
                raise LabelError(f"{name} does not have the label {label}.") from None
            raise LabelError(_sentence(refusal.message)) from None
        except Refusal as refusal:
            raise LabelError(_sentence(refusal.message)) from None
        return name, view.label

    async def create(
        self, community_id: str, caller: Caller, name: str, colour: str | None = None
    ) -> LabelInfo:
        me = await self._authorize_chat(community_id, caller, "label_create")
        view = await self._chat(
            self.create_label(community_id, name, colour=colour, who=me, via="chat")
        )
        return LabelInfo(name=view.name, colour=view.colour)

    async def delete(self, community_id: str, caller: Caller, name: str) -> LabelInfo:
        me = await self._authorize_chat(community_id, caller, "label_delete")
        view = await self._chat(self.delete_label(community_id, name, who=me, via="chat"))
        return LabelInfo(name=view.name, colour=view.colour, system=view.system)

    # --- module items (LabelOperations) -------------------------------------------------

    async def item_labels(self, community_id: str, item_ids: Sequence[str]) -> dict[str, list[str]]:
        if not item_ids:
            return {}
        async with self.db.read_session() as session:
            rows = await session.execute(
                select(LabelAssignment.target_id, Label.name)
                .join(Label, Label.id == LabelAssignment.label_id)
                .where(
                    LabelAssignment.community_id == community_id,
                    LabelAssignment.target_type == "item",
                    LabelAssignment.target_id.in_(list(item_ids)),
                    _active(now_utc()),
                )
                .order_by(func.lower(Label.name))
            )
            found: dict[str, list[str]] = {item: [] for item in item_ids}
            for target_id, name in rows:
                found[target_id].append(name)
        return found

    async def label_item(
        self, community_id: str, label: str, item_id: str, *, who: str | None = None
    ) -> str:
        [view] = await self.apply(
            community_id, label, [Target("item", item_id)], who=who, via="module"
        )
        return view.label

    async def unlabel_item(
        self, community_id: str, label: str, item_id: str, *, who: str | None = None
    ) -> str:
        [view] = await self.remove(
            community_id, label, [Target("item", item_id)], who=who, via="module"
        )
        return view.label

    async def forget_item(self, community_id: str, item_id: str) -> int:
        async with self.db.session() as session:
            removed = await session.execute(
                delete(LabelAssignment).where(
                    LabelAssignment.community_id == community_id,
                    LabelAssignment.target_type == "item",
                    LabelAssignment.target_id == item_id,
                )
            )
        return int(getattr(removed, "rowcount", 0) or 0)

    async def items_labelled(self, community_id: str, label: str, prefix: str = "") -> list[str]:
        async with self.db.read_session() as session:
            rows = await session.scalars(
                select(LabelAssignment.target_id)
                .join(Label, Label.id == LabelAssignment.label_id)
                .where(
                    LabelAssignment.community_id == community_id,
                    LabelAssignment.target_type == "item",
                    LabelAssignment.target_id.startswith(prefix, autoescape=True),
                    func.lower(Label.name) == label.strip().lstrip("#").lower(),
                    _active(now_utc()),
                )
                .order_by(LabelAssignment.target_id)
            )
            return list(rows)

    @staticmethod
    async def _chat(work: Awaitable[T]) -> T:
        """Await ``work``, turning refusals into chat replies."""
        try:
            return await work
        except Refusal as refusal:
            raise LabelError(_sentence(refusal.message)) from None

    async def _authorize_chat(self, community_id: str, caller: Caller, action: str) -> str:
        """The caller's user id, when they hold ``labels.manage`` here (decision logged)."""
        me = await self._caller_id(caller)
        decision = await self.authorizer.check(
            Actor(user_id=me, platform_role=platform_role(caller.user), via="chat"),
            community_id,
            action,
            permission="labels.manage",
        )
        if not decision.allowed:
            raise LabelError("You need the labels.manage permission in this community.")
        return me

    async def _caller_id(self, caller: Caller) -> str:
        found = await user_of_account(self.db, caller.platform, caller.user.id)
        if found is None:
            raise LabelError("I don't know you yet; say something and try again.")
        return found

    async def _resolve(self, platform: str, username: str) -> tuple[str, str]:
        """The user behind ``@name`` on ``platform``, or a WaddleBot user id."""
        wanted = username.strip().lstrip("@")
        if not wanted:
            raise LabelError("Name someone, e.g. @alice.")
        row = await find_account(self.db, platform, wanted)
        if row is not None:
            return row.user_id, row.username
        async with self.db.read_session() as session:
            user = await session.get(User, wanted)
        if user is not None:
            return user.id, user.display_name
        raise LabelError(f"I don't know anyone called {wanted} here yet.")

    # --- helpers --------------------------------------------------------------------------

    async def _require_community(self, session: AsyncSession, community_id: str) -> None:
        if await session.get(Community, community_id) is None:
            raise NotFound(f"no community {community_id!r}")

    async def _label(
        self, session: AsyncSession, community_id: str, name: str, *, lock: bool = False
    ) -> Label:
        query = select(Label).where(
            Label.community_id == community_id,
            func.lower(Label.name) == name.strip().lower(),
        )
        if lock:
            query = query.with_for_update()
        row = await session.scalar(query)
        if row is None:
            raise NotFound(f"no label {name.strip()!r} in this community")
        return row

    async def _refuse_duplicate(self, session: AsyncSession, community_id: str, name: str) -> None:
        clash = await session.scalar(
            select(Label.name).where(
                Label.community_id == community_id, func.lower(Label.name) == name.lower()
            )
        )
        if clash is not None:
            raise Conflict(f"a label named {clash!r} already exists here")

    async def _check_targets(
        self, session: AsyncSession, community_id: str, targets: list[Target]
    ) -> None:
        """Users must exist; entities must be this community's channels."""
        users = {t.target_id for t in targets if t.target_type == "user"}
        if users:
            known = set((await session.scalars(select(User.id).where(User.id.in_(users)))).all())
            missing = sorted(users - known)
            if missing:
                raise NotFound(f"no user {missing[0]!r}")
        entities = {t.target_id for t in targets if t.target_type == "entity"}
        if entities:
            known = set(
                (
                    await session.scalars(
                        select(Entity.id).where(
                            Entity.id.in_(entities), Entity.community_id == community_id
                        )
                    )
                ).all()
            )
            missing = sorted(entities - known)
            if missing:
                raise NotFound(f"no channel (entity) {missing[0]!r} in this community")

    async def _assignments(
        self, session: AsyncSession, community_id: str, targets: list[Target]
    ) -> dict[tuple[str, Target], LabelAssignment]:
        """Current rows (any label) on the targets, locked for this transaction."""
        ids = sorted({t.target_id for t in targets})
        rows = (
            await session.scalars(
                select(LabelAssignment)
                .where(
                    LabelAssignment.community_id == community_id,
                    LabelAssignment.target_id.in_(ids),
                )
                .with_for_update()
            )
        ).all()
        wanted = set(targets)
        return {
            (row.label_id, Target(row.target_type, row.target_id)): row
            for row in rows
            if Target(row.target_type, row.target_id) in wanted
        }

    async def _check_user_limit(
        self,
        session: AsyncSession,
        community_id: str,
        operations: Sequence[Operation],
        labels: dict[str, Label],
        current: dict[tuple[str, Target], LabelAssignment],
    ) -> None:
        """No user may end up with more than ``labels_per_user`` labels here."""
        limit = self.settings.labels_per_user
        worn: dict[str, set[str]] = {}
        for label_id, target in current:
            if target.target_type == "user":
                worn.setdefault(target.target_id, set()).add(label_id)
        for op in operations:
            if op.target.target_type != "user":
                continue
            label_id = labels[op.label.strip().lower()].id
            mine = worn.setdefault(op.target.target_id, set())
            if op.op == "apply":
                mine.add(label_id)
            else:
                mine.discard(label_id)
        over = sorted(user for user, held in worn.items() if len(held) > limit)
        if over:
            raise Conflict(
                f"user {over[0]!r} would have more than the maximum of {limit} labels "
                "in this community"
            )

    async def _purge(self, session: AsyncSession, community_id: str | None, now: datetime) -> int:
        query = delete(LabelAssignment).where(
            LabelAssignment.expires_at.is_not(None), LabelAssignment.expires_at <= now
        )
        if community_id is not None:
            query = query.where(LabelAssignment.community_id == community_id)
        result = await session.execute(query)
        return int(getattr(result, "rowcount", 0) or 0)

    @staticmethod
    def _audit(action: str, community_id: str, who: str | None, via: str, **fields: Any) -> None:
        log_event(
            logger,
            Category.AUDIT,
            action,
            "ok",
            community=community_id,
            user=who,
            via=via,
            **fields,
        )
