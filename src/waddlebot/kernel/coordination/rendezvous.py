"""Rendezvous (highest-random-weight) hashing: which live instance should hold an item.

Every instance scores every item; the highest score wins. Scores depend only on the (item,
instance) pair, so when an instance joins it wins about 1/N of the items from the others and
when one leaves only its own items move. Hashes are blake2b, never Python's salted ``hash()``,
so every process computes the same answer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

_MASK = (1 << 64) - 1


def key(name: str) -> int:
    """A stable 64-bit hash of ``name`` (the same in every process and on every run)."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big")


def weight(item_key: int, instance_key: int) -> int:
    """The pair's score: splitmix64's finaliser over both keys (a bijection with full
    avalanche), far cheaper than hashing each pair's text and just as evenly spread."""
    x = item_key ^ instance_key
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


class Ring:
    """The live instances, keyed once, answering "who owns this item?" for many items."""

    def __init__(self, instances: Iterable[str]) -> None:
        self.instances: Sequence[str] = sorted(set(instances))
        self._keyed = [(key(name), name) for name in self.instances]

    def owner(self, item: str) -> str | None:
        """The instance that should hold ``item`` (None when no instance is live)."""
        if not self._keyed:
            return None
        item_key = key(item)
        return max(self._keyed, key=lambda pair: (weight(item_key, pair[0]), pair[1]))[1]

    def assign(self, items: Iterable[str]) -> dict[str, str]:
        """Each item's owner; empty when no instance is live."""
        if not self._keyed:
            return {}
        return {item: owner for item in items if (owner := self.owner(item)) is not None}
