"""Twitch end to end, distributed: signed EventSub ``!ping`` → reply at a fake Helix.

Issue #16's goal 4. Starts, each as its own process on PostgreSQL + Redis (a fresh database
and namespace, removed afterwards): ``--routers`` router processes (``waddlebot serve
router``, default 2) and one Twitch collector (``waddlebot serve twitch``) whose Helix and
OAuth calls go to a fake Twitch on loopback (the test suite's ``FakeTwitch``, in a process of
its own so that it does not share a core's time with the load). The bot account is authorised
through the real OAuth flow. Then:

* **most in flight**: ``--concurrency`` clients POST ``channel.chat.message`` notifications
  signed exactly as Twitch signs them (HMAC-SHA256 over id + timestamp + raw body) to the
  collector's webhook, each as soon as its previous one is answered; the rate is the replies
  that reached the fake Helix per second, from the first POST to the last reply.
* **at a fixed rate**: ``--rate`` notifications per second (open loop, sent on schedule
  whatever the answers), latency = the reply's arrival at the fake Helix − the POST's start.

Every notification must be answered 204 and get exactly one reply ``pong`` in a thread under
its own message (``reply_parent_message_id``); anything else is an error. Redis round trips
and commands per notification come from ``waddlebot_redis_round_trips_total`` and
``waddlebot_redis_commands_total`` on every process's ``/metrics`` (the background loops'
idle rate, measured first, taken off); server CPU from ``/proc``. Run on demand::

    .venv/bin/python benchmarks/twitch_eventsub.py [--messages 3000] [--rate 300]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, asynccontextmanager, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import httpx
import uvicorn
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script: `benchmarks` and `tests` are importable too

from tests.collectors.twitch.fake_twitch import BOT, CLIENT_ID, CLIENT_SECRET, FakeTwitch  # noqa: E402
from tests.collectors.twitch.twitch_support import WEBHOOK, chat_event, signed_headers  # noqa: E402

from benchmarks.cli import checked, parser_for, run_benchmark  # noqa: E402
from benchmarks.playground_throughput import (  # noqa: E402
    GENEROUS_LIMIT,
    REQUEST_TIMEOUT,
    WADDLEBOT,
    cpu_seconds,
    distributed_env,
    free_port,
    percentile,
    server_process,
    wait_healthy,
)
from waddlebot.kernel.security.service_tokens import service_headers  # noqa: E402

EVENTSUB_SECRET = "bench-eventsub-secret-0123"
SECRET_KEY = "bench-secret-key"
CHATTERS = 50  # distinct chatters, registered during the warm-up
ROUND_TRIPS = "waddlebot_redis_round_trips_total"
COMMANDS = "waddlebot_redis_commands_total"
IDLE_SECONDS = 2.0
REPLY_TIMEOUT = 60.0  # seconds after the last POST for the last reply
MAX_MESSAGES = 1_000_000
MAX_CONCURRENCY = 1_000
MAX_RATE = 100_000.0


@dataclass(frozen=True)
class Result:
    """One measured mode."""

    mode: str  # "most in flight" or "fixed rate"
    offered: str  # "<C> in flight" or "<R>/s"
    messages: int
    replies_per_second: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    errors: int
    round_trips_per_message: float
    commands_per_message: float
    cpu_ms_per_message: dict[str, float]  # per process: router-1, router-2, twitch


class Failed(Exception):
    """A step of the benchmark failed; the message is the one line printed."""


@dataclass
class Notification:
    """A pre-built, signed ``channel.chat.message`` delivery."""

    chat_id: str
    body: bytes
    headers: dict[str, str]


def notification(chatter: int, channel: int) -> Notification:
    """A ``!ping`` from chatter ``chatter`` in channel ``channel``, signed as Twitch signs it,
    timestamped now."""
    who = {"id": str(900000 + chatter), "login": f"bench{chatter}", "display_name": f"b{chatter}"}
    where = {"id": str(800000 + channel), "login": f"channel{channel}", "display_name": "c"}
    chat_id = str(uuid.uuid4())
    payload = chat_event("!ping", chatter=who, message_id=chat_id, channel=where)
    body = json.dumps(payload).encode()
    headers = signed_headers(body, "channel.chat.message", secret=EVENTSUB_SECRET)
    return Notification(chat_id, body, headers)


class Replies:
    """The fake Helix's chat requests, read as replies to our notifications."""

    def __init__(self, fake: httpx.AsyncClient) -> None:
        self.fake = fake
        self.seen = 0  # chat requests already read
        self.at: dict[str, list[float]] = {}  # chat message id → arrival times of its replies
        self.wrong = 0  # replies that are not "pong" in a thread under one of ours

    async def collect(self, expected: set[str]) -> None:
        answer = await self.fake.get("/bench/chat", params={"since": self.seen})
        for request in answer.json():
            body = request["body"] or {}
            parent = body.get("reply_parent_message_id")
            if body.get("message") == "pong" and parent in expected:
                self.at.setdefault(parent, []).append(request["at"])
            else:
                self.wrong += 1
            self.seen += 1

    async def wait_for(self, expected: set[str], deadline: float) -> None:
        while True:
            await self.collect(expected)
            if all(key in self.at for key in expected) or time.monotonic() > deadline:
                return
            await asyncio.sleep(0.05)


