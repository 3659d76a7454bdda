"""The ``identity`` module: ``!identity link/status/unlink``, ``!verify`` and ``!whoami``."""

from waddlebot.modules.identity.commands import module

__all__ = ["module"]
