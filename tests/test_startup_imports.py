"""What ``waddlebot up`` loads when nothing optional is configured (issue #16 goal 6).

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


def start(data_dir: Path, *names: str) -> list[str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(data_dir),
        "WADDLEBOT_DATA_DIR": str(data_dir),
        "WADDLEBOT_LOG_LEVEL": "WARNING",
    }
    done = subprocess.run(
        [sys.executable, "-c", START_AND_REPORT, *names],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    loaded: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return loaded


def test_an_embedded_start_loads_no_optional_library(tmp_path: Path) -> None:
    assert start(tmp_path, *OPTIONAL, "alembic") == ["alembic"]  # the first start migrates
    assert start(tmp_path, *OPTIONAL, "alembic") == []  # a restart: nothing optional at all
