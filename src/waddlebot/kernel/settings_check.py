"""Settings problems as lines an operator can act on: which variable, what is wrong, what would
be valid. Every ``waddlebot`` command reports an unusable setting through :class:`SettingInvalid`
(the CLI prints its lines and exits 2) instead of a traceback.

Kept apart from ``settings.py`` so it can describe any ``BaseSettings`` (the platform collectors
have their own) and so ``settings.py`` can raise it without a cycle.
"""

from __future__ import annotations

import tempfile
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

SENSITIVE = ("secret", "key", "token", "password", "auth")


class SettingInvalid(Exception):
    """Settings that cannot be used; each line names one, says why and what would do."""

    def __init__(self, *lines: str) -> None:
        super().__init__("\n".join(lines))
        self.lines = list(lines)


def settings_model(title: str) -> type[BaseSettings] | None:
    """The settings class a ValidationError's ``title`` names, if it is one."""
    pending: list[type[BaseSettings]] = [BaseSettings]
    while pending:
        cls = pending.pop()
        if cls.__name__ == title and cls is not BaseSettings:
            return cls
        pending.extend(cls.__subclasses__())
    return None


def explain(
    error: ValidationError,
    model: type[BaseModel] | None = None,
    *,
    options: Mapping[str, str] | None = None,
) -> SettingInvalid:
    """One line per invalid setting. ``options`` maps fields given as CLI options
    (``{"port": "--port"}``) so the line names what the operator typed."""
    model = model or settings_model(error.title)
    prefix = str(model.model_config.get("env_prefix", "")) if model else ""
    fields = model.model_fields if model else {}
    lines: list[str] = []
    for problem in error.errors(include_url=False):
        message = str(problem["msg"]).removeprefix("Value error, ")
        if not problem["loc"]:  # a rule across settings: its message names them
            lines.append(message)
            continue
        field = str(problem["loc"][0])
        info = fields.get(field)
        flag = (options or {}).get(field)
        name = flag or (prefix + field).upper()
        shown = "" if any(word in field for word in SENSITIVE) else _shown(problem.get("input"))
        given = f"{name} {shown}" if flag and shown else f"{name}={shown}" if shown else name
        line = f"{given} is invalid: {message[:1].lower()}{message[1:]}"
        if info is not None:
            line += f"; expected {expected(info)}"
        lines.append(line)
    return SettingInvalid(*lines)


def _shown(value: object) -> str:
    if value is None or isinstance(value, dict):
        return ""
    if isinstance(value, list):
        value = ",".join(map(str, value))
    text = str(value)
    return repr(text if len(text) <= 60 else text[:57] + "...")


def expected(info: FieldInfo) -> str:
    """What a field accepts, in words: its type, bounds, length, pattern and description."""
    annotation: Any = info.annotation
    args = get_args(annotation)
    optional = get_origin(annotation) in (Union, types.UnionType) and type(None) in args
    if optional:
        annotation = next(arg for arg in args if arg is not type(None))
    limits: dict[str, Any] = {}
    for meta in info.metadata:
        for name in ("ge", "gt", "le", "lt", "min_length", "max_length", "pattern"):
            if getattr(meta, name, None) is not None:
                limits[name] = getattr(meta, name)
    words = _kind(annotation) + _range(limits, BOUNDS, "") + _range(limits, LENGTHS, " characters")
    if "pattern" in limits:
        words += f" matching {limits['pattern']}"
    if optional:
        words += ", or unset"
    return words + (f" ({info.description})" if info.description else "")


BOUNDS = {"ge": "at least", "gt": "greater than", "le": "at most", "lt": "less than"}
LENGTHS = {"min_length": "at least", "max_length": "at most"}


def _range(limits: dict[str, Any], labels: dict[str, str], unit: str) -> str:
    """ " from 1 to 65535", ", greater than 0 and at most 60", " of 10 to 100 characters"."""
    low, high = (key for key, label in labels.items() if label in ("at least", "at most"))
    if low in limits and high in limits:  # both ends inclusive: a plain span
        span = f"{limits[low]} to {limits[high]}"
        return f" of {span}{unit}" if unit else f" from {span}"
    found = [f"{label} {limits[key]}{unit}" for key, label in labels.items() if key in limits]
    if not found:
        return ""
    return (" of " if unit else ", ") + " and ".join(found)


def _kind(annotation: Any) -> str:
    if get_origin(annotation) is Literal:
        return "one of " + ", ".join(str(choice) for choice in get_args(annotation))
    if get_origin(annotation) is list:
        return "a comma-separated list"
    named = {bool: "true or false", int: "an integer", float: "a number", Path: "a path"}
    return named.get(annotation, "a string")


def usable_data_dir(path: Path) -> None:
    """Create the data directory if needed and prove it is writable, or say why not."""

    def refuse(what: str, error: OSError) -> SettingInvalid:
        reason = error.strerror or str(error)
        return SettingInvalid(
            f"WADDLEBOT_DATA_DIR={str(path)!r} is unusable: {what} ({reason}); expected a "
            "directory this user can create and write to"
        )

    if path.exists() and not path.is_dir():
        raise SettingInvalid(
            f"WADDLEBOT_DATA_DIR={str(path)!r} is unusable: it is a file, not a directory; "
            "expected a directory this user can create and write to"
        )
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise refuse("it cannot be created", error) from None
    try:
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as error:
        raise refuse("it is not writable", error) from None
