"""JSON Schema export of the v1 contracts (``waddlebot contracts`` prints it)."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from waddlebot.kernel.contracts import v1

EXPORTED: dict[str, Any] = {
    "Event": v1.Event,
    "EventBatch": v1.EventBatch,
    "Action": v1.Action,
    "ModuleRequest": v1.ModuleRequest,
    "ModuleResponse": v1.ModuleResponse,
    "OutboundMessage": v1.OutboundMessage,
    "EventOutcome": v1.EventOutcome,
    "Manifest": v1.Manifest,
    "OverlayMessage": v1.OverlayMessage,
    "StorageWrite": v1.StorageWrite,
    "StorageIncrement": v1.StorageIncrement,
    "StorageValue": v1.StorageValue,
}


def json_schemas() -> dict[str, Any]:
    """Every exported contract's JSON Schema, keyed by name, tagged with the version."""
    return {
        "version": v1.CONTRACT_VERSION,
        "schemas": {name: TypeAdapter(model).json_schema() for name, model in EXPORTED.items()},
    }
