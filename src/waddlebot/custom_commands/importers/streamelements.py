"""StreamElements: the JSON of ``GET /kappa/v2/bot/commands/<channel>``; ``${…}``."""

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

_SE = re.compile(r"\$\{([^{}]*)\}")
_SE_LEVELS = [  # accessLevel thresholds, highest first (stricter where not exact)
    (1500, Role.broadcaster, None),
    (1000, Role.broadcaster, "StreamElements' super moderator level became broadcaster"),
    (500, Role.moderator, None),
    (400, Role.vip, None),
    (300, Role.vip, "StreamElements' regular level became vip"),
    (250, Role.subscriber, None),
    (0, Role.everyone, None),
]


def streamelements_template(text: str, notes: list[str] | None = None) -> str:
    def variable(found: re.Match[str]) -> str:
        body = found.group(1).strip()
        simple = {
            "user": "{user}",
            "sender": "{user}",
            "user.name": "{user}",
            "sender.name": "{user}",
            "touser": "{touser}",
            "1:": "{args}",
            "channel": "{channel}",
            "uptime": "{uptime}",
        }
        if body in simple:
            return simple[body]
        if body in {str(n) for n in range(1, 10)}:
            return f"{{{body}}}"
        ranged = re.fullmatch(r"random\.(-?\d+)-(-?\d+)", body)
        if ranged:
            return random_range(ranged.group(1), ranged.group(2), found.group(0))
        if body.startswith("random.pick"):
            options = re.findall(r"'([^'|{}]*)'", body[len("random.pick") :])
            rest = re.sub(r"'[^']*'|\s", "", body[len("random.pick") :])
            if options and all(o.strip() for o in options) and not rest:
                return "{pick " + "|".join(o.strip() for o in options) + "}"
            raise cannot(found.group(0))
        zone = re.fullmatch(r"time\.([A-Za-z_]+(?:/[A-Za-z_+\-]+)*)", body)
        if zone:
            return f"{{time {zone.group(1)}}}"
        counter = re.fullmatch(r"count\s+([A-Za-z0-9_\-]+)", body)
        if counter:
            if notes is not None:
                notes.append(f"the named counter {counter.group(1)!r} became this command's count")
            return "{count}"
        raise cannot(found.group(0))

    return translate(text, _SE, variable)


def read(raw: bytes, path: Path) -> Entries:
    data = json_document(raw, path)
    commands = data.get("commands") if isinstance(data, dict) else data
    if not isinstance(commands, list):
        raise UnreadableExport(f"{path} is not a StreamElements commands export (a JSON list)")
    for item in commands:
        if not isinstance(item, dict) or "command" not in item or "reply" not in item:
            raise UnreadableExport(f"{path}: a command without 'command' and 'reply'")

        def build(item: dict[str, Any] = item) -> Imported:
            if item.get("type", "say") not in ("say", "reply"):
                raise Untranslatable(f"its type is {item.get('type')!r} (only say/reply)")
            if item.get("cost"):
                raise Untranslatable("it costs loyalty points, which WaddleBot does not have")
            level = int(number(item.get("accessLevel"), 100))
            role, note = next((r, n) for floor, r, n in _SE_LEVELS if level >= floor)
            notes = [note] if note else []
            cooldown = item.get("cooldown") or {}
            global_cd = number(cooldown.get("global")) if isinstance(cooldown, dict) else 0.0
            user_cd = number(cooldown.get("user")) if isinstance(cooldown, dict) else 0.0
            if user_cd > global_cd:
                notes.append(f"its {user_cd:g}s per-user cooldown became a {user_cd:g}s cooldown")
            response = streamelements_template(str(item["reply"]), notes)
            return Imported(
                name=str(item["command"]),
                response=response,
                role=role,
                cooldown=max(global_cd, user_cd),
                enabled=bool(item.get("enabled", True)),
                notes=notes,
            )

        yield str(item["command"]), build
