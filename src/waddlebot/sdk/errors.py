"""Errors a module raises on purpose: their message is shown to the user as the reply."""

from __future__ import annotations

from typing import TypeVar

T = TypeVar("T")


class CommandError(Exception):
    """Stop the command and tell the user why (e.g. "usage: !roll <sides>")."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UsageError(CommandError):
    """The arguments did not fit the command; the reply shows its usage."""


class ModuleUnavailable(Exception):
    """A host service the module asked for is not offered where the module runs."""


def offered(operations: T | None, refusal: str) -> T:
    """A host service the module needs (``ctx.host.labels()`` …), or a :class:`CommandError`
    with ``refusal`` as the reply where the host does not offer it."""
    if operations is None:
        raise CommandError(refusal)
    return operations
