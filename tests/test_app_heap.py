"""``create_app(freeze_heap=True)`` (what ``waddlebot up`` and ``serve`` pass): once started,
start-up's objects are out of the cyclic collector's sight, so a full collection no longer
walks them (see ``create_app``). Run in a fresh interpreter: freezing is process-wide."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

START_AND_COUNT = """
import asyncio, gc, sys
from waddlebot.app import create_app
from waddlebot.kernel.settings import Settings

async def main():
    app = create_app(Settings(), freeze_heap=sys.argv[1] == "yes")
    async with app.router.lifespan_context(app):
        print("frozen", gc.get_freeze_count())

asyncio.run(main())
"""


def frozen_after_start(data_dir: Path, freeze: bool) -> int:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(data_dir),
        "WADDLEBOT_DATA_DIR": str(data_dir),
        "WADDLEBOT_LOG_LEVEL": "WARNING",
    }
    done = subprocess.run(
        [sys.executable, "-c", START_AND_COUNT, "yes" if freeze else "no"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return next(
        int(line.split()[1]) for line in done.stdout.splitlines() if line.startswith("frozen ")
    )


def test_a_started_server_freezes_what_start_up_made(tmp_path: Path) -> None:
    assert frozen_after_start(tmp_path, freeze=True) > 100_000
    assert frozen_after_start(tmp_path, freeze=False) == 0  # tests' apps never freeze
