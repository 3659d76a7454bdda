"""Content safety: every overlay action is reduced to known, bounded fields before it leaves
the hub. Text stays text (the page only ever assigns it with ``textContent``); ``general``
content may carry ``html``, cleaned by nh3 (ammonia) to a small formatting subset with no
scripts, event handlers, styles or remote resources other than https images from allowed hosts.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection
from typing import Any
from urllib.parse import urlsplit

import nh3

from waddlebot.kernel.contracts.media import ref_kind

KINDS: tuple[str, ...] = ("ticker", "media", "general", "alert", "player")
HTML_TAGS = frozenset(
    {
        "b",
        "strong",
        "i",
        "em",
        "u",
        "s",
        "br",
        "p",
        "span",
        "ul",
        "ol",
        "li",
        "h1",
        "h2",
        "h3",
        "small",
        "mark",
        "code",
        "blockquote",
        "img",
    }
)
MAX_HTML = 8000
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_LABEL = re.compile(r"[^a-z0-9_-]")
_IMAGE_WITHOUT_SOURCE = re.compile(r"<img(?![^>]*\ssrc=)[^>]*>")


class ContentRejected(ValueError):
    """The action cannot be shown at all (unknown kind, nothing displayable left)."""


def text(value: Any, limit: int) -> str | None:
    """A plain, bounded, single-purpose string (numbers accepted), or None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        value = f"{value:g}" if isinstance(value, float) else str(value)
    if not isinstance(value, str):
        return None
    cleaned = _CONTROL.sub("", value).strip()
    return cleaned[:limit] or None


def number(value: Any, *, low: float = 0.0, high: float = 86_400.0) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if not math.isfinite(value) or value < low or value > high:
        return None
    return float(value)


def host_allowed(host: str, allowed: Collection[str]) -> bool:
    host = host.lower().rstrip(".")
    for pattern in allowed:
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]):
                return True
        elif host == pattern:
            return True
    return False


def image_url(value: Any, allowed: Collection[str]) -> str | None:
    """An https URL on an allowed host, or None."""
    url = text(value, 2000)
    if url is None:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme != "https" or not parts.hostname or parts.username or parts.password:
        return None
    return url if host_allowed(parts.hostname, allowed) else None


def picture(value: Any, allowed: Collection[str]) -> str | None:
    """An uploaded image (``media:<name>``, see ``overlays/media.py``) or an allowed https
    URL, or None."""
    kind = ref_kind(value)
    if kind is not None:
        return str(value) if kind == "image" else None
    return image_url(value, allowed)


def sound(value: Any) -> str | None:
    """An uploaded sound (``media:<name>``), or None: no remote audio."""
    return str(value) if ref_kind(value) == "sound" else None


def clean_html(html: str, allowed_hosts: Collection[str]) -> str:
    """``html`` reduced to :data:`HTML_TAGS`; images only from ``allowed_hosts``."""

    def attribute_filter(tag: str, attribute: str, value: str) -> str | None:
        if tag == "img" and attribute == "src":
            return image_url(value, allowed_hosts)
        if attribute in {"width", "height"}:
            return value if value.isdigit() and len(value) <= 4 else None
        return value

    cleaned = nh3.clean(
        html[:MAX_HTML],
        tags=set(HTML_TAGS),
        clean_content_tags={"script", "style"},
        attributes={"img": {"src", "alt", "width", "height"}},
        attribute_filter=attribute_filter,
        url_schemes={"https"},
        strip_comments=True,
        link_rel=None,
    )
    return _IMAGE_WITHOUT_SOURCE.sub("", cleaned)  # images whose source was refused


def _ticker(content: dict[str, Any], hosts: Collection[str]) -> dict[str, Any]:
    return {"text": text(content.get("text"), 300)}


