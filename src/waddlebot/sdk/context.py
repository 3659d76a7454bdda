"""The typed context a handler receives: who, where, what, and how to answer."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from waddlebot.kernel.contracts import (
    Action,
    ChatAction,
    CommandInfo,
    Event,
    ModuleRequest,
    OverlayAction,
    Platform,
    Role,
    ScheduledJob,
    UserRef,
    WhisperAction,
)
from waddlebot.sdk.aliases import AliasOperations
from waddlebot.sdk.caller import Caller
from waddlebot.sdk.community import CommunityOperations
from waddlebot.sdk.custom_commands import CustomCommandOperations
from waddlebot.sdk.database import ModuleDatabase
from waddlebot.sdk.errors import CommandError, offered
from waddlebot.sdk.identity import FoundAccount, IdentityOperations
from waddlebot.sdk.labels import LabelOperations
from waddlebot.sdk.members import MemberOperations
from waddlebot.sdk.scheduling import (
    DEFAULT_GRACE,
    JobOrigin,
    JobSpec,
    SchedulerOperations,
    check_job,
    due_time,
)
from waddlebot.sdk.secrets import SecretOperations
from waddlebot.sdk.storage import ModuleStorage
from waddlebot.sdk.timers import TimerOperations
from waddlebot.sdk.triggers import TriggerClaim
from waddlebot.sdk.twitch import TwitchOperations


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

    def timers(self) -> TimerOperations | None:
        """The community's timers, or None where the host has none."""
        ...

    def scheduler(self) -> SchedulerOperations | None:
        """The durable job scheduler, or None where the host has none."""
        ...

    def custom_commands(self) -> CustomCommandOperations | None:
        """A community's custom commands, or None where the host has none."""
        ...

    def database(self) -> ModuleDatabase | None:
        """The installation's database for modules with their own tables, or None."""
        ...

    def community(self) -> CommunityOperations | None:
        """The community's settings (time zone), or None where the host has none."""
        ...

    def twitch(self) -> TwitchOperations | None:
        """Helix calls for modules, or None where Twitch is not configured or reachable."""
        ...

    def secrets(self) -> SecretOperations | None:
        """Sealing for the module's secrets (API keys, OAuth tokens), or None."""
        ...

    async def module_config(self, community_id: str, module: str) -> dict[str, Any]:
        """The community's stored configuration of ``module`` (``ctx.config`` in chat adds the
        schema's defaults), read now: for REST routes and background work. Empty when none."""
        ...

    async def claim_triggers(
        self,
        community_id: str,
        module: str,
        wanted: Sequence[str],
        keep: Sequence[str],
        description: str,
    ) -> TriggerClaim:
        """Have ``module`` answer the ``wanted`` triggers in the community (its
        ``@dynamic_commands``), dropping earlier ones except ``keep``; live on every router."""
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
        schedule_handlers: frozenset[str] | None = None,
    ) -> None:
        self.request = request
        self.host = host
        self.module = module
        self.actions: list[Action] = []
        self._config_defaults = config_defaults or {}
        self._schedule_handlers = schedule_handlers

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

    async def user_id(self) -> str:
        """The caller's WaddleBot user id (one for all their linked accounts), for module
        tables keyed by person."""
        identity = offered(self.host.identity(), "I cannot tell who you are here.")
        found = await identity.user_of(self.platform.value, self.caller.user.id)
        if found is None:
            raise CommandError("I don't know you yet; say something and try again.")
        return found

    async def find_user(self, name: str) -> FoundAccount:
        """The person ``@name`` on this platform; a reply naming them when nobody is."""
        identity = offered(self.host.identity(), "I cannot look people up here.")
        found = await identity.find(self.platform.value, name)
        if found is None:
            raise CommandError(f"I don't know {name.strip().lstrip('@') or 'them'} here yet.")
        return found

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

    @property
    def database(self) -> ModuleDatabase:
        """The installation's database (modules with their own tables); a reply where the
        module runs without one."""
        return offered(self.host.database(), "This needs the bot's database, not available here.")

    async def time_zone(self) -> ZoneInfo:
        """The community's time zone (``!timezone``), else ``WADDLEBOT_DEFAULT_TIMEZONE``."""
        operations = self.host.community()
        name = await operations.timezone(self.community_id) if operations else "UTC"
        return ZoneInfo(name)

    # --- scheduled jobs -----------------------------------------------------------------

    @property
    def job(self) -> ScheduledJob | None:
        """The job being run (id, handler, payload, due_at, attempt); None outside them."""
        return self.request.job

    async def schedule(
        self,
        handler: str,
        *,
        at: datetime | None = None,
        after: float | timedelta | None = None,
        payload: dict[str, Any] | None = None,
        grace: float = DEFAULT_GRACE,
        key: str | None = None,
    ) -> str:
        """Run this module's ``@on_schedule(handler)`` ``at`` a time or ``after`` seconds, in
        this channel; return the job id. A job later than ``grace`` seconds is dropped. With
        ``key``, scheduling a key a pending job already holds returns that job's id instead.
        """
        if self._schedule_handlers is not None and handler not in self._schedule_handlers:
            raise ValueError(f"module {self.module!r} has no @on_schedule({handler!r}) handler")
        payload = {} if payload is None else payload
        check_job(handler, payload, grace, key)
        scheduler = self._scheduler()
        event = self.request.event
        spec = JobSpec(
            module=self.module or "module",
            community_id=self.request.community_id,
            handler=handler,
            due_at=due_time(scheduler.now(), at, after),
            payload=payload,
            origin=JobOrigin(
                platform=event.platform.value,
                server_id=event.server_id,
                channel_id=event.channel_id,
                entity_id=self.request.entity_id,
                channel_name=event.channel_name,
            ),
            grace=grace,
            key=key,
        )
        return await scheduler.schedule(spec)

    async def cancel_schedule(self, job_id: str) -> bool:
        """Cancel a pending job of this module in this community; False when there is none."""
        return await self._scheduler().cancel(
            self.module or "module", self.request.community_id, job_id
        )

    def _scheduler(self) -> SchedulerOperations:
        return offered(self.host.scheduler(), "Scheduling is not available where this module runs.")

    @cached_property
    def user_storage(self) -> ModuleStorage:
        """This module's storage for the calling user in this community (per platform account)."""
        user = self.request.user
        if user is None:
            raise CommandError("I cannot tell who you are on this platform.")
        return self.storage.for_user(f"{self.platform.value}:{user.id}")

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
