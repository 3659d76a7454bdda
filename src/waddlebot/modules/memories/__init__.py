"""Memories: a community's quotes (``quotes.py``), saved URLs (``urls.py``) and reminders
(``reminders.py``), one built-in module written with the SDK. Each part owns its tables
(``models_*.py``) on its own Alembic branch."""

from __future__ import annotations

from waddlebot.modules.memories import quotes, reminders, urls  # noqa: F401 - register handlers
from waddlebot.modules.memories.module import module

__all__ = ["module"]