def fake_twitch_app() -> FastAPI:
    """The fake Twitch, plus what the benchmark asks of it over HTTP: the chat messages it
    took (with their arrival on the machine's monotonic clock, which every process shares),
    and an authorisation code for the bot account."""
    fake = FakeTwitch()
    app = fake.app()

    @app.get("/bench/chat")
    async def chat(since: int = 0) -> list[dict[str, Any]]:
        return [{"body": r.body, "at": r.at} for r in fake.chat[since:]]

    @app.post("/bench/grant")
    async def grant() -> dict[str, str]:
        fake.grant_code("bench-code", BOT)
        return {}

    return app


def serve_fake(port: int) -> None:
    """``--serve-fake PORT``: run the fake Twitch until stopped."""
    uvicorn.run(fake_twitch_app(), host="127.0.0.1", port=port, log_level="warning")


async def scrape(client: httpx.AsyncClient) -> tuple[float, float]:
    """(Redis round trips, Redis commands) one process has sent so far."""
    answer = await client.get("/metrics", timeout=REQUEST_TIMEOUT)
    if answer.status_code != 200:
        raise Failed(f"/metrics answered {answer.status_code}")
    round_trips = commands = 0.0
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            if sample.name == ROUND_TRIPS:
                round_trips += sample.value
            elif sample.name == COMMANDS:
                commands += sample.value
    return round_trips, commands


class Stack:
    """The processes under test, their clients and the fake Twitch."""

    def __init__(
        self,
        fake: httpx.AsyncClient,
        clients: dict[str, httpx.AsyncClient],
        pids: dict[str, int],
    ) -> None:
        self.fake = fake
        self.clients = clients
        self.pids = pids
        self.twitch = clients["twitch"]
        # The load goes through aiohttp: httpx's own CPU per request (~1 ms here) made the
        # benchmark's client the slowest process of the run.
        self.webhook = aiohttp.ClientSession(
            base_url=str(self.twitch.base_url), connector=aiohttp.TCPConnector(limit=0)
        )
        self.idle_round_trips = self.idle_commands = 0.0  # per second, all processes

    async def counters(self) -> tuple[float, float, dict[str, float]]:
        """(round trips, commands) over every process, and each process's CPU seconds."""
        scraped = await asyncio.gather(*(scrape(c) for c in self.clients.values()))
        cpu = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        return sum(r for r, _ in scraped), sum(c for _, c in scraped), cpu

    async def measure_idle(self) -> None:
        start_rt, start_cmd, _ = await self.counters()
        began = time.monotonic()
        await asyncio.sleep(IDLE_SECONDS)
        end_rt, end_cmd, _ = await self.counters()
        seconds = time.monotonic() - began
        self.idle_round_trips = (end_rt - start_rt) / seconds
        self.idle_commands = (end_cmd - start_cmd) / seconds


