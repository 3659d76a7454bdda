"""Typed arguments: a handler's signature says what its command takes.

``async def roll(ctx, sides: int = 6)`` makes ``!roll 20`` call ``roll(ctx, 20)`` and ``!roll
x`` answer ``Usage: !roll [sides]``. Supported: ``str``, ``int``, ``float``, ``bool`` (yes/no,
on/off, true/false, 1/0), ``X | None``, defaults, and ``*rest: str`` for the remaining words.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from waddlebot.sdk.errors import UsageError

_TRUE = frozenset({"yes", "y", "true", "on", "1"})
_FALSE = frozenset({"no", "n", "false", "off", "0"})
_NAMES = {str: "text", int: "a whole number", float: "a number", bool: "yes or no"}


@dataclass(frozen=True, slots=True)
class Parameter:
    name: str
    kind: type
    required: bool
    default: Any
    rest: bool  # *args: takes every remaining word


def _base(annotation: Any) -> type:
    """``int`` from ``int``, ``int | None`` or ``Optional[int]``; ``str`` when unannotated."""
    if annotation is inspect.Parameter.empty or annotation is Any:
        return str
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(options) == 1:
            return _base(options[0])
    if annotation in _NAMES:
        return typing.cast(type, annotation)
    raise TypeError(f"unsupported argument type {annotation!r}: use str, int, float or bool")


def signature_parameters(handler: Callable[..., Any]) -> list[Parameter]:
    """The command arguments a handler takes (everything after ``ctx``)."""
    hints = typing.get_type_hints(handler)
    params = list(inspect.signature(handler).parameters.values())[1:]
    result: list[Parameter] = []
    for param in params:
        if param.kind in (param.KEYWORD_ONLY, param.VAR_KEYWORD):
            raise TypeError(f"{handler.__name__}: command arguments must be positional")
        rest = param.kind is param.VAR_POSITIONAL
        result.append(
            Parameter(
                name=param.name,
                kind=_base(hints.get(param.name, param.annotation)),
                required=not rest and param.default is inspect.Parameter.empty,
                default=None if param.default is inspect.Parameter.empty else param.default,
                rest=rest,
            )
        )
    return result


def usage_for(name: str, parameters: list[Parameter]) -> str:
    """``!roll <sides> [times]`` from the parameters."""
    parts = [name]
    for param in parameters:
        if param.rest:
            parts.append(f"[{param.name}...]")
        elif param.required:
            parts.append(f"<{param.name}>")
        else:
            parts.append(f"[{param.name}]")
    return " ".join(parts)


def convert(value: str, kind: type, name: str, usage: str) -> Any:
    try:
        if kind is bool:
            lowered = value.lower()
            if lowered in _TRUE:
                return True
            if lowered in _FALSE:
                return False
            raise ValueError(value)
        return kind(value)
    except ValueError:
        raise UsageError(f"{name} must be {_NAMES[kind]}. Usage: {usage}") from None


def bind(parameters: list[Parameter], args: list[str], usage: str) -> list[Any]:
    """Positional values for the handler, converted; UsageError when they do not fit."""
    values: list[Any] = []
    remaining = list(args)
    for param in parameters:
        if param.rest:
            values.extend(convert(word, param.kind, param.name, usage) for word in remaining)
            remaining = []
            break
        if not remaining:
            if param.required:
                raise UsageError(f"Usage: {usage}")
            values.append(param.default)
            continue
        values.append(convert(remaining.pop(0), param.kind, param.name, usage))
    if remaining and parameters:
        raise UsageError(f"Too many arguments. Usage: {usage}")
    return values
