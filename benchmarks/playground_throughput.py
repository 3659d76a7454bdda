"""Playground throughput: drive ``!ping`` through the full pipeline of a real WaddleBot process.

Each message goes playground HTTP → router ingress → queue → worker → ``core`` module →
outbound queue → playground sender → reply, exactly as a user of ``waddlebot up`` sees it.
``--kind chat`` sends plain chat lines instead (no command: what the router and the modules
listening to every chat line cost; nothing answers).
The server runs as a separate process on a free loopback port with a fresh data directory
(and, for ``--backend distributed``, a fresh PostgreSQL database and Redis namespace that are
removed afterwards). Run on demand; never part of the test suite::

    .venv/bin/python benchmarks/playground_throughput.py [--backend distributed] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import asdict, dataclass
from pathlib import Path

import aiohttp
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script: `benchmarks` is importable too

from benchmarks.cli import checked, parser_for, run_benchmark  # noqa: E402
from waddlebot.kernel.security.service_tokens import service_headers  # noqa: E402

WADDLEBOT = ROOT / ".venv" / "bin" / "waddlebot"
HOST = "127.0.0.1"
POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/14"
# What each kind of message is and the exact replies it must get: a command, or a plain
# chat line (no command; the modules listening to chat lines see it, nothing answers).
MESSAGES: dict[str, tuple[str, list[dict[str, str]]]] = {
    "ping": ("!ping", [{"type": "chat", "text": "pong"}]),
    "chat": ("just chatting, nothing to see here", []),
}
SOCKET_PATH = "/api/playground/v1/socket"
CHANNEL = "bench"
USERS = 50  # distinct users, so per-user limits and cooldowns never interfere
GENEROUS_LIMIT = "1000000"
STARTUP_TIMEOUT = 60.0
REQUEST_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
MAX_MESSAGES = 1_000_000
MAX_CONCURRENCY = 1_000
MAX_COMMANDS = 10_000
MAX_COMMUNITIES = 100_000


@dataclass(frozen=True)
class Result:
    """What one measured phase (one backend, one concurrency) achieved."""

    backend: str
    transport: str
    kind: str
    commands: int
    communities: int
    concurrency: int
    messages: int
    seconds: float
    messages_per_second: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    errors: int
    cpu_seconds: float
    cpu_seconds_per_message: float


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (all its threads), from ``/proc/<pid>/stat``."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # the command name may contain spaces
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list (0.0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


@asynccontextmanager
async def distributed_env(
    admin_url: str = POSTGRES_ADMIN_URL, redis_url: str = REDIS_URL
) -> AsyncIterator[dict[str, str]]:
    """A fresh PostgreSQL database (created through ``admin_url``, on the same server) and
    Redis namespace (on ``redis_url``), dropped and cleared on exit."""
    import asyncpg
    from sqlalchemy.engine import make_url

    from waddlebot.kernel.backends.redis import RedisBackend

    suffix = uuid.uuid4().hex[:12]
    database = f"wb_bench_{suffix}"
    namespace = f"wb-bench-{suffix}"
    server_url = make_url(admin_url).set(drivername="postgresql", database=database)
    admin = await asyncpg.connect(admin_url, timeout=10)
    try:
        await admin.execute(f'CREATE DATABASE "{database}"')
        try:
            yield {
                "WADDLEBOT_DATABASE_URL": server_url.render_as_string(hide_password=False),
                "WADDLEBOT_REDIS_URL": redis_url,
                "WADDLEBOT_REDIS_NAMESPACE": namespace,
            }
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            redis = RedisBackend.from_url(redis_url, namespace=namespace)
            try:
                await asyncio.wait_for(redis.drop_namespace(), timeout=30)
            finally:
                await redis.close()
    finally:
        await admin.close()


@contextmanager
def server_process(
    port: int, data_dir: Path, extra_env: dict[str, str], command: tuple[str, ...] = ("up",)
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``waddlebot up`` (or another ``command``: ``("serve", "router")``) on ``port``, its
    output in ``data_dir/server.log``; yield the process; always terminate and reap it."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("WADDLEBOT_")}
    env.update(
        {
            "WADDLEBOT_DATA_DIR": str(data_dir),
            "WADDLEBOT_LOG_LEVEL": "WARNING",
            "WADDLEBOT_RATE_LIMIT_USER": GENEROUS_LIMIT,
            "WADDLEBOT_RATE_LIMIT_ENTITY": GENEROUS_LIMIT,
            **extra_env,
        }
    )
    log_path = data_dir / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(WADDLEBOT), *command, "--host", HOST, "--port", str(port)],
            env=env,
            cwd=data_dir,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            yield process
        except BaseException:
            tail = log_path.read_text(errors="replace")[-4000:]
            print(f"--- server log (tail) ---\n{tail}\n---", file=sys.stderr)
            raise
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=STOP_TIMEOUT)


async def wait_healthy(client: httpx.AsyncClient, process: subprocess.Popen[bytes]) -> None:
    """Poll ``/healthz`` until it answers 200 (bounded by ``STARTUP_TIMEOUT``)."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited during start-up (code {process.returncode})")
        with suppress(httpx.TransportError):
            if (await client.get("/healthz", timeout=2.0)).status_code == 200:
                return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"/healthz did not answer within {STARTUP_TIMEOUT:g}s")


