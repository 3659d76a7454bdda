"""A module: named commands (with subcommands and typed arguments) and event handlers
behind one ``handle`` entry point, and the manifest that describes them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter

from waddlebot.kernel.contracts import (
    ChatAction,
    CommandInfo,
    EventType,
    Manifest,
    ModuleRequest,
    ModuleResponse,
    Role,
)
from waddlebot.kernel.contracts.v1 import SERVERLESS_RUNTIMES, ModuleRuntime
from waddlebot.kernel.errors import Refusal
from waddlebot.sdk.arguments import Parameter, bind, signature_parameters, usage_for
from waddlebot.sdk.context import Context, Host
from waddlebot.sdk.errors import CommandError

Handler = Callable[..., Awaitable[None]]
EventHandler = Callable[[Context], Awaitable[None]]
# The communities an event handler listens in, read when the router (re)loads its command
# table: elsewhere the router does not call the module at all.
Audience = Callable[[Host], Awaitable[Collection[str]]]


@dataclass(frozen=True, slots=True)
class SubcommandSpec:
    """``!<parent> <name> …``: its own handler, arguments and minimum role."""

    name: str
    handler: Handler
    parameters: list[Parameter]
    usage: str
    description: str = ""
    min_role: Role = Role.everyone
    permission: str | None = None


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """A command a module offers; the router's table is built from these."""

    trigger: str
    handler: Handler | None
    prefix: str = "!"
    usage: str = ""
    description: str = ""
    min_role: Role = Role.everyone
    user_cooldown: float = 0.0
    global_cooldown: float = 0.0
    permission: str | None = None
    parameters: list[Parameter] = field(default_factory=list)
    subcommands: dict[str, SubcommandSpec] = field(default_factory=dict)

    @property
    def display_usage(self) -> str:
        if self.usage:
            return self.usage
        name = f"{self.prefix}{self.trigger}"
        if self.subcommands and self.handler is None:
            return f"{name} <{'|'.join(self.subcommands)}>"
        return usage_for(name, self.parameters)

    def info(self, module: str) -> CommandInfo:
        return CommandInfo.model_validate(
            {
                "prefix": self.prefix,
                "trigger": self.trigger,
                "module": module,
                "usage": self.display_usage,
                "description": self.description,
                "min_role": self.min_role,
                "permission": self.permission,
            }
        )

    @property
    def subcommand_permissions(self) -> dict[str, str]:
        return {name: sub.permission for name, sub in self.subcommands.items() if sub.permission}