async def post(session: aiohttp.ClientSession, item: Notification) -> bool:
    """POST one notification; True when the collector answered 204."""
    try:
        async with session.post(WEBHOOK, data=item.body, headers=item.headers) as answer:
            await answer.read()
            return answer.status == 204
    except (aiohttp.ClientError, TimeoutError):
        return False


async def run_mode(
    stack: Stack, mode: str, messages: int, concurrency: int, rate: float, channels: int
) -> Result:
    """Send ``messages`` notifications (``concurrency`` in flight, or ``rate`` per second)
    spread over ``channels``, and wait for every reply."""
    items = [notification(n % CHATTERS, n % channels) for n in range(messages)]
    expected = {item.chat_id for item in items}
    replies = Replies(stack.fake)
    await replies.collect(set())  # earlier replies are not this mode's
    replies.wrong = 0
    sent_at: dict[str, float] = {}
    refused = 0
    start_rt, start_cmd, start_cpu = await stack.counters()
    began = time.monotonic()

    async def send(item: Notification) -> None:
        nonlocal refused
        sent_at[item.chat_id] = time.monotonic()
        if not await post(stack.webhook, item):
            refused += 1

    if mode == "most in flight":
        queue = iter(items)

        async def client_loop() -> None:
            for item in queue:
                await send(item)

        await asyncio.gather(*(client_loop() for _ in range(concurrency)))
    else:
        tasks = []
        for index, item in enumerate(items):
            delay = began + index / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(send(item)))
        await asyncio.gather(*tasks)
    await replies.wait_for(expected, time.monotonic() + REPLY_TIMEOUT)
    arrivals = [min(times) for times in replies.at.values()]
    finished = max(arrivals) if arrivals else time.monotonic()
    end_rt, end_cmd, end_cpu = await stack.counters()
    seconds = max(finished - began, 1e-9)
    wall = time.monotonic() - began
    latencies = sorted(
        (min(times) - sent_at[chat_id]) * 1000 for chat_id, times in replies.at.items()
    )
    missing = len(expected) - len(replies.at)
    doubled = sum(len(times) - 1 for times in replies.at.values())
    return Result(
        mode=mode,
        offered=f"{concurrency} in flight" if mode == "most in flight" else f"{rate:g}/s",
        messages=messages,
        replies_per_second=len(replies.at) / seconds,
        p50_ms=percentile(latencies, 0.50) if latencies else 0.0,
        p99_ms=percentile(latencies, 0.99) if latencies else 0.0,
        max_ms=latencies[-1] if latencies else 0.0,
        errors=refused + missing + doubled + replies.wrong,
        round_trips_per_message=max(0.0, end_rt - start_rt - stack.idle_round_trips * wall)
        / messages,
        commands_per_message=max(0.0, end_cmd - start_cmd - stack.idle_commands * wall) / messages,
        cpu_ms_per_message={
            name: (end_cpu[name] - start_cpu[name]) * 1000 / messages for name in end_cpu
        },
    )


def twitch_env(fake_url: str, public_url: str) -> dict[str, str]:
    """The collector's Twitch settings: every call to the fake, pacing out of the way (the
    benchmark measures WaddleBot's path, not Twitch's chat limits)."""
    return {
        "WADDLEBOT_PUBLIC_URL": public_url,
        "WADDLEBOT_TWITCH_CLIENT_ID": CLIENT_ID,
        "WADDLEBOT_TWITCH_CLIENT_SECRET": CLIENT_SECRET,
        "WADDLEBOT_TWITCH_EVENTSUB_SECRET": EVENTSUB_SECRET,
        "WADDLEBOT_TWITCH_API_BASE": f"{fake_url}/helix",
        "WADDLEBOT_TWITCH_AUTH_BASE": f"{fake_url}/oauth2",
        "WADDLEBOT_TWITCH_CHAT_LIMIT": GENEROUS_LIMIT,
        "WADDLEBOT_TWITCH_CHAT_LIMIT_MODERATOR": GENEROUS_LIMIT,
        "WADDLEBOT_TWITCH_ACCOUNT_LIMIT": GENEROUS_LIMIT,
        "WADDLEBOT_TWITCH_REPLY_IN_THREAD": "true",
        "WADDLEBOT_TWITCH_RECONCILE_INTERVAL": "0",
    }


