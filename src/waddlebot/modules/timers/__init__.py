"""The ``timers`` module: ``!timer add|list|remove|on|off``, repeated messages and commands."""

from waddlebot.modules.timers.commands import module

__all__ = ["module"]
