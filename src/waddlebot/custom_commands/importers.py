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

import csv
import io
import json
import re
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from waddlebot.custom_commands.manager import MAX_COOLDOWN, NAME, Change, CustomCommandManager
from waddlebot.custom_commands.template import TemplateError, parse
from waddlebot.kernel.contracts import Role
from waddlebot.kernel.errors import Refusal

TOOLS = ("nightbot", "streamelements", "streamlabs", "phantombot", "firebot")
MAX_FILE = 20 * 1024 * 1024


class UnreadableExport(ValueError):
    """The file is not an export of that tool (one line for the operator)."""


class Untranslatable(ValueError):
    """A command that cannot be imported faithfully; the message says why."""


@dataclass
class Imported:
    name: str
    response: str  # our template
    role: Role = Role.everyone
    cooldown: float = 0.0
    enabled: bool = True
    count: int = 0
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Skipped:
    name: str
    reason: str


@dataclass
class Translation:
    imported: list[Imported] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


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
    readers: dict[str, Callable[[bytes, Path], Iterable[tuple[str, Callable[[], Imported]]]]] = {
        "nightbot": _nightbot,
        "streamelements": _streamelements,
        "streamlabs": _streamlabs,
        "phantombot": _phantombot,
        "firebot": _firebot,
    }
    result = Translation()
    for name, build in readers[tool](raw, path):
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


def _json(raw: bytes, path: Path) -> Any:
    try:
        return json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError):
        raise UnreadableExport(f"{path} is not JSON") from None


def _escape(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def _translate(
    text: str, pattern: re.Pattern[str], variable: Callable[[re.Match[str]], str]
) -> str:
    """Literal text escaped, each match of ``pattern`` replaced by ``variable(match)``."""
    out, last = [], 0
    for found in pattern.finditer(text):
        out.append(_escape(text[last : found.start()]))
        out.append(variable(found))
        last = found.end()
    out.append(_escape(text[last:]))
    return "".join(out)


def _cannot(token: str) -> Untranslatable:
    return Untranslatable(f"uses {token}, which WaddleBot has no equivalent for")


def _random(low: str, high: str, token: str) -> str:
    try:
        return f"{{random {int(low)}-{int(high)}}}"
    except ValueError:
        raise _cannot(token) from None


def _number(value: Any, default: float = 0.0) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


# --- Nightbot ---------------------------------------------------------------------------

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
            out.append(_escape(text[i:]))
            return "".join(out)
        out.append(_escape(text[i:start]))
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
            raise _cannot(token)
        if name in simple and not argument:
            out.append(simple[name])
        elif name in {str(n) for n in range(1, 10)} and not argument:
            out.append(f"{{{name}}}")
        elif name == "time" and argument and " " not in argument.strip():
            out.append(f"{{time {argument.strip()}}}")
        else:
            raise _cannot(token)
        i = end + 1


def _nightbot(raw: bytes, path: Path) -> Iterable[tuple[str, Callable[[], Imported]]]:
    data = _json(raw, path)
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
                cooldown=_number(item.get("coolDown")),
                count=int(_number(item.get("count"))),
                notes=[note] if note else [],
            )

        yield str(item["name"]), build


# --- StreamElements ---------------------------------------------------------------------

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
            return _random(ranged.group(1), ranged.group(2), found.group(0))
        if body.startswith("random.pick"):
            options = re.findall(r"'([^'|{}]*)'", body[len("random.pick") :])
            rest = re.sub(r"'[^']*'|\s", "", body[len("random.pick") :])
            if options and all(o.strip() for o in options) and not rest:
                return "{pick " + "|".join(o.strip() for o in options) + "}"
            raise _cannot(found.group(0))
        zone = re.fullmatch(r"time\.([A-Za-z_]+(?:/[A-Za-z_+\-]+)*)", body)
        if zone:
            return f"{{time {zone.group(1)}}}"
        counter = re.fullmatch(r"count\s+([A-Za-z0-9_\-]+)", body)
        if counter:
            if notes is not None:
                notes.append(f"the named counter {counter.group(1)!r} became this command's count")
            return "{count}"
        raise _cannot(found.group(0))

    return _translate(text, _SE, variable)


def _streamelements(raw: bytes, path: Path) -> Iterable[tuple[str, Callable[[], Imported]]]:
    data = _json(raw, path)
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
            level = int(_number(item.get("accessLevel"), 100))
            role, note = next((r, n) for floor, r, n in _SE_LEVELS if level >= floor)
            notes = [note] if note else []
            cooldown = item.get("cooldown") or {}
            global_cd = _number(cooldown.get("global")) if isinstance(cooldown, dict) else 0.0
            user_cd = _number(cooldown.get("user")) if isinstance(cooldown, dict) else 0.0
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


# --- Streamlabs Chatbot -----------------------------------------------------------------

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
            return _random(low.strip(), high.strip(), found.group(0))
        raise _cannot(found.group(0))

    return _translate(text, _SL, variable)


def _streamlabs(raw: bytes, path: Path) -> Iterable[tuple[str, Callable[[], Imported]]]:
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
            cooldown = _number(cells.get("cooldown"))
            user_cooldown = _number(cells.get("user cooldown") or cells.get("usercooldown"))
            notes = [note] if note else []
            if user_cooldown > cooldown:
                notes.append(f"its {user_cooldown:g}s user cooldown became a cooldown")
            if _number(cells.get("cost")):
                raise Untranslatable("it costs points, which WaddleBot does not have")
            return Imported(
                name=cells["command"],
                response=streamlabs_template(cells["response"]),
                role=role,
                cooldown=max(cooldown, user_cooldown),
                enabled=cells.get("enabled", "true").lower() not in ("false", "0", "no"),
                count=int(_number(cells.get("count"))),
                notes=notes,
            )

        yield cells.get("command", ""), build


# --- PhantomBot -------------------------------------------------------------------------

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
            return _random(low.strip(), high.strip(), found.group(0))
        if name in _PHANTOM_OTHER or name.removeprefix("@") in _PHANTOM_SIMPLE:
            raise _cannot(found.group(0))
        return _escape(found.group(0))  # "(lol)": not a tag

    return _translate(text, _PHANTOM, variable)


def _phantombot(raw: bytes, path: Path) -> Iterable[tuple[str, Callable[[], Imported]]]:
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
                count=int(_number(counts.get(name))),
                notes=[note] if note else [],
            )

        yield name, build


def _phantom_cooldown(value: str | None) -> float:
    if value is None:
        return 0.0
    try:
        parsed = json.loads(value)
    except ValueError:
        return _number(value)
    if isinstance(parsed, dict):
        return max(_number(parsed.get("globalSec")), _number(parsed.get("userSec")), 0.0)
    return _number(parsed)


# --- Firebot ----------------------------------------------------------------------------

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
            return _random(low, high, found.group(0))
        raise _cannot(found.group(0))

    return _translate(text, _FIREBOT, variable)


def _firebot(raw: bytes, path: Path) -> Iterable[tuple[str, Callable[[], Imported]]]:
    data = _json(raw, path)
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
            global_cd, user_cd = _number(cooldown.get("global")), _number(cooldown.get("user"))
            if user_cd > global_cd:
                notes.append(f"its {user_cd:g}s user cooldown became a cooldown")
            return Imported(
                name=str(item["trigger"]),
                response=firebot_template(str(chats[0].get("message", ""))),
                role=role,
                cooldown=max(global_cd, user_cd),
                enabled=bool(item.get("active", True)),
                count=int(_number(item.get("count"))),
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


# --- applying ---------------------------------------------------------------------------


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
