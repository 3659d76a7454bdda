"""The operator metrics after real traffic: a playground app on loopback, both stacks."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.support import build_app, live_server
from waddlebot.kernel.observability.logging import configure_logging, get_logger
from waddlebot.kernel.observability.metrics import OUTBOUND, labelled
from waddlebot.kernel.settings import Settings

OBSERVABILITY = Path(__file__).resolve().parents[2] / "deploy" / "observability"
SUFFIXES = re.compile(r"_(bucket|count|sum|total)$")  # a family name leaves them off


def used_metrics() -> set[str]:
    """Every waddlebot_* metric the dashboard and the alert rules query."""
    rules = yaml.safe_load((OBSERVABILITY / "alerts.yaml").read_text())
    expressions = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    dashboard = json.loads((OBSERVABILITY / "dashboard.json").read_text())
    expressions += [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]
    return {name for expr in expressions for name in re.findall(r"waddlebot_[a-z0-9_]+", expr)}


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_a_command_shows_up_in_every_traffic_metric(stack_settings: Settings) -> None:
    async with live_server(build_app(stack_settings, with_testkit=False)) as server:
        assert await server.texts("!ping")
        await asyncio.sleep(1.2)  # one queue-gauge sample
        body = (await server.client.get("/metrics")).text
    seen = samples(body)

    def value(name: str, **labels: str) -> float:
        return seen.get((name, frozenset(labels.items())), 0.0)

    exported = {family.name for family in text_string_to_metric_families(body)}
    exported |= {name for name, _ in seen}  # counters: the family drops _total
    missing = {
        name
        for name in used_metrics()
        if name not in exported and SUFFIXES.sub("", name) not in exported
    }
    assert not missing, f"the dashboard or alerts query metrics /metrics does not export: {missing}"

    assert value("waddlebot_events_in_total", platform="playground", type="message") >= 1
    assert value("waddlebot_commands_total", module="core", outcome="ok") >= 1
    assert value("waddlebot_reply_latency_seconds_count", platform="playground") >= 1
    assert value("waddlebot_outbound_total", platform="playground", result="sent") >= 1
    for queue in ("router:events", "outbound:playground", "outbound:twitch"):
        assert ("waddlebot_queue_depth", frozenset({("queue", queue)})) in seen
        assert ("waddlebot_queue_oldest_age_seconds", frozenset({("queue", queue)})) in seen


def test_warning_and_error_lines_are_counted() -> None:
    from waddlebot.kernel.observability.metrics import REGISTRY

    configure_logging("INFO", "json")
    before = REGISTRY.get_sample_value("waddlebot_log_lines_total", {"level": "error"}) or 0.0
    get_logger("test").error("something broke")
    get_logger("test").info("fine")
    after = REGISTRY.get_sample_value("waddlebot_log_lines_total", {"level": "error"})
    assert after == before + 1


def test_labelled_is_the_series_labels_names_and_remembers_it() -> None:
    before = OUTBOUND.labels("test-platform", "sent")._value.get()
    child = labelled(OUTBOUND, "test-platform", "sent")
    assert child is OUTBOUND.labels("test-platform", "sent")
    assert labelled(OUTBOUND, "test-platform", "sent") is child
    child.inc()
    assert OUTBOUND.labels("test-platform", "sent")._value.get() == before + 1
    assert labelled(OUTBOUND, "test-platform", "rejected") is not child
