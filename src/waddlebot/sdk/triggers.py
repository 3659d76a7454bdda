"""Triggers a module answers because of data, not code: a community's configuration names
``!daily`` and the module's ``@dynamic_commands`` handler answers it. The host writes the
community's command rows for the module (``Host.claim_triggers``), so the router's role,
cooldown and ``!help`` rules apply with no extra look-up per message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from waddlebot.kernel.errors import Invalid

TRIGGER = re.compile(r"[a-z0-9][a-z0-9_-]{0,49}")


def trigger_of(name: str) -> str:
    """``!Daily`` → ``daily``; :class:`Invalid` for anything that is not a command name."""
    trigger = name.strip().lower().removeprefix("!")
    if not TRIGGER.fullmatch(trigger):
        raise Invalid(f"{name.strip()[:60]} is not a command name (1–50 letters, digits, - or _).")
    return trigger


@dataclass(frozen=True, slots=True)
class TriggerClaim:
    """What :meth:`Host.claim_triggers` did: triggers added, removed, and refused because
    another module answers them here (trigger → that module)."""

    added: list[str]
    removed: list[str]
    refused: dict[str, str]
