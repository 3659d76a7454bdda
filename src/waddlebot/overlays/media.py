"""Overlay media: images and sounds a community uploads for its overlays (alert images and
sounds, shoutout card art), kept in the object store under ``overlays/<community>/<name>``.

A file's type is what its first bytes say (``filetype``'s magic numbers), never what the
upload's header or name claims; its name must carry that type's extension (added when it has
none), so a listing knows each file's type without reading it. Overlay content refers to a
file as ``media:<name>``; the page fetches it through its own token URL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from waddlebot.kernel.contracts.media import (
    BY_EXTENSION,
    NAME,
    REF_PREFIX,
    TYPES,
)
from waddlebot.kernel.errors import Invalid, NotFound
from waddlebot.kernel.objects import ObjectStore

SNIFF_BYTES = 262  # what filetype reads


class MediaRefused(Invalid):
    """An upload we do not keep: too big, not an allowed type, a bad name (422)."""


@dataclass(frozen=True)
class MediaFile:
    name: str
    kind: str  # image | sound
    content_type: str
    size: int
    modified: datetime

    @property
    def ref(self) -> str:
        """How overlay content names this file (``image``/``sound`` fields)."""
        return REF_PREFIX + self.name


def sniff(data: bytes) -> str:
    """The allowed MIME type ``data`` starts like; :class:`MediaRefused` otherwise."""
    import filetype  # only uploads need it

    found = filetype.guess(data[:SNIFF_BYTES]) if data else None
    mime = found.mime if found is not None else None
    if mime not in TYPES:
        shown = f"a {mime} file" if mime else "not a file type we recognise"
        raise MediaRefused(
            f"this is {shown}; overlay media are PNG, JPEG, GIF or WebP images "
            "and MP3, Ogg or WAV sounds"
        )
    return str(mime)


def file_name(wanted: str, mime: str) -> str:
    """``wanted`` checked, with ``mime``'s extension added when it has none."""
    if not NAME.fullmatch(wanted):
        raise MediaRefused(
            "a media name is 1-60 letters, digits, '_' or '-' (starting with a letter or "
            "digit), optionally with an extension such as .png"
        )
    stem, dot, extension = wanted.rpartition(".")
    extensions = TYPES[mime][1]
    if not dot:
        return f"{wanted}.{extensions[0]}"
    if extension.lower() not in extensions:
        raise MediaRefused(
            f"the file is {mime} but its name ends in .{extension}; use .{extensions[0]}"
        )
    return f"{stem}.{extension.lower()}"


class MediaLibrary:
    """Every community's overlay media in one object store."""

    def __init__(self, store: ObjectStore, *, max_bytes: int, max_files: int) -> None:
        self.store = store
        self.max_bytes = max_bytes
        self.max_files = max_files

    @staticmethod
    def key(community_id: str, name: str) -> str:
        return f"overlays/{community_id}/{name}"

    async def add(self, community_id: str, wanted: str, data: bytes) -> MediaFile:
        """Keep ``data`` as ``wanted`` (replacing a file of that name)."""
        if len(data) > self.max_bytes:
            raise MediaRefused(f"the file is larger than {self.max_bytes} bytes")
        if not data:
            raise MediaRefused("the file is empty")
        mime = sniff(data)
        name = file_name(wanted, mime)
        present = await self.files(community_id)
        if len(present) >= self.max_files and all(item.name != name for item in present):
            raise MediaRefused(
                f"this community already has {self.max_files} media files; delete one first"
            )
        info = await self.store.put(self.key(community_id, name), data, content_type=mime)
        return MediaFile(name, TYPES[mime][0], mime, info.size, info.modified)

    async def files(self, community_id: str) -> list[MediaFile]:
        found: list[MediaFile] = []
        for info in await self.store.list(f"overlays/{community_id}/"):
            name = info.key.rpartition("/")[2]
            mime = BY_EXTENSION.get(name.rpartition(".")[2].lower())
            if mime is not None:
                found.append(MediaFile(name, TYPES[mime][0], mime, info.size, info.modified))
        return found

    async def remove(self, community_id: str, name: str) -> None:
        if not NAME.fullmatch(name):
            raise NotFound(f"no media file {name[:60]!r}")
        key = self.key(community_id, name)
        if not any(item.key == key for item in await self.store.list(key)):
            raise NotFound(f"no media file {name!r}")
        await self.store.delete(key)