async def authorise_bot(twitch: httpx.AsyncClient, fake: httpx.AsyncClient) -> None:
    """The real authorisation-code flow: login redirect → (fake Twitch) → callback."""
    login = await twitch.get("/auth/twitch/login", headers=service_headers(SECRET_KEY, "bench"))
    if login.status_code != 302:
        raise Failed(f"/auth/twitch/login answered {login.status_code}: {login.text[:200]}")
    state = parse_qs(urlsplit(login.headers["location"]).query)["state"][0]
    await fake.post("/bench/grant")
    answer = await twitch.get(
        "/auth/twitch/callback", params={"code": "bench-code", "state": state}
    )
    if answer.status_code != 200:
        raise Failed(f"/auth/twitch/callback answered {answer.status_code}: {answer.text[:200]}")


@asynccontextmanager
async def stack_running(routers: int, base_env: dict[str, str]) -> AsyncIterator[Stack]:
    """The fake Twitch, ``routers`` routers and one Twitch collector, healthy."""
    with tempfile.TemporaryDirectory(prefix="wb-bench-twitch-") as tmp, ExitStack() as stack:
        fake_port = free_port()
        fake_url = f"http://127.0.0.1:{fake_port}"
        fake_process = stack.enter_context(fake_twitch_process(fake_port))
        env = {**base_env, "WADDLEBOT_SECRET_KEY": SECRET_KEY}
        ports = {f"router-{n + 1}": free_port() for n in range(routers)}
        ports["twitch"] = free_port()
        router_url = f"http://127.0.0.1:{ports['router-1']}"
        processes = {}
        clients: dict[str, httpx.AsyncClient] = {}
        fake = httpx.AsyncClient(base_url=fake_url, timeout=REQUEST_TIMEOUT)
        try:
            for name, port in ports.items():
                data_dir = Path(tmp) / name
                data_dir.mkdir()
                if name == "twitch":
                    extra = {**env, "WADDLEBOT_ROUTER_URL": router_url}
                    extra |= twitch_env(fake_url, f"http://127.0.0.1:{port}")
                    command: tuple[str, ...] = ("serve", "twitch")
                else:
                    extra, command = env, ("serve", "router")
                process = stack.enter_context(server_process(port, data_dir, extra, command))
                processes[name], clients[name] = process, _client(port)
                if name == "router-1":  # it migrates the fresh database; the rest need not wait
                    await wait_healthy(clients[name], process)
            for name, client in clients.items():
                await wait_healthy(client, processes[name])
            await _wait_for_fake(fake, fake_process)
            await authorise_bot(clients["twitch"], fake)
            running = Stack(fake, clients, {name: p.pid for name, p in processes.items()})
            try:
                yield running
            finally:
                await running.webhook.close()
        finally:
            for client in (*clients.values(), fake):
                await client.aclose()


@contextmanager
def fake_twitch_process(port: int) -> Iterator[subprocess.Popen[bytes]]:
    """This script with ``--serve-fake``: the fake Twitch in a process of its own."""
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve-fake", str(port)], stdin=subprocess.DEVNULL
    )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


async def _wait_for_fake(fake: httpx.AsyncClient, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        try:
            await fake.get("/bench/chat", params={"since": 0})
            return
        except httpx.TransportError:
            await asyncio.sleep(0.1)
    raise Failed("the fake Twitch did not start")


def _client(port: int) -> httpx.AsyncClient:
    limits = httpx.Limits(
        max_connections=MAX_CONCURRENCY, max_keepalive_connections=MAX_CONCURRENCY
    )
    return httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", timeout=REQUEST_TIMEOUT, limits=limits
    )


