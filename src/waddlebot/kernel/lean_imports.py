"""Libraries imported with their optional pretty-printing extras hidden from them.

Some libraries import rich or pygments whenever they are installed - and typer brings both -
without our needing what they use them for: httpx for its ``httpx`` command, structlog to draw
exceptions in its console renderer (ours uses the plain formatter), Mako (through Alembic) to
colour template errors. Loaded for nothing, they held about 6 MiB in every server process
(issue #16 goal 6: idle memory). The CLI still imports rich when it wants it.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from contextlib import contextmanager

EXTRAS = ("rich", "pygments")
# Imported once, here, by ``import waddlebot``: every process of ours uses them.
EVERYWHERE = ("structlog", "structlog.dev", "structlog.processors", "structlog.tracebacks", "httpx")


@contextmanager
def extras_hidden() -> Iterator[None]:
    """Within: ``import rich`` and ``import pygments`` fail (libraries treat them as absent),
    unless one was imported already. After: both can be imported as usual."""
    hidden = [name for name in EXTRAS if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # ImportError at once
    try:
        yield
    finally:
        for name in hidden:
            del sys.modules[name]


def import_everywhere_libraries() -> None:
    """Import :data:`EVERYWHERE` without the extras, once, before anyone else imports them."""
    with extras_hidden():
        for name in EVERYWHERE:
            importlib.import_module(name)
