"""Test support: a real HTTP server on loopback and a module exercising every router path."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import httpx
import structlog
import uvicorn
from fastapi import APIRouter, FastAPI
from sqlalchemy import delete, select, text

from waddlebot.app import create_app
from waddlebot.collectors.playground.service import PlaygroundService
from waddlebot.kernel.backends import Backend
from waddlebot.kernel.contracts import EventType, Role
from waddlebot.kernel.security.rbac import access_changed
from waddlebot.kernel.security.service_tokens import service_headers
from waddlebot.kernel.service import Service
from waddlebot.kernel.settings import Settings
from waddlebot.kernel.storage import Database
from waddlebot.kernel.storage.models import Entity, Membership, PlatformIdentity, User
from waddlebot.kernel.storage.replicas import primary_lsn
from waddlebot.modules.core import module as core
from waddlebot.router.api import router_api
from waddlebot.router.service import RouterService
from waddlebot.sdk import CommandError, Context, Module

testkit = Module("testkit", description="Commands that exercise the router's paths.")


@testkit.command("modonly", min_role=Role.moderator, description="Moderators only.")
async def modonly(ctx: Context) -> None:
    ctx.reply("secret moderator stuff")


@testkit.command("boom", description="Always fails.")
async def boom(ctx: Context) -> None:
    raise RuntimeError("kaboom")


@testkit.command("slow", description="Never answers in time.")
async def slow(ctx: Context) -> None:
    await asyncio.sleep(30)


@testkit.command("refuse", description="Refuses politely.")
async def refuse(ctx: Context) -> None:
    raise CommandError("usage: !refuse <nothing>")


@testkit.command("cool", user_cooldown=60, description="Has a 60 s user cooldown.")
async def cool(ctx: Context) -> None:
    ctx.reply("cool")


@testkit.command("echo", description="Echo arguments separated by |.")
async def echo(ctx: Context) -> None:
    ctx.reply("|".join(ctx.args) or "(nothing)")


@testkit.command("whisperme", description="Whisper and reply.")
async def whisperme(ctx: Context) -> None:
    ctx.whisper("psst")
    ctx.reply("sent you a whisper")


@testkit.command("show", description="Push an overlay ticker.")
async def show(ctx: Context) -> None:
    ctx.overlay("ticker", {"text": " ".join(ctx.args)})
    ctx.reply("shown")


@testkit.command("tune", permission="commands.manage", description="Needs commands.manage.")
async def tune(ctx: Context) -> None:
    ctx.reply("tuned")


@testkit.command("mine", description="What the router told me about you here.")
async def mine(ctx: Context) -> None:
    ctx.reply(f"labels={','.join(ctx.labels)} perms={','.join(sorted(ctx.permissions))}")


@testkit.subcommand("kit", "look", description="Anyone.")
async def kit_look(ctx: Context) -> None:
    ctx.reply("looked")


@testkit.subcommand("kit", "fix", permission="labels.manage", description="Needs labels.manage.")
async def kit_fix(ctx: Context) -> None:
    ctx.reply("fixed")


@testkit.on_event(EventType.follow)
async def followed(ctx: Context) -> None:
    user = ctx.request.event.user
    ctx.reply(f"thanks for the follow, {user.name if user else 'friend'}!")


class IngressOnly(Service):
    """The router's HTTP surface without its workers, so the queue only fills."""

    name = "router"

    def api(self) -> APIRouter:
        return router_api()


def build_app(
    settings: Settings, *, with_testkit: bool = True, backend: Backend | None = None
) -> FastAPI:
    modules = [core, testkit] if with_testkit else [core]
    return create_app(
        settings,
        instances=[RouterService(modules=modules), PlaygroundService()],
        backend=backend,
    )


@dataclass
class LiveServer:
    """A WaddleBot app served by uvicorn on a free loopback port, in this event loop."""

    app: FastAPI
    url: str
    client: httpx.AsyncClient

    async def say(
        self, text: str, *, user: str = "alice", role: str = "everyone", channel: str = "lobby"
    ) -> dict[str, Any]:
        answer = await self.client.post(
            "/api/playground/v1/messages",
            json={"channel": channel, "user": user, "role": role, "text": text},
            headers=self.operator,
        )
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    @property
    def operator(self) -> dict[str, str]:
        """Headers of the installation's operator (a service token, as ``waddlebot chat``)."""
        return service_headers(self.app.state.runtime.settings.resolved_secret_key, "test")

    async def texts(self, text: str, **who: str) -> list[str]:
        return [reply["text"] for reply in (await self.say(text, **who))["replies"]]


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@asynccontextmanager
async def serve_asgi(
    app: Any, *, port: int = 0, lifespan: Literal["on", "off"] = "off"
) -> AsyncIterator[str]:
    """Serve ``app`` with uvicorn on 127.0.0.1 in this event loop; yields its base URL."""
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_config=None,
        lifespan=lifespan,
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("server stopped during start-up")
            await asyncio.sleep(0.01)
        bound = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{bound}"
    finally:
        server.should_exit = True
        await _stopped(server, task)