def channel_of(index: int, communities: int) -> str:
    """The channel of message ``index``: with more than one community, each message goes to
    the next one's channel in turn (every playground channel is a community of its own)."""
    return CHANNEL if communities <= 1 else f"{CHANNEL}-{index % communities}"


async def drive(
    client: httpx.AsyncClient,
    count: int,
    concurrency: int,
    offset: int,
    kind: str = "ping",
    communities: int = 1,
) -> tuple[list[float], int]:
    """Send ``count`` messages of ``kind`` from ``concurrency`` senders; latencies (s), errors."""
    text, expected = MESSAGES[kind]
    latencies: list[float] = []
    errors = 0
    next_index = 0

    async def sender() -> None:
        nonlocal next_index, errors
        while next_index < count:
            index = offset + next_index
            next_index += 1
            channel = channel_of(index, communities)
            body = {"channel": channel, "user": f"bench{index % USERS}", "text": text}
            started = time.perf_counter()
            try:
                answer = await client.post("/api/playground/v1/messages", json=body)
                ok = answer.status_code == 200 and answer.json().get("replies") == expected
            except (httpx.HTTPError, ValueError):
                ok = False
            if ok:
                latencies.append(time.perf_counter() - started)
            else:
                errors += 1

    async with asyncio.TaskGroup() as group:
        for _ in range(concurrency):
            group.create_task(sender())
    return latencies, errors


async def drive_socket(
    client: httpx.AsyncClient,
    count: int,
    concurrency: int,
    offset: int,
    kind: str = "ping",
    communities: int = 1,
) -> tuple[list[float], int]:
    """As :func:`drive`, over one playground WebSocket with ``concurrency`` frames in flight."""
    text, expected = MESSAGES[kind]
    url = str(client.base_url).replace("http://", "ws://").rstrip("/") + SOCKET_PATH
    headers = {"Authorization": client.headers["authorization"]}
    latencies: list[float] = []
    errors = 0
    window = asyncio.Semaphore(concurrency)
    sent: dict[str, float] = {}

    def frame(index: int) -> str:
        sent[str(index)] = time.perf_counter()
        return json.dumps(
            {
                "id": str(index),
                "channel": channel_of(index, communities),
                "user": f"bench{index % USERS}",
                "text": text,
            }
        )

    def check(raw: str | bytes) -> None:
        nonlocal errors
        answer = json.loads(raw)
        started = sent.pop(answer["id"])
        result = answer.get("result") or {}
        if result.get("replies") == expected:
            latencies.append(time.perf_counter() - started)
        else:
            errors += 1

    # aiohttp's WebSocket client, as the peers' benchmark uses (../shared/peer-bench)
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(url, headers=headers, max_msg_size=0) as socket,
    ):
        if concurrency == 1:  # send, wait, repeat in one task: the peers' serial client
            for n in range(count):
                await socket.send_str(frame(offset + n))
                check(await socket.receive_str(timeout=REQUEST_TIMEOUT))
            return latencies, errors

        async def reader() -> None:
            for _ in range(count):
                check(await socket.receive_str(timeout=REQUEST_TIMEOUT))
                window.release()

        reading = asyncio.create_task(reader())
        for n in range(count):
            await window.acquire()
            await socket.send_str(frame(offset + n))
        await reading
    return latencies, errors


