"""What every importer shares: the results, the refusals, and the translation helpers."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from waddlebot.kernel.contracts import Role


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


# (the name as the export shows it, a function that translates the command or raises)
Entries = Iterable[tuple[str, Callable[[], Imported]]]


def json_document(raw: bytes, path: Path) -> Any:
    """The JSON in the file (a BOM is fine); :class:`UnreadableExport` otherwise."""
    try:
        return json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError):
        raise UnreadableExport(f"{path} is not JSON") from None


def escape(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def translate(text: str, pattern: re.Pattern[str], variable: Callable[[re.Match[str]], str]) -> str:
    """Literal text escaped, each match of ``pattern`` replaced by ``variable(match)``."""
    out, last = [], 0
    for found in pattern.finditer(text):
        out.append(escape(text[last : found.start()]))
        out.append(variable(found))
        last = found.end()
    out.append(escape(text[last:]))
    return "".join(out)


def cannot(token: str) -> Untranslatable:
    return Untranslatable(f"uses {token}, which WaddleBot has no equivalent for")


def random_range(low: str, high: str, token: str) -> str:
    try:
        return f"{{random {int(low)}-{int(high)}}}"
    except ValueError:
        raise cannot(token) from None


def number(value: Any, default: float = 0.0) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default
