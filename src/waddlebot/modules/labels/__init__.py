"""The ``labels`` module: ``!label list/show/add/remove/create/delete``."""

from waddlebot.modules.labels.commands import module

__all__ = ["module"]