async def measure(
    client: httpx.AsyncClient, pid: int, backend: str, concurrency: int, args: argparse.Namespace
) -> Result:
    """Warm up, then time ``args.messages`` messages at ``concurrency`` and read server CPU."""
    drive_with = drive_socket if args.transport == "socket" else drive
    spread = args.communities
    _, warmup_errors = await drive_with(
        client, args.warmup, concurrency, offset=0, kind=args.kind, communities=spread
    )
    if warmup_errors:
        print(f"warning: {warmup_errors} errors during warm-up", file=sys.stderr)
    cpu_before = cpu_seconds(pid)
    started = time.perf_counter()
    latencies, errors = await drive_with(
        client, args.messages, concurrency, offset=args.warmup, kind=args.kind, communities=spread
    )
    elapsed = time.perf_counter() - started
    cpu_used = cpu_seconds(pid) - cpu_before
    latencies.sort()
    return Result(
        backend=backend,
        transport=args.transport,
        kind=args.kind,
        commands=args.commands,
        communities=args.communities,
        concurrency=concurrency,
        messages=args.messages,
        seconds=round(elapsed, 3),
        messages_per_second=round(len(latencies) / elapsed, 1) if elapsed > 0 else 0.0,
        p50_ms=round(percentile(latencies, 0.50) * 1000, 2),
        p95_ms=round(percentile(latencies, 0.95) * 1000, 2),
        p99_ms=round(percentile(latencies, 0.99) * 1000, 2),
        errors=errors,
        cpu_seconds=round(cpu_used, 3),
        cpu_seconds_per_message=round(cpu_used / args.messages, 6),
    )


async def run(args: argparse.Namespace) -> list[Result]:
    """Start the server for ``args.backend`` and measure every requested concurrency."""
    concurrencies = [args.concurrency] if args.concurrency else [1, 10]
    results: list[Result] = []
    async with _backend_env(args.backend) as extra_env:
        port = free_port()
        with (
            tempfile.TemporaryDirectory(prefix="waddlebot-bench-") as tmp,
            server_process(port, Path(tmp), extra_env) as process,
        ):
            limits = httpx.Limits(max_connections=max(concurrencies), max_keepalive_connections=100)
            async with httpx.AsyncClient(
                base_url=f"http://{HOST}:{port}", timeout=REQUEST_TIMEOUT, limits=limits
            ) as client:
                await wait_healthy(client, process)
                # the operator's credential, made from the secret key as `waddlebot chat` does
                secret = (Path(tmp) / "secret.key").read_text().strip()
                client.headers.update(service_headers(secret, "bench"))
                if args.commands:
                    await install_commands(client, args.commands)
                if args.communities > 1:
                    await register_communities(client, args.communities)
                for concurrency in concurrencies:
                    result = await measure(client, process.pid, args.backend, concurrency, args)
                    results.append(result)
    return results


async def install_commands(client: httpx.AsyncClient, count: int) -> None:
    """Give the benchmark's community ``count`` extra custom commands (``!filler0`` …), so
    the table the router looks every message up in is as big as a busy community's."""
    await drive(client, 1, 1, offset=0, kind="chat")  # the first message registers the channel
    answer = await client.get("/api/communities/v1/communities")
    answer.raise_for_status()
    community = next(
        c["id"]
        for c in answer.json()
        if any(e["platform"] == "playground" and e["channel_id"] == CHANNEL for e in c["entities"])
    )
    path = f"/api/communities/v1/communities/{community}/custom-commands"
    for n in range(count):
        body = {"name": f"filler{n}", "response": f"filler {n} says {{user}} hi"}
        created = await client.post(path, json=body)
        if created.status_code != 201:
            raise RuntimeError(f"could not add !filler{n}: {created.status_code} {created.text}")


