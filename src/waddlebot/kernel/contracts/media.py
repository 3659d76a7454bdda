"""Overlay media references: how overlay content and module settings name an uploaded file.

Content says ``media:<name>``; the name carries its type's extension, so whether a reference
is an image or a sound is known without reading the file. The overlay hub's sanitiser and the
modules that accept uploaded art (``stream_alerts``, ``shoutouts``) read references with
these rules; ``overlays/media.py`` stores the files.
"""

from __future__ import annotations

import re

# MIME type → (kind, extensions; the first is the one added to a bare name).
TYPES: dict[str, tuple[str, tuple[str, ...]]] = {
    "image/png": ("image", ("png",)),
    "image/jpeg": ("image", ("jpg", "jpeg")),
    "image/gif": ("image", ("gif",)),
    "image/webp": ("image", ("webp",)),
    "audio/mpeg": ("sound", ("mp3",)),
    "audio/ogg": ("sound", ("ogg", "oga")),
    "audio/x-wav": ("sound", ("wav",)),
}
BY_EXTENSION = {ext: mime for mime, (_, exts) in TYPES.items() for ext in exts}
REF_PREFIX = "media:"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,59}(\.[A-Za-z0-9]{2,5})?")


def name_from_ref(value: object) -> str | None:
    """The file name in a ``media:<name>`` reference, or None when ``value`` is not one."""
    if not isinstance(value, str) or not value.startswith(REF_PREFIX):
        return None
    name = value[len(REF_PREFIX) :]
    if not NAME.fullmatch(name) or name.rpartition(".")[2].lower() not in BY_EXTENSION:
        return None
    return name


def ref_kind(value: object) -> str | None:
    """``image`` or ``sound`` for a valid ``media:<name>`` reference, else None."""
    name = name_from_ref(value)
    if name is None:
        return None
    return TYPES[BY_EXTENSION[name.rpartition(".")[2].lower()]][0]
