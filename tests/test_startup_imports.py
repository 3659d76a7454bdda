"""What ``waddlebot up`` loads when nothing optional is configured (issue #16 goal 6), and
what it leaves to the garbage collector once started.

Libraries only some installations use are imported where they are first used (see
ARCHITECTURE.md, "Start-up cost"); a module-level import on the start-up path would quietly add
megabytes and tenths of a second to every start. This starts the whole application in a fresh
interpreter, twice on one data directory (a first start migrates, a restart must not need
Alembic), and lists which of them got loaded.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

OPTIONAL = ["discord", "slack_sdk", "aiohttp", "cryptography", "icalendar", "redis", "asyncpg"]
# Installed (typer brings rich and pygments), imported by libraries we use, needed by no server:
# see kernel/lean_imports.py; jsonschema only once a module's config schema is checked.
EXTRAS = ["rich", "pygments", "jsonschema"]

START_AND_REPORT = """
import asyncio, json, os, sys
from waddlebot.app import create_app
from waddlebot.kernel.settings import Settings

async def main():
    app = create_app(Settings())
    async with app.router.lifespan_context(app):
        await asyncio.sleep(0.5)

asyncio.run(main())
print(json.dumps(sorted(name for name in sys.argv[1:] if name in sys.modules)))
"""


FREEZE_AND_COUNT = """
import asyncio, gc, sys
from waddlebot.app import create_app
from waddlebot.kernel.settings import Settings

async def main():
    app = create_app(Settings(), freeze_heap=sys.argv[1] == "yes")
    async with app.router.lifespan_context(app):
        print("frozen", gc.get_freeze_count())

asyncio.run(main())
"""


def run_fresh(data_dir: Path, script: str, *args: str) -> list[str]:
    """Run ``script`` in a fresh interpreter on ``data_dir``; the lines it printed."""
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(data_dir),
        "WADDLEBOT_DATA_DIR": str(data_dir),
        "WADDLEBOT_LOG_LEVEL": "WARNING",
    }
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()


def start(data_dir: Path, *names: str) -> list[str]:
    loaded: list[str] = json.loads(run_fresh(data_dir, START_AND_REPORT, *names)[-1])
    return loaded


def frozen_after_start(data_dir: Path, freeze: bool) -> int:
    """Objects frozen out of the collector's sight once the app started
    (``create_app(freeze_heap=…)``; ``waddlebot up`` and ``serve`` pass True)."""
    lines = run_fresh(data_dir, FREEZE_AND_COUNT, "yes" if freeze else "no")
    return next(int(line.split()[1]) for line in lines if line.startswith("frozen "))


def test_an_embedded_start_loads_no_optional_library(tmp_path: Path) -> None:
    first = start(tmp_path, *OPTIONAL, *EXTRAS, "alembic")
    assert first == ["alembic"]  # the first start migrates
    assert start(tmp_path, *OPTIONAL, *EXTRAS, "alembic") == []  # a restart: nothing optional


def test_a_started_server_freezes_what_start_up_made(tmp_path: Path) -> None:
    assert frozen_after_start(tmp_path, freeze=True) > 100_000
    assert frozen_after_start(tmp_path, freeze=False) == 0  # tests' apps never freeze
