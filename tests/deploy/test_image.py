"""deploy/Dockerfile matches the package: no container daemon is reachable here, so the image
is checked statically (hadolint, and what it names against what the code defines)."""

from __future__ import annotations

import re
import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.deploy import dockerfile
from tests.deploy.support import DEPLOY, ROOT, UID, run, settings_variables, tool
from waddlebot.app import SERVICES
from waddlebot.kernel.settings import Settings
from waddlebot.kernel.web import health_api

DOCKERFILE = DEPLOY / "Dockerfile"
LOCK = DEPLOY / "requirements.lock"

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


@pytest.fixture(scope="module")
def runtime() -> list[dockerfile.Instruction]:
    """The instructions of the final (runtime) stage."""
    instructions = dockerfile.read(DOCKERFILE)
    last = instructions[-1].stage
    return [step for step in instructions if step.stage == last]


def only(steps: list[dockerfile.Instruction], keyword: str) -> dockerfile.Instruction:
    found = [step for step in steps if step.keyword == keyword]
    assert len(found) == 1, f"expected one {keyword} in the runtime stage, found {len(found)}"
    return found[0]


def environment(steps: list[dockerfile.Instruction]) -> dict[str, str]:
    merged: dict[str, str] = {}
    for step in steps:
        if step.keyword == "ENV":
            merged.update(step.env())
    return merged


def test_hadolint_finds_nothing() -> None:
    run(tool("hadolint"), "--failure-threshold", "info", str(DOCKERFILE))


def test_entrypoint_is_the_package_script(runtime: list[dockerfile.Instruction]) -> None:
    entrypoint = only(runtime, "ENTRYPOINT").exec_form()
    assert entrypoint == ["waddlebot"]
    assert entrypoint[0] in PYPROJECT["project"]["scripts"]


def test_default_command_serves_a_real_service(runtime: list[dockerfile.Instruction]) -> None:
    command = only(runtime, "CMD").exec_form()
    assert command[0] == "serve"
    assert command[1] in SERVICES


def test_runs_as_a_fixed_non_root_user(runtime: list[dockerfile.Instruction]) -> None:
    assert only(runtime, "USER").arguments == f"{UID}:{UID}"
    created = " ".join(step.arguments for step in runtime if step.keyword == "RUN")
    assert f"--uid {UID}" in created and f"--gid {UID}" in created


def test_healthcheck_asks_the_apps_health_route(runtime: list[dockerfile.Instruction]) -> None:
    probe = " ".join(only(runtime, "HEALTHCHECK").exec_form())
    paths = {getattr(route, "path", "") for route in health_api().routes}
    assert "/healthz" in paths
    assert "/healthz" in probe and "WADDLEBOT_PORT" in probe


def test_port_is_the_settings_default(runtime: list[dockerfile.Instruction]) -> None:
    default = Settings.model_fields["port"].default
    assert only(runtime, "EXPOSE").arguments == str(default)
    assert environment(runtime)["WADDLEBOT_PORT"] == str(default)


def test_environment_names_real_settings(runtime: list[dockerfile.Instruction]) -> None:
    known = settings_variables()
    unknown = [name for name in environment(runtime) if name.startswith("WADDLEBOT_")]
    assert [name for name in unknown if name not in known] == []


def test_only_tmp_is_written(runtime: list[dockerfile.Instruction]) -> None:
    """The root filesystem is read-only: every path the process writes lies under /tmp."""
    env = environment(runtime)
    for name in ("WADDLEBOT_DATA_DIR", "HOME", "TMPDIR"):
        assert env[name] == "/tmp" or env[name].startswith("/tmp/"), name
    assert only(runtime, "VOLUME").exec_form() == ["/tmp"]
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"


def test_dependencies_come_only_from_the_hashed_lock() -> None:
    installs = [
        step.arguments
        for step in dockerfile.read(DOCKERFILE)
        if step.keyword == "RUN" and "pip install" in step.arguments
    ]
    assert installs
    for command in installs:
        for call in re.split(r"&&", command):
            if "pip install" not in call:
                continue
            assert "--require-hashes" in call or "--no-index" in call, call
            assert "[dev]" not in call and ".[" not in call, call


def locked() -> dict[str, str]:
    """Name → pinned version of every requirement in deploy/requirements.lock."""
    text = LOCK.read_text()
    pins = dict(re.findall(r"^([A-Za-z0-9_.\-]+)==(\S+) \\$", text, flags=re.MULTILINE))
    entries = re.findall(r"^[A-Za-z0-9_.\-]+==", text, flags=re.MULTILINE)
    assert len(pins) == len(entries), "every pin in the lock carries hashes"
    return {canonicalize_name(name): version for name, version in pins.items()}


def test_lock_satisfies_every_runtime_dependency() -> None:
    """The lock is exported from pyproject: a dependency added or re-pinned there without
    `make lock` fails here."""
    pins = locked()
    for line in PYPROJECT["project"]["dependencies"]:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} missing from deploy/requirements.lock: run make lock"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"{name}=={pins[name]} in the lock does not satisfy {line!r}: run make lock"
        )


def test_lock_holds_no_dev_tools() -> None:
    pins = locked()
    dev_only = {
        canonicalize_name(Requirement(line).name)
        for line in PYPROJECT["project"]["optional-dependencies"]["dev"]
    }
    assert sorted(dev_only & set(pins) - {"websockets"}) == []