async def run(args: argparse.Namespace) -> list[Result]:
    base_env = {
        "WADDLEBOT_RATE_LIMIT_USER": GENEROUS_LIMIT,
        "WADDLEBOT_RATE_LIMIT_ENTITY": GENEROUS_LIMIT,
    }
    async with (
        distributed_env(args.database, args.redis) as env,
        stack_running(args.routers, {**base_env, **env}) as stack,
    ):
        warmup = min(args.messages, max(CHATTERS, args.channels))
        await run_mode(stack, "most in flight", warmup, min(args.concurrency, 10), 0, args.channels)
        await stack.measure_idle()
        return [
            await run_mode(
                stack, "most in flight", args.messages, args.concurrency, 0, args.channels
            ),
            await run_mode(stack, "fixed rate", args.messages, 0, args.rate, args.channels),
        ]


def markdown(results: list[Result]) -> str:
    """The results as a Markdown table for the README."""
    names = sorted(results[0].cpu_ms_per_message) if results else []
    lines = [
        "| mode | offered | messages | replies/s | p50 ms | p99 ms | max ms | errors "
        "| Redis round trips/msg | Redis commands/msg | "
        + " | ".join(f"CPU ms/msg {name}" for name in names)
        + " |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|" + "---:|" * len(names),
    ]
    for r in results:
        cpu = " | ".join(f"{r.cpu_ms_per_message[name]:.2f}" for name in names)
        lines.append(
            f"| {r.mode} | {r.offered} | {r.messages} | {r.replies_per_second:.0f} "
            f"| {r.p50_ms:.1f} | {r.p99_ms:.1f} | {r.max_ms:.1f} | {r.errors} "
            f"| {r.round_trips_per_message:.1f} | {r.commands_per_message:.1f} | {cpu} |"
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = parser_for(__doc__)
    parser.add_argument("--messages", type=int, default=3000, help="notifications per mode")
    parser.add_argument("--concurrency", type=int, default=50, help="in flight, first mode")
    parser.add_argument("--rate", type=float, default=300.0, help="per second, second mode")
    parser.add_argument("--routers", type=int, default=2, help="router processes (default 2)")
    parser.add_argument(
        "--channels",
        type=int,
        default=50,
        help="Twitch channels the chatters are spread over (default 50): one channel's"
        " replies go out one after another, in order",
    )
    parser.add_argument(
        "--database",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="PostgreSQL admin URL: a fresh database is made beside it and dropped after",
    )
    parser.add_argument(
        "--redis",
        default="redis://127.0.0.1:6379/14",
        help="Redis URL: a fresh namespace is used and cleared after",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.messages <= MAX_MESSAGES:
        parser.error(f"--messages must be between 1 and {MAX_MESSAGES}")
    if not 1 <= args.concurrency <= MAX_CONCURRENCY:
        parser.error(f"--concurrency must be between 1 and {MAX_CONCURRENCY}")
    if not 0 < args.rate <= MAX_RATE:
        parser.error(f"--rate must be in (0, {MAX_RATE:g}]")
    if not 1 <= args.channels <= 10_000:
        parser.error("--channels must be between 1 and 10000")
    if not 1 <= args.routers <= 8:
        parser.error("--routers must be between 1 and 8")
    return checked(parser, args)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the table, optionally write JSON; non-zero exit on errors."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--serve-fake"]:
        serve_fake(int(argv[1]))
        return 0
    args = parse_args(argv)
    return run_benchmark(
        args,
        run,
        name="Twitch",
        waddlebot=WADDLEBOT,
        markdown=markdown,
        errors=lambda results: sum(r.errors for r in results),
        as_json=lambda results: {
            "routers": args.routers,
            "results": [asdict(r) for r in results],
        },
        # PostgreSQL away, a server that did not start
        failures=(Failed, OSError, RuntimeError),
        failure_code=4,
    )


if __name__ == "__main__":
    sys.exit(main())
