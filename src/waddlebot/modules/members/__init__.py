"""The ``members`` module: ``!role show/list/grant/revoke``."""

from waddlebot.modules.members.commands import module

__all__ = ["module"]