STOP_WITHIN = 60.0  # seconds a test server gets to stop before it is forced


async def _stopped(server: uvicorn.Server, task: asyncio.Task[None]) -> None:
    """Wait for the server to stop; one that has not after ``STOP_WITHIN`` (seen once in CI, a
    module-scoped stack whose shutdown never reached its lifespan) is forced, then cancelled,
    with a line on stderr, so one stuck teardown does not eat pytest's whole timeout."""
    done, _ = await asyncio.wait({task}, timeout=STOP_WITHIN)
    if done:
        task.result()
        return
    print(f"test server still stopping after {STOP_WITHIN:g} s: forcing it", file=sys.stderr)
    server.force_exit = True
    done, _ = await asyncio.wait({task}, timeout=10)
    if not done:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@contextmanager
def serve_in_thread(app: Any) -> Iterator[str]:
    """Serve ``app`` (lifespan on) with uvicorn in a thread of its own; yields its base URL.
    For synchronous drivers (hypothesis, schemathesis) that cannot share this event loop."""
    config = uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_config=None)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    try:
        while not server.started:
            assert thread.is_alive(), "the server stopped during start-up"
            assert time.monotonic() < deadline, "the server did not start within 60 s"
            time.sleep(0.02)
        yield f"http://127.0.0.1:{config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@asynccontextmanager
async def live_server(app: FastAPI, *, port: int = 0) -> AsyncIterator[LiveServer]:
    """A WaddleBot app (lifespan on) over real HTTP on loopback, with a client for it."""
    async with (
        serve_asgi(app, port=port, lifespan="on") as url,
        httpx.AsyncClient(base_url=url, timeout=30.0) as client,
    ):
        yield LiveServer(app=app, url=url, client=client)


# --- communities, people and keys (shared by the access tests) ----------------------


async def community_of(bot: LiveServer, channel: str = "lobby") -> str:
    """The community of a playground channel (registered by a first message)."""
    await bot.texts("hello", user="someone", channel=channel)
    async with bot.app.state.runtime.db.session() as session:
        found = await session.scalar(
            select(Entity.community_id).where(Entity.channel_id == channel)
        )
    assert found is not None
    return str(found)


async def chatter(bot: LiveServer, name: str, channel: str = "lobby") -> str:
    """The user id of a playground chatter (who says hello first, so the bot knows them)."""
    await bot.texts("hello", user=name, channel=channel)
    async with bot.app.state.runtime.db.session() as session:
        found = await session.scalar(
            select(PlatformIdentity.user_id).where(
                PlatformIdentity.platform == "playground",
                PlatformIdentity.platform_user_id == name,
            )
        )
    assert found is not None
    return str(found)


async def set_role(bot: LiveServer, community_id: str, user_id: str, role: str | None) -> None:
    """Set (or with None remove) a membership directly, then announce the change."""
    runtime = bot.app.state.runtime
    async with runtime.db.session() as session:
        await session.execute(
            delete(Membership).where(
                Membership.community_id == community_id, Membership.user_id == user_id
            )
        )
        if role is not None:
            session.add(Membership(community_id=community_id, user_id=user_id, role=role))
    await access_changed(runtime.backend.kv, community_id)


async def person(bot: LiveServer, name: str) -> str:
    """A person known only to the portal (no platform account)."""
    async with bot.app.state.runtime.db.session() as session:
        row = User(display_name=name)
        session.add(row)
    return row.id


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@contextmanager
def kept_logging_state() -> Iterator[None]:
    """Put the process-wide logging state back afterwards: the root handlers and level, and
    structlog's configuration with its processor list's contents restored in place (cached
    loggers hold that list, so it must stay the same object)."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    config = structlog.get_config()
    processors = config["processors"]
    chain = list(processors)
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        processors[:] = chain
        structlog.configure(**{**config, "processors": processors})


async def replicas_caught_up(database: Database, timeout: float = 10.0) -> None:
    """Wait until every read replica of ``database`` has replayed what the primary has now:
    for a test that writes from one task and reads from another, where the product accepts a
    replica's lag and a test cannot."""
    if not database.replicas or database.dialect != "postgresql":
        return
    target = await primary_lsn(database.engine)
    deadline = time.monotonic() + timeout
    for engine in database.replicas:
        while True:
            async with engine.connect() as connection:
                replayed = await connection.scalar(
                    text("SELECT pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '0/0')::bigint")
                )
            if replayed is not None and int(replayed) >= target:
                break
            assert time.monotonic() < deadline, f"a replica has not replayed {target}"
            await asyncio.sleep(0.05)
