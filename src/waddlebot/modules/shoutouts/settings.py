"""A community's shoutout settings: the one place chat (``!shoutouts …``) and REST
(``/api/shoutouts/v1/communities/{id}/settings``) read, check and change them.

They live in the module's storage under :data:`SETTINGS` (only what the community changed)
over the defaults (the ``config_schema`` defaults; in chat also any host configuration).
Built-in modules are not installed per community, so there is no install configuration to
hold them. Every change is checked here and written as one value (one write, never half).
"""

from __future__ import annotations

import string
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

from waddlebot.kernel.contracts.media import ref_kind
from waddlebot.kernel.errors import Invalid
from waddlebot.sdk.storage import ModuleStorage

SETTINGS = "settings"
PLACEHOLDERS = ("name", "login", "game", "title", "clip")
ALLOWED = " ".join(f"{{{name}}}" for name in PLACEHOLDERS)
DEFAULT_TEMPLATE = "Go follow {name}, last seen playing {game}: https://twitch.tv/{login}"
MAX_TEMPLATE = 400
DEFAULT_MIN_VIEWERS = 1
FIELDS = ("template", "auto_on_raid", "raid_min_viewers", "card_art")

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ShoutoutSettings:
    """What a community's shoutouts do, after defaults and changes."""

    template: str
    auto_on_raid: bool
    raid_min_viewers: int
    card_art: str | None = None  # an uploaded image (``media:<name>``) for the overlay card

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_template(template: str) -> str:
    """``template`` (trimmed) when it only uses the known placeholders; a refusal saying
    what is wrong otherwise (the chat reply, 422 over REST)."""
    if not isinstance(template, str):
        raise Invalid("A shoutout template is text.")
    template = template.strip()
    if not template:
        raise Invalid("A shoutout template cannot be empty.")
    if len(template) > MAX_TEMPLATE:
        raise Invalid(f"A shoutout template is at most {MAX_TEMPLATE} characters.")
    try:
        fields = list(string.Formatter().parse(template))
    except ValueError:
        raise Invalid(
            f"Unbalanced braces in the template; write {{{{ and }}}} for literal ones. "
            f"Placeholders: {ALLOWED}"
        ) from None
    for _, name, spec, conversion in fields:
        if name is None:
            continue
        if name not in PLACEHOLDERS or spec or conversion:
            shown = "{" + name + ("!" + conversion if conversion else "")
            shown += (":" + spec if spec else "") + "}"
            raise Invalid(f"Unknown placeholder {shown}. Use: {ALLOWED}")
    return template


def check_min_viewers(viewers: int) -> int:
    if isinstance(viewers, bool) or not isinstance(viewers, int) or viewers < 0:
        raise Invalid("The raid minimum is a whole number of viewers, 0 or more.")
    return viewers


def check_card_art(art: str) -> str:
    """An uploaded image's reference (``media:<name>``, see the overlay media API)."""
    if not isinstance(art, str) or ref_kind(art.strip()) != "image":
        raise Invalid(
            "Card art is an uploaded image: media:<name> (PNG, JPEG, GIF or WebP) from the "
            "overlay media library."
        )
    return art.strip()


def check_switch(switch: bool) -> bool:
    if not isinstance(switch, bool):
        raise Invalid("auto_on_raid is true or false.")
    return switch


CHECKS: dict[str, Callable[[Any], Any]] = {
    "template": check_template,
    "auto_on_raid": check_switch,
    "raid_min_viewers": check_min_viewers,
    "card_art": check_card_art,
}


class ShoutoutSettingsManager:
    """Read and change one community's settings in the module's storage."""

    def __init__(self, storage: ModuleStorage, defaults: Mapping[str, Any]) -> None:
        self.storage = storage
        self.defaults = defaults

    async def _stored(self) -> dict[str, Any]:
        stored = await self.storage.get(SETTINGS, {})
        return {k: v for k, v in stored.items() if k in FIELDS} if isinstance(stored, dict) else {}

    async def current(self) -> ShoutoutSettings:
        """The effective settings: what was changed, over the defaults."""
        return self._effective(await self._stored())

    def _effective(self, stored: Mapping[str, Any]) -> ShoutoutSettings:
        """A value that no longer passes its check (a hand-edited row, an odd host default)
        reads as the built-in default rather than breaking shoutouts."""
        merged = {**self.defaults, **stored}
        return ShoutoutSettings(
            template=_valid(check_template, merged.get("template"), DEFAULT_TEMPLATE),
            auto_on_raid=_valid(check_switch, merged.get("auto_on_raid"), False),
            raid_min_viewers=_valid(
                check_min_viewers, merged.get("raid_min_viewers"), DEFAULT_MIN_VIEWERS
            ),
            card_art=_valid(check_card_art, merged.get("card_art"), None),
        )

    async def change(
        self, changes: Mapping[str, Any], *, replace: bool = False
    ) -> ShoutoutSettings:
        """Check every change, then store them in one write. ``None`` puts a field back to its
        default; ``replace`` drops whatever was stored before (PUT)."""
        unknown = sorted(set(changes) - set(FIELDS))
        if unknown:
            raise Invalid(f"Unknown shoutout setting(s): {', '.join(unknown)}.")
        checked = {
            field: None if value is None else CHECKS[field](value)
            for field, value in changes.items()
        }
        stored = {} if replace else await self._stored()
        stored.update(checked)
        kept = {field: value for field, value in stored.items() if value is not None}
        await self.storage.set(SETTINGS, kept)
        return self._effective(kept)


def _valid(check: Callable[[Any], T], value: Any, default: T) -> T:
    try:
        return check(value)
    except Invalid:
        return default