class Module:
    """Collects handlers through decorators and dispatches requests to them."""

    def __init__(
        self,
        name: str,
        *,
        version: str = "0.1.0",
        description: str = "",
        author: str = "",
        categories: list[str] | None = None,
        config_schema: dict[str, Any] | None = None,
        scopes: list[str] | None = None,
        homepage: str | None = None,
    ) -> None:
        self.name = name
        self.version = version
        self.description = description
        self.author = author
        self.categories = categories or []
        self.config_schema = config_schema or {}
        self.scopes = scopes or []
        self.homepage = homepage
        self.commands: dict[str, CommandSpec] = {}
        self.event_handlers: dict[EventType, EventHandler] = {}
        self.event_audiences: dict[EventType, Audience] = {}
        self.schedule_handlers: dict[str, EventHandler] = {}
        self.dynamic_handler: EventHandler | None = None
        self.rest: APIRouter | None = None
        self.root: APIRouter | None = None

    # --- registration -------------------------------------------------------------------

    def api(self) -> APIRouter:
        """This module's REST routes (see :mod:`waddlebot.sdk.web`); the router service mounts
        them at ``/api/<name>/v1`` for built-in modules."""
        if self.rest is None:
            self.rest = APIRouter()
        return self.rest

    def web(self) -> APIRouter:
        """Routes a built-in module serves at the site's root rather than under its API
        prefix, for URLs fixed by someone else (an OAuth ``redirect_uri`` such as
        ``/auth/spotify/callback``). Keep them few and prefixed with the module's own path;
        the router service mounts them as they are."""
        if self.root is None:
            self.root = APIRouter()
        return self.root

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
        permission: str | None = None,
    ) -> Callable[[Handler], Handler]:
        """Register ``handler`` for ``<prefix><trigger>`` (trigger matched case-insensitively).

        Parameters after ``ctx`` are the command's typed arguments (see
        :mod:`waddlebot.sdk.arguments`); without them the handler reads ``ctx.args``.
        ``permission`` names a community permission (e.g. ``commands.manage``) the caller
        needs; the router checks it before the module is called.
        """

        def register(handler: Handler) -> Handler:
            key = trigger.lower()
            existing = self.commands.get(key)
            if existing is not None and existing.handler is not None:
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
                permission=permission,
                parameters=signature_parameters(handler),
                subcommands=existing.subcommands if existing else {},
            )
            return handler

        return register

    def subcommand(
        self,
        parent: str,
        name: str,
        *,
        usage: str = "",
        description: str = "",
        min_role: Role = Role.everyone,
        permission: str | None = None,
    ) -> Callable[[Handler], Handler]:
        """Register ``handler`` for ``!<parent> <name> …`` (``permission``: as for commands).

        The parent command is created (answering with the list of subcommands) unless it is
        registered with :meth:`command` too, before or after.
        """

        def register(handler: Handler) -> Handler:
            key, sub = parent.lower(), name.lower()
            spec = self.commands.get(key)
            if spec is None:
                spec = CommandSpec(trigger=key, handler=None)
                self.commands[key] = spec
            if sub in spec.subcommands:
                raise ValueError(f"!{key} already has a subcommand {sub!r}")
            parameters = signature_parameters(handler)
            spec.subcommands[sub] = SubcommandSpec(
                name=sub,
                handler=handler,
                parameters=parameters,
                usage=usage or usage_for(f"{spec.prefix}{key} {sub}", parameters),
                description=description,
                min_role=min_role,
                permission=permission,
            )
            return handler

        return register

    def on_event(
        self, *types: EventType, where: Audience | None = None
    ) -> Callable[[EventHandler], EventHandler]:
        """Register ``handler`` for non-command events (follow, raid, every chat line, …).

        ``where``: the communities the handler needs these events from (say, where a feature
        is switched on), so a module that listens to every chat line costs nothing elsewhere.
        The router asks it whenever it reloads the command table; a module whose answer
        changes calls ``ctx.host.reload_commands()`` (or ``sdk.web.host(request)``'s).
        """

        def register(handler: EventHandler) -> EventHandler:
            for event_type in types:
                self.event_handlers[event_type] = handler
                if where is not None:
                    self.event_audiences[event_type] = where
            return handler

        return register

    def on_schedule(self, name: str) -> Callable[[EventHandler], EventHandler]:
        """Register ``handler`` for jobs this module schedules with ``ctx.schedule(name, …)``;
        it reads ``ctx.job`` and its replies go to the channel the job was scheduled in."""

        def register(handler: EventHandler) -> EventHandler:
            if not name or len(name) > 100:
                raise ValueError("schedule handler names are 1–100 characters")
            if name in self.schedule_handlers:
                raise ValueError(f"module {self.name!r} already has @on_schedule({name!r})")
            self.schedule_handlers[name] = handler
            return handler

        return register

    def dynamic_commands(self, handler: EventHandler) -> EventHandler:
        """Register ``handler`` for triggers this module answers but does not declare: rows a
        host added to the command table for it at run time (e.g. a community's custom
        commands). The handler reads ``ctx.command`` and ``ctx.args``."""
        self.dynamic_handler = handler
        return handler

    # --- running ------------------------------------------------------------------------

    def config_defaults(self) -> dict[str, Any]:
        properties = self.config_schema.get("properties", {})
        return {
            key: value["default"]
            for key, value in properties.items()
            if isinstance(value, dict) and "default" in value
        }

    async def handle(self, request: ModuleRequest, host: Host) -> ModuleResponse:
        """Run the handler the request names; a :class:`CommandError` becomes the reply."""
        ctx = Context(
            request,
            host,
            module=self.name,
            config_defaults=self.config_defaults(),
            schedule_handlers=frozenset(self.schedule_handlers),
        )
        try:
            if request.job is not None:
                job_handler = self.schedule_handlers.get(request.job.handler)
                if job_handler is None:
                    return ModuleResponse(
                        error=f"{self.name} has no @on_schedule({request.job.handler!r})"
                    )
                await job_handler(ctx)
            elif request.command is not None:
                spec = self.commands.get(request.command)
                if spec is None and self.dynamic_handler is not None:
                    await self.dynamic_handler(ctx)
                elif spec is None:
                    return ModuleResponse(error=f"{self.name} has no command {request.command!r}")
                else:
                    await self._run_command(spec, ctx)
            else:
                handler = self.event_handlers.get(request.event.type)
                if handler is None:
                    return ModuleResponse(error=f"{self.name} has no handler for this request")
                await handler(ctx)
        except (CommandError, Refusal) as refusal:
            # One refusal hierarchy: what a manager refuses over REST is the reply in chat.
            return ModuleResponse(actions=[ChatAction(text=refusal.message)])
        return ModuleResponse(actions=ctx.actions)

    async def _run_command(self, spec: CommandSpec, ctx: Context) -> None:
        args = ctx.request.args
        if spec.subcommands and args and args[0].lower() in spec.subcommands:
            sub = spec.subcommands[args[0].lower()]
            if ctx.role < sub.min_role:
                raise CommandError(
                    f"{spec.prefix}{spec.trigger} {sub.name} is for {sub.min_role.name}s and above."
                )
            if sub.permission and sub.permission not in ctx.permissions:
                raise CommandError(
                    f"{spec.prefix}{spec.trigger} {sub.name} needs the {sub.permission} permission."
                )
            ctx.request = ctx.request.model_copy(update={"args": args[1:]})
            await sub.handler(ctx, *bind(sub.parameters, args[1:], sub.usage))
            return
        if spec.handler is None:
            choices = ", ".join(
                name
                for name, sub in spec.subcommands.items()
                if ctx.role >= sub.min_role
                and (sub.permission is None or sub.permission in ctx.permissions)
            )
            raise CommandError(f"Usage: {spec.display_usage} (you can use: {choices or 'none'})")
        await spec.handler(ctx, *bind(spec.parameters, args, spec.display_usage))

    # --- description --------------------------------------------------------------------

    def manifest(
        self,
        *,
        runtime: ModuleRuntime = "builtin",
        endpoint: str | None = None,
        timeout: float | None = None,
    ) -> Manifest:
        """The manifest describing this module as it would run on ``runtime``.

        Serverless runtimes answer ``#`` commands, so their commands take that prefix.
        """
        serverless = runtime in SERVERLESS_RUNTIMES
        return Manifest.model_validate(
            {
                "name": self.name,
                "version": self.version,
                "description": self.description,
                "author": self.author,
                "categories": self.categories,
                "runtime": runtime,
                "endpoint": endpoint,
                "timeout": timeout,
                "commands": [
                    {
                        "trigger": spec.trigger,
                        "prefix": "#" if serverless else spec.prefix,
                        "usage": _usage(spec, serverless),
                        "description": spec.description,
                        "min_role": spec.min_role,
                        "user_cooldown": spec.user_cooldown,
                        "global_cooldown": spec.global_cooldown,
                        "subcommands": list(spec.subcommands),
                        "permission": spec.permission,
                        "subcommand_permissions": spec.subcommand_permissions,
                    }
                    for spec in self.commands.values()
                ],
                "events": list(self.event_handlers),
                "config_schema": self.config_schema,
                "scopes": self.scopes,
                "homepage": self.homepage,
            }
        )


def _usage(spec: CommandSpec, serverless: bool) -> str:
    usage = spec.display_usage
    return "#" + usage[1:] if serverless and usage.startswith("!") else usage
