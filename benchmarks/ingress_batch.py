"""Batch ingress: ``EventBatch``es of chat lines into ``POST /api/router/v1/events``.

Starts a real ``waddlebot up`` (embedded by default; ``--redis URL --database URL``: the same
single process on PostgreSQL and Redis, in a fresh database and namespace removed afterwards),
then ``--concurrency`` clients POST pre-built batches of ``--batch`` plain chat lines (no
commands) with the service token a collector presents, until ``--events`` are accepted.

Two rates, both from the same start: *accepted* (the last 202 arrived) and *processed* (the
router's workers finished every one of them: ``waddlebot_events_processed_total`` on
``/metrics`` grew by exactly ``--events``, and the ``router:events`` queue depth is back at 0).
A 429 (queue full) is waited out for its ``Retry-After`` and counted, not an error; any other
answer, an accepted id that is not the one sent, or a processed count that differs from the
accepted one is an error. Run on demand; never part of the test suite::

    .venv/bin/python benchmarks/ingress_batch.py [--events 50000] [--batch 100] [--concurrency 10]
    .venv/bin/python benchmarks/ingress_batch.py --redis redis://127.0.0.1:6379/10 \\
        --database postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script: `benchmarks` is importable too

from benchmarks.cli import add_distributed_options, checked, parser_for, run_benchmark  # noqa: E402
from benchmarks.playground_throughput import (  # noqa: E402
    HOST,
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

INGRESS = "/api/router/v1/events"
PROCESSED = "waddlebot_events_processed_total"
DEPTH = "waddlebot_queue_depth"
EVENTS_QUEUE = "router:events"
PLATFORM = "playground"
SERVER_ID = "bench-ingress"
CHANNEL = "bench-ingress"
USERS = 50
TEXT = "just chatting, nothing to see here"
POLL = 0.1  # seconds between two reads of /metrics while waiting for the workers
STALL_TIMEOUT = 60.0  # no event processed for this long: give up
MAX_EVENTS = 10_000_000
MAX_BATCH = 100  # EventBatch's limit
MAX_CONCURRENCY = 1_000


@dataclass(frozen=True)
class Result:
    """One measured run."""

    backend: str
    events: int
    batch: int
    concurrency: int
    workers: int | None  # None: the product's default
    queue_max: int | None
    accepted_seconds: float
    accepted_per_second: float
    processed_seconds: float
    processed_per_second: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    requests: int
    retried_429: int
    errors: int
    processed: int
    processed_by_status: dict[str, int]
    cpu_seconds: float
    cpu_ms_per_event: float


class Failed(Exception):
    """A step of the benchmark failed; the message is the one line printed."""


def build_batches(count: int, size: int, round_tag: str) -> list[tuple[list[str], bytes]]:
    """``count`` events of plain chat in batches of ``size``: each batch's ids and JSON body."""
    now = datetime.now(UTC).isoformat()
    batches: list[tuple[list[str], bytes]] = []
    for start in range(0, count, size):
        events: list[dict[str, Any]] = []
        for index in range(start, min(start + size, count)):
            user = f"bench{index % USERS}"
            events.append(
                {
                    "id": f"{round_tag}-{index}",
                    "type": "message",
                    "platform": PLATFORM,
                    "server_id": SERVER_ID,
                    "channel_id": CHANNEL,
                    "channel_name": CHANNEL,
                    "user": {"id": user, "name": user},
                    "text": TEXT,
                    "received_at": now,
                    # as the Twitch, Slack and Discord gateway collectors send chat: nobody
                    # waits for the outcome, so the router publishes none
                    "outcome_wanted": False,
                }
            )
        batches.append(([e["id"] for e in events], json.dumps(events).encode()))
    return batches


async def scrape(client: httpx.AsyncClient) -> tuple[dict[str, int], float | None]:
    """Events processed so far on ``PLATFORM`` by status, and the router queue's depth."""
    answer = await client.get("/metrics", timeout=REQUEST_TIMEOUT)
    if answer.status_code != 200:
        raise Failed(f"/metrics answered {answer.status_code}")
    processed: dict[str, int] = {}
    depth: float | None = None
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            if sample.name == PROCESSED and sample.labels.get("platform") == PLATFORM:
                status = sample.labels.get("status", "?")
                processed[status] = processed.get(status, 0) + int(sample.value)
            elif sample.name == DEPTH and sample.labels.get("queue") == EVENTS_QUEUE:
                depth = sample.value
    return processed, depth


def delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}


async def send_all(
    client: httpx.AsyncClient, batches: list[tuple[list[str], bytes]], concurrency: int
) -> tuple[list[float], int, int, int]:
    """POST every batch from ``concurrency`` senders; latencies of the 202s (s), 429s waited
    out, errors, requests made."""
    latencies: list[float] = []
    retried = errors = requests = 0
    next_batch = 0
    headers = {"Content-Type": "application/json"}

    async def sender() -> None:
        nonlocal next_batch, retried, errors, requests
        while next_batch < len(batches):
            ids, body = batches[next_batch]
            next_batch += 1
            while True:
                requests += 1
                started = time.perf_counter()
                try:
                    answer = await client.post(INGRESS, content=body, headers=headers)
                except httpx.HTTPError:
                    errors += 1
                    break
                elapsed = time.perf_counter() - started
                if answer.status_code == 429:
                    retried += 1
                    await asyncio.sleep(float(answer.headers.get("Retry-After", "1")))
                    continue
                if answer.status_code == 202 and answer.json().get("accepted") == ids:
                    latencies.append(elapsed)
                else:
                    errors += 1
                break

    async with asyncio.TaskGroup() as group:
        for _ in range(concurrency):
            group.create_task(sender())
    return latencies, retried, errors, requests


async def wait_processed(
    client: httpx.AsyncClient, before: dict[str, int], expected: int
) -> tuple[dict[str, int], float]:
    """Poll ``/metrics`` until ``expected`` more events are processed and the queue is empty;
    the processed counts by status and when (perf_counter) the count was first reached."""
    reached: float | None = None
    last_total, last_progress = -1, time.monotonic()
    while True:
        processed, depth = await scrape(client)
        now = time.perf_counter()
        grown = delta(processed, before)
        total = sum(grown.values())
        if total > expected:
            raise Failed(f"{total} events processed for {expected} accepted (duplicates?)")
        if total == expected and reached is None:
            reached = now
        if reached is not None and (depth is None or depth == 0):
            return grown, reached
        if total != last_total:
            last_total, last_progress = total, time.monotonic()
        elif time.monotonic() - last_progress > STALL_TIMEOUT:
            raise Failed(
                f"the workers stalled at {total} of {expected} processed events "
                f"(queue depth {depth}) for {STALL_TIMEOUT:g}s"
            )
        await asyncio.sleep(POLL)


async def measure(
    client: httpx.AsyncClient, pid: int, backend: str, args: argparse.Namespace
) -> Result:
    tag = uuid.uuid4().hex[:8]
    # Warm-up (unmeasured): registers the channel's community and the users, fills caches.
    warm = build_batches(min(args.batch * 2, args.events), args.batch, f"warm-{tag}")
    before, _ = await scrape(client)
    _, _, warm_errors, _ = await send_all(client, warm, 1)
    if warm_errors:
        raise Failed(f"{warm_errors} warm-up batches were refused")
    await wait_processed(client, before, sum(len(ids) for ids, _ in warm))

    batches = build_batches(args.events, args.batch, f"run-{tag}")  # built before the clock
    before, _ = await scrape(client)
    cpu_before = cpu_seconds(pid)
    started = time.perf_counter()
    latencies, retried, errors, requests = await send_all(client, batches, args.concurrency)
    accepted_at = time.perf_counter()
    if errors:
        raise Failed(f"{errors} of {len(batches)} batches got an error answer (not 202 or 429)")
    accepted = sum(len(ids) for ids, _ in batches)  # every batch got its 202
    grown, processed_at = await wait_processed(client, before, accepted)
    cpu_used = cpu_seconds(pid) - cpu_before
    processed = sum(grown.values())
    failed = grown.get("failed", 0)
    latencies.sort()
    accept_s = accepted_at - started
    process_s = processed_at - started
    return Result(
        backend=backend,
        events=args.events,
        batch=args.batch,
        concurrency=args.concurrency,
        workers=args.workers,
        queue_max=args.queue_max,
        accepted_seconds=round(accept_s, 3),
        accepted_per_second=round(accepted / accept_s, 1),
        processed_seconds=round(process_s, 3),
        processed_per_second=round(processed / process_s, 1),
        p50_ms=round(percentile(latencies, 0.50) * 1000, 2),
        p99_ms=round(percentile(latencies, 0.99) * 1000, 2),
        max_ms=round(latencies[-1] * 1000, 2) if latencies else 0.0,
        requests=requests,
        retried_429=retried,
        errors=errors + failed,
        processed=processed,
        processed_by_status=grown,
        cpu_seconds=round(cpu_used, 3),
        cpu_ms_per_event=round(cpu_used * 1000 / args.events, 4),
    )


