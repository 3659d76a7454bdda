"""The typed context a handler receives: who, where, what, and how to answer."""

from __future__ import annotations

from typing import Any, Protocol

from waddlebot.kernel.contracts import (
    Action,
    ChatAction,
    CommandInfo,
    ModuleRequest,
    OverlayAction,
    Role,
    WhisperAction,
)


class Host(Protocol):
    """What the runtime hosting a module offers it beyond the request itself."""

    async def list_commands(self, community_id: str, role: Role) -> list[CommandInfo]:
        """Commands of the community that ``role`` may run, sorted by trigger."""
        ...

    async def reload_commands(self) -> int:
        """Reload the command table everywhere; return how many commands this router has."""
        ...


class Context:
    """One invocation: the request, helpers to answer, and the host's services."""

    def __init__(self, request: ModuleRequest, host: Host) -> None:
        self.request = request
        self.host = host
        self.actions: list[Action] = []

    @property
    def args(self) -> list[str]:
        return self.request.args

    @property
    def role(self) -> Role:
        return self.request.user.role if self.request.user else Role.everyone

    @property
    def user_name(self) -> str:
        user = self.request.user
        if user is None:
            return "someone"
        return user.display_name or user.name

    @property
    def config(self) -> dict[str, Any]:
        return self.request.config

    def reply(self, text: str) -> None:
        """Answer in the channel the command came from."""
        self.actions.append(ChatAction(text=text))

    def whisper(self, text: str, user_id: str | None = None) -> None:
        """Send a direct message (to the invoking user by default)."""
        self.actions.append(WhisperAction(text=text, user_id=user_id))

    def overlay(self, kind: str, content: dict[str, Any], *, duration: float | None = None) -> None:
        """Show something on the community's OBS browser source of ``kind``."""
        self.actions.append(
            OverlayAction.model_validate({"kind": kind, "content": content, "duration": duration})
        )
