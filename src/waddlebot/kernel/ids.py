"""Random version-4 UUIDs (hex) without a system call each.

``uuid.uuid4()`` reads the kernel's random source for every id; the message path makes several
ids per message (the event, its actions, an audit row) and those reads were a measurable share
of its CPU. This draws the same cryptographically strong bytes (``os.urandom``) a few kilobytes
at a time and cuts ids from them; a forked child starts with a fresh pool, so parent and child
never hand out the same id.
"""

from __future__ import annotations

import os
import threading

_POOL_BYTES = 4096
_ID_BYTES = 16

_lock = threading.Lock()
_pool = b""
_offset = 0


def new_id() -> str:
    """A random UUID4 as 32 lowercase hex digits (what ``uuid.uuid4().hex`` returns)."""
    global _pool, _offset
    with _lock:
        if _offset >= len(_pool):
            _pool = os.urandom(_POOL_BYTES)
            _offset = 0
        raw = bytearray(_pool[_offset : _offset + _ID_BYTES])
        _offset += _ID_BYTES
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    return raw.hex()


def _forget_pool() -> None:
    """In a forked child: a fresh pool, and a fresh lock in case another thread held it."""
    global _lock, _pool, _offset
    _lock, _pool, _offset = threading.Lock(), b"", 0


os.register_at_fork(after_in_child=_forget_pool)
