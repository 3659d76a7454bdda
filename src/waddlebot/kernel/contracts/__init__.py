"""Every cross-service payload, versioned. Import from here, never redefine a payload."""

from waddlebot.kernel.contracts.v1 import (
    Action,
    ChatAction,
    CommandInfo,
    Event,
    EventBatch,
    EventOutcome,
    EventType,
    IngressAccepted,
    ModuleRequest,
    ModuleResponse,
    OutboundMessage,
    OverlayAction,
    Platform,
    Role,
    UserRef,
    WhisperAction,
)

__all__ = [
    "Action",
    "ChatAction",
    "CommandInfo",
    "Event",
    "EventBatch",
    "EventOutcome",
    "EventType",
    "IngressAccepted",
    "ModuleRequest",
    "ModuleResponse",
    "OutboundMessage",
    "OverlayAction",
    "Platform",
    "Role",
    "UserRef",
    "WhisperAction",
]
