"""The embedded object store: a directory in the data dir, and signed, expiring URLs the app
serves (``GET <url_base>/<key>?expires=…&signature=…``, checked by :meth:`DirectoryStore.verify`).

Each object is one file: its content type on the first line, then the bytes, written to a
temporary file beside it and renamed into place, so a reader sees the old object or the new
one, never half of one. Keys are checked by :func:`check_key` and the resolved path must stay
inside the root: no path traversal.
"""

from __future__ import annotations

import asyncio
import base64
import builtins
import contextlib
import hashlib
import hmac
import os
import secrets
import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote, urlencode, urlsplit

from waddlebot.kernel.objects.base import (
    CHUNK,
    BadKey,
    ObjectInfo,
    StoredObject,
    check_key,
    check_prefix,
)

MAX_CONTENT_TYPE = 200


class DirectoryStore:
    """Objects as files under ``root``; presigned URLs signed with HMAC-SHA256."""

    name = "directory"

    def __init__(self, root: Path, *, secret: str, url_base: str) -> None:
        self.root = root
        self.url_base = url_base.rstrip("/")
        # A key of its own: a URL signature can never double as any other HMAC we issue.
        self._key = hmac.new(secret.encode(), b"waddlebot object urls", hashlib.sha256).digest()

    def _path(self, key: str) -> Path:
        path = (self.root / check_key(key)).resolve()
        if not path.is_relative_to(self.root.resolve()):  # belt and braces over check_key
            raise BadKey("an object key must stay inside the store")
        return path

    async def prepare(self) -> None:
        await asyncio.to_thread(self.root.mkdir, parents=True, exist_ok=True)

    async def put(self, key: str, data: bytes, *, content_type: str) -> ObjectInfo:
        path = self._path(key)
        header = _header(content_type)
        await self._write(key, path, lambda handle: handle.write(header + data))
        return ObjectInfo(key=key, size=len(data), modified=_modified(path))

    async def put_file(self, key: str, source: Path, *, content_type: str) -> ObjectInfo:
        path = self._path(key)
        header = _header(content_type)

        def copy(handle: BinaryIO) -> None:
            handle.write(header)
            with source.open("rb") as original:
                shutil.copyfileobj(original, handle, CHUNK)

        await self._write(key, path, copy)
        return _info(key, path)

    async def _write(self, key: str, path: Path, fill: Callable[[BinaryIO], object]) -> None:
        try:
            await asyncio.to_thread(_write_atomically, path, fill)
        except (FileExistsError, NotADirectoryError, IsADirectoryError):
            raise BadKey(f"{key!r} clashes with an object's or a folder's name") from None

    async def get_file(self, key: str, target: Path) -> bool:
        path = self._path(key)

        def copy() -> bool:
            try:
                original = path.open("rb")
            except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
                return False
            with original:
                original.readline(MAX_CONTENT_TYPE + 2)
                _write_atomically(target, lambda out: shutil.copyfileobj(original, out, CHUNK))
            return True

        return await asyncio.to_thread(copy)

    async def get(self, key: str) -> StoredObject | None:
        path = self._path(key)
        try:
            raw = await asyncio.to_thread(path.read_bytes)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None
        content_type, _, data = raw.partition(b"\n")
        return StoredObject(key=key, data=data, content_type=content_type.decode("ascii"))

    async def delete(self, key: str) -> None:
        path = self._path(key)
        await asyncio.to_thread(_remove, path, self.root.resolve())

    async def list(self, prefix: str = "") -> list[ObjectInfo]:
        check_prefix(prefix)
        return await asyncio.to_thread(self._list, prefix)

    def _list(self, prefix: str) -> builtins.list[ObjectInfo]:
        root = self.root.resolve()
        # Walk only the deepest directory the prefix names, not the whole store.
        start = root / prefix.rpartition("/")[0] if "/" in prefix else root
        found: builtins.list[ObjectInfo] = []
        if not start.is_dir():
            return found
        for folder, directories, files in os.walk(start):
            directories[:] = [name for name in directories if not name.startswith(".")]
            for name in files:
                if name.startswith("."):  # temporary files of writes in progress
                    continue
                path = Path(folder) / name
                key = path.relative_to(root).as_posix()
                if not key.startswith(prefix):
                    continue
                with contextlib.suppress(FileNotFoundError):  # deleted meanwhile
                    found.append(_info(key, path))
        return sorted(found, key=lambda item: item.key)

    async def presigned_get(self, key: str, *, expires_in: int = 3600) -> str:
        check_key(key)
        expires = int(time.time()) + expires_in
        query = urlencode({"expires": expires, "signature": self._sign(key, expires)})
        return f"{self.url_base}/{quote(key)}?{query}"

    def verify(self, key: str, expires: str, signature: str, *, now: float | None = None) -> bool:
        """Is this a URL :meth:`presigned_get` issued for ``key``, and still valid?"""
        if not expires.isdigit() or len(expires) > 12:
            return False
        if int(expires) < (time.time() if now is None else now):
            return False
        try:
            check_key(key)
        except BadKey:
            return False
        expected = self._sign(key, int(expires))
        return hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace"))

    def _sign(self, key: str, expires: int) -> str:
        digest = hmac.new(self._key, f"{key}\n{expires}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def url_origins(self) -> tuple[str, ...]:
        parts = urlsplit(self.url_base)
        return (f"{parts.scheme}://{parts.netloc}",) if parts.scheme and parts.netloc else ()

    async def close(self) -> None:
        return None


def _header(content_type: str) -> bytes:
    """An object file's first line: its content type."""
    return content_type.strip()[:MAX_CONTENT_TYPE].encode("ascii", "replace") + b"\n"


def _write_atomically(path: Path, fill: Callable[[BinaryIO], object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
    try:
        with temporary.open("xb") as handle:
            fill(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _remove(path: Path, root: Path) -> None:
    with contextlib.suppress(FileNotFoundError, IsADirectoryError):
        path.unlink()
    folder = path.parent
    while folder != root and folder.is_relative_to(root):  # drop folders left empty
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent


def _info(key: str, path: Path) -> ObjectInfo:
    with path.open("rb") as handle:
        header = len(handle.readline(MAX_CONTENT_TYPE + 2))
    stat = path.stat()
    return ObjectInfo(key=key, size=stat.st_size - header, modified=_modified(path, stat))


def _modified(path: Path, stat: os.stat_result | None = None) -> datetime:
    return datetime.fromtimestamp((stat or path.stat()).st_mtime, UTC)
