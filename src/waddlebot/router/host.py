"""The services modules get from their host (``ctx.host``, ``sdk.web.host()``), built once.

The router builds it for the modules it runs; a portal served alone (``waddlebot serve
portal``) builds the same one, so module pages (calendar, inventory…) manage through the same
managers, scheduler and labels as chat and REST instead of refusing without a router.
"""

from __future__ import annotations

from collections.abc import Callable

from waddlebot.aliases.manager import AliasManager
from waddlebot.communities.manager import CommunityManager
from waddlebot.custom_commands.manager import CustomCommandManager
from waddlebot.identity.manager import IdentityManager
from waddlebot.kernel.runtime import Runtime
from waddlebot.kernel.scheduler import JobStore
from waddlebot.kernel.scheduler.configured import job_store
from waddlebot.labels.manager import LabelManager
from waddlebot.router.executors import RouterHost
from waddlebot.router.registry import CommandTable
from waddlebot.sdk.twitch import TwitchOperations
from waddlebot.timers.manager import TimerManager

TwitchFactory = Callable[[Runtime], TwitchOperations | None]


def build_host(
    runtime: Runtime,
    table: CommandTable,
    jobs: JobStore,
    twitch: TwitchOperations | None = None,
) -> RouterHost:
    """The host of ``runtime``'s modules: storage, managers, scheduler, secrets, settings."""
    settings = runtime.settings
    backend = runtime.backend
    members = CommunityManager(
        runtime.db, backend.kv, backend.pubsub, default_timezone=settings.default_timezone
    )
    return RouterHost(
        table,
        runtime.db,
        backend.pubsub,
        backend.kv,
        identity=IdentityManager(
            runtime.db,
            backend,
            secret=settings.resolved_secret_key,
            outbound_max=settings.outbound_queue_max,
        ),
        members=members,
        labels=LabelManager(runtime.db, backend.kv, settings),
        aliases=AliasManager(runtime.db, backend.kv, backend.pubsub),
        timers=TimerManager(
            runtime.db,
            backend,
            min_interval=settings.timer_min_interval,
            queue_max=settings.router_queue_max,
        ),
        scheduler=jobs,
        custom_commands=CustomCommandManager(runtime.db, backend.kv, backend.pubsub),
        community=members,
        twitch=twitch,
        secrets=settings.secret_box,
        settings=settings,
    )


async def standalone_host(runtime: Runtime, twitch: TwitchFactory | None = None) -> RouterHost:
    """A host for a process without the router (the portal alone): the command table is
    loaded once from the database; jobs it schedules run in the routers' schedulers."""
    table = CommandTable()
    await table.load(runtime.db)
    return build_host(runtime, table, job_store(runtime), twitch(runtime) if twitch else None)
