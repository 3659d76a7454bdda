"""The Prometheus alert rules: valid (``promtool check rules``), unit-tested on synthetic
series (``promtool test rules``), each with a summary and a runbook that exists."""

from __future__ import annotations

import re
from typing import Any

import yaml

from tests.deploy.support import DEPLOY, ROOT, run, tool

RULES = DEPLOY / "observability" / "alerts.yaml"
RULE_TESTS = sorted((DEPLOY / "observability" / "tests").glob("*.yaml"))
OPERATIONS = ROOT / "docs" / "operations.md"


def alerts() -> list[dict[str, Any]]:
    document = yaml.safe_load(RULES.read_text())
    return [rule for group in document["groups"] for rule in group["rules"] if "alert" in rule]


def anchor(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    return re.sub(r"[^a-z0-9 -]", "", heading.strip().lower()).replace(" ", "-")


def test_promtool_accepts_the_rules() -> None:
    result = run(tool("promtool"), "check", "rules", str(RULES))
    assert "SUCCESS" in result.stdout


def test_every_rule_unit_test_passes() -> None:
    assert RULE_TESTS, "deploy/observability/tests/ holds the promtool rule tests"
    promtool = tool("promtool")
    for rule_test in RULE_TESTS:
        run(promtool, "test", "rules", str(rule_test.relative_to(ROOT)))


def test_every_alert_is_tested_firing() -> None:
    fired = {
        case["alertname"]
        for rule_test in RULE_TESTS
        for test in yaml.safe_load(rule_test.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert {rule["alert"] for rule in alerts()} <= fired


def test_every_alert_has_a_summary_and_a_runbook_paragraph() -> None:
    headings = {
        anchor(line.lstrip("#"))
        for line in OPERATIONS.read_text().splitlines()
        if line.startswith("#")
    }
    for rule in alerts():
        annotations = rule.get("annotations", {})
        assert annotations.get("summary"), rule["alert"]
        page, _, section = annotations.get("runbook", "").partition("#")
        assert page == "docs/operations.md", rule["alert"]
        assert section in headings, f"{rule['alert']}: no section #{section} in {page}"
