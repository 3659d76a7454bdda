"""PhantomBot: its SQLite database ``config/phantombot.db``; ``(tag)``."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

from waddlebot.custom_commands.importers.common import (
    Entries,
    Imported,
    UnreadableExport,
    Untranslatable,
    cannot,
    escape,
    number,
    random_range,
    translate,
)
from waddlebot.kernel.contracts import Role

_PHANTOM = re.compile(r"\((@?[a-z0-9#_.]+)((?:\s[^()]*)?)\)")
_PHANTOM_SIMPLE = {
    "sender": "{user}",
    "@sender": "@{user}",
    "touser": "{touser}",
    "args": "{args}",
    "echo": "{args}",
    "count": "{count}",
    "channelname": "{channel}",
    "uptime": "{uptime}",
}
# Tags PhantomBot knows that we cannot express; any other "(text)" is ordinary text.
_PHANTOM_OTHER = frozenset(
    {
        "random",
        "randrank",
        "pointname",
        "points",
        "pointtouser",
        "currenttime",
        "customapi",
        "customapijson",
        "readfile",
        "readfilerand",
        "writefile",
        "followage",
        "followdate",
        "game",
        "status",
        "playtime",
        "gameinfo",
        "viewers",
        "follows",
        "subscribers",
        "age",
        "alert",
        "playsound",
        "math",
        "repeat",
        "encodeurl",
        "gameonly",
        "offlineonly",
        "onlineonly",
        "useronly",
        "cooldown",
        "setrole",
        "countdown",
        "countup",
        "keywordcount",
        "lasttip",
        "titleinfo",
        "token",
        "unescape",
        "price",
        "command",
        "commandslist",
        "downtime",
        "hours",
        "rank",
        "team_member_followers",
        "team_member_game",
        "team_member_url",
        "team_members",
        "team_name",
        "team_url",
        "team_random_member",
        "views",
    }
)
_PHANTOM_GROUPS = {
    "0": (Role.broadcaster, None),
    "1": (Role.broadcaster, "PhantomBot's Administrator group became broadcaster"),
    "2": (Role.moderator, None),
    "3": (Role.subscriber, None),
    "5": (Role.vip, None),
    "6": (Role.vip, "PhantomBot's Regular group became vip"),
    "7": (Role.everyone, None),
}


def phantombot_template(text: str) -> str:
    def variable(found: re.Match[str]) -> str:
        name, argument = found.group(1), found.group(2).strip()
        if name in _PHANTOM_SIMPLE and not argument:
            return _PHANTOM_SIMPLE[name]
        if re.fullmatch(r"[1-9]", name) and not argument:
            return f"{{{name}}}"
        if name == "#":
            if not argument:
                return "{random 1-100}"
            low, _, high = argument.partition(",")
            return random_range(low.strip(), high.strip(), found.group(0))
        if name in _PHANTOM_OTHER or name.removeprefix("@") in _PHANTOM_SIMPLE:
            raise cannot(found.group(0))
        return escape(found.group(0))  # "(lol)": not a tag

    return translate(text, _PHANTOM, variable)


def read(raw: bytes, path: Path) -> Entries:
    if not raw.startswith(b"SQLite format 3\x00"):
        raise UnreadableExport(f"{path} is not PhantomBot's database (config/phantombot.db)")
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:

            def table(name: str) -> dict[str, str]:
                exists = connection.execute(
                    "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?",
                    (f"phantombot_{name}",),
                ).fetchone()
                if exists is None:
                    return {}
                query = f'SELECT variable, value FROM "phantombot_{name}"'  # noqa: S608
                rows = connection.execute(query).fetchall()  # (a fixed table name)
                return {str(key): str(value) for key, value in rows}

            commands = table("command")
            if not commands and table("settings") == {} and table("permcom") == {}:
                raise UnreadableExport(f"{path} has no PhantomBot command table")
            groups, cooldowns, counts = table("permcom"), table("cooldown"), table("commandCount")
        finally:
            connection.close()
    except sqlite3.Error as error:
        raise UnreadableExport(f"{path}: cannot read the database ({error})") from None
    for name, response in sorted(commands.items()):

        def build(name: str = name, response: str = response) -> Imported:
            group = groups.get(name, "7")
            if group not in _PHANTOM_GROUPS:
                raise Untranslatable(f"permission group {group} has no equivalent")
            role, note = _PHANTOM_GROUPS[group]
            return Imported(
                name=name,
                response=phantombot_template(response),
                role=role,
                cooldown=_phantom_cooldown(cooldowns.get(name)),
                count=int(number(counts.get(name))),
                notes=[note] if note else [],
            )

        yield name, build


def _phantom_cooldown(value: str | None) -> float:
    if value is None:
        return 0.0
    try:
        parsed = json.loads(value)
    except ValueError:
        return number(value)
    if isinstance(parsed, dict):
        return max(number(parsed.get("globalSec")), number(parsed.get("userSec")), 0.0)
    return number(parsed)
