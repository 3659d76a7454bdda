"""Read the custom commands other chat bots export and translate them into ours.

- ``nightbot``: the JSON of Nightbot's API ``GET /1/commands`` (``{"commands": [...]}``);
  variables ``$(user)``;
- ``streamelements``: the JSON of ``GET /kappa/v2/bot/commands/<channel>`` (a list); ``${user}``;
- ``streamlabs``: Streamlabs Chatbot's command export saved as CSV (UTF-8); ``$user``;
- ``phantombot``: PhantomBot's database ``config/phantombot.db`` (SQLite); ``(sender)``;
- ``firebot``: Firebot's ``commands.json`` or a ``.firebotsetup`` export; ``$user``.

Every variable is translated to one of ours or the command is skipped, with the variable named
in the reason: a response is never imported half-translated. Literal braces are escaped.
Where a setting has no exact equivalent the stricter one is chosen and a note says so (e.g.
"regular" becomes ``vip``); nothing is loosened.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from waddlebot.custom_commands.importers import (
    firebot,
    nightbot,
    phantombot,
    streamelements,
    streamlabs,
)
from waddlebot.custom_commands.importers.common import (
    Entries,
    Imported,
    Skipped,
    Translation,
    UnreadableExport,
    Untranslatable,
)
from waddlebot.custom_commands.manager import MAX_COOLDOWN, NAME, Change, CustomCommandManager
from waddlebot.custom_commands.template import TemplateError, parse
from waddlebot.kernel.errors import Refusal

__all__ = [
    "TOOLS",
    "Imported",
    "Report",
    "Skipped",
    "Translation",
    "UnreadableExport",
    "import_commands",
    "read_export",
]

READERS: dict[str, Callable[[bytes, Path], Entries]] = {
    "nightbot": nightbot.read,
    "streamelements": streamelements.read,
    "streamlabs": streamlabs.read,
    "phantombot": phantombot.read,
    "firebot": firebot.read,
}
TOOLS = tuple(READERS)
MAX_FILE = 20 * 1024 * 1024


def read_export(tool: str, path: Path) -> Translation:
    """Every command in the file, translated or skipped with its reason."""
    if tool not in TOOLS:
        raise UnreadableExport(f"unknown tool {tool!r}; choose from {', '.join(TOOLS)}")
    try:
        if path.stat().st_size > MAX_FILE:
            raise UnreadableExport(f"{path} is larger than {MAX_FILE // 1024 // 1024} MiB")
        raw = path.read_bytes()
    except OSError as error:
        raise UnreadableExport(f"cannot read {path}: {error.strerror or error}") from None
    result = Translation()
    for name, build in READERS[tool](raw, path):
        try:
            command = build()
            command.name = _name(command.name)
            command.cooldown = min(max(command.cooldown, 0.0), MAX_COOLDOWN)
            parse(command.response)
        except Untranslatable as error:
            result.skipped.append(Skipped(_shown(name), str(error)))
        except TemplateError as error:
            result.skipped.append(
                Skipped(_shown(name), f"the translated response is invalid: {error}")
            )
        else:
            result.imported.append(command)
    return result


def _shown(name: str) -> str:
    return "!" + name.strip().removeprefix("!")


def _name(name: str) -> str:
    text = name.strip().lower().removeprefix("!")
    if not NAME.fullmatch(text):
        raise Untranslatable(f"{name.strip()!r} is not a name we support (letters, digits, - _)")
    return text


@dataclass(frozen=True, slots=True)
class Report:
    imported: list[Imported]
    skipped: list[Skipped]


async def import_commands(
    manager: CustomCommandManager, community_id: str, translation: Translation, who: str
) -> Report:
    """Create each translated command; one that cannot be created (name taken, …) is skipped
    with the refusal as its reason. Raises NotFound for an unknown community first."""
    await manager.listing(community_id)  # NotFound before anything is written
    imported: list[Imported] = []
    skipped = list(translation.skipped)
    for command in translation.imported:
        change = Change(
            response=command.response,
            cooldown=command.cooldown,
            role=command.role,
            enabled=command.enabled,
            count=command.count,
        )
        try:
            await manager.create(community_id, command.name, change, who)
        except Refusal as refusal:
            skipped.append(Skipped(f"!{command.name}", refusal.message))
        else:
            imported.append(command)
    return Report(imported=imported, skipped=skipped)
