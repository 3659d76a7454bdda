"""The ``core`` module: ``!ping``, ``!help``, ``!commands``, ``!about``, ``!reload``."""

from waddlebot.modules.core.commands import module

__all__ = ["module"]
