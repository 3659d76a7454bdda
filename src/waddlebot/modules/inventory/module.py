"""The ``inventory`` module object and its configuration schema (shared by chat, events and
REST, which register on it)."""

from __future__ import annotations

from typing import Any

from waddlebot import __version__
from waddlebot.sdk import Module

CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "grants": {
            "type": "array",
            "description": (
                "Platform rewards that grant items: a Twitch channel-points reward (its title "
                "or id) gives the redeemer `quantity` of `item`."
            ),
            "default": [],
            "maxItems": 50,
            "items": {
                "type": "object",
                "required": ["reward", "item"],
                "additionalProperties": False,
                "properties": {
                    "reward": {"type": "string", "minLength": 1, "maxLength": 100},
                    "item": {"type": "string", "minLength": 1, "maxLength": 100},
                    "quantity": {"type": "integer", "minimum": 1, "maximum": 1000000},
                },
            },
        },
        "announce": {
            "type": "boolean",
            "description": "Say in chat what a reward granted (or why it could not).",
            "default": True,
        },
    },
}

module = Module(
    "inventory",
    version=__version__,
    description="Inventory: a community's items, who holds how many, and every change.",
    config_schema=CONFIG_SCHEMA,
)
