"""Nightbot: the JSON of its API ``GET /1/commands``; variables ``$(…)``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from waddlebot.custom_commands.importers.common import (
    Entries,
    Imported,
    UnreadableExport,
    Untranslatable,
    cannot,
    escape,
    json_document,
    number,
)
from waddlebot.kernel.contracts import Role

_NIGHTBOT_LEVELS = {
    "everyone": (Role.everyone, None),
    "subscriber": (Role.subscriber, None),
    "regular": (Role.vip, "Nightbot's 'regular' level became vip"),
    "twitch_vip": (Role.vip, None),
    "moderator": (Role.moderator, None),
    "admin": (Role.broadcaster, "Nightbot's 'admin' level became broadcaster"),
    "owner": (Role.broadcaster, None),
}


def nightbot_template(text: str) -> str:
    """``$(…)`` variables, matched with their nested parentheses (``$(eval f(g()))``)."""
    simple = {
        "user": "{user}",
        "touser": "{touser}",
        "query": "{args}",
        "count": "{count}",
        "channel": "{channel}",
        "uptime": "{uptime}",
    }
    out, i = [], 0
    while True:
        start = text.find("$(", i)
        if start == -1:
            out.append(escape(text[i:]))
            return "".join(out)
        out.append(escape(text[i:start]))
        depth, end = 0, start + 1
        while end < len(text):
            depth += {"(": 1, ")": -1}.get(text[end], 0)
            if depth == 0:
                break
            end += 1
        if depth != 0:
            raise Untranslatable(f"has an unclosed {text[start : start + 30]}")
        token, body = text[start : end + 1], text[start + 2 : end].strip()
        name, _, argument = body.partition(" ")
        if "(" in body:
            raise cannot(token)
        if name in simple and not argument:
            out.append(simple[name])
        elif name in {str(n) for n in range(1, 10)} and not argument:
            out.append(f"{{{name}}}")
        elif name == "time" and argument and " " not in argument.strip():
            out.append(f"{{time {argument.strip()}}}")
        else:
            raise cannot(token)
        i = end + 1


def read(raw: bytes, path: Path) -> Entries:
    data = json_document(raw, path)
    commands = data.get("commands") if isinstance(data, dict) else data
    if not isinstance(commands, list):
        raise UnreadableExport(f"{path} is not a Nightbot commands export (no 'commands' list)")
    for item in commands:
        if not isinstance(item, dict) or "name" not in item or "message" not in item:
            raise UnreadableExport(f"{path}: a command without 'name' and 'message'")

        def build(item: dict[str, Any] = item) -> Imported:
            level = str(item.get("userLevel", "everyone")).lower()
            if level not in _NIGHTBOT_LEVELS:
                raise Untranslatable(f"user level {level!r} has no equivalent")
            role, note = _NIGHTBOT_LEVELS[level]
            return Imported(
                name=str(item["name"]),
                response=nightbot_template(str(item["message"])),
                role=role,
                cooldown=number(item.get("coolDown")),
                count=int(number(item.get("count"))),
                notes=[note] if note else [],
            )

        yield str(item["name"]), build
