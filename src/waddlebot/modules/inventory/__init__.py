"""Inventory: a community's item catalogue, who holds how many of each, and the history of
every change; ``!inv`` in chat, ``/api/inventory/v1`` over REST, platform rewards that grant
items, and holdings that follow identity merges. See ``docs/inventory.md``."""

from __future__ import annotations

from waddlebot.modules.inventory import commands, manager, rest  # noqa: F401 - register handlers
from waddlebot.modules.inventory.module import module

__all__ = ["module"]
