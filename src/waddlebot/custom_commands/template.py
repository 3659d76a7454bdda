"""The response template language of custom commands: text with ``{placeholders}``.

A hand-written scanner, no ``eval``, no attribute access, no loops: a template is a tuple of
literal text and placeholders, each placeholder one of a fixed set of names with an optional
argument checked when the template is parsed (so a mistake is refused at ``!command add``
time, with its position, never at use). ``{{`` and ``}}`` are literal braces.

| placeholder | becomes |
|---|---|
| ``{user}`` | the caller's name |
| ``{touser}`` | the first argument without ``@``, else the caller |
| ``{args}`` | every argument, space-separated |
| ``{1}`` … ``{9}`` | one argument (empty when missing) |
| ``{count}`` | the command's durable use counter, incremented on each use |
| ``{random A-B}`` | a whole number from A to B |
| ``{pick a\\|b\\|c}`` | one of the options |
| ``{channel}`` | the channel's name |
| ``{time ZONE}`` | the time in an IANA zone (``Europe/Berlin``; UTC without one) |
| ``{uptime}`` | how long the stream has been live, or ``offline`` |
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

MAX_TEMPLATE = 500
MAX_RANDOM = 10**9
MAX_PICK = 50

SIMPLE = frozenset({"user", "touser", "args", "count", "channel", "uptime"})
ARGUMENT_INDEXES = frozenset(str(n) for n in range(1, 10))
WITH_ARGUMENT = frozenset({"random", "pick", "time"})
NAMES = SIMPLE | ARGUMENT_INDEXES | WITH_ARGUMENT
_RANGE = re.compile(r"(-?\d{1,10})\s*-\s*(-?\d{1,10})")


class TemplateError(ValueError):
    """A template that cannot be used; ``position`` is the 1-based character it fails at."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"{message} (at character {position})")
        self.message = f"{message} (at character {position})"
        self.reason = message
        self.position = position


@dataclass(frozen=True, slots=True)
class Placeholder:
    name: str
    argument: str = ""
    options: tuple[str, ...] = ()
    low: int = 0
    high: int = 0


Part = str | Placeholder


@dataclass(frozen=True, slots=True)
class Template:
    source: str
    parts: tuple[Part, ...]
    names: frozenset[str] = field(default_factory=frozenset)

    @property
    def uses_count(self) -> bool:
        """True when rendering needs the durable counter (the only per-use database write)."""
        return "count" in self.names


@dataclass(frozen=True, slots=True)
class Values:
    """What a use of a command knows; ``count`` only when the template uses it."""

    user: str
    args: tuple[str, ...] = ()
    channel: str = ""
    count: int = 0
    live_since: datetime | None = None
    now: datetime | None = None


def parse(source: str) -> Template:
    """The template in ``source``; :class:`TemplateError` for anything we do not understand."""
    if not isinstance(source, str):
        raise TemplateError("a template is text", 1)
    if not source.strip():
        raise TemplateError("the response is empty", 1)
    if len(source) > MAX_TEMPLATE:
        raise TemplateError(f"the response is longer than {MAX_TEMPLATE} characters", 1)
    parts: list[Part] = []
    text: list[str] = []
    i, n = 0, len(source)
    while i < n:
        char = source[i]
        if char == "{" and source.startswith("{{", i):
            text.append("{")
            i += 2
        elif char == "}" and source.startswith("}}", i):
            text.append("}")
            i += 2
        elif char == "}":
            raise TemplateError("a '}' without its '{' (write '}}' for a brace)", i + 1)
        elif char == "{":
            close = source.find("}", i + 1)
            opening = source.find("{", i + 1)
            if close == -1 or (opening != -1 and opening < close):
                raise TemplateError("a '{' that is never closed (write '{{' for a brace)", i + 1)
            if text:
                parts.append("".join(text))
                text = []
            parts.append(_placeholder(source[i + 1 : close], i + 1))
            i = close + 1
        else:
            text.append(char)
            i += 1
    if text:
        parts.append("".join(text))
    names = frozenset(p.name for p in parts if isinstance(p, Placeholder))
    return Template(source=source, parts=tuple(parts), names=names)


def _placeholder(body: str, position: int) -> Placeholder:
    stripped = body.strip()
    if not stripped:
        raise TemplateError("an empty placeholder {}", position)
    name, _, argument = stripped.partition(" ")
    name, argument = name.lower(), argument.strip()
    if name not in NAMES:
        raise TemplateError(f"unknown variable {{{name}}}", position)
    if name in SIMPLE or name in ARGUMENT_INDEXES:
        if argument:
            raise TemplateError(f"{{{name}}} takes nothing after its name", position)
        return Placeholder(name)
    if name == "random":
        found = _RANGE.fullmatch(argument)
        if found is None:
            raise TemplateError("{random} needs a range, e.g. {random 1-100}", position)
        low, high = int(found.group(1)), int(found.group(2))
        if low > high or abs(low) > MAX_RANDOM or abs(high) > MAX_RANDOM:
            raise TemplateError(
                f"{{random {argument}}} needs LOW-HIGH with LOW ≤ HIGH within ±{MAX_RANDOM}",
                position,
            )
        return Placeholder(name, argument, low=low, high=high)
    if name == "pick":
        options = tuple(option.strip() for option in argument.split("|"))
        if not argument or any(not option for option in options):
            raise TemplateError("{pick} needs options separated by |, e.g. {pick a|b}", position)
        if len(options) > MAX_PICK:
            raise TemplateError(f"{{pick}} takes at most {MAX_PICK} options", position)
        return Placeholder(name, argument, options=options)
    # time
    zone = argument or "UTC"
    if zone not in _zones():
        raise TemplateError(f"unknown time zone {zone!r} (e.g. Europe/Berlin)", position)
    return Placeholder(name, zone)


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones()) | {"UTC"}


def render(template: Template, values: Values, *, rng: random.Random | None = None) -> str:
    """The text of one use: only literal text and the values asked for, never code."""
    chooser = rng or random.SystemRandom()
    out: list[str] = []
    for part in template.parts:
        if isinstance(part, str):
            out.append(part)
        else:
            out.append(_value(part, values, chooser))
    return "".join(out)


def _value(part: Placeholder, values: Values, rng: random.Random) -> str:
    name = part.name
    if name == "user":
        return values.user
    if name == "touser":
        first = values.args[0].lstrip("@") if values.args else ""
        return first or values.user
    if name == "args":
        return " ".join(values.args)
    if name in ARGUMENT_INDEXES:
        index = int(name) - 1
        return values.args[index] if index < len(values.args) else ""
    if name == "count":
        return str(values.count)
    if name == "channel":
        return values.channel
    if name == "random":
        return str(rng.randint(part.low, part.high))
    if name == "pick":
        return rng.choice(part.options)
    now = values.now or datetime.now(UTC)
    if name == "time":
        return now.astimezone(ZoneInfo(part.argument)).strftime("%H:%M %Z")
    return uptime_text(values.live_since, now)


def uptime_text(live_since: datetime | None, now: datetime) -> str:
    """``2h 5m`` since the stream went live, or ``offline``."""
    if live_since is None:
        return "offline"
    seconds = max(0, int((now - live_since).total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m {seconds}s"
    return f"{seconds}s"
