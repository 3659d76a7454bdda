"""Issue #16's goals in one run (``make bench``): each benchmark prints its table under a heading.

Goal 1 is measured here for WaddleBot alone; ``make bench-compare`` runs the peers beside it
(their ratios are the goal). Goal 4 needs PostgreSQL and Redis (``--database``, ``--redis``;
the local defaults otherwise). ``--quick`` runs every step with tiny counts: a check that each
still works end to end, not a measurement. Exit code: 0 when every step passed, else the first
failing step's (see ``cli.py``); the later steps still run.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script: `benchmarks` is importable too

from benchmarks import (  # noqa: E402
    ingress_batch,
    overlay_fanout,
    playground_throughput,
    startup,
    twitch_eventsub,
)

PLAYGROUND = ["--transport", "socket"]  # opsdroid's benchmark talks over a websocket too
TINY_PLAYGROUND = [*PLAYGROUND, "--messages", "5", "--warmup", "1", "--concurrency", "2"]


@dataclass(frozen=True)
class Step:
    heading: str
    main: Callable[[list[str] | None], int]
    argv: list[str]
    quick: list[str]  # the same step with tiny counts
    distributed: bool = False  # takes --database and --redis


STEPS = [
    Step(
        "Goal 1: the embedded playground with 100 extra commands (peers: make bench-compare)",
        playground_throughput.main,
        [*PLAYGROUND, "--commands", "100"],
        [*TINY_PLAYGROUND, "--commands", "3"],
    ),
    Step(
        "Goal 2: the baseline, no extra command and one community",
        playground_throughput.main,
        [*PLAYGROUND],
        [*TINY_PLAYGROUND],
    ),
    Step(
        "Goal 2: 1,000 extra commands",
        playground_throughput.main,
        [*PLAYGROUND, "--commands", "1000"],
        [*TINY_PLAYGROUND, "--commands", "5"],
    ),
    Step(
        "Goal 2: 10,000 communities, each registered first",
        playground_throughput.main,
        [*PLAYGROUND, "--communities", "10000"],
        [*TINY_PLAYGROUND, "--communities", "4"],
    ),
    Step(
        "Goal 3: batch ingress, 100 chat lines per request",
        ingress_batch.main,
        [],
        ["--events", "10", "--batch", "5", "--concurrency", "2"],
    ),
    Step(
        "Goal 4: signed EventSub !ping -> Helix reply, two routers, PostgreSQL + Redis",
        twitch_eventsub.main,
        [],
        ["--messages", "6", "--concurrency", "2", "--rate", "20", "--channels", "3"],
        distributed=True,
    ),
    Step(
        "Goal 5: 1,000 overlay WebSocket clients",
        overlay_fanout.main,
        [],
        ["--clients", "5", "--rounds", "2", "--gap", "0"],
    ),
    Step(
        "Goal 6: start-up time and idle memory",
        startup.main,
        [],
        ["--runs", "1", "--idle", "0"],
    ),
]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="tiny counts: does each still run?")
    parser.add_argument("--database", default=None, help="PostgreSQL admin URL for goal 4")
    parser.add_argument("--redis", default=None, help="Redis URL for goal 4")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    failed = 0
    for step in STEPS:
        step_argv = list(step.quick if args.quick else step.argv)
        if step.distributed:
            step_argv += ["--database", args.database] if args.database else []
            step_argv += ["--redis", args.redis] if args.redis else []
        print(f"\n## {step.heading}\n", flush=True)
        code = step.main(step_argv)
        if code and not failed:
            failed = code
        sys.stdout.flush()
    return failed


if __name__ == "__main__":
    sys.exit(main())
