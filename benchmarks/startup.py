"""Start-up time and idle memory of ``waddlebot up`` (embedded: SQLite, in-memory backend).

Each run starts a real ``waddlebot up`` process on a free loopback port and times it until
``/readyz`` answers 200 (every service started, database and backend reachable): first on an
empty data directory (migrations included), then again on the same directory (what a restart
costs). After ``--idle`` seconds with no traffic it reads the process's resident memory
(``VmRSS`` in ``/proc/<pid>/status``). Run on demand; never part of the test suite::

    .venv/bin/python benchmarks/startup.py [--runs 3] [--idle 5] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script: `benchmarks` is importable too

from benchmarks.cli import parser_for, venv_missing, write_json  # noqa: E402
from benchmarks.playground_throughput import (  # noqa: E402
    HOST,
    STARTUP_TIMEOUT,
    WADDLEBOT,
    free_port,
    server_process,
)


@dataclass(frozen=True)
class Start:
    """One start of the server."""

    data_dir: str  # "empty" (first start) or "existing" (a restart)
    ready_seconds: float
    idle_rss_mb: float


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` in MiB, from ``/proc``."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


async def time_to_ready(port: int, started: float, alive: Callable[[], bool]) -> float:
    """Seconds from ``started`` until ``/readyz`` answers 200."""
    async with httpx.AsyncClient(base_url=f"http://{HOST}:{port}") as client:
        while time.monotonic() - started < STARTUP_TIMEOUT:
            if not alive():
                raise RuntimeError("the server exited during start-up")
            try:
                if (await client.get("/readyz", timeout=2.0)).status_code == 200:
                    return time.monotonic() - started
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.02)
    raise TimeoutError(f"/readyz did not answer 200 within {STARTUP_TIMEOUT:g}s")


def one_start(data_dir: Path, label: str, idle: float) -> Start:
    port = free_port()
    started = time.monotonic()
    with server_process(port, data_dir, {}) as process:
        ready = asyncio.run(time_to_ready(port, started, lambda: process.poll() is None))
        time.sleep(idle)
        return Start(label, round(ready, 3), round(rss_mb(process.pid), 1))


def markdown(starts: list[Start]) -> str:
    lines = [
        "| data directory | runs | ready s (median, min–max) | idle RSS MiB (median) |",
        "|---|---:|---:|---:|",
    ]
    for label in ("empty", "existing"):
        mine = [s for s in starts if s.data_dir == label]
        ready = [s.ready_seconds for s in mine]
        rss = [s.idle_rss_mb for s in mine]
        lines.append(
            f"| {label} | {len(mine)} | {statistics.median(ready):.2f} "
            f"({min(ready):.2f}–{max(ready):.2f}) | {statistics.median(rss):.0f} |"
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = parser_for(__doc__, timeout=None)
    parser.add_argument("--runs", type=int, default=3, help="data directories to start (median)")
    parser.add_argument("--idle", type=float, default=5.0, help="seconds idle before RSS")
    args = parser.parse_args(argv)
    if not 1 <= args.runs <= 20:
        parser.error("--runs must be between 1 and 20")
    if not 0 <= args.idle <= 600:
        parser.error("--idle must be between 0 and 600")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if venv_missing(WADDLEBOT):
        return 2
    starts: list[Start] = []
    try:
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory(prefix="waddlebot-startup-") as tmp:
                starts.append(one_start(Path(tmp), "empty", args.idle))
                starts.append(one_start(Path(tmp), "existing", args.idle))
    except (RuntimeError, TimeoutError) as failed:  # the server log's tail is printed above
        print(f"start-up benchmark failed: {failed}", file=sys.stderr)
        return 1
    print(markdown(starts))
    write_json(args.json, [asdict(s) for s in starts])
    return 0


if __name__ == "__main__":
    sys.exit(main())