def _media(content: dict[str, Any], hosts: Collection[str]) -> dict[str, Any]:
    length = number(content.get("length"))
    position = number(content.get("position"))
    if length is not None and position is not None:
        position = min(position, length)
    playing = content.get("playing")
    return {
        "title": text(content.get("title"), 200),
        "artist": text(content.get("artist"), 200),
        "album": text(content.get("album"), 200),
        "source": text(content.get("source"), 50),
        "requested_by": text(content.get("requested_by"), 100),
        "art": picture(content.get("art"), hosts),
        "length": length,
        "position": position,
        "playing": playing if isinstance(playing, bool) else True,
    }


def _general(content: dict[str, Any], hosts: Collection[str]) -> dict[str, Any]:
    """A card: title and text, optional formatted html, and the fields of a person card
    (shoutouts): ``image`` (avatar), ``subtitle`` (e.g. the game), ``thumbnail`` and
    ``caption`` (e.g. a clip's). Images only over https from the allowed hosts."""
    raw = content.get("html")
    html = clean_html(raw, hosts).strip() if isinstance(raw, str) else ""
    return {
        "title": text(content.get("title"), 200),
        "text": text(content.get("text"), 2000),
        "html": html or None,
        "image": picture(content.get("image"), hosts),
        "subtitle": text(content.get("subtitle"), 200),
        "thumbnail": picture(content.get("thumbnail"), hosts),
        "caption": text(content.get("caption"), 200),
    }


def _alert(content: dict[str, Any], hosts: Collection[str]) -> dict[str, Any]:
    event = text(content.get("event"), 40)
    return {
        "event": _LABEL.sub("", event.lower()) or None if event else None,
        "title": text(content.get("title"), 200),
        "text": text(content.get("text") or content.get("message"), 500),
        "user": text(content.get("user"), 100),
        "amount": text(content.get("amount"), 40),
        "image": picture(content.get("image"), hosts),
        "sound": sound(content.get("sound")),
    }


_VIDEO = re.compile(r"^[A-Za-z0-9_-]{11}$")
_ENTRY = re.compile(r"^[A-Za-z0-9]{1,32}$")
PLAYER_COMMANDS = ("play", "stop", "volume")


def _player(content: dict[str, Any], hosts: Collection[str]) -> dict[str, Any]:
    """An instruction for the music player page: ``play`` a YouTube ``video`` (its queue
    ``entry`` id comes back in the page's reports), ``stop``, or set ``volume`` (0-100)."""
    command = content.get("command")
    video = content.get("video")
    entry = content.get("entry")
    volume = number(content.get("volume"), high=100)
    return {
        "command": command if command in PLAYER_COMMANDS else None,
        "video": video if isinstance(video, str) and _VIDEO.match(video) else None,
        "entry": entry if isinstance(entry, str) and _ENTRY.match(entry) else None,
        "volume": int(volume) if volume is not None else None,
    }


def _clear(content: dict[str, Any], hosts: Collection[str]) -> dict[str, Any]:
    kind = content.get("kind")
    return {"kind": kind if kind in KINDS else None}


_CLEANERS: dict[str, Callable[[dict[str, Any], Collection[str]], dict[str, Any]]] = {
    "ticker": _ticker,
    "media": _media,
    "general": _general,
    "alert": _alert,
    "player": _player,
    "clear": _clear,
}
_REQUIRED: dict[str, tuple[str, ...]] = {
    "ticker": ("text",),
    "media": ("title",),
    "general": ("title", "text", "html", "image", "thumbnail"),
    "alert": ("title", "text", "user"),
    "player": ("command",),
}


def sanitise(kind: str, content: dict[str, Any], allowed_hosts: Collection[str]) -> dict[str, Any]:
    """The safe content of an overlay action of ``kind``, unset fields left out.

    Raises :class:`ContentRejected` when nothing displayable remains.
    """
    cleaner = _CLEANERS.get(kind)
    if cleaner is None:
        raise ContentRejected(f"unknown overlay kind {kind!r}")
    cleaned = {
        key: value for key, value in cleaner(content, allowed_hosts).items() if value is not None
    }
    required = _REQUIRED.get(kind)
    if required and not any(field in cleaned for field in required):
        raise ContentRejected(f"a {kind} needs one of: {', '.join(required)}")
    return cleaned
