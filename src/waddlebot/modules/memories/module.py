"""The ``memories`` module object: quotes, saved URLs and reminders register their commands
on it."""

from __future__ import annotations

from waddlebot import __version__
from waddlebot.sdk import Module

module = Module(
    "memories",
    version=__version__,
    description="Memories: quotes, saved URLs and reminders.",
)
