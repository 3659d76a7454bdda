"""A module: named commands and event handlers behind one ``handle`` entry point."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from waddlebot.kernel.contracts import (
    ChatAction,
    CommandInfo,
    EventType,
    ModuleRequest,
    ModuleResponse,
    Role,
)
from waddlebot.sdk.context import Context, Host
from waddlebot.sdk.errors import CommandError

Handler = Callable[[Context], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """A command a module offers; the router's table is built from these."""

    trigger: str
    handler: Handler
    prefix: str = "!"
    usage: str = ""
    description: str = ""
    min_role: Role = Role.everyone
    user_cooldown: float = 0.0
    global_cooldown: float = 0.0

    def info(self, module: str) -> CommandInfo:
        return CommandInfo.model_validate(
            {
                "prefix": self.prefix,
                "trigger": self.trigger,
                "module": module,
                "usage": self.usage or f"{self.prefix}{self.trigger}",
                "description": self.description,
                "min_role": self.min_role,
            }
        )


class Module:
    """Collects handlers through decorators and dispatches requests to them."""

    def __init__(self, name: str, *, version: str = "0.1.0", description: str = "") -> None:
        self.name = name
        self.version = version
        self.description = description
        self.commands: dict[str, CommandSpec] = {}
        self.event_handlers: dict[EventType, Handler] = {}

    def command(
        self,
        trigger: str,
        *,
        usage: str = "",
        description: str = "",
        min_role: Role = Role.everyone,
        user_cooldown: float = 0.0,
        global_cooldown: float = 0.0,
        prefix: str = "!",
    ) -> Callable[[Handler], Handler]:
        """Register ``handler`` for ``<prefix><trigger>`` (trigger matched case-insensitively)."""

        def register(handler: Handler) -> Handler:
            key = trigger.lower()
            if key in self.commands:
                raise ValueError(f"module {self.name!r} already has a command {key!r}")
            self.commands[key] = CommandSpec(
                trigger=key,
                handler=handler,
                prefix=prefix,
                usage=usage,
                description=description,
                min_role=min_role,
                user_cooldown=user_cooldown,
                global_cooldown=global_cooldown,
            )
            return handler

        return register

    def on_event(self, *types: EventType) -> Callable[[Handler], Handler]:
        """Register ``handler`` for non-command events (follow, raid, …)."""

        def register(handler: Handler) -> Handler:
            for event_type in types:
                self.event_handlers[event_type] = handler
            return handler

        return register

    async def handle(self, request: ModuleRequest, host: Host) -> ModuleResponse:
        """Run the handler the request names; a :class:`CommandError` becomes the reply."""
        if request.command is not None:
            spec = self.commands.get(request.command)
            handler = spec.handler if spec else None
        else:
            handler = self.event_handlers.get(request.event.type)
        if handler is None:
            return ModuleResponse(error=f"{self.name} has no handler for this request")
        ctx = Context(request, host)
        try:
            await handler(ctx)
        except CommandError as refusal:
            return ModuleResponse(actions=[ChatAction(text=refusal.message)])
        return ModuleResponse(actions=ctx.actions)
