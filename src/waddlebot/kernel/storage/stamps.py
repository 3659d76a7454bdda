"""A change stamp: how processes sharing a SQLite file tell each other "this changed".

Embedded, ``waddlebot up`` and a CLI command beside it share the database file and nothing
else: each keeps its own in-memory cache, and one cannot invalidate the other's. So the
process that makes a change also rewrites a small file beside the database with a fresh
random token, and every process that caches compares the token at most once a second.
Reading a few bytes once a second costs nothing per message, and a change made from the
command line reaches a running server's caches within about a second. (With Redis the caches
are shared and invalidated there; this file is not used.)
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

from waddlebot.kernel.ids import new_id

CHECK_EVERY = 1.0  # seconds between two reads of the token


class ChangeStamp:
    """``generation`` moves on when another process touched the stamp."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen = self._read()
        self._checked = time.monotonic()
        self._generation = 0

    def touch(self) -> None:
        """Say that something changed: write a fresh token (atomically: readers see the old
        or the new one, never half of it). A failure (a read-only directory) is ignored:
        other processes then fall back on their caches' own expiry."""
        token = new_id()
        partial = self.path.with_name(f"{self.path.name}.{token}.tmp")
        with contextlib.suppress(OSError):
            partial.write_text(token)
            os.replace(partial, self.path)
            self._seen = token  # our own change: this process invalidated its caches itself
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)

    def generation(self) -> int:
        """A number that increases whenever another process touched the stamp (seen at most
        ``CHECK_EVERY`` seconds late)."""
        now = time.monotonic()
        if now - self._checked >= CHECK_EVERY:
            self._checked = now
            token = self._read()
            if token != self._seen:
                self._seen = token
                self._generation += 1
        return self._generation

    def _read(self) -> str | None:
        try:
            return self.path.read_text()
        except OSError:
            return None
