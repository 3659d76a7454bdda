"""The ``calendar`` module: community events proposed in chat (``!event``), approved by
moderators, reminded in their channel and published as a tokenised iCalendar feed.

``models.py`` (tables, migration ``0002_calendar``), ``times.py`` (wall clock ↔ UTC),
``manager.py`` (``EventBook``: every change, for chat and REST), ``commands.py`` (chat and
jobs), ``feed.py`` (feed tokens and the RFC 5545 document), ``api.py`` (REST and the feed),
``cli.py`` (``waddlebot calendar``).
"""

from __future__ import annotations

from waddlebot.modules.calendar import api  # noqa: F401 - registers the REST routes
from waddlebot.modules.calendar.commands import module

__all__ = ["module"]
