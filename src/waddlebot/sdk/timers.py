"""What a host may offer modules about a community's timers (the router does; remote hosts do
not): the timers' rows, their firing slots, the chat-line counter and running a timer's
``!command`` as its creator. The timers module schedules the firings itself with
``ctx.schedule``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from waddlebot.kernel.contracts import Platform
from waddlebot.sdk.caller import Caller

DURATION = re.compile(r"(\d+)([dhms])")
UNITS = {"d": 86_400, "h": 3600, "m": 60, "s": 1}
NO_STREAM = frozenset({Platform.slack.value, Platform.discord.value})  # no "while live" there


def is_command(content: str) -> bool:
    """Whether a timer's content is a command run as its creator (else text it posts)."""
    return content.strip()[:1] in ("!", "#")


def parse_duration(text: str) -> float | None:
    """``90s``, ``5m``, ``1h``, ``1h30m`` → seconds; None when it is not a duration."""
    clean = text.strip().lower()
    if not clean or DURATION.sub("", clean):
        return None
    return float(sum(int(n) * UNITS[unit] for n, unit in DURATION.findall(clean)))


def format_duration(seconds: float) -> str:
    """90 → ``1m30s``, 3600 → ``1h``: as ``!timer`` takes them."""
    total = int(seconds)
    parts = []
    for unit, size in UNITS.items():
        if total >= size:
            parts.append(f"{total // size}{unit}")
            total %= size
    return "".join(parts) or "0s"


class TimerError(Exception):
    """A refusal with a short message meant for the user; ``field`` names the part of the
    timer it is about (``name``, ``interval``, ``lines``, ``content``, …), for forms."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True, slots=True)
class TimerDraft:
    """A timer as ``!timer add`` describes it, and the channel it speaks in."""

    name: str
    interval: float  # seconds
    lines: int  # chat lines needed since it last spoke
    online_only: bool
    content: str  # text, or a !command run as the creator
    entity_id: str


@dataclass(frozen=True, slots=True)
class TimerInfo:
    """One timer of a community. ``generation`` changes when it is switched on again, so
    jobs of an earlier run stop; ``last_slot`` is the last firing slot that ran."""

    id: str
    name: str
    interval: float
    lines: int
    online_only: bool
    content: str
    enabled: bool
    generation: int
    last_slot: int
    job_id: str | None = None
    entity_id: str = ""  # the channel it speaks in (hosts may leave it empty)


class TimerOperations(Protocol):
    """Store timers; decide each firing slot once; count chat lines; run as the creator."""

    @property
    def min_interval(self) -> float:
        """The shortest interval allowed here, in seconds."""
        ...

    async def timers(self, community_id: str) -> list[TimerInfo]:
        """The community's timers, by name."""
        ...

    async def add(self, community_id: str, caller: Caller, draft: TimerDraft) -> TimerInfo:
        """Create a timer (enabled); :class:`TimerError` when the name is taken or the draft
        is invalid (interval below the minimum, empty content, …)."""
        ...

    async def remove(self, community_id: str, caller: Caller, name: str) -> TimerInfo:
        """Delete a timer; returns what it was (its ``job_id`` is for cancelling)."""
        ...

    async def switch(
        self, community_id: str, caller: Caller, name: str, enabled: bool, entity_id: str
    ) -> TimerInfo:
        """Switch a timer off, or on (a new generation, speaking in ``entity_id``'s channel
        from now on). Returns it as it was before for off (its ``job_id`` is for cancelling)
        and as it is now for on."""
        ...

    async def attach(self, community_id: str, timer_id: str, job_id: str) -> None:
        """Remember the pending job of a timer (so off/remove can cancel it)."""
        ...

    async def claim(
        self, community_id: str, timer_id: str, generation: int, slot: int
    ) -> tuple[TimerInfo | None, bool]:
        """The timer if this generation is still current and enabled (else None: stop), and
        whether this call won ``slot`` (False: another run already had it, stay silent)."""
        ...

    async def chat_lines(self, entity_id: str) -> int:
        """How many chat lines the channel has seen (a counter that may restart at 0)."""
        ...

    async def run_as_creator(self, community_id: str, timer_id: str, slot: int) -> None:
        """Run the timer's ``!command`` through the whole pipeline as its creator, once per
        slot, in the timer's channel."""
        ...
