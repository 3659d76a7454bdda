"""Contracts v1: the payloads that cross service boundaries.

Collectors produce :class:`Event`; the router sends :class:`ModuleRequest` to modules and gets
:class:`ModuleResponse` (a list of :data:`Action`) back; chat and whisper actions travel to the
collectors as :class:`OutboundMessage`. ``waddlebot.kernel.contracts.schema`` exports them as
JSON Schema. Changing a field's meaning means a new version, not an edit here.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import IntEnum, StrEnum
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, StringConstraints

CONTRACT_VERSION: Final = "v1"
MAX_BATCH = 100
MAX_TEXT = 4000

Identifier = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


def _new_id() -> str:
    return uuid.uuid4().hex


def _now() -> datetime:
    return datetime.now(UTC)


class Platform(StrEnum):
    """Where an event came from and where replies go."""

    twitch = "twitch"
    discord = "discord"
    slack = "slack"
    playground = "playground"


class Role(IntEnum):
    """The platform-derived role ladder; a higher value may do everything a lower one may."""

    everyone = 0
    subscriber = 10
    vip = 20
    moderator = 30
    broadcaster = 40

    @classmethod
    def parse(cls, name: str) -> Role:
        """Role from its name (case-insensitive); ValueError names the valid ones."""
        try:
            return cls[name.strip().lower()]
        except KeyError:
            valid = ", ".join(role.name for role in cls)
            raise ValueError(f"unknown role {name!r}; expected one of: {valid}") from None


class EventType(StrEnum):
    """Normalised event kinds shared by every platform."""

    message = "message"
    command = "command"  # a slash command: text already holds "!trigger args"
    follow = "follow"
    subscribe = "subscribe"
    gift_subscription = "gift_subscription"
    resubscribe = "resubscribe"
    cheer = "cheer"
    raid = "raid"
    redemption = "redemption"
    stream_online = "stream_online"
    stream_offline = "stream_offline"
    member_join = "member_join"
    member_leave = "member_leave"
    guild_join = "guild_join"


class Strict(BaseModel):
    """Base for contracts: unknown fields are rejected so typos fail loudly."""

    model_config = ConfigDict(extra="forbid", use_enum_values=False)


class UserRef(Strict):
    """The member as the platform reports them."""

    id: Identifier
    name: Identifier
    display_name: str | None = Field(default=None, max_length=200)
    role: Role = Role.everyone
    badges: list[str] = Field(default_factory=list, max_length=50)


class Event(Strict):
    """A normalised platform event, as collectors hand it to the router."""

    id: Identifier = Field(default_factory=_new_id, description="platform message id or a uuid")
    type: EventType = EventType.message
    platform: Platform
    server_id: Identifier = Field(description="Twitch channel id, Discord guild id, Slack team id")
    channel_id: Identifier = Field(description="where to reply: channel/room id")
    channel_name: str | None = Field(default=None, max_length=200)
    user: UserRef | None = None
    text: str = Field(default="", max_length=MAX_TEXT)
    thread_id: str | None = Field(default=None, max_length=200)
    reply_to: str | None = Field(default=None, max_length=200, description="platform message id")
    data: dict[str, Any] = Field(default_factory=dict, description="type-specific details")
    received_at: datetime = Field(default_factory=_now)


class EventBatch(RootModel[list[Event]]):
    """Up to :data:`MAX_BATCH` events accepted or refused together."""

    root: list[Event] = Field(min_length=1, max_length=MAX_BATCH)


class IngressAccepted(Strict):
    """Router ingress answer: the ids of the events now queued."""

    accepted: list[str]


class ChatAction(Strict):
    """Reply in the channel the event came from."""

    type: Literal["chat"] = "chat"
    text: str = Field(min_length=1, max_length=MAX_TEXT)


class WhisperAction(Strict):
    """Direct message to a user (the invoking user when ``user_id`` is unset)."""

    type: Literal["whisper"] = "whisper"
    text: str = Field(min_length=1, max_length=MAX_TEXT)
    user_id: str | None = None


class OverlayAction(Strict):
    """Content for an OBS browser source of the community."""

    type: Literal["overlay"] = "overlay"
    kind: Literal["ticker", "media", "general", "alert", "clear"]
    content: dict[str, Any] = Field(default_factory=dict)
    duration: float | None = Field(default=None, gt=0, le=3600)


Action = Annotated[ChatAction | WhisperAction | OverlayAction, Field(discriminator="type")]


class CommandInfo(Strict):
    """A command as the router's table knows it (used by help listings)."""

    prefix: Literal["!", "#"] = "!"
    trigger: str
    module: str
    usage: str = ""
    description: str = ""
    min_role: Role = Role.everyone


class ModuleRequest(Strict):
    """What a module is asked to do: one command invocation or one subscribed event."""

    version: Literal["v1"] = CONTRACT_VERSION
    invocation_id: str = Field(default_factory=_new_id)
    session_id: str
    community_id: str
    entity_id: str
    platform: Platform
    user: UserRef | None = None
    user_labels: list[str] = Field(default_factory=list)
    command: str | None = Field(default=None, description="trigger without prefix, lowercased")
    prefix: Literal["!", "#"] | None = None
    args: list[str] = Field(default_factory=list)
    raw_text: str = ""
    event: Event
    config: dict[str, Any] = Field(default_factory=dict)


class ModuleResponse(Strict):
    """A module's answer: actions for the router to deliver, or an error to report."""

    version: Literal["v1"] = CONTRACT_VERSION
    actions: list[Action] = Field(default_factory=list)
    error: str | None = None


class OutboundMessage(Strict):
    """A chat or whisper action on its way to a platform's sender."""

    id: str = Field(default_factory=_new_id)
    platform: Platform
    kind: Literal["chat", "whisper"]
    server_id: str
    channel_id: str
    user_id: str | None = None
    thread_id: str | None = None
    reply_to: str | None = None
    text: str
    event_id: str
    created_at: datetime = Field(default_factory=_now)


class EventOutcome(Strict):
    """Published when the router has finished an event: how many outbound messages it made."""

    event_id: str
    status: Literal["ok", "ignored", "refused", "failed"]
    outbound: int = 0
    detail: str | None = None
