"""Run ``waddlebot`` as real processes: one-shot commands and long-running servers."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support import free_port

WADDLEBOT = str(Path(sys.executable).with_name("waddlebot"))


def run(
    *args: str, env: dict[str, str], stdin: str = "", timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [WADDLEBOT, *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )


def clean_env(tmp_path: Path) -> dict[str, str]:
    """The environment without the caller's WADDLEBOT_* settings, on a fresh data dir."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("WADDLEBOT_")}
    clean.update(
        WADDLEBOT_DATA_DIR=str(tmp_path / "data"),
        WADDLEBOT_LOG_LEVEL="WARNING",
        WADDLEBOT_PORT=str(free_port()),
    )
    return clean


def wait_healthy(url: str, process: subprocess.Popen[str], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(
                f"server exited: {process.stderr.read() if process.stderr else ''}"
            )
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} never became healthy")


def start(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [WADDLEBOT, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
