"""Data that follows a person when identity linking merges two WaddleBot users.

``!verify`` folds the user who owned the verified account into the one who asked
(``identity/manager.py``). Core tables (memberships, labels) move there; a module whose own
tables are keyed by user id registers a hook with :func:`on_user_merge` (``waddlebot.sdk.database``
re-exports it) and moves or sums its rows in the same transaction, so a viewer who links
Twitch and Discord sees one inventory.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

MergeHook = Callable[[AsyncSession, str, str], Awaitable[None]]
"""``hook(session, absorbed_user_id, kept_user_id)``, inside the merge's transaction."""

_HOOKS: dict[str, MergeHook] = {}


def on_user_merge(hook: MergeHook) -> MergeHook:
    """Register ``hook`` (once per qualified name, so re-imports do not double it)."""
    _HOOKS[f"{hook.__module__}.{hook.__qualname__}"] = hook
    return hook


async def run_merge_hooks(session: AsyncSession, absorbed: str, kept: str) -> None:
    for hook in list(_HOOKS.values()):
        await hook(session, absorbed, kept)
