"""The ``members`` module: ``!role show/list/grant/revoke`` and ``!command enable/disable``."""

from waddlebot.modules.members.commands import module

__all__ = ["module"]