@asynccontextmanager
async def backend_env(args: argparse.Namespace) -> AsyncIterator[dict[str, str]]:
    if args.redis:
        async with distributed_env(args.database, args.redis) as env:
            yield env
    else:
        yield {}


async def run(args: argparse.Namespace) -> Result:
    backend = "distributed" if args.redis else "embedded"
    extra: dict[str, str] = {}
    if args.queue_max:
        extra["WADDLEBOT_ROUTER_QUEUE_MAX"] = str(args.queue_max)
    if args.workers:
        extra["WADDLEBOT_ROUTER_WORKERS"] = str(args.workers)
    async with backend_env(args) as env:
        port = free_port()
        with (
            tempfile.TemporaryDirectory(prefix="waddlebot-ingress-") as tmp,
            server_process(port, Path(tmp), {**env, **extra}) as process,
        ):
            limits = httpx.Limits(
                max_connections=args.concurrency + 1, max_keepalive_connections=args.concurrency + 1
            )
            async with httpx.AsyncClient(
                base_url=f"http://{HOST}:{port}", timeout=REQUEST_TIMEOUT, limits=limits
            ) as client:
                await wait_healthy(client, process)
                secret = (Path(tmp) / "secret.key").read_text().strip()
                client.headers.update(service_headers(secret, "bench"))  # what collectors send
                return await measure(client, process.pid, backend, args)


def markdown(results: list[Result]) -> str:
    lines = [
        "| backend | events | batch | clients | workers | queue max | accepted ev/s "
        "| processed ev/s | p50 ms | p99 ms | 429s | errors | server CPU ms/event |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.backend} | {r.events} | {r.batch} | {r.concurrency} "
            f"| {r.workers or 'default'} | {r.queue_max or 'default'} "
            f"| {r.accepted_per_second:.0f} | {r.processed_per_second:.0f} "
            f"| {r.p50_ms:.1f} | {r.p99_ms:.1f} | {r.retried_429} | {r.errors} "
            f"| {r.cpu_ms_per_event:.3f} |"
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = parser_for(__doc__)
    parser.add_argument("--events", type=int, default=50_000, help="measured events")
    parser.add_argument("--batch", type=int, default=100, help="events per request (≤ 100)")
    parser.add_argument("--concurrency", type=int, default=10, help="clients posting at once")
    add_distributed_options(parser)
    parser.add_argument(
        "--queue-max",
        type=int,
        default=None,
        help="WADDLEBOT_ROUTER_QUEUE_MAX for the server (default: the product's default)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="WADDLEBOT_ROUTER_WORKERS, events in flight (default: the product's default)",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.events <= MAX_EVENTS:
        parser.error(f"--events must be between 1 and {MAX_EVENTS}")
    if not 1 <= args.batch <= MAX_BATCH:
        parser.error(f"--batch must be between 1 and {MAX_BATCH}")
    if not 1 <= args.concurrency <= MAX_CONCURRENCY:
        parser.error(f"--concurrency must be between 1 and {MAX_CONCURRENCY}")
    if args.queue_max is not None and args.queue_max < 1:
        parser.error("--queue-max must be at least 1")
    if args.workers is not None and not 1 <= args.workers <= 256:
        parser.error("--workers must be between 1 and 256")
    return checked(parser, args)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the table, optionally write JSON; non-zero exit on errors."""
    return run_benchmark(
        parse_args(argv),
        run,
        name="ingress",
        waddlebot=WADDLEBOT,
        markdown=lambda result: markdown([result]),
        errors=lambda result: result.errors,
        as_json=lambda result: {"result": asdict(result)},
        failures=(Failed, RuntimeError, httpx.HTTPError),
    )


if __name__ == "__main__":
    sys.exit(main())
