"""Structured logging: one JSON line per AAA event, console rendering, level filtering."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from fastapi import APIRouter

from tests.support import kept_logging_state
from waddlebot.kernel.observability.logging import (
    Category,
    add_audit_sink,
    configure_logging,
    get_logger,
    log_event,
    remove_audit_sink,
)
from waddlebot.kernel.service import Service


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """configure_logging changes process-wide state: put it back for the other tests."""
    with kept_logging_state():
        yield


def json_lines(text: str) -> list[dict[str, Any]]:
    lines = [line for line in text.splitlines() if line.strip()]
    return [json.loads(line) for line in lines]


def test_log_event_emits_one_json_line_with_the_aaa_fields(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO", "json")
    logger = get_logger("tests.logging.json")

    log_event(
        logger,
        Category.AUTHZ,
        "command_denied",
        "denied",
        community="c-1",
        user="alice",
        scope="router:write",
    )

    captured = capsys.readouterr()
    assert captured.out == ""
    records = json_lines(captured.err)
    assert len(records) == 1
    record = records[0]
    assert record["event"] == "command_denied"
    assert record["category"] == "AUTHZ"
    assert record["action"] == "command_denied"
    assert record["result"] == "denied"
    assert record["community"] == "c-1"
    assert record["user"] == "alice"
    assert record["scope"] == "router:write"
    assert record["level"] == "info"
    assert record["timestamp"].endswith("Z")


def test_missing_community_and_user_are_still_present(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "json")
    log_event(get_logger("tests.logging.none"), Category.SYSTEM, "started", "ok")
    (record,) = json_lines(capsys.readouterr().err)
    assert record["category"] == "SYSTEM"
    assert record["community"] is None
    assert record["user"] is None


@pytest.mark.parametrize("category", list(Category))
def test_every_category_is_rendered_by_name(
    capsys: pytest.CaptureFixture[str], category: Category
) -> None:
    configure_logging("DEBUG", "json")
    log_event(get_logger("tests.logging.cat"), category, "act", "ok")
    (record,) = json_lines(capsys.readouterr().err)
    assert record["category"] == category.value == category.name


def test_level_argument_and_threshold(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("WARNING", "json")
    logger = get_logger("tests.logging.level")

    log_event(logger, Category.AUDIT, "quiet", "ok")  # info: below the threshold
    log_event(logger, Category.ERROR, "loud", "failed", level="error")

    records = json_lines(capsys.readouterr().err)
    assert [(r["event"], r["level"]) for r in records] == [("loud", "error")]


def test_a_line_below_the_level_is_dropped_before_rendering_but_still_audited(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """AUTHZ decisions are info lines: at WARNING they cost no rendering, yet the audit store
    (the portal's audit page) still gets every one."""
    configure_logging("WARNING", "json")
    rendered: list[str] = []

    def spy(_logger: Any, _method: str, event_dict: Any) -> Any:
        rendered.append(event_dict["event"])
        return event_dict

    structlog.get_config()["processors"].insert(1, spy)  # right after the level filter
    audited: list[dict[str, Any]] = []
    add_audit_sink(audited.append)
    try:
        logger = get_logger("tests.logging.dropped")
        log_event(logger, Category.AUTHZ, "!ping", "allowed", community="c1", user="u1")
        log_event(logger, Category.ERROR, "broken", "failed", level="error")
    finally:
        remove_audit_sink(audited.append)
    assert rendered == ["broken"]
    assert [record["action"] for record in audited] == ["!ping"]
    assert [r["event"] for r in json_lines(capsys.readouterr().err)] == ["broken"]


def test_stdlib_logging_goes_through_the_same_renderer(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO", "json")
    logging.getLogger("tests.logging.stdlib").warning("plain %s", "stdlib")
    (record,) = json_lines(capsys.readouterr().err)
    assert record["event"] == "plain stdlib"
    assert record["level"] == "warning"
    assert "timestamp" in record


def test_noisy_libraries_are_quietened() -> None:
    configure_logging("DEBUG", "json")
    for name in ("uvicorn.access", "httpx", "aiosqlite", "asyncio"):
        assert logging.getLogger(name).level == logging.WARNING


def test_console_format_is_human_readable(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "console")
    log_event(get_logger("tests.logging.console"), Category.AUTH, "login", "ok", user="bob")
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1
    line = lines[0]
    assert "login" in line
    assert "category=AUTH" in line
    assert "user=bob" in line
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)
    assert "\x1b[" not in line  # stderr is not a terminal: no colours


def test_library_errors_are_logged_with_their_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Records from the standard library (uvicorn, asyncio) carry exc_info too: rendered as
    the formatted traceback, not ``<traceback object at 0x…>``."""
    configure_logging("INFO", "json")
    try:
        raise ZeroDivisionError("division by zero")
    except ZeroDivisionError:
        logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
    (record,) = json_lines(capsys.readouterr().err)
    assert "exc_info" not in record
    assert record["exception"].startswith("Traceback (most recent call last):")
    assert record["exception"].endswith("ZeroDivisionError: division by zero")
    assert "traceback object" not in json.dumps(record)


async def test_a_crashed_background_task_is_logged_with_its_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO", "json")

    class Failing(Service):
        name = "failing"

        def api(self) -> APIRouter:
            return APIRouter()

    async def work() -> None:
        raise ConnectionError("redis went away")

    service = Failing()
    service.spawn("worker", work())
    await asyncio.sleep(0.05)  # the task fails at once; its done-callback logs it
    await service.stop()
    (record,) = [r for r in json_lines(capsys.readouterr().err) if r["level"] == "error"]
    assert (record["event"], record["task"]) == ("background_task_crashed", "failing:worker")
    assert record["exception"].startswith("Traceback (most recent call last):")
    assert "in work" in record["exception"]
    assert record["exception"].endswith("ConnectionError: redis went away")


def test_a_logger_cached_before_a_reconfigure_still_reaches_capture_logs() -> None:
    """An in-process CLI run reconfigures logging; loggers cached earlier (module-level ones)
    must follow, or their lines vanish from the new chain and from ``capture_logs``."""
    configure_logging("INFO", "json")
    logger = get_logger("tests.cached")
    logger.debug("caches the bound logger")
    configure_logging("WARNING", "console")
    with structlog.testing.capture_logs() as logs:
        logger.warning("after the reconfigure", category="AUTHZ")
    assert [line["event"] for line in logs] == ["after the reconfigure"]
