"""The ``aliases`` module: ``!alias`` and ``!unalias``, Linux-style command aliases."""

from waddlebot.modules.aliases.commands import module

__all__ = ["module"]
