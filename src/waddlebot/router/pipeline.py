"""One event, start to finish: where, who, what command, may they, run it, answer.

The worker calls :meth:`Pipeline.handle` for every event it takes from the queue. Nothing in
here blocks the event loop, and nothing a module does can crash it: failures become a short
reply plus an ERROR log.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping

from waddlebot.aliases.expand import AliasRefused
from waddlebot.aliases.expand import resolve as resolve_alias
from waddlebot.kernel.backends import KeyValue
from waddlebot.kernel.contracts import (
    Action,
    ChatAction,
    Event,
    EventOutcome,
    EventType,
    ModuleRequest,
    UserRef,
)
from waddlebot.kernel.contracts.names import COMMANDS_VERSION, chat_lines_key, identity_cache_key
from waddlebot.kernel.contracts.roles import platform_role
from waddlebot.kernel.ids import new_id
from waddlebot.kernel.observability.logging import Category, get_logger, log_event
from waddlebot.kernel.observability.metrics import COMMANDS, EXECUTION_SECONDS, labelled
from waddlebot.kernel.security.rbac import (
    Access,
    Actor,
    Authorizer,
    access_version_key,
    claim_first_owner,
)
from waddlebot.router.activity import MessageCounts
from waddlebot.router.directory import Directory, Known, Place, entity_cache_key
from waddlebot.router.dispatch import ActionDispatcher
from waddlebot.router.executions import ExecutionLog
from waddlebot.router.executors import CircuitOpen, Executor, ModuleTimeout
from waddlebot.router.limits import Limiter, Refusal
from waddlebot.router.parser import ParsedCommand, parse_command
from waddlebot.router.registry import CommandEntry, CommandTable

logger = get_logger(__name__)

# A session this process kept alive is known to live for at least its TTL after that; it is
# touched again in the shared store only once this share of the TTL has passed.
SESSION_REFRESH_SHARE = 0.1
MAX_KNOWN_SESSIONS = 100_000  # entities; the memo starts over beyond it


class Pipeline:
    def __init__(
        self,
        *,
        kv: KeyValue,
        directory: Directory,
        table: CommandTable,
        executors: Mapping[str, Executor],
        subscribers: Mapping[str, list[str]],
        limiter: Limiter,
        dispatcher: ActionDispatcher,
        executions: ExecutionLog,
        module_timeout: float,
        session_ttl: int,
        refresh: Callable[[], Awaitable[None]] | None = None,
        messages: MessageCounts | None = None,
    ) -> None:
        self.kv = kv
        self.directory = directory
        self.table = table
        self.executors = executors
        self.subscribers = subscribers
        self.limiter = limiter
        self.dispatcher = dispatcher
        self.executions = executions
        self.module_timeout = module_timeout
        self.session_ttl = session_ttl
        self.refresh = refresh
        self.messages = messages
        self.authorizer = Authorizer(directory.db, kv)
        self._loaded_version: bytes | None = None
        self._refresh_lock = asyncio.Lock()
        self._sessions: dict[str, tuple[str, float]] = {}  # entity → (session id, touched at)

    async def handle(self, event: Event) -> EventOutcome:
        started = time.perf_counter()
        known = await self._read_ahead(event)
        place = await self.directory.place(event, known)
        session_id = await self._session(place.entity_id)
        chat = event.type is EventType.message and event.user is not None
        if self.messages is not None and event.user is not None:
            if chat:
                self.messages.count(place.community_id)  # the portal's chart; in memory
            if chat or event.type is EventType.command:  # active chatters; in memory
                self.messages.spoke(place.community_id, f"{event.platform.value}:{event.user.id}")
        if chat and self.table.counts_lines(place.entity_id):
            await self.kv.incr(chat_lines_key(place.entity_id))  # timers' --lines rule
        speech = _is_speech(event)
        parsed = parse_command(event.text) if speech else None
        if parsed is not None or not speech:
            await self._ensure_fresh(known)
        if parsed is None:
            if event.user is not None and event.type.value in ("message", "redemption"):
                # every chatter becomes known (cached), so identity linking finds them by name;
                # so does a redeemer, whom a reward may grant items (inventory)
                await self.directory.user_id(
                    event.platform.value, event.user, event.server_id, known
                )
            return await self._fan_out(event, place, session_id)
        command = self.table.lookup(place.community_id, parsed.prefix, parsed.trigger)
        alias: str | None = None
        if command is None and event.user is not None and self.table.aliases(place.community_id):
            expanded = self._expand_alias(place.community_id, parsed, event)
            if isinstance(expanded, str):
                return await self._refuse_alias(event, place, expanded)
            if expanded is not None:
                # from here on, exactly as if the caller had typed the alias's target
                alias, (parsed, event) = f"!{parsed.trigger}", expanded
                command = self.table.lookup(place.community_id, parsed.prefix, parsed.trigger)
        if command is None or event.user is None:
            if event.user is not None:
                disabled = self.table.find(place.community_id, parsed.prefix, parsed.trigger)
                if disabled is not None:
                    return await self._refuse_disabled(event, place, disabled)
                if alias is not None:
                    target = f"{parsed.prefix}{parsed.trigger}"
                    return await self._refuse_alias(
                        event, place, f"{alias} runs {target}, which is not a command here."
                    )
            return EventOutcome(event_id=event.id, status="ignored", detail="no such command")

        user_id = await self.directory.user_id(
            event.platform.value, event.user, event.server_id, known
        )
        ladder = platform_role(event.user)
        name = f"{command.prefix}{command.trigger}"
        permission = command.required_permission(parsed.args)
        action = name if permission == command.permission else f"{name} {parsed.args[0].lower()}"
        decision = await self.authorizer.check(
            Actor(user_id=user_id, platform_role=ladder, via="chat"),
            place.community_id,
            action,
            permission=permission,
            min_role=command.min_role,
            known=known,
        )
        access = decision.access
        assert access is not None  # chat actors are never superusers
        await self._claim_ownership(place.community_id, user_id, access)
        role = access.ladder
        user = event.user.model_copy(update={"role": role})
        record = {
            "community_id": place.community_id,
            "entity_id": place.entity_id,
            "user_id": user_id,
            "trigger": name,
            "module": command.module,
            "queued_ms": _ms_since_received(event),
        }

        if not decision.allowed:
            if decision.missing:
                text = f"@{user.name} {action} needs the {permission} permission here."
            else:
                text = f"@{user.name} {name} is for {command.min_role.name}s and above."
            return await self._finish(
                event, place, [ChatAction(text=text)], "refused", record, started
            )

        refusal = await self.limiter.check(command, place.entity_id, user_id, role)
        if refusal is not None:
            actions: list[Action] = []
            if await self.limiter.first_notice(refusal, place.entity_id, user_id):
                actions.append(ChatAction(text=_limit_text(user, name, refusal)))
            record["detail"] = refusal.scope
            return await self._finish(event, place, actions, "limited", record, started)

        request = ModuleRequest(
            session_id=session_id,
            community_id=place.community_id,
            entity_id=place.entity_id,
            platform=event.platform,
            user=user,
            user_labels=list(access.labels),
            user_permissions=sorted(access.permissions),
            community_role=access.community_role,
            command=parsed.trigger,
            prefix=command.prefix,
            args=parsed.args,
            raw_text=event.text,
            event=event,
            config=self.table.config(place.community_id, command.module),
        )
        actions, status, detail, module_ms = await self._run(command, request, user)
        record.update(detail=detail, module_ms=module_ms)
        return await self._finish(event, place, actions, status, record, started)

    async def _run(
        self, command: CommandEntry, request: ModuleRequest, user: UserRef
    ) -> tuple[list[Action], str, str | None, float]:
        """Call the module; turn every failure into a friendly reply and an ERROR log."""
        name = f"{command.prefix}{command.trigger}"
        executor = self.executors.get(command.module)
        module_started = time.perf_counter()
        status, detail = "ok", None
        actions: list[Action] = []
        try:
            if executor is None:
                raise LookupError(f"module {command.module!r} is not available")
            response = await executor.execute(request, self.module_timeout)
            actions = list(response.actions)
            if response.error:
                status, detail = "failed", response.error
        except ModuleTimeout as error:
            status, detail = "timeout", str(error)
        except CircuitOpen as error:
            status, detail = "unavailable", str(error)
        except Exception as error:
            status, detail = "failed", f"{type(error).__name__}: {error}"
        module_ms = (time.perf_counter() - module_started) * 1000
        labelled(EXECUTION_SECONDS, command.module, status).observe(module_ms / 1000)
        if status != "ok":
            log_event(
                logger,
                Category.ERROR,
                name,
                status,
                level="error",
                community=request.community_id,
                user=request.user.id if request.user else None,
                module=command.module,
                detail=detail,
            )
            verb = {
                "timeout": "took too long to answer",
                "unavailable": "is unavailable right now",
            }.get(status, "failed")
            actions = [ChatAction(text=f"@{user.name} sorry, {name} {verb}. Try again later.")]
        return actions, status, detail, module_ms

    async def _fan_out(self, event: Event, place: Place, session_id: str) -> EventOutcome:
        """Hand a non-command event to every module subscribed to its type."""
        modules = self.subscribers.get(event.type.value, [])
        if not modules:
            return EventOutcome(event_id=event.id, status="ignored")
        user = event.user
        outbound = 0
        for module in modules:
            executor = self.executors.get(module)
            if executor is None:
                continue
            if module in self.table.remote and not self.table.installed(place.community_id, module):
                continue  # marketplace modules hear only the communities that installed them
            if not self.table.listens(module, event.type.value, place.community_id):
                continue  # a handler that listens only where its feature is on
            request = ModuleRequest(
                session_id=session_id,
                community_id=place.community_id,
                entity_id=place.entity_id,
                platform=event.platform,
                user=user,
                raw_text=event.text,
                event=event,
                config=self.table.config(place.community_id, module),
            )
            try:
                response = await executor.execute(request, self.module_timeout)
            except Exception as error:
                log_event(
                    logger,
                    Category.ERROR,
                    f"event:{event.type.value}",
                    "failed",
                    level="error",
                    community=place.community_id,
                    module=module,
                    detail=str(error),
                )
                continue
            outbound += await self.dispatcher.dispatch(event, place.community_id, response.actions)
        return EventOutcome(event_id=event.id, status="ok", outbound=outbound)

    def _expand_alias(
        self, community_id: str, parsed: ParsedCommand, event: Event
    ) -> tuple[ParsedCommand, Event] | str | None:
        """The command and event an alias stands for, a refusal text, or None (no alias).

        From the in-memory table: no database read per message.
        """
        assert event.user is not None
        try:
            expansion = resolve_alias(
                parsed,
                self.table.aliases(community_id),
                lambda prefix, trigger: self.table.find(community_id, prefix, trigger) is not None,
                event.user.name,
            )
        except AliasRefused as refused:
            return refused.message
        if expansion is None:
            return None
        return expansion.parsed, event.model_copy(update={"text": expansion.text})

    async def _refuse_alias(self, event: Event, place: Place, text: str) -> EventOutcome:
        """An alias that cannot run (too deep, a loop, its target gone): say why."""
        user = event.user.name if event.user else "someone"
        outbound = await self.dispatcher.dispatch(
            event, place.community_id, [ChatAction(text=f"@{user} {text}")]
        )
        return EventOutcome(event_id=event.id, status="refused", outbound=outbound, detail="alias")

    async def _refuse_disabled(
        self, event: Event, place: Place, command: CommandEntry
    ) -> EventOutcome:
        """A command switched off in this community: say so once, plainly."""
        name = f"{command.prefix}{command.trigger}"
        user = event.user.name if event.user else "someone"
        text = f"@{user} {name} is disabled in this community."
        outbound = await self.dispatcher.dispatch(
            event, place.community_id, [ChatAction(text=text)]
        )
        return EventOutcome(
            event_id=event.id, status="refused", outbound=outbound, detail="disabled"
        )

    async def _finish(
        self,
        event: Event,
        place: Place,
        actions: list[Action],
        status: str,
        record: dict[str, object],
        started: float,
    ) -> EventOutcome:
        outbound = await self.dispatcher.dispatch(event, place.community_id, actions)
        record["total_ms"] = (time.perf_counter() - started) * 1000
        labelled(COMMANDS, str(record.get("module") or "unknown"), status).inc()
        await self.executions.record(event, status=status, **record)
        outcome_status = (
            "ok" if status == "ok" else "refused" if status in ("refused", "limited") else "failed"
        )
        return EventOutcome(
            event_id=event.id,
            status=outcome_status,
            outbound=outbound,
            detail=None if status == "ok" else status,
        )

    async def _claim_ownership(self, community_id: str, user_id: str, access: Access) -> None:
        """A platform broadcaster of a community nobody owns yet becomes its owner, so they
        can manage it over REST (e.g. after logging in with that platform) too."""
        if access.membership_role is None and access.community_role == "owner":
            await claim_first_owner(self.directory.db, self.kv, community_id, user_id)

    async def _read_ahead(self, event: Event) -> Known:
        """The cached values most events need — the channel's entity (or, when this process
        knows the channel, its community's access version), the speaker's account, the
        command-table version — in one round trip instead of three or four."""
        place = self.directory.known_place(event)
        keys = [
            entity_cache_key(event) if place is None else access_version_key(place.community_id),
            COMMANDS_VERSION,
        ]
        if event.user is not None:
            keys.append(identity_cache_key(event.platform.value, event.user.id))
        return dict(zip(keys, await self.kv.get_many(*keys), strict=True))

    async def _ensure_fresh(self, known: Known) -> None:
        """Reload the command table (and executors) when someone changed commands since."""
        if self.refresh is None:
            return
        version = known.get(COMMANDS_VERSION)
        if version == self._loaded_version:
            return
        async with self._refresh_lock:
            if version != self._loaded_version:
                await self.refresh()
                self._loaded_version = version

    async def _session(self, entity_id: str) -> str:
        """The entity's chat session id, opened on first message and kept alive by traffic.

        Busy channels cost no round trip per message: the shared TTL is renewed once a tenth
        of it has passed since this process last did, so a session ends after 0.9–1 × the TTL
        without traffic.
        """
        now = time.monotonic()
        known = self._sessions.get(entity_id)
        if known is not None and now - known[1] < self.session_ttl * SESSION_REFRESH_SHARE:
            return known[0]
        fresh = new_id()
        current = await self.kv.put_if_absent(
            f"session:{entity_id}", fresh, ttl=self.session_ttl, refresh_ttl=True
        )
        session_id = current.decode() if current is not None else fresh
        if len(self._sessions) >= MAX_KNOWN_SESSIONS:
            self._sessions.clear()
        self._sessions[entity_id] = (session_id, now)
        return session_id


def _is_speech(event: Event) -> bool:
    """Text someone said: a message or slash command, or a command a timer runs as its
    creator (a ``scheduled`` event with a user, answered as an unsolicited message)."""
    if event.type is EventType.scheduled:
        return event.user is not None
    return event.type in (EventType.message, EventType.command)


def _ms_since_received(event: Event) -> float:
    return max(0.0, (time.time() - event.received_at.timestamp()) * 1000)


def _limit_text(user: UserRef, name: str, refusal: Refusal) -> str:
    wait = max(1, round(refusal.retry_after))
    if refusal.scope.endswith("cooldown"):
        return f"@{user.name} {name} is on cooldown, try again in {wait}s."
    return f"@{user.name} slow down, try again in {wait}s."
