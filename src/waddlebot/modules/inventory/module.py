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
        "commands": {
            "type": "object",
            "description": (
                "Chat commands that grant items on any platform (Discord, Slack, Twitch, …): "
                '{"!daily": {"item": "Coin", "quantity": 5, "cooldown": 86400}} gives the '
                "caller 5 Coin once per 86400-second window. Run !inv sync after changing them."
            ),
            "default": {},
            "maxProperties": 20,
            "propertyNames": {"pattern": "^!?[A-Za-z0-9][A-Za-z0-9_-]{0,49}$"},
            "additionalProperties": {
                "type": "object",
                "required": ["item"],
                "additionalProperties": False,
                "properties": {
                    "item": {"type": "string", "minLength": 1, "maxLength": 100},
                    "quantity": {"type": "integer", "minimum": 1, "maximum": 1000000},
                    "cooldown": {"type": "integer", "minimum": 0, "maximum": 31536000},
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
