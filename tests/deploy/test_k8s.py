"""deploy/k8s: every overlay renders with kustomize, every object validates against the
Kubernetes 1.30 and current schemas, and the manifests agree with the code (services, CLI,
settings, health routes, metrics, routes) and with the security rules of the issue."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.support import DEPLOY, UID, owner, run, service_paths, settings_variables, tool
from waddlebot.app import SERVICES
from waddlebot.cli.main import app as cli
from waddlebot.kernel.observability.metrics import QUEUE_DEPTH
from waddlebot.kernel.settings import Settings
from waddlebot.kernel.web import health_api

K8S = DEPLOY / "k8s"
OVERLAYS = ["dev", "prod"]
OLDEST_KUBERNETES = "1.30.0"
DEFAULT_PORT = Settings.model_fields["port"].default  # what the image sets, env aside
SECRET_LOOKING = re.compile(r"SECRET|TOKEN|PASSWORD|API_KEY|DATABASE_URL|REDIS_URL|AUTH")
# Paths platforms, browsers and OBS call without an API key.
KEYLESS = re.compile(r"^/(webhooks|auth|overlay|ws|portal)(/|$)|^/api/auth/v1/|\.ics$")

Object = dict[str, Any]


def render(overlay: str, directory: Path) -> tuple[Path, list[Object]]:
    """``kubectl kustomize`` of one overlay: the file it wrote and the objects in it."""
    output = run(tool("kubectl"), "kustomize", str(K8S / "overlays" / overlay)).stdout
    path = directory / f"{overlay}.yaml"
    path.write_text(output)
    return path, [document for document in yaml.safe_load_all(output) if document]


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    return render(request.param, tmp_path_factory.mktemp("k8s"))


@pytest.fixture(scope="module")
def objects(rendered: tuple[Path, list[Object]]) -> list[Object]:
    return rendered[1]


def of_kind(objects: list[Object], kind: str) -> dict[str, Object]:
    return {item["metadata"]["name"]: item for item in objects if item["kind"] == kind}


def containers(workload: Object) -> list[Object]:
    return list(workload["spec"]["template"]["spec"]["containers"])


def role(deployment: Object) -> str:
    args = containers(deployment)[0]["args"]
    assert args[0] == "serve"
    return str(args[1])


def test_every_object_validates_against_the_kubernetes_schemas(
    rendered: tuple[Path, list[Object]],
) -> None:
    validate = tool("kubernetes-validate")
    path = str(rendered[0])
    run(validate, "--strict", "--quiet", "--kubernetes-version", OLDEST_KUBERNETES, path)
    run(validate, "--strict", "--quiet", path)  # the newest schemas the tool ships


def test_every_service_has_a_deployment_and_the_http_ones_a_service(objects: list[Object]) -> None:
    deployments = of_kind(objects, "Deployment")
    assert sorted(role(item) for item in deployments.values()) == sorted(SERVICES)
    services = of_kind(objects, "Service")
    for name, deployment in deployments.items():
        if service_paths(role(deployment)):
            selector = services[name]["spec"]["selector"]
            labels = deployment["spec"]["template"]["metadata"]["labels"]
            assert selector.items() <= labels.items(), name
            assert services[name]["spec"]["ports"][0]["port"] == DEFAULT_PORT


def test_migration_job_runs_the_cli_migrate(objects: list[Object]) -> None:
    job = of_kind(objects, "Job")["waddlebot-migrate"]
    args = containers(job)[0]["args"]
    assert args == ["migrate"]
    commands = {
        entry.name or getattr(entry.callback, "__name__", "") for entry in cli.registered_commands
    }
    assert args[0] in commands


def test_pods_are_locked_down(objects: list[Object]) -> None:
    """runAsNonRoot, fixed uid, RuntimeDefault seccomp, read-only root with /tmp as an
    emptyDir, no privilege escalation, every capability dropped, requests and limits."""
    workloads = [*of_kind(objects, "Deployment").values(), *of_kind(objects, "Job").values()]
    for workload in workloads:
        name = workload["metadata"]["name"]
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert str(pod["securityContext"]["runAsUser"]) == UID, name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert pod["automountServiceAccountToken"] is False, name
        volumes = {volume["name"]: volume for volume in pod["volumes"]}
        for container in pod["containers"]:
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False, name
            assert security["readOnlyRootFilesystem"] is True, name
            assert security["capabilities"]["drop"] == ["ALL"], name
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container["resources"][kind]), name
            mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
            assert set(mounts) == {"/tmp"}, name
            assert "emptyDir" in volumes[mounts["/tmp"]], name


def test_probes_ask_the_apps_own_routes(objects: list[Object]) -> None:
    routes = {getattr(route, "path", "") for route in health_api().routes}
    for name, deployment in of_kind(objects, "Deployment").items():
        container = containers(deployment)[0]
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", name
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", name
        assert container["startupProbe"]["httpGet"]["path"] == "/healthz", name
        assert {"/readyz", "/healthz"} <= routes
        assert container["ports"] == [{"name": "http", "containerPort": DEFAULT_PORT}], name


def test_settings_come_from_the_configmap_and_secrets_from_a_secret_reference(
    objects: list[Object],
) -> None:
    known = settings_variables()
    config = of_kind(objects, "ConfigMap")["waddlebot-config"]["data"]
    assert sorted(set(config) - set(known)) == []
    assert [name for name in config if SECRET_LOOKING.search(name)] == []
    assert config["WADDLEBOT_PORT"] == str(DEFAULT_PORT)  # the containerPort the probes use
    assert of_kind(objects, "Secret") == {}, "secret values never live in the repository"
    for workload in [*of_kind(objects, "Deployment").values(), *of_kind(objects, "Job").values()]:
        sources = containers(workload)[0]["envFrom"]
        assert {"configMapRef": {"name": "waddlebot-config"}} in sources
        assert {"secretRef": {"name": "waddlebot-secrets"}} in sources


def test_disruption_budgets_cover_the_http_services(objects: list[Object]) -> None:
    budgets = of_kind(objects, "PodDisruptionBudget")
    for name, service in of_kind(objects, "Service").items():
        assert budgets[name]["spec"]["selector"]["matchLabels"] == service["spec"]["selector"]


def test_routers_spread_over_nodes_and_zones(objects: list[Object]) -> None:
    router = of_kind(objects, "Deployment")["waddlebot-router"]
    keys = {
        constraint["topologyKey"]
        for constraint in router["spec"]["template"]["spec"]["topologySpreadConstraints"]
    }
    assert keys == {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}


def test_routers_and_collectors_autoscale(objects: list[Object]) -> None:
    autoscalers = of_kind(objects, "HorizontalPodAutoscaler")
    deployments = of_kind(objects, "Deployment")
    for service in ("router", "twitch", "slack", "discord"):
        scaler = autoscalers[f"waddlebot-{service}"]
        assert scaler["apiVersion"] == "autoscaling/v2"
        target = scaler["spec"]["scaleTargetRef"]["name"]
        assert "replicas" not in deployments[target]["spec"], "the autoscaler owns replicas"
        assert any(metric["type"] == "Resource" for metric in scaler["spec"]["metrics"])
    external = [
        metric["external"]["metric"]["name"]
        for metric in autoscalers["waddlebot-router"]["spec"]["metrics"]
        if metric["type"] == "External"
    ]
    exported = [family.name for family in QUEUE_DEPTH.describe()]  # the routers' /metrics gauge
    assert external == exported
    rules = (K8S / "prometheus-adapter-rules.yaml").read_text()
    assert f"as: {exported[0]}" in rules


def test_network_policies_deny_by_default(objects: list[Object]) -> None:
    policies = of_kind(objects, "NetworkPolicy")
    deny = policies["default-deny"]["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    waddlebot_pods = {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "waddlebot"}}}
    for store in ("postgresql", "redis"):
        spec = policies[f"{store}-from-waddlebot"]["spec"]
        peers = [peer for rule in spec["ingress"] for peer in rule["from"]]
        assert waddlebot_pods in peers
        assert all("podSelector" in peer and "namespaceSelector" not in peer for peer in peers)
    egress = policies["waddlebot-egress"]["spec"]["egress"]
    assert any(rule["ports"] == [{"protocol": "TCP", "port": 443}] for rule in egress)


def ingress_routes(objects: list[Object]) -> dict[str, str]:
    """Ingress path → "<ingress>:<service>", longest prefix winning across the Ingresses."""
    routes: dict[str, str] = {}
    for name, ingress in of_kind(objects, "Ingress").items():
        assert ingress["spec"]["tls"], name
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                assert path["pathType"] == "Prefix"
                assert path["path"] not in routes, f"{path['path']} routed twice"
                routes[path["path"]] = f"{name}:{path['backend']['service']['name']}"
    return routes


def test_ingress_sends_every_route_to_its_service(objects: list[Object]) -> None:
    routes = ingress_routes(objects)
    for service in SERVICES:
        for path in sorted(service_paths(service)):
            reached = owner(path, routes) or ":"
            assert reached.split(":")[1] == f"waddlebot-{service}", (service, path)
            if KEYLESS.search(path):
                assert reached.split(":")[0] == "waddlebot-public", (service, path)


def test_ingress_certificate_comes_from_cert_manager(objects: list[Object]) -> None:
    public = of_kind(objects, "Ingress")["waddlebot-public"]
    assert "cert-manager.io/cluster-issuer" in public["metadata"]["annotations"]
