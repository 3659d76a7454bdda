"""deploy/compose: valid Compose (the vendored specification schema), and in step with the
code: every service deployed, every WADDLEBOT_* variable a real setting, every variable
documented in .env.example, every route reaching its service through Kong."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from tests.deploy.support import DEPLOY, UID, run, settings_variables, tool
from waddlebot.app import SERVICES
from waddlebot.cli.preflight import ROUTER_CALLERS, SHARED_THROUGH_BACKEND

COMPOSE_DIR = DEPLOY / "compose"
COMPOSE_FILE = COMPOSE_DIR / "compose.yaml"
ENV_EXAMPLE = COMPOSE_DIR / ".env.example"
SCHEMA = COMPOSE_DIR / "schema" / "compose-spec.json"

Service = dict[str, Any]
# Containers that run once before the others (schema upgrades), not services.
ONE_OFF_JOBS = frozenset({"migrate", "kong-migrations"})


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE_FILE.read_text())  # anchors and << merges resolved
    assert isinstance(loaded, dict)
    return loaded


def waddlebot_services(compose: dict[str, Any]) -> dict[str, Service]:
    """The containers running the WaddleBot image, by Compose name."""
    image = compose["x-waddlebot"]["image"]
    return {name: spec for name, spec in compose["services"].items() if spec["image"] == image}


def role(spec: Service) -> str | None:
    """The service a container serves (``serve <service>``), None for other commands."""
    command = spec.get("command", [])
    return command[1] if command[:1] == ["serve"] else None


def documented() -> set[str]:
    """Every variable .env.example lists, set or commented out."""
    pattern = re.compile(r"^#?\s*([A-Z][A-Z0-9_]*)=", re.MULTILINE)
    return set(pattern.findall(ENV_EXAMPLE.read_text()))


def test_matches_the_compose_specification() -> None:
    run(tool("check-jsonschema"), "--schemafile", str(SCHEMA), str(COMPOSE_FILE))


def test_every_service_runs_and_the_router_twice(compose: dict[str, Any]) -> None:
    roles = [role(spec) for spec in waddlebot_services(compose).values()]
    assert {name for name in roles if name} == set(SERVICES)
    assert roles.count("router") >= 2


def test_migration_runs_before_every_service(compose: dict[str, Any]) -> None:
    services = waddlebot_services(compose)
    assert services["migrate"]["command"] == ["migrate"]
    assert services["migrate"]["restart"] == "no"
    for name, spec in services.items():
        if role(spec):
            assert spec["depends_on"]["migrate"] == {
                "condition": "service_completed_successfully"
            }, name


def test_waddlebot_variables_are_real_settings(compose: dict[str, Any]) -> None:
    known = settings_variables()
    used = {
        variable
        for spec in waddlebot_services(compose).values()
        for variable in spec["environment"]
        if variable.startswith("WADDLEBOT_")
    }
    listed = {name for name in documented() if name.startswith("WADDLEBOT_")}
    assert sorted((used | listed) - set(known)) == []


def test_every_service_gets_what_serve_requires(compose: dict[str, Any]) -> None:
    """What ``serve`` refuses to start without, plus the database and the secret key: the
    root filesystem is read-only, so there is no data directory to fall back on."""
    required = {name for name, needed in settings_variables().items() if needed}
    for name, spec in waddlebot_services(compose).items():
        service = role(spec)
        needs = required | {"WADDLEBOT_DATABASE_URL", "WADDLEBOT_SECRET_KEY"}
        if service in SHARED_THROUGH_BACKEND:
            needs.add("WADDLEBOT_REDIS_URL")
        if service in ROUTER_CALLERS:
            needs.add("WADDLEBOT_ROUTER_URL")
        assert sorted(needs - set(spec["environment"])) == [], name


def test_env_example_documents_exactly_the_variables_used(compose: dict[str, Any]) -> None:
    text = COMPOSE_FILE.read_text()
    interpolated = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", text))
    passed_through = {
        variable
        for spec in compose["services"].values()
        for variable, value in (spec.get("environment") or {}).items()
        if value is None
    }
    assert sorted((interpolated | passed_through) - documented()) == []
    assert sorted(documented() - (interpolated | passed_through)) == []


def test_containers_keep_the_images_security_contract(compose: dict[str, Any]) -> None:
    for name, spec in waddlebot_services(compose).items():
        assert spec["read_only"] is True, name
        assert spec["user"] == f"{UID}:{UID}", name
        assert any(mount.split(":")[0] == "/tmp" for mount in spec["tmpfs"]), name
        assert spec["cap_drop"] == ["ALL"], name


def test_long_running_containers_have_health_checks_and_restart(compose: dict[str, Any]) -> None:
    for name, spec in compose["services"].items():
        if name in ONE_OFF_JOBS:
            assert spec["restart"] == "no", name
            continue
        assert spec.get("restart") in {"unless-stopped", "always"}, name
        assert spec.get("healthcheck", {}).get("test"), name
        assert not spec["healthcheck"].get("disable"), name


def test_kong_sends_every_service_to_its_containers(compose: dict[str, Any]) -> None:
    """Each Kong service's host is a container (or network alias) serving that role; which
    paths reach which Kong service is tests/deploy/test_kong.py's."""
    containers: dict[str, set[str]] = {}
    for name, spec in waddlebot_services(compose).items():
        if service := role(spec):
            networks = spec.get("networks")
            aliases = (
                {alias for net in networks.values() for alias in (net or {}).get("aliases", [])}
                if isinstance(networks, dict)
                else set()
            )
            for host in {name} | aliases:
                containers.setdefault(host, set()).add(service)
    config = yaml.safe_load((COMPOSE_DIR / "kong" / "kong.yml").read_text())
    for service in config["services"]:
        host = re.sub(r"^\w+://([^:/]+).*", r"\1", service["url"])
        assert containers.get(host) == {service["name"]}, service["name"]
    assert (
        "router" in containers
        and sum(role(spec) == "router" for spec in waddlebot_services(compose).values()) >= 2
    )
