"""Random version-4 UUIDs (hex) without a system call each, and time-ordered version-7 ones.

``uuid.uuid4()`` reads the kernel's random source for every id; the message path makes several
ids per message (the event, its actions, an audit row) and those reads were a measurable share
of its CPU. This draws the same cryptographically strong bytes (``os.urandom``) a few kilobytes
at a time and cuts ids from them; a forked child starts with a fresh pool, so parent and child
never hand out the same id.

Rows written on every message (execution log, audit) are keyed by version-7 UUIDs (RFC 9562:
Unix milliseconds first), so each insert lands at the end of the primary key's index instead of
on a random page: execution rows written through ``Database.insert_rows`` on SQLite in batches
of 20 cost 25 -> 16 us of CPU each (one community; 32 -> 29 us spread over 10,000, whose
per-community index still takes a random page per row), and PostgreSQL's B-trees keep writing
to the same recent pages.
"""

from __future__ import annotations

import os
import threading
import time

_POOL_BYTES = 4096
_ID_BYTES = 16
_TAIL_BYTES = 10  # after a UUIDv7's 6 bytes of time
_LAST_MS = 2**48 - 1

_lock = threading.Lock()
_pool = b""
_offset = 0


def new_id() -> str:
    """A random UUID4 as 32 lowercase hex digits (what ``uuid.uuid4().hex`` returns)."""
    return _uuid_hex(_random_bytes(_ID_BYTES), version=4)


def new_ordered_id() -> str:
    """A UUIDv7 as 32 lowercase hex digits: now, in Unix milliseconds, then random bits."""
    return ordered_id(time.time_ns() // 1_000_000, _random_bytes(_TAIL_BYTES))


def ordered_id(unix_ms: int, tail: bytes) -> str:
    """The UUIDv7 of ``unix_ms`` with the first 10 bytes of ``tail`` after it: random bytes,
    or a digest when the same thing must always get the same id."""
    if len(tail) < _TAIL_BYTES:
        raise ValueError(f"a UUIDv7 needs {_TAIL_BYTES} bytes after its time")
    # A time from a payload may be anything: before 1970 or after 10889 sorts at an end.
    unix_ms = min(max(unix_ms, 0), _LAST_MS)
    return _uuid_hex(unix_ms.to_bytes(6, "big") + tail[:_TAIL_BYTES], version=7)


def _uuid_hex(value: bytes, *, version: int) -> str:
    """16 bytes as a UUID of ``version`` (its nibble and the RFC 4122 variant set), in hex."""
    raw = bytearray(value)
    raw[6] = (raw[6] & 0x0F) | (version << 4)
    raw[8] = (raw[8] & 0x3F) | 0x80
    return raw.hex()


def _random_bytes(count: int) -> bytes:
    global _pool, _offset
    with _lock:
        if _offset + count > len(_pool):
            _pool = os.urandom(_POOL_BYTES)
            _offset = 0
        taken = _pool[_offset : _offset + count]
        _offset += count
    return taken


def _forget_pool() -> None:
    """In a forked child: a fresh pool, and a fresh lock in case another thread held it."""
    global _lock, _pool, _offset
    _lock, _pool, _offset = threading.Lock(), b"", 0


os.register_at_fork(after_in_child=_forget_pool)
