"""Streamlabs Chatbot: its command export saved as CSV (UTF-8); ``$name``."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from waddlebot.custom_commands.importers.common import (
    Entries,
    Imported,
    UnreadableExport,
    Untranslatable,
    cannot,
    number,
    random_range,
    translate,
)
from waddlebot.kernel.contracts import Role

_SL = re.compile(r"\$([A-Za-z]+\d?)(\([^()]*\))?")
_SL_LEVELS = {
    "everyone": (Role.everyone, None),
    "subscriber": (Role.subscriber, None),
    "regular": (Role.vip, "Streamlabs' Regular permission became vip"),
    "vip": (Role.vip, None),
    "vip exclusive": (Role.vip, None),
    "moderator": (Role.moderator, None),
    "editor": (Role.broadcaster, "Streamlabs' Editor permission became broadcaster"),
    "caster": (Role.broadcaster, None),
}


def streamlabs_template(text: str) -> str:
    def variable(found: re.Match[str]) -> str:
        name, argument = found.group(1).lower(), found.group(2)
        simple = {
            "user": "{user}",
            "username": "{user}",
            "touser": "{touser}",
            "target": "{touser}",
            "msg": "{args}",
            "count": "{count}",
            "uptime": "{uptime}",
            "mychannel": "{channel}",
        }
        if argument is None and name in simple:
            return simple[name]
        if argument is None and re.fullmatch(r"arg[1-9]", name):
            return f"{{{name[3]}}}"
        if name == "randnum" and argument:
            low, _, high = argument[1:-1].partition(",")
            return random_range(low.strip(), high.strip(), found.group(0))
        raise cannot(found.group(0))

    return translate(text, _SL, variable)


def read(raw: bytes, path: Path) -> Entries:
    if raw.startswith(b"PK\x03\x04"):
        raise UnreadableExport(
            f"{path} is an Excel workbook: open it and save it as CSV (UTF-8), then import that"
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UnreadableExport(f"{path} is not UTF-8 CSV") from None
    rows = list(csv.DictReader(io.StringIO(text)))
    header = {key.strip().lower() for key in (rows[0].keys() if rows else []) if key}
    if not {"command", "response"} <= header:
        raise UnreadableExport(
            f"{path} is not a Streamlabs Chatbot commands CSV (needs Command and Response columns)"
        )
    for row in rows:
        extra = bool(row.pop(None, None))  # cells beyond the header
        cells = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}

        def build(cells: dict[str, str] = cells, extra: bool = extra) -> Imported:
            if extra:
                raise Untranslatable("its row has more cells than the header (an unquoted comma?)")
            permission = cells.get("permission", "Everyone").lower() or "everyone"
            if permission not in _SL_LEVELS:
                raise Untranslatable(f"permission {cells.get('permission')!r} has no equivalent")
            role, note = _SL_LEVELS[permission]
            cooldown = number(cells.get("cooldown"))
            user_cooldown = number(cells.get("user cooldown") or cells.get("usercooldown"))
            notes = [note] if note else []
            if user_cooldown > cooldown:
                notes.append(f"its {user_cooldown:g}s user cooldown became a cooldown")
            if number(cells.get("cost")):
                raise Untranslatable("it costs points, which WaddleBot does not have")
            return Imported(
                name=cells["command"],
                response=streamlabs_template(cells["response"]),
                role=role,
                cooldown=max(cooldown, user_cooldown),
                enabled=cells.get("enabled", "true").lower() not in ("false", "0", "no"),
                count=int(number(cells.get("count"))),
                notes=notes,
            )

        yield cells.get("command", ""), build
