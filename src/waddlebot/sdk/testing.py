"""Test a module through the real router pipeline, in memory, one line per test::

    from waddlebot.sdk.testing import ModuleHarness

    async def test_roll() -> None:
        async with ModuleHarness(module) as bot:
            assert await bot.reply("!roll 1") == "You rolled 1."

The harness starts the router and the playground collector in this process, with SQLite in a
temporary directory and the in-memory backend: each message goes collector → router ingress →
queue → worker → parser, permissions, cooldowns → your module → outbound queue → reply, exactly
as in production. The built-in ``core`` module is loaded too, so ``!help`` lists your commands.

Scheduled jobs (``ctx.schedule``) run only when the test says so, on the harness's clock::

    await bot.reply("!remind 60 stretch")      # schedules a job due in 60 s
    assert await bot.run_due(advance=59) == []
    assert await bot.run_due(advance=1) == ["stretch!"]
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from waddlebot.kernel.contracts import Event, EventType, Platform, Role, UserRef
from waddlebot.kernel.security.service_tokens import service_headers
from waddlebot.kernel.settings import Settings
from waddlebot.kernel.storage.module_store import DatabaseDataStore
from waddlebot.sdk.module import Module
from waddlebot.sdk.storage import ModuleStorage

PLAYGROUND_SERVER = "playground"


class ModuleHarness:
    """An in-memory WaddleBot hosting ``modules`` (plus ``core``); chat with it."""

    def __init__(
        self,
        *modules: Module,
        config: dict[str, Any] | None = None,
        with_core: bool = True,
        **settings: Any,
    ) -> None:
        from waddlebot.modules.core import module as core

        self.modules = list(modules)
        if with_core and all(m.name != core.name for m in self.modules):
            self.modules.insert(0, core)
        self._config = config
        self._settings = settings
        self._directory: Path | None = None
        self._lifespan: Any = None
        self.app: FastAPI | None = None
        self.client: httpx.AsyncClient | None = None
        self._offset = timedelta(0)

    async def __aenter__(self) -> ModuleHarness:
        from waddlebot.app import create_app
        from waddlebot.collectors.playground.service import PlaygroundService
        from waddlebot.router.service import RouterService

        self._directory = Path(tempfile.mkdtemp(prefix="waddlebot-harness-"))
        settings = Settings(
            **{
                "data_dir": self._directory,
                "secret_key": "harness",
                "log_format": "console",
                "log_level": "WARNING",
                # Generous on purpose: a module's tests often share a loaded CI machine, where
                # a reply (or a module that starts a tool process) can take seconds.
                "playground_reply_timeout": 20,
                "module_timeout": 15,
                **self._settings,
            }
        )
        self.router = RouterService(modules=self.modules, run_scheduler=False)
        self.app = create_app(settings, instances=[self.router, PlaygroundService()])
        self._lifespan = self.app.router.lifespan_context(self.app)
        await self._lifespan.__aenter__()
        assert self.router.jobs is not None
        self.router.jobs.clock = self.now
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app),
            base_url="http://harness",
            timeout=settings.playground_reply_timeout + 10,
        )
        if self._config is not None:
            for module in self.modules:
                if module.name != "core":
                    await self.configure(module, self._config)
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self.client is not None:
            await self.client.aclose()
        if self._lifespan is not None:
            await self._lifespan.__aexit__(kind, error, traceback)
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)

    @property
    def runtime(self) -> Any:
        assert self.app is not None, "use the harness in `async with`"
        return self.app.state.runtime

    # --- chatting -----------------------------------------------------------------------

    async def say(
        self,
        text: str,
        *,
        user: str = "alice",
        role: Role | str = Role.everyone,
        channel: str = "lobby",
    ) -> dict[str, Any]:
        """Send a chat message; the playground's answer: ``status`` and ``replies``."""
        assert self.client is not None, "use the harness in `async with`"
        name = role.name if isinstance(role, Role) else role
        answer = await self.client.post(
            "/api/playground/v1/messages",
            json={"channel": channel, "user": user, "role": name, "text": text},
            headers=service_headers(self.runtime.settings.resolved_secret_key, "harness"),
        )
        answer.raise_for_status()
        body: dict[str, Any] = answer.json()
        return body

    async def texts(self, text: str, **who: Any) -> list[str]:
        """The text of every reply (chat and whisper) to ``text``."""
        return [reply["text"] for reply in (await self.say(text, **who))["replies"]]

    async def reply(self, text: str, **who: Any) -> str:
        """The one reply to ``text`` (AssertionError when there is not exactly one)."""
        replies = await self.texts(text, **who)
        assert len(replies) == 1, f"expected one reply to {text!r}, got {replies!r}"
        return replies[0]

    async def event(
        self,
        type: EventType,
        *,
        user: str = "alice",
        channel: str = "lobby",
        data: dict[str, Any] | None = None,
    ) -> list[str]:
        """Deliver a non-command event (follow, raid, …); the replies it caused."""
        from waddlebot.collectors.playground.service import converse

        result = await converse(
            self.runtime,
            Event(
                type=type,
                platform=Platform.playground,
                server_id=PLAYGROUND_SERVER,
                channel_id=channel,
                channel_name=channel,
                user=UserRef(id=user, name=user),
                data=data or {},
            ),
        )
        return [reply.text for reply in result.replies]

    # --- scheduled jobs -----------------------------------------------------------------

    def now(self) -> datetime:
        """The harness's clock: real time plus every ``advance`` so far."""
        return datetime.now(UTC) + self._offset

    async def run_due(self, *, advance: float = 0.0) -> list[str]:
        """Move the clock ``advance`` seconds on, run every job due by then (through the
        real scheduler and module path), and return the text of what they said."""
        assert self.router.scheduler is not None, "use the harness in `async with`"
        self._offset += timedelta(seconds=advance)
        results = await self.router.scheduler.run_due()
        return [
            action.text
            for result in results
            for action in result.actions
            if action.type in ("chat", "whisper")
        ]

    async def job(self, job_id: str) -> Any:
        """A job's stored state (``status``, ``attempts``, ``due_at``, …), or None."""
        assert self.router.jobs is not None, "use the harness in `async with`"
        return await self.router.jobs.state(job_id)

    # --- the community's side -----------------------------------------------------------

    async def community_id(self, channel: str = "lobby") -> str:
        """The community of a playground channel (registered now if it is new)."""
        from waddlebot.router.directory import Directory

        place = await Directory(self.runtime.db, self.runtime.backend.kv).place(
            Event(platform=Platform.playground, server_id=PLAYGROUND_SERVER, channel_id=channel)
        )
        return place.community_id

    async def configure(
        self, module: Module, config: dict[str, Any], *, channel: str = "lobby"
    ) -> None:
        """Set the channel's community configuration of ``module`` (as an install would)."""
        from waddlebot.marketplace.catalogue import Catalogue
        from waddlebot.marketplace.models import ModuleInstall

        catalogue = Catalogue(self.runtime.db, self.runtime.backend)
        await catalogue.sync_builtins([module])
        community = await self.community_id(channel)
        async with self.runtime.db.session() as session:
            row = await session.scalar(
                select(ModuleInstall).where(
                    ModuleInstall.community_id == community,
                    ModuleInstall.module_name == module.name,
                )
            )
            if row is None:
                row = ModuleInstall(community_id=community, module_name=module.name)
                session.add(row)
            row.version, row.config, row.enabled = module.version, config, True
        await self.router.table.load(self.runtime.db)

    async def storage(self, module: Module, *, channel: str = "lobby") -> ModuleStorage:
        """``module``'s storage for the channel's community, to seed or inspect (the same
        database table and cache the module uses)."""
        store = DatabaseDataStore(self.runtime.db, self.runtime.backend.kv)
        return ModuleStorage(store, module.name, await self.community_id(channel))
