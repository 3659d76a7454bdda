"""Request and response bodies of the playground API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from waddlebot.kernel.contracts import Role
from waddlebot.kernel.contracts.v1 import MAX_TEXT, Identifier, Text


class PlaygroundMessage(BaseModel):
    """A chat line typed in the playground, as whom and where."""

    model_config = ConfigDict(extra="forbid")

    channel: Identifier = "lobby"
    user: Identifier = "guest"
    role: Role = Role.everyone
    text: Text = Field(min_length=1, max_length=MAX_TEXT)

    @field_validator("role", mode="before")
    @classmethod
    def _role_by_name(cls, value: object) -> object:
        return Role.parse(value) if isinstance(value, str) else value


class SocketMessage(PlaygroundMessage):
    """One frame sent over the playground's WebSocket; ``id`` comes back with its answer, so
    a client may send the next message before the last one is answered."""

    id: str | None = Field(default=None, max_length=100)


class Reply(BaseModel):
    type: Literal["chat", "whisper"]
    text: str


class PlaygroundResult(BaseModel):
    event_id: str
    status: str
    replies: list[Reply]


class SocketError(BaseModel):
    status: int  # what the HTTP endpoint would have answered
    detail: str


class SocketAnswer(BaseModel):
    """The frame answering one :class:`SocketMessage`: its result or its error."""

    id: str | None
    result: PlaygroundResult | None = None
    error: SocketError | None = None


class ChannelMessage(BaseModel):
    """A message the bot posted into a channel without anyone waiting for it."""

    cursor: int
    type: Literal["chat", "whisper"]
    text: str
    user: str | None = Field(default=None, description="whisper: who it was for")
    created_at: datetime


class ChannelMessages(BaseModel):
    """A channel's unsolicited messages after a cursor; ``cursor``: the newest there is."""

    channel: str
    cursor: int
    messages: list[ChannelMessage]
