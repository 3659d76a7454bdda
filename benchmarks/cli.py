"""What every benchmark's command line shares, written once: the parser with ``--json`` and
``--timeout``, the run under that hard limit, the table on stdout, the JSON file (with the
Python version and the machine beside the results) and the exit code.

Exit codes: 0 every message answered as expected, 1 some were not (or the run failed where the
script says so), 2 the venv is missing, 3 the run passed ``--timeout``, 4 a dependency the run
needs is away (PostgreSQL, Redis: judged by the kernel's ``dependency_of``, as the services
judge an outage) or the script's own "could not even start" failures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from waddlebot.kernel.outages import dependency_of, describe

T = TypeVar("T")

MAX_TIMEOUT = 3600.0


def parser_for(doc: str | None, *, timeout: float | None = 600.0) -> argparse.ArgumentParser:
    """A parser described by the script's docstring, with ``--json`` and (unless ``timeout`` is
    None) ``--timeout`` defaulting to ``timeout`` seconds; check it with :func:`checked`."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0] if doc else None)
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    if timeout is not None:
        parser.add_argument(
            "--timeout", type=float, default=timeout, help="hard limit for the whole run, seconds"
        )
    return parser


def add_distributed_options(parser: argparse.ArgumentParser) -> None:
    """``--redis`` and ``--database``: both for the distributed variant, neither for the
    embedded one (:func:`checked` refuses one without the other)."""
    parser.add_argument(
        "--redis", default=None, help="Redis URL: run distributed (needs --database)"
    )
    parser.add_argument(
        "--database",
        default=None,
        help="PostgreSQL URL of a database to connect to and create a fresh one beside it",
    )


def checked(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.Namespace:
    """``args`` once the shared options are sane (argparse's own error and exit 2 if not)."""
    timeout = getattr(args, "timeout", None)
    if timeout is not None and not 0 < timeout <= MAX_TIMEOUT:
        parser.error(f"--timeout must be in (0, {MAX_TIMEOUT:g}]")
    if (
        hasattr(args, "redis")
        and hasattr(args, "database")
        and (bool(args.redis) != bool(args.database))
    ):
        parser.error("--redis and --database go together (the distributed variant)")
    return args


def venv_missing(waddlebot: Path) -> bool:
    """True (and says so) when the ``waddlebot`` executable the benchmark starts is not there."""
    if waddlebot.exists():
        return False
    print(f"{waddlebot} not found: run `make run` or install the venv first", file=sys.stderr)
    return True


def write_json(path: Path | None, payload: Any) -> None:
    if path is not None:
        path.write_text(json.dumps(payload, indent=2) + "\n")


def about_this_machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
    }


def run_benchmark(
    args: argparse.Namespace,
    run: Callable[[argparse.Namespace], Awaitable[T]],
    *,
    name: str,
    waddlebot: Path,
    markdown: Callable[[T], str],
    errors: Callable[[T], int],
    as_json: Callable[[T], Mapping[str, Any]],
    failures: tuple[type[BaseException], ...] = (),
    failure_code: int = 1,
) -> int:
    """Run ``run(args)`` within ``args.timeout``, print its table and return the exit code.

    ``failures`` are the errors that mean the run itself failed (the server log's tail is
    already printed where there is one): one line ``<name> benchmark failed: …`` and
    ``failure_code``. ``as_json`` gives what goes into ``--json`` beside the machine's details.
    """
    if venv_missing(waddlebot):
        return 2
    try:
        outcome = asyncio.run(_bounded(run(args), args.timeout))
    except TimeoutError:
        print(f"benchmark did not finish within --timeout {args.timeout:g}s", file=sys.stderr)
        return 3
    except failures as failed:
        print(f"{name} benchmark failed: {failed}", file=sys.stderr)
        return failure_code
    except Exception as error:
        away = dependency_of(error)
        if away is None:
            raise  # a bug in the benchmark or the server: its traceback is the report
        print(f"{name} benchmark failed: {away} unreachable ({describe(error)})", file=sys.stderr)
        return 4
    print(markdown(outcome))
    write_json(args.json, {**about_this_machine(), **as_json(outcome)})
    return 1 if errors(outcome) else 0


async def _bounded(work: Awaitable[T], seconds: float) -> T:
    async with asyncio.timeout(seconds):
        return await work
