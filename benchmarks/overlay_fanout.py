"""Overlay fan-out: one ticker line to ``--clients`` WebSocket overlay clients of one community.

Starts a real ``waddlebot up`` (embedded by default; ``--redis URL --database URL``: the same
single process on PostgreSQL and Redis, in a fresh database and namespace removed afterwards),
registers a community with one playground chat line, reads its ticker overlay URL
(``GET /api/browser-sources/v1/communities/{id}/urls``) and opens ``--clients`` sockets on
``/ws/overlay/{token}?kind=ticker`` from this one asyncio process (``websockets``), each sending
the ``Origin`` a page served by the installation sends. Once every socket has its ``hello``,
``--rounds`` times: a unique ticker line is pushed through the REST API an operator or a tool
uses (``POST /api/browser-sources/v1/communities/{id}/display``, kind ``ticker``; it publishes
on ``overlay:<community>`` like a module's overlay action), and each client's latency is from
just before that POST to the moment the client's reader has the message. Every received line
must be exactly the one sent; a client that gets nothing within ``--wait`` seconds, or the
wrong text, is an error. Run on demand; never part of the test suite::

    .venv/bin/python benchmarks/overlay_fanout.py [--clients 1000] [--rounds 5] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import resource
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import websockets
from websockets.asyncio.client import ClientConnection

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script: `benchmarks` is importable too

from benchmarks.cli import add_distributed_options, checked, parser_for, run_benchmark  # noqa: E402
from benchmarks.ingress_batch import Failed, backend_env  # noqa: E402
from benchmarks.playground_throughput import (  # noqa: E402
    HOST,
    REQUEST_TIMEOUT,
    WADDLEBOT,
    cpu_seconds,
    free_port,
    percentile,
    server_process,
    wait_healthy,
)
from waddlebot.kernel.security.service_tokens import service_headers  # noqa: E402

CHANNEL = "bench-overlay"
OPENING = 50  # sockets opening at once
CONNECT_TIMEOUT = 30.0
MAX_CLIENTS = 20_000
MAX_ROUNDS = 1_000
FDS_PER_CLIENT = 1  # the client's socket; the server's end is in the server process


@dataclass(frozen=True)
class Round:
    """One ticker line and who got it how fast."""

    round: int
    clients: int
    received: int
    wrong: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    from_hub_p99_ms: float  # from the hub building the message (its sent_at) to receipt
    post_ms: float  # the REST call itself


@dataclass(frozen=True)
class Result:
    backend: str
    compression: str
    clients: int
    connected: int
    connect_seconds: float
    rounds: list[Round]
    received: int
    expected: int
    errors: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    from_hub_p50_ms: float
    from_hub_p99_ms: float
    server_cpu_ms_per_line: float
    client_cpu_ms_per_line: float  # this process: reading every socket's frame


class Client:
    """One overlay socket: its reader keeps every ticker text with the time it arrived."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.hello = asyncio.Event()
        # (perf_counter at receipt, seconds since the hub built the message, text)
        self.tickers: list[tuple[float, float, str]] = []
        self.arrived = asyncio.Event()
        self.reader = asyncio.create_task(self.read())

    async def read(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            await self._read()  # a closed socket is counted where its line does not arrive

    async def _read(self) -> None:
        async for raw in self.socket:
            now, wall = time.perf_counter(), time.time()
            message = json.loads(raw)
            kind = message.get("type")
            if kind == "ticker":
                built = datetime.fromisoformat(message["sent_at"]).timestamp()
                text = message.get("content", {}).get("text", "")
                self.tickers.append((now, wall - built, text))
                self.arrived.set()
            elif kind == "hello":
                self.hello.set()
            elif kind == "ping":  # the page answers the hub's keep-alive
                await self.socket.send(json.dumps({"type": "pong"}))

    async def close(self) -> None:
        self.reader.cancel()
        with contextlib.suppress(TimeoutError, websockets.WebSocketException, OSError):
            await asyncio.wait_for(self.socket.close(), 5)


def raise_fd_limit(clients: int) -> None:
    """Room for ``clients`` sockets plus what the process already uses."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = clients * FDS_PER_CLIENT + 256
    if soft != resource.RLIM_INFINITY and soft < wanted:
        if hard != resource.RLIM_INFINITY and hard < wanted:
            raise Failed(
                f"{clients} clients need {wanted} file descriptors; the hard limit is {hard}"
            )
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


async def ticker_url(client: httpx.AsyncClient) -> tuple[str, str]:
    """A community (registered by one chat line) and its ticker overlay's token."""
    body = {"channel": CHANNEL, "user": "bench", "text": "hello overlay"}
    said = await client.post("/api/playground/v1/messages", json=body)
    if said.status_code != 200:
        raise Failed(f"the playground answered {said.status_code}: {said.text[:200]}")
    answer = await client.get("/api/communities/v1/communities")
    answer.raise_for_status()
    community = next(
        (
            c["id"]
            for c in answer.json()
            if any(
                e["platform"] == "playground" and e["channel_id"] == CHANNEL for e in c["entities"]
            )
        ),
        None,
    )
    if community is None:
        raise Failed(f"no community holds the playground channel {CHANNEL!r}")
    urls = await client.get(f"/api/browser-sources/v1/communities/{community}/urls")
    if urls.status_code != 200:
        raise Failed(f"overlay URLs: {urls.status_code} {urls.text[:200]}")
    token = urlsplit(urls.json()["urls"]["ticker"]).path.rsplit("/", 1)[-1]
    return community, token


async def connect_all(base: str, token: str, count: int, compression: str) -> list[Client]:
    """Open ``count`` sockets (``OPENING`` at a time) and wait for each one's ``hello``."""
    url = base.replace("http://", "ws://") + f"/ws/overlay/{token}?kind=ticker"
    gate = asyncio.Semaphore(OPENING)
    clients: list[Client] = []

    async def one() -> None:
        async with gate:
            socket = await websockets.connect(
                url,
                origin=websockets.Origin(base),  # what a page served by the installation sends
                open_timeout=CONNECT_TIMEOUT,
                ping_interval=None,  # the hub pings at the application level
                max_queue=None,
                # browsers (OBS's too) offer permessage-deflate; "none" shows what it costs
                compression="deflate" if compression == "deflate" else None,
            )
            client = Client(socket)
            clients.append(client)
            await asyncio.wait_for(client.hello.wait(), CONNECT_TIMEOUT)

    results = await asyncio.gather(*(one() for _ in range(count)), return_exceptions=True)
    failures = [r for r in results if isinstance(r, BaseException)]
    if failures:
        for client in clients:
            await client.close()
        raise Failed(f"{len(failures)} of {count} sockets did not open: {failures[0]!r}")
    return clients


async def one_round(
    http: httpx.AsyncClient, community: str, clients: list[Client], number: int, wait: float
) -> tuple[Round, list[float], list[float], int]:
    """Push one unique ticker line; per-client latency (s) of the right text, and errors."""
    text = f"bench ticker {number} {uuid.uuid4().hex[:12]}"
    for client in clients:
        client.arrived.clear()
    seen = [len(client.tickers) for client in clients]
    action = {"type": "overlay", "kind": "ticker", "content": {"text": text}}
    started = time.perf_counter()
    answer = await http.post(
        f"/api/browser-sources/v1/communities/{community}/display", json=action
    )
    posted = time.perf_counter() - started
    if answer.status_code != 202 or answer.json().get("content", {}).get("text") != text:
        raise Failed(f"display answered {answer.status_code}: {answer.text[:200]}")

    async def arrived(client: Client, before: int) -> None:
        while len(client.tickers) <= before:
            client.arrived.clear()
            await client.arrived.wait()

    waits = [asyncio.create_task(arrived(c, n)) for c, n in zip(clients, seen, strict=True)]
    await asyncio.wait(waits, timeout=wait)
    for task in waits:
        task.cancel()
    latencies: list[float] = []
    from_hub: list[float] = []
    wrong = 0
    for client, before in zip(clients, seen, strict=True):
        new = client.tickers[before:]
        if not new:
            continue
        at, lag, got = new[0]
        if got != text or len(new) > 1:
            wrong += 1
        else:
            latencies.append(at - started)
            from_hub.append(lag)
    latencies.sort()
    from_hub.sort()
    result = Round(
        round=number,
        clients=len(clients),
        received=len(latencies),
        wrong=wrong,
        p50_ms=round(percentile(latencies, 0.50) * 1000, 2),
        p95_ms=round(percentile(latencies, 0.95) * 1000, 2),
        p99_ms=round(percentile(latencies, 0.99) * 1000, 2),
        max_ms=round(latencies[-1] * 1000, 2) if latencies else 0.0,
        from_hub_p99_ms=round(percentile(from_hub, 0.99) * 1000, 2),
        post_ms=round(posted * 1000, 2),
    )
    return result, latencies, from_hub, len(clients) - len(latencies)


async def run(args: argparse.Namespace) -> Result:
    backend = "distributed" if args.redis else "embedded"
    raise_fd_limit(args.clients)
    async with backend_env(args) as env:
        port = free_port()
        base = f"http://{HOST}:{port}"
        with (
            tempfile.TemporaryDirectory(prefix="waddlebot-overlay-") as tmp,
            server_process(port, Path(tmp), env) as process,
        ):
            async with httpx.AsyncClient(base_url=base, timeout=REQUEST_TIMEOUT) as http:
                await wait_healthy(http, process)
                secret = (Path(tmp) / "secret.key").read_text().strip()
                http.headers.update(service_headers(secret, "bench"))
                community, token = await ticker_url(http)
                opened = time.perf_counter()
                clients = await connect_all(base, token, args.clients, args.compression)
                connect_seconds = time.perf_counter() - opened
                try:
                    rounds: list[Round] = []
                    every: list[float] = []
                    every_from_hub: list[float] = []
                    errors = 0
                    cpu_before = cpu_seconds(process.pid)
                    own_before = time.process_time()
                    for number in range(1, args.rounds + 1):
                        result, latencies, from_hub, missed = await one_round(
                            http, community, clients, number, args.wait
                        )
                        rounds.append(result)
                        every += latencies
                        every_from_hub += from_hub
                        errors += missed
                        await asyncio.sleep(args.gap)
                    cpu_used = cpu_seconds(process.pid) - cpu_before
                    own_used = time.process_time() - own_before
                finally:
                    await asyncio.gather(*(client.close() for client in clients))
    every.sort()
    every_from_hub.sort()
    return Result(
        backend=backend,
        compression=args.compression,
        clients=args.clients,
        connected=len(clients),
        connect_seconds=round(connect_seconds, 3),
        rounds=rounds,
        received=len(every),
        expected=args.clients * args.rounds,
        errors=errors,
        p50_ms=round(percentile(every, 0.50) * 1000, 2),
        p95_ms=round(percentile(every, 0.95) * 1000, 2),
        p99_ms=round(percentile(every, 0.99) * 1000, 2),
        max_ms=round(every[-1] * 1000, 2) if every else 0.0,
        from_hub_p50_ms=round(percentile(every_from_hub, 0.50) * 1000, 2),
        from_hub_p99_ms=round(percentile(every_from_hub, 0.99) * 1000, 2),
        server_cpu_ms_per_line=round(cpu_used * 1000 / args.rounds, 2),
        client_cpu_ms_per_line=round(own_used * 1000 / args.rounds, 2),
    )


def markdown(result: Result) -> str:
    r = result
    lines = [
        "| backend | compression | clients | rounds | received | errors | p50 ms | p95 ms "
        "| p99 ms | max ms | from hub p50/p99 ms | connect s | server CPU ms/line "
        "| client CPU ms/line |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {r.backend} | {r.compression} | {r.connected} | {len(r.rounds)} "
        f"| {r.received}/{r.expected} "
        f"| {r.errors} | {r.p50_ms:.1f} | {r.p95_ms:.1f} | {r.p99_ms:.1f} | {r.max_ms:.1f} "
        f"| {r.from_hub_p50_ms:.1f}/{r.from_hub_p99_ms:.1f} | {r.connect_seconds:.1f} "
        f"| {r.server_cpu_ms_per_line:.1f} | {r.client_cpu_ms_per_line:.1f} |",
    ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = parser_for(__doc__)
    parser.add_argument("--clients", type=int, default=1000, help="overlay sockets")
    parser.add_argument("--rounds", type=int, default=5, help="ticker lines pushed, one by one")
    parser.add_argument("--gap", type=float, default=0.5, help="seconds between two rounds")
    parser.add_argument(
        "--wait", type=float, default=10.0, help="seconds a round waits for every client"
    )
    parser.add_argument(
        "--compression",
        choices=["deflate", "none"],
        default="deflate",
        help="offer permessage-deflate as browsers do (default) or not",
    )
    add_distributed_options(parser)
    args = parser.parse_args(argv)
    if not 1 <= args.clients <= MAX_CLIENTS:
        parser.error(f"--clients must be between 1 and {MAX_CLIENTS}")
    if not 1 <= args.rounds <= MAX_ROUNDS:
        parser.error(f"--rounds must be between 1 and {MAX_ROUNDS}")
    if not 0 <= args.gap <= 60 or not 0 < args.wait <= 120:
        parser.error("--gap must be in [0, 60] and --wait in (0, 120]")
    return checked(parser, args)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the table, optionally write JSON; non-zero exit on errors."""
    return run_benchmark(
        parse_args(argv),
        run,
        name="overlay",
        waddlebot=WADDLEBOT,
        markdown=markdown,
        errors=lambda result: result.errors,
        as_json=lambda result: {"result": asdict(result)},
        failures=(Failed, RuntimeError, httpx.HTTPError),
    )


if __name__ == "__main__":
    sys.exit(main())