async def register_communities(client: httpx.AsyncClient, count: int) -> None:
    """One ``!ping`` in each of ``count`` channels first, so each is a registered community
    whose command path has been taken once before anything is measured: registration and a
    community's first command are first-sight costs, not per-message ones."""
    _, errors = await drive(client, count, 10, offset=0, kind="ping", communities=count)
    if errors:
        raise RuntimeError(f"{errors} of {count} channels could not be registered")


@asynccontextmanager
async def _backend_env(backend: str) -> AsyncIterator[dict[str, str]]:
    if backend == "distributed":
        async with distributed_env() as env:
            yield env
    else:
        yield {}


def markdown(results: list[Result]) -> str:
    """The results as a Markdown table for the README."""
    lines = [
        "| backend | transport | kind | extra commands | communities | concurrency | messages "
        "| msg/s "
        "| p50 ms | p95 ms | p99 ms | errors | server CPU ms/msg |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.backend} | {r.transport} | {r.kind} | {r.commands} | {r.communities} "
            f"| {r.concurrency} "
            f"| {r.messages} "
            f"| {r.messages_per_second:.1f} "
            f"| {r.p50_ms:.2f} | {r.p95_ms:.2f} | {r.p99_ms:.2f} | {r.errors} "
            f"| {r.cpu_seconds_per_message * 1000:.2f} |"
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = parser_for(__doc__)
    parser.add_argument("--messages", type=int, default=2000, help="measured messages per mode")
    parser.add_argument(
        "--concurrency", type=int, default=None, help="in-flight requests (default: 1 and 10)"
    )
    parser.add_argument("--warmup", type=int, default=50, help="unmeasured messages per mode")
    parser.add_argument("--backend", choices=["embedded", "distributed"], default="embedded")
    parser.add_argument(
        "--kind",
        choices=sorted(MESSAGES),
        default="ping",
        help="ping: the !ping command (default); chat: plain chat lines nobody answers",
    )
    parser.add_argument(
        "--transport",
        choices=["http", "socket"],
        default="http",
        help="http: one POST per message (default); socket: the playground WebSocket",
    )
    parser.add_argument(
        "--commands",
        type=int,
        default=0,
        help="extra custom commands installed in the community first (default 0)",
    )
    parser.add_argument(
        "--communities",
        type=int,
        default=1,
        help="communities the messages are spread over, each registered first (default 1)",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.messages <= MAX_MESSAGES:
        parser.error(f"--messages must be between 1 and {MAX_MESSAGES}")
    if args.concurrency is not None and not 1 <= args.concurrency <= MAX_CONCURRENCY:
        parser.error(f"--concurrency must be between 1 and {MAX_CONCURRENCY}")
    if not 0 <= args.commands <= MAX_COMMANDS:
        parser.error(f"--commands must be between 0 and {MAX_COMMANDS}")
    if not 1 <= args.communities <= MAX_COMMUNITIES:
        parser.error(f"--communities must be between 1 and {MAX_COMMUNITIES}")
    if not 0 <= args.warmup <= MAX_MESSAGES:
        parser.error(f"--warmup must be between 0 and {MAX_MESSAGES}")
    return checked(parser, args)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the table, optionally write JSON; non-zero exit on errors."""
    args = parse_args(argv)
    return run_benchmark(
        args,
        run,
        name="playground",
        waddlebot=WADDLEBOT,
        markdown=markdown,
        errors=lambda results: sum(r.errors for r in results),
        as_json=lambda results: {"warmup": args.warmup, "results": [asdict(r) for r in results]},
    )


if __name__ == "__main__":
    sys.exit(main())
