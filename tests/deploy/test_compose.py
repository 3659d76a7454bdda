"""deploy/compose: valid Compose (the vendored specification schema), and in step with the
code: every service deployed, every WADDLEBOT_* variable a real setting, every variable
documented in .env.example, every route reaching its service through Kong."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from tests.deploy.support import DEPLOY, UID, owner, run, service_paths, settings_variables, tool
from waddlebot.app import SERVICES
from waddlebot.cli.preflight import ROUTER_CALLERS, SHARED_THROUGH_BACKEND

COMPOSE_DIR = DEPLOY / "compose"
COMPOSE_FILE = COMPOSE_DIR / "compose.yaml"
ENV_EXAMPLE = COMPOSE_DIR / ".env.example"
SCHEMA = COMPOSE_DIR / "schema" / "compose-spec.json"

Service = dict[str, Any]


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
        if name == "migrate":
            continue
        assert spec.get("restart") in {"unless-stopped", "always"}, name
        assert spec.get("healthcheck", {}).get("test"), name
        assert not spec["healthcheck"].get("disable"), name


def kong_routes() -> dict[str, str]:
    """Kong's path prefixes → the Compose service(s) they reach (an upstream's targets)."""
    config = yaml.safe_load((COMPOSE_DIR / "kong" / "kong.yml").read_text())
    assert config["_format_version"] == "3.0"
    upstreams = {
        upstream["name"]: sorted(target["target"].split(":")[0] for target in upstream["targets"])
        for upstream in config.get("upstreams", [])
    }
    prefixes: dict[str, str] = {}
    for service in config["services"]:
        host = service.get("host") or re.sub(r"^\w+://([^:/]+).*", r"\1", service["url"])
        for route in service["routes"]:
            assert route.get("strip_path") is False, route["name"]
            for path in route["paths"]:
                assert path not in prefixes, f"{path} routed twice"
                prefixes[path] = ",".join(upstreams.get(host, [host]))
    return prefixes


def test_kong_sends_every_route_to_its_service(compose: dict[str, Any]) -> None:
    containers: dict[str, list[str]] = {}
    for name, spec in waddlebot_services(compose).items():
        if service := role(spec):
            containers.setdefault(service, []).append(name)
    routes = kong_routes()
    for service in SERVICES:
        for path in sorted(service_paths(service)):
            assert owner(path, routes) == ",".join(sorted(containers[service])), (service, path)
