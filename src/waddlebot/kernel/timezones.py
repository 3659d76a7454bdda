"""IANA time zone names as people type them (``europe/berlin``, ``utc``)."""

from __future__ import annotations

from functools import cache
from zoneinfo import available_timezones


@cache
def _zones() -> dict[str, str]:
    return {name.lower(): name for name in available_timezones() | {"UTC"}}


def canonical_zone(name: str) -> str:
    """The zone's canonical spelling; ``ValueError`` for a name ``zoneinfo`` does not know."""
    found = _zones().get(name.strip().lower())
    if found is None:
        raise ValueError(f"unknown time zone {name.strip()!r}; use an IANA name like Europe/Berlin")
    return found
