"""The typed context a handler receives: who, where, what, and how to answer."""

from __future__ import annotations

from functools import cached_property
from typing import Any, Protocol

from waddlebot.kernel.contracts import (
    Action,
    ChatAction,
    CommandInfo,
    Event,
    ModuleRequest,
    OverlayAction,
    Platform,
    Role,
    UserRef,
    WhisperAction,
)
from waddlebot.sdk.aliases import AliasOperations
from waddlebot.sdk.caller import Caller
from waddlebot.sdk.errors import CommandError
from waddlebot.sdk.identity import IdentityOperations
from waddlebot.sdk.labels import LabelOperations
from waddlebot.sdk.members import MemberOperations
from waddlebot.sdk.storage import ModuleStorage


class Host(Protocol):
    """What the runtime hosting a module offers it beyond the request itself."""

    async def list_commands(self, community_id: str, role: Role) -> list[CommandInfo]:
        """Commands of the community that ``role`` may run, sorted by trigger."""
        ...

    async def reload_commands(self) -> int:
        """Reload the command table everywhere; return how many commands this router has."""
        ...

    def storage(self, module: str, community_id: str) -> ModuleStorage:
        """Key-value storage of ``module`` scoped to one community."""
        ...

    def identity(self) -> IdentityOperations | None:
        """Cross-platform identity operations, or None where the host has none."""
        ...

    def members(self) -> MemberOperations | None:
        """Community role and command operations, or None where the host has none."""
        ...

    def labels(self) -> LabelOperations | None:
        """Label operations, or None where the host has none."""
        ...

    def aliases(self) -> AliasOperations | None:
        """The community's aliases, or None where the host has none."""
        ...


class Context:
    """One invocation: the request, helpers to answer, and the host's services."""

    def __init__(
        self,
        request: ModuleRequest,
        host: Host,
        *,
        module: str = "",
        config_defaults: dict[str, Any] | None = None,
    ) -> None:
        self.request = request
        self.host = host
        self.module = module
        self.actions: list[Action] = []
        self._config_defaults = config_defaults or {}

    # --- who, where, what ---------------------------------------------------------------

    @property
    def args(self) -> list[str]:
        return self.request.args

    @property
    def command(self) -> str | None:
        return self.request.command

    @property
    def community_id(self) -> str:
        return self.request.community_id

    @property
    def platform(self) -> Platform:
        return self.request.platform

    @property
    def event(self) -> Event:
        return self.request.event

    @property
    def user(self) -> UserRef | None:
        return self.request.user

    @property
    def role(self) -> Role:
        return self.request.user.role if self.request.user else Role.everyone

    @property
    def labels(self) -> list[str]:
        """Names of the labels the user carries in this community."""
        return self.request.user_labels

    @property
    def permissions(self) -> frozenset[str]:
        """The user's permissions in this community (see the README's roles section)."""
        return frozenset(self.request.user_permissions)

    @property
    def community_role(self) -> str | None:
        """owner/admin/moderator/member in this community (granted or platform-derived)."""
        return self.request.community_role

    @property
    def caller(self) -> Caller:
        """Who is asking, as the platform reported them (for host operations)."""
        user = self.request.event.user
        if user is None:
            raise CommandError("I cannot tell who you are on this platform.")
        return Caller(platform=self.platform.value, user=user)

    def can(self, permission: str) -> bool:
        """True when the user holds ``permission`` here (e.g. ``calendar.autoapprove``)."""
        return permission in self.request.user_permissions

    @property
    def user_name(self) -> str:
        user = self.request.user
        if user is None:
            return "someone"
        return user.display_name or user.name

    @cached_property
    def config(self) -> dict[str, Any]:
        """The community's configuration of this module, over the schema's defaults."""
        return {**self._config_defaults, **self.request.config}

    @cached_property
    def storage(self) -> ModuleStorage:
        """This module's storage for this community."""
        return self.host.storage(self.module or "module", self.request.community_id)

    # --- answers ------------------------------------------------------------------------

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
