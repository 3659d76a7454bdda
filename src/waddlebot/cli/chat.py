"""The terminal chat: a REPL over the playground API of a running or embedded WaddleBot."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from waddlebot.kernel.security.service_tokens import service_token
from waddlebot.kernel.settings import Settings

PROMPT = "> "
PATH = "/api/playground/v1/messages"
POLL_SECONDS = 1.0  # how often the chat asks for what the bot said on its own


def channel_path(channel: str) -> str:
    return f"/api/playground/v1/channels/{channel}/messages"


def credential(settings: Settings, api_key: str | None) -> str:
    """What the chat signs in with: the given key, or a service token made from the secret
    key (whoever can read the data directory's secret key operates this installation)."""
    return api_key or service_token(settings.resolved_secret_key, "chat")


@asynccontextmanager
async def _connect(
    settings: Settings, url: str | None, api_key: str | None
) -> AsyncIterator[httpx.AsyncClient]:
    """A client for a running server, or for an embedded one started just for this chat."""
    target = url or f"http://{settings.host}:{settings.port}"
    headers = {"Authorization": f"Bearer {credential(settings, api_key)}"}
    async with httpx.AsyncClient(base_url=target, timeout=30.0, headers=headers) as client:
        try:
            await client.get("/healthz")
        except httpx.TransportError:
            if url is not None:
                raise SystemExit(f"no WaddleBot answers at {url}") from None
        else:
            yield client
            return
    from waddlebot.app import create_app

    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 0))
        async with httpx.AsyncClient(
            transport=transport, base_url="http://127.0.0.1", timeout=30.0, headers=headers
        ) as client:
            yield client


async def _read_line() -> str | None:
    line = await asyncio.to_thread(sys.stdin.readline)
    return line if line else None


def _show(reply: dict[str, Any], interactive: bool) -> None:
    marker = "(whisper) " if reply["type"] == "whisper" else ""
    prefix = "\r" if interactive else ""
    print(f"{prefix}bot: {marker}{reply['text']}", flush=True)


async def _cursor(client: httpx.AsyncClient, channel: str) -> int | None:
    """Where the channel's history stands now; None when the server has no such endpoint."""
    try:
        answer = await client.get(channel_path(channel))
    except httpx.HTTPError:
        return None
    return int(answer.json()["cursor"]) if answer.status_code == 200 else None


async def _watch(client: httpx.AsyncClient, channel: str, cursor: int, interactive: bool) -> None:
    """Print what the bot posts into the channel on its own (scheduled jobs, late replies)
    while the user types."""
    while True:
        await asyncio.sleep(POLL_SECONDS)
        try:
            answer = await client.get(channel_path(channel), params={"after": cursor})
        except httpx.HTTPError:
            continue
        if answer.status_code != 200:
            continue
        body = answer.json()
        for message in body["messages"]:
            _show(message, interactive)
        if body["messages"] and interactive:
            print(PROMPT, end="", flush=True)
        cursor = body["cursor"]


async def run_chat(
    settings: Settings,
    *,
    user: str,
    role: str,
    channel: str,
    url: str | None,
    api_key: str | None = None,
) -> int:
    """Read lines, send each as ``user`` with ``role`` in ``channel``, print the replies;
    meanwhile print what the bot posts into the channel on its own."""
    interactive = sys.stdin.isatty()
    async with _connect(settings, url, api_key) as client:
        if interactive:
            print(f"Chatting in #{channel} as {user} ({role}). Try !help. Ctrl-D to leave.")
        cursor = await _cursor(client, channel)
        watcher = None
        if cursor is not None:
            watcher = asyncio.create_task(_watch(client, channel, cursor, interactive))
        try:
            return await _converse(client, user=user, role=role, channel=channel)
        finally:
            if watcher is not None:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await watcher


async def _converse(client: httpx.AsyncClient, *, user: str, role: str, channel: str) -> int:
    interactive = sys.stdin.isatty()
    while True:
        if interactive:
            print(PROMPT, end="", flush=True)
        line = await _read_line()
        if line is None:
            return 0
        text = line.strip()
        if not text:
            continue
        answer = await client.post(
            PATH, json={"channel": channel, "user": user, "role": role, "text": text}
        )
        if answer.status_code != 200:
            detail = answer.json().get("detail", answer.text)
            print(f"! {detail}", flush=True)
            continue
        for reply in answer.json()["replies"]:
            _show(reply, interactive=False)
