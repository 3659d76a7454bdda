"""What the deploy checks share: where deploy/ is, and the external linters they run.

The linters (hadolint, check-jsonschema, kubernetes-validate, and uv for checkov) come with
the ``[dev]`` extra, so they sit next to the test interpreter; PATH is the fallback (kubectl is
a system tool). A missing one skips locally and fails under ``CI=true``, like a missing
PostgreSQL or Redis.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import IN_CI

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
UID = "10001"  # the image's fixed uid/gid, repeated by Compose and the Kubernetes pods


def installed(name: str) -> str | None:
    """The command-line tool ``name`` beside the test interpreter or on PATH, if there."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else shutil.which(name)


def tool(name: str) -> str:
    """The path of the command-line tool ``name``; skip (fail in CI) when it is not installed."""
    found = installed(name)
    if found:
        return found
    message = (
        f"{name} is not installed (the Python linters and uv come with the [dev] extra: "
        "pip install -e '.[dev]'; kubectl with kustomize v5 is a system tool)"
    )
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def run(
    *command: str, timeout: float = 60, accept: tuple[int, ...] = (0,)
) -> subprocess.CompletedProcess[str]:
    """Run a tool on the repository and fail the test with its output when it exits with a
    status outside ``accept`` (a linter's "findings" status is for the caller to read)."""
    result = subprocess.run(
        command,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "NO_COLOR": "1"},
        check=False,
    )
    if result.returncode not in accept:
        pytest.fail(
            f"{' '.join(command)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
        )
    return result


def settings_variables() -> dict[str, bool]:
    """Every ``WADDLEBOT_*`` variable some settings class reads → whether it is required."""
    from pydantic_settings import BaseSettings

    import waddlebot.app  # noqa: F401 - imports every service, so every settings class

    variables: dict[str, bool] = {}
    pending: list[type[BaseSettings]] = [BaseSettings]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if not cls.__module__.startswith("waddlebot."):
            continue
        prefix = str(cls.model_config.get("env_prefix", "")).upper()
        for name, field in cls.model_fields.items():
            variables[prefix + (field.alias or name).upper()] = field.is_required()
    return variables


def service_paths(service: str) -> set[str]:
    """Every HTTP and WebSocket path ``waddlebot serve <service>`` answers, probes aside."""
    from waddlebot.gateway.routes import served_paths

    return {served.path for served in served_paths(service)}


def owner(path: str, prefixes: dict[str, str]) -> str | None:
    """Which service a gateway sends ``path`` to: the longest matching prefix wins (as in Kong
    and in an Ingress' ``Prefix`` paths, which match whole path segments)."""
    matching = [
        prefix
        for prefix in prefixes
        if path == prefix or path.startswith(prefix.rstrip("/") + "/") or prefix == "/"
    ]
    return prefixes[max(matching, key=len)] if matching else None
