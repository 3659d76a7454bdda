"""The object store interface: files that are not rows (overlay images and sounds, module
exports, backups), kept in a directory of the data dir or in an S3 bucket.

Keys are ``/``-separated paths of plain segments (letters, digits, ``.``, ``_``, ``-``; no
segment starting with a dot), checked here once for every backend, so a key can never climb
out of the store's directory nor differ between backends.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol, runtime_checkable

from waddlebot.kernel.errors import Invalid

MAX_KEY = 512
CHUNK = 8 * 1024 * 1024
"""Bytes streamed at a time by ``put_file``/``get_file`` (an S3 multipart part)."""
_SEGMENT = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}")


class BadKey(Invalid):
    """A key that is not a plain relative path (a 422 at the HTTP edge)."""


def check_key(key: str) -> str:
    """``key`` when every segment is plain; :class:`BadKey` otherwise."""
    if (
        not key
        or len(key) > MAX_KEY
        or not all(_SEGMENT.fullmatch(part) for part in key.split("/"))
    ):
        raise BadKey(
            "an object key is 1-512 characters of /-separated segments of letters, digits, "
            "'.', '_' and '-', none starting with a dot"
        )
    return key


def check_prefix(prefix: str) -> str:
    """A listing prefix: empty, or a key optionally ending in ``/``."""
    if prefix:
        check_key(prefix.removesuffix("/"))
    return prefix


@dataclass(frozen=True)
class ObjectInfo:
    """One stored object as a listing shows it."""

    key: str
    size: int
    modified: datetime


@dataclass(frozen=True)
class StoredObject:
    """An object's bytes and the content type it was stored with."""

    key: str
    data: bytes
    content_type: str


@runtime_checkable
class ObjectStore(Protocol):
    """What every backend offers. Writes replace whole objects atomically."""

    name: str

    async def prepare(self) -> None:
        """Make the store usable (its directory, its bucket); safe to run twice. ``waddlebot
        migrate`` runs it, so services find the store ready."""
        ...

    async def put(self, key: str, data: bytes, *, content_type: str) -> ObjectInfo:
        """Store ``data`` under ``key``, replacing any object there."""
        ...

    async def get(self, key: str) -> StoredObject | None:
        """The object under ``key``; None when there is none."""
        ...

    async def put_file(self, key: str, source: Path, *, content_type: str) -> ObjectInfo:
        """Store the file at ``source``, streamed (backups may not fit in memory)."""
        ...

    async def get_file(self, key: str, target: Path) -> bool:
        """Write the object to ``target``, streamed and atomically; False when there is none."""
        ...

    async def delete(self, key: str) -> None:
        """Remove ``key``; no error when it is already gone."""
        ...

    async def list(self, prefix: str = "") -> list[ObjectInfo]:
        """Every object whose key starts with ``prefix``, in key order."""
        ...

    async def presigned_get(self, key: str, *, expires_in: int = 3600) -> str:
        """A URL anyone may GET ``key`` from for ``expires_in`` seconds."""
        ...

    def url_origins(self) -> tuple[str, ...]:
        """Origins (``scheme://host[:port]``) :meth:`presigned_get` URLs point at, for CSPs."""
        ...

    async def close(self) -> None: ...
