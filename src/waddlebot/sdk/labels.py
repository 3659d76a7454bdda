"""What a host may offer modules about labels (the router does; remote hosts do not).

Chat names people by their username on the platform the command came from (``@name`` or
``name``) or by their WaddleBot user id; the host resolves them. The caller is the account the
platform reported (``ctx.event.user``), so the host can check their permissions itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from waddlebot.sdk.caller import Caller


class LabelError(Exception):
    """A refusal with a short message meant for the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class LabelInfo:
    """A community's label as chat shows it."""

    name: str
    colour: str
    description: str = ""
    system: bool = False
    permissions: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class HeldLabel:
    """A label on one person, until ``expires_at`` (None: no expiry)."""

    name: str
    expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class PersonLabels:
    """Someone's labels, with the name chat knows them by."""

    name: str
    labels: list[HeldLabel]


class LabelOperations(Protocol):
    """List, create and delete a community's labels; show, apply and remove people's labels."""

    async def community_labels(self, community_id: str) -> list[LabelInfo]:
        """The community's labels, by name."""
        ...

    async def labels_of(
        self, community_id: str, caller: Caller, username: str | None = None
    ) -> PersonLabels:
        """The active labels of ``username`` (on the caller's platform), or the caller's own."""
        ...

    async def apply_to(
        self,
        community_id: str,
        caller: Caller,
        username: str,
        label: str,
        duration: timedelta | None = None,
    ) -> tuple[str, HeldLabel]:
        """Put ``label`` on ``username`` (for ``duration``); returns their name and the label."""
        ...

    async def remove_from(
        self, community_id: str, caller: Caller, username: str, label: str
    ) -> tuple[str, str]:
        """Take ``label`` off ``username``; returns their name and the label's name."""
        ...

    async def create(
        self, community_id: str, caller: Caller, name: str, colour: str | None = None
    ) -> LabelInfo:
        """Create a label (no permissions; grant those over the API)."""
        ...

    async def delete(self, community_id: str, caller: Caller, name: str) -> LabelInfo:
        """Delete a label and every assignment of it."""
        ...

    # Labels on a module's own things (quotes, inventory items, events): ``item_id`` is the
    # module's choice, prefixed by kind (``quote:12``). The module decides who may; the host
    # checks only that the label exists (a :class:`waddlebot.kernel.errors.Refusal` if not).

    async def item_labels(self, community_id: str, item_ids: Sequence[str]) -> dict[str, list[str]]:
        """The active labels on each item, by name (every id in the answer, [] for none)."""
        ...

    async def label_item(
        self, community_id: str, label: str, item_id: str, *, who: str | None = None
    ) -> str:
        """Put an existing ``label`` on the item; returns the label's name as spelled."""
        ...

    async def unlabel_item(
        self, community_id: str, label: str, item_id: str, *, who: str | None = None
    ) -> str:
        """Take ``label`` off the item; returns the label's name."""
        ...

    async def forget_item(self, community_id: str, item_id: str) -> int:
        """Remove every label from an item that is gone; returns how many."""
        ...

    async def items_labelled(self, community_id: str, label: str, prefix: str = "") -> list[str]:
        """Ids of the items (starting with ``prefix``) that carry ``label``, sorted."""
        ...
