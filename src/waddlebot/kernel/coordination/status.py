"""Who holds what: the one view ``waddlebot coordination status`` and the admin API share."""

from __future__ import annotations

from typing import Any

from waddlebot.kernel.backends import Leases


async def coordination_view(leases: Leases) -> dict[str, Any]:
    """Live instances (seconds until their heartbeat lapses) and every lease held now."""
    instances = await leases.instances()
    held = await leases.held()
    counts: dict[str, int] = {}
    for record in held:
        counts[record.holder] = counts.get(record.holder, 0) + 1
    return {
        "instances": [
            {"id": name, "expires_in": round(left, 3), "held": counts.get(name, 0)}
            for name, left in instances.items()
        ],
        "leases": [
            {
                "item": record.item,
                "holder": record.holder,
                "token": record.token,
                "expires_in": round(record.ttl, 3),
            }
            for record in held
        ],
    }
