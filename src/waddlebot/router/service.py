"""The router service: mounts ingress and runs the workers, the command table and its reload."""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter

from waddlebot.kernel.backends.announce import changes
from waddlebot.kernel.contracts import Platform
from waddlebot.kernel.contracts.names import COMMANDS_CHANGED, EVENTS_QUEUE, outbound_queue
from waddlebot.kernel.observability.logging import Category, get_logger, log_event
from waddlebot.kernel.observability.queue_gauges import QueueGauges
from waddlebot.kernel.runtime import Runtime
from waddlebot.kernel.scheduler import JobStore, Scheduler
from waddlebot.kernel.scheduler.configured import job_store
from waddlebot.kernel.service import Service
from waddlebot.modules import builtin_modules
from waddlebot.router.activity import MessageCounts
from waddlebot.router.api import LocalIngress, router_api
from waddlebot.router.directory import Directory
from waddlebot.router.dispatch import ActionDispatcher
from waddlebot.router.executions import ExecutionLog
from waddlebot.router.executors import ExecutorFactory, GuardedExecutor
from waddlebot.router.host import TwitchFactory, build_host
from waddlebot.router.host_api import host_api
from waddlebot.router.limits import Limiter, LimitPolicy
from waddlebot.router.pipeline import Pipeline
from waddlebot.router.registry import CommandTable, sync_module_commands
from waddlebot.router.scheduled import ScheduledRuns
from waddlebot.router.worker import WorkerPool
from waddlebot.sdk import Module
from waddlebot.sdk.twitch import TwitchOperations
from waddlebot.stats.rollup import UsageRollups

logger = get_logger(__name__)


