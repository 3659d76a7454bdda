"""Firebot: ``commands.json`` or a ``.firebotsetup``; ``$name`` / ``$name[…]``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from waddlebot.custom_commands.importers.common import (
    Entries,
    Imported,
    UnreadableExport,
    Untranslatable,
    cannot,
    json_document,
    number,
    random_range,
    translate,
)
from waddlebot.kernel.contracts import Role

_FIREBOT = re.compile(r"\$([A-Za-z]+)(\[[^\[\]]*\])?")
_FIREBOT_ROLES = {
    "broadcaster": Role.broadcaster,
    "mod": Role.moderator,
    "vip": Role.vip,
    "sub": Role.subscriber,
}


def firebot_template(text: str) -> str:
    def variable(found: re.Match[str]) -> str:
        name, argument = found.group(1), found.group(2)
        inner = argument[1:-1].replace(" ", "") if argument else ""
        simple = {
            "user": "{user}",
            "username": "{user}",
            "target": "{touser}",
            "allArgs": "{args}",
            "count": "{count}",
            "streamer": "{channel}",
            "uptime": "{uptime}",
        }
        if argument is None and name in simple:
            return simple[name]
        if name == "arg" and re.fullmatch(r"[1-9]", inner):
            return f"{{{inner}}}"
        if name == "arg" and inner in ("1,-1", "all"):
            return "{args}"
        if name == "randomNumber" and argument:
            low, _, high = inner.partition(",")
            return random_range(low, high, found.group(0))
        raise cannot(found.group(0))

    return translate(text, _FIREBOT, variable)


def read(raw: bytes, path: Path) -> Entries:
    data = json_document(raw, path)
    commands: Any = data
    if isinstance(data, dict):
        if isinstance(data.get("customCommands"), dict):
            commands = list(data["customCommands"].values())
        elif isinstance(data.get("components"), dict):
            commands = data["components"].get("commands")
        elif "trigger" in data:
            commands = [data]
    if not isinstance(commands, list):
        raise UnreadableExport(f"{path} is not a Firebot commands export")
    for item in commands:
        if not isinstance(item, dict) or "trigger" not in item:
            raise UnreadableExport(f"{path}: a command without 'trigger'")

        def build(item: dict[str, Any] = item) -> Imported:
            effects = (item.get("effects") or {}).get("list") or []
            chats = [e for e in effects if isinstance(e, dict) and e.get("type") == "firebot:chat"]
            if len(effects) != 1 or len(chats) != 1:
                kinds = ", ".join(sorted({str(e.get("type")) for e in effects})) or "none"
                raise Untranslatable(f"its effects are not one chat message ({kinds})")
            role, notes = _firebot_role(item.get("restrictionData") or {})
            cooldown = item.get("cooldown") or {}
            global_cd, user_cd = number(cooldown.get("global")), number(cooldown.get("user"))
            if user_cd > global_cd:
                notes.append(f"its {user_cd:g}s user cooldown became a cooldown")
            return Imported(
                name=str(item["trigger"]),
                response=firebot_template(str(chats[0].get("message", ""))),
                role=role,
                cooldown=max(global_cd, user_cd),
                enabled=bool(item.get("active", True)),
                count=int(number(item.get("count"))),
                notes=notes,
            )

        yield str(item["trigger"]), build


def _firebot_role(restrictions: dict[str, Any]) -> tuple[Role, list[str]]:
    found = restrictions.get("restrictions") or []
    role = Role.everyone
    for restriction in found:
        if restriction.get("type") != "firebot:permissions":
            raise Untranslatable(f"it has a {restriction.get('type')!r} restriction")
        roles = restriction.get("roles") or []
        unknown = [r for r in roles if r not in _FIREBOT_ROLES]
        if restriction.get("mode") != "roles" or unknown or not roles:
            raise Untranslatable(f"it is restricted to roles we do not have ({', '.join(unknown)})")
        role = max(role, min(_FIREBOT_ROLES[r] for r in roles))
    return role, []
