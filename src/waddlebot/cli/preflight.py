"""What ``up`` and ``serve`` check before they print the banner or start a service, so an
operator's mistake ends in one line and a non-zero exit instead of a traceback later.

The rule for splitting services across processes: with the in-memory backend (no
``WADDLEBOT_REDIS_URL``) queues, pub/sub and the cache exist only inside one process, and every
service exchanges something through them with another one (see :data:`SHARED_THROUGH_BACKEND`).
So the in-memory backend means one process, ``waddlebot up``; ``serve`` needs Redis.
"""

from __future__ import annotations

import errno
import socket
from typing import NoReturn

import typer

from waddlebot.kernel.settings import Settings

# Why each service cannot run in a process of its own without a shared backend.
SHARED_THROUGH_BACKEND: dict[str, str] = {
    "router": "its replies reach the collectors through queues, overlays and command "
    "reloads through pub/sub",
    "playground": "the router's replies and outcomes reach it through a queue and pub/sub",
    "twitch": "the router's replies reach it through the outbound:twitch queue",
    "slack": "the router's replies reach it through the outbound:slack queue",
    "discord": "the router's replies reach it through the outbound:discord queue",
    "discord-gateway": "the replies to what it hands the router go out through the "
    "outbound:discord queue",
    "overlays": "overlay content and URL revocations reach it through pub/sub",
    "communities": "role and command changes reach the routers through the shared cache",
    "labels": "label changes reach the routers through the shared cache",
    "marketplace": "installs reach the routers through the shared cache and pub/sub",
    "identity": "link changes reach the routers through the shared cache",
    "accounts": "login sessions live in the shared cache, where the other services read them",
    "kong-broker": "API key creations and revocations wake it through pub/sub",
    "portal": "it reads login sessions from the shared cache, and its role, command and "
    "overlay changes reach the routers and overlay pages through the cache and pub/sub",
}

# Services that hand events to the router; alone in a process they need its address.
ROUTER_CALLERS = frozenset({"playground", "twitch", "slack", "discord", "discord-gateway"})

SETTINGS_EXIT = 2  # a setting is wrong (as click's usage errors)


def fail(message: str, code: int = 1) -> NoReturn:
    """Print one line on stderr and exit with ``code``."""
    typer.echo(message, err=True)
    raise typer.Exit(code)


def check_split(settings: Settings, service: str) -> None:
    """Refuse a ``serve`` that cannot work across processes with these settings."""
    why = SHARED_THROUGH_BACKEND.get(service)
    if why and not settings.redis_url:
        fail(
            f"waddlebot serve {service} needs WADDLEBOT_REDIS_URL: {why}, and without Redis "
            "those live inside one process (run everything in one process with waddlebot up)",
            SETTINGS_EXIT,
        )
    if service in ROUTER_CALLERS and not settings.router_url:
        fail(
            f"waddlebot serve {service} needs WADDLEBOT_ROUTER_URL (the address of "
            "waddlebot serve router, e.g. http://10.0.0.5:8001): it hands its events to the router",
            SETTINGS_EXIT,
        )
    if service == "kong-broker" and not settings.kong_admin_url:
        fail(
            "waddlebot serve kong-broker needs WADDLEBOT_KONG_ADMIN_URL (Kong's Admin API in "
            "database mode, e.g. http://kong:8001): it keeps Kong's consumers in step",
            SETTINGS_EXIT,
        )
    if service == "discord-gateway":
        from waddlebot.collectors.discord.config import DiscordSettings

        if not DiscordSettings().bot_token:
            fail(
                "waddlebot serve discord-gateway needs WADDLEBOT_DISCORD_BOT_TOKEN "
                "(the bot's token from the Discord developer portal)",
                SETTINGS_EXIT,
            )


def listen(host: str, port: int) -> socket.socket:
    """Bind the listening socket now, before any service starts, so a port in use (or an
    address this machine does not have) is one line and no half-started services."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            fail(
                f"cannot listen on {host}:{port}: the port is already in use (choose another "
                "with --port or WADDLEBOT_PORT, or stop what is using it)"
            )
        fail(
            f"cannot listen on {host}:{port}: {error.strerror or error} (--host or "
            "WADDLEBOT_HOST must be an address of this machine, e.g. 127.0.0.1 or 0.0.0.0)"
        )
    return sock
