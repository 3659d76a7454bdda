"""The ``custom-commands`` module: ``!command add|edit|remove|show|enable|disable`` and the
community's own ``!name`` commands answering with their response template."""

from waddlebot.modules.custom_commands.commands import module

__all__ = ["module"]
