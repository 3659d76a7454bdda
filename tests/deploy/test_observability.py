"""deploy/observability: Prometheus scrapes every WaddleBot container of the Compose file and
loads the rules (``promtool check config``); the Grafana dashboard is well-formed and Compose
provisions it. Whether the metrics they use exist: tests/kernel/test_metrics.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.support import DEPLOY, run, tool
from tests.deploy.test_compose import COMPOSE_FILE, role, waddlebot_services

OBSERVABILITY = DEPLOY / "observability"
DASHBOARD = OBSERVABILITY / "dashboard.json"
MOUNTED_AT = "/etc/waddlebot-observability"


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return loaded


def prometheus_config() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((OBSERVABILITY / "prometheus.yml").read_text())
    return loaded


def test_prometheus_scrapes_every_waddlebot_container() -> None:
    targets = {
        target
        for job in prometheus_config()["scrape_configs"]
        for static in job["static_configs"]
        for target in static["targets"]
    }
    serving = {name for name, spec in waddlebot_services(compose()).items() if role(spec)}
    assert {f"{name}:8000" for name in serving} == targets


def test_promtool_accepts_the_prometheus_config(tmp_path: Path) -> None:
    # the rules are mounted elsewhere in the container: point at the repository's copy
    text = (OBSERVABILITY / "prometheus.yml").read_text()
    local = tmp_path / "prometheus.yml"
    local.write_text(text.replace(MOUNTED_AT, str(OBSERVABILITY)))
    run(tool("promtool"), "check", "config", str(local))


def test_compose_provisions_prometheus_and_grafana_with_these_files() -> None:
    services = compose()["services"]
    for name in ("prometheus", "grafana"):
        assert f"../observability:{MOUNTED_AT}:ro" in services[name]["volumes"], name
    assert any(MOUNTED_AT in part for part in services["prometheus"]["command"])
    provisioning = services["grafana"]["environment"]["GF_PATHS_PROVISIONING"]
    relative = Path(provisioning).relative_to(MOUNTED_AT)
    providers = yaml.safe_load(
        (OBSERVABILITY / relative / "dashboards" / "waddlebot.yaml").read_text()
    )
    [provider] = providers["providers"]
    assert provider["options"]["path"] == f"{MOUNTED_AT}/{DASHBOARD.name}"
    assert (OBSERVABILITY / relative / "datasources").is_dir()


def test_the_dashboard_covers_each_area_on_a_chosen_prometheus() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    rows = [panel["title"] for panel in dashboard["panels"] if panel["type"] == "row"]
    assert rows == ["Traffic", "Latency", "Queues", "Platforms", "Modules", "Errors"]
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    [variable] = dashboard["templating"]["list"]
    assert (variable["type"], variable["query"]) == ("datasource", "prometheus")
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]
            assert target["expr"].strip(), panel["title"]


def test_every_dashboard_query_is_valid_promql(tmp_path: Path) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    expressions = [
        target["expr"].replace("$__rate_interval", "5m")
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
    ]
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:query_{number}", "expr": expr}
                    for number, expr in enumerate(expressions)
                ],
            }
        ]
    }
    checked = tmp_path / "dashboard-queries.yaml"
    checked.write_text(yaml.safe_dump(rules))
    run(tool("promtool"), "check", "rules", str(checked))