class RouterService(Service):
    name = "router"

    def __init__(
        self,
        modules: list[Module] | None = None,
        *,
        run_scheduler: bool = True,
        twitch: TwitchFactory | None = None,
    ) -> None:
        """``run_scheduler=False``: jobs run only when someone calls ``scheduler.run_due()``
        (the SDK test harness advances time that way). ``twitch`` builds the Helix calls
        modules get (``ctx.host.twitch()``); the app passes the Twitch collector's, so the
        router itself never imports a collector."""
        super().__init__()
        self.twitch = twitch
        self.twitch_operations: TwitchOperations | None = None
        self.run_scheduler = run_scheduler
        self.jobs: JobStore | None = None
        self.scheduler: Scheduler | None = None
        self.modules = modules if modules is not None else builtin_modules()
        self.table = CommandTable()
        self.executions: ExecutionLog | None = None
        self.messages: MessageCounts | None = None
        self.factory: ExecutorFactory | None = None
        self.executors: dict[str, GuardedExecutor] = {}
        self.subscribers: dict[str, list[str]] = {}
        self._runtime: Runtime | None = None

    def chat_api(self) -> APIRouter:
        return router_api()  # the ingress collectors in other processes post to

    def api(self) -> APIRouter:
        api = APIRouter()
        api.include_router(host_api())  # remote modules' storage
        for module in self.modules:  # built-in modules' own REST APIs
            if module.rest is not None:
                api.include_router(module.rest, prefix=f"/api/{module.name}/v1", tags=[module.name])
            if module.root is not None:  # root-level pages (OAuth callbacks)
                api.include_router(module.root, tags=[module.name])
        return api

    async def start(self, runtime: Runtime) -> None:
        settings = runtime.settings
        await sync_module_commands(runtime.db, self.modules)
        await self.table.load(runtime.db)
        self.jobs = job_store(runtime)
        self.twitch_operations = self.twitch(runtime) if self.twitch is not None else None
        host = build_host(runtime, self.table, self.jobs, self.twitch_operations)
        runtime.module_host = host  # sdk.web.host(): the same services for module routes
        self.table.audience_sources = {
            (module.name, event_type.value): partial(where, host)
            for module in self.modules
            for event_type, where in module.event_audiences.items()
        }
        await self.table.load_audiences()
        self.factory = ExecutorFactory(settings, host)
        self.executors = {m.name: self.factory.builtin(m) for m in self.modules}
        await self._sync_executors()
        self.executions = ExecutionLog(runtime.db)
        self.spawn("execution-log", self.executions.run)
        self.messages = MessageCounts(runtime.db, interval=settings.message_count_interval)
        self.spawn("message-counts", self.messages.run)
        rollups = UsageRollups(runtime.db, retention_days=settings.execution_retention_days)
        self.spawn("usage-rollup", rollups.run)  # daily roll-ups, then the retention prune
        dispatcher = ActionDispatcher(runtime.backend, outbound_max=settings.outbound_queue_max)
        pipeline = Pipeline(
            kv=runtime.backend.kv,
            directory=Directory(runtime.db, runtime.backend.kv),
            table=self.table,
            executors=self.executors,
            subscribers=self.subscribers,
            limiter=Limiter(
                runtime.backend.kv,
                LimitPolicy(
                    user_limit=settings.rate_limit_user,
                    entity_limit=settings.rate_limit_entity,
                    window=settings.rate_limit_window,
                ),
            ),
            dispatcher=dispatcher,
            executions=self.executions,
            messages=self.messages,
            module_timeout=settings.module_timeout,
            session_ttl=settings.session_ttl,
            refresh=lambda: self._refresh(runtime),
        )
        workers = WorkerPool(
            runtime.backend,
            pipeline,
            concurrency=settings.worker_slots,
            visibility_timeout=settings.router_visibility_timeout,
        )
        self.spawn("workers", workers.run)
        runtime.event_ingress = LocalIngress(runtime)  # collectors here skip HTTP to ourselves
        self._runtime = runtime
        queues = [EVENTS_QUEUE, *(outbound_queue(platform) for platform in Platform)]
        self.spawn("queue-gauges", QueueGauges(runtime.backend.queues, queues).run)
        self.spawn("command-reload", partial(self._reload_on_change, runtime))
        self.scheduler = Scheduler(
            self.jobs,
            ScheduledRuns(
                executors=self.executors,
                table=self.table,
                dispatcher=dispatcher,
                kv=runtime.backend.kv,
                module_timeout=settings.module_timeout,
            ),
            pubsub=runtime.backend.pubsub,
            poll_interval=settings.scheduler_poll_interval,
        )
        if self.run_scheduler:
            self.spawn("scheduler", self.scheduler.run_forever)
        log_event(
            logger,
            Category.SYSTEM,
            "router_started",
            "ok",
            commands=len(self.table),
            workers=settings.worker_slots,
        )

    async def stop(self) -> None:
        if self._runtime is not None:
            self._runtime.event_ingress = None
            self._runtime = None
        await super().stop()
        if self.executions is not None:
            await self.executions.stop()
        if self.messages is not None:
            await self.messages.stop()
        if self.factory is not None:
            await self.factory.aclose()
        closer = getattr(self.twitch_operations, "aclose", None)  # its HTTP client, if any
        if closer is not None:
            await closer()
        self.twitch_operations = None

    async def _reload_on_change(self, runtime: Runtime) -> None:
        async with runtime.backend.pubsub.subscribe(COMMANDS_CHANGED) as subscription:
            async for _ in changes(subscription):
                await self._refresh(runtime)

    async def _refresh(self, runtime: Runtime) -> None:
        await self.table.load(runtime.db)
        await self._sync_executors()

    async def _sync_executors(self) -> None:
        """Match executors and event subscriptions to the installed marketplace modules.

        Mutated in place (the pipeline holds these dicts); an unchanged module keeps its
        executor, so its circuit breaker and concurrency slots survive reloads.
        """
        assert self.factory is not None
        builtin = {module.name for module in self.modules}
        for name, manifest in self.table.remote.items():
            if name in builtin:
                continue
            current = self.executors.get(name)
            if current is not None and current.signature == self.factory.signature(manifest):
                continue
            try:
                self.executors[name] = self.factory.remote(manifest)
                if manifest.runtime == "lambda":
                    await self.factory.lambdas.client()  # boot it now, not inside a call's budget
            except ValueError as error:
                log_event(
                    logger,
                    Category.ERROR,
                    "executor",
                    "unavailable",
                    level="error",
                    module=name,
                    detail=str(error),
                )
                self.executors.pop(name, None)
        for name in [n for n in self.executors if n not in builtin and n not in self.table.remote]:
            del self.executors[name]
        subscribers: dict[str, list[str]] = {}
        for module in self.modules:
            for event_type in module.event_handlers:
                subscribers.setdefault(event_type.value, []).append(module.name)
        for name, manifest in self.table.remote.items():
            if name in self.executors and name not in builtin:
                for event_type in manifest.events:
                    subscribers.setdefault(event_type.value, []).append(name)
        self.subscribers.clear()
        self.subscribers.update(subscribers)
