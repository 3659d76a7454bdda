"""Structured logging (structlog) with the AAA categories every log line carries.

Categories: AUTH (who are you), AUTHZ (may you), AUDIT (what changed), ERROR, SYSTEM.
Use :func:`log_event` so every decision has the same fields: community, user, action, result.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import structlog

from waddlebot.kernel.observability.metrics import LOG_LINES


class Category(StrEnum):
    AUTH = "AUTH"
    AUTHZ = "AUTHZ"
    AUDIT = "AUDIT"
    ERROR = "ERROR"
    SYSTEM = "SYSTEM"


AUDITED = frozenset({Category.AUTH, Category.AUTHZ, Category.AUDIT})
# Where AUTH/AUTHZ/AUDIT lines about a community also go (``kernel/audit.py``'s store): the
# most recently added sink only, so several apps in one process (tests) store a line once.
_audit_sinks: list[Callable[[dict[str, Any]], None]] = []


def add_audit_sink(sink: Callable[[dict[str, Any]], None]) -> None:
    """Hand every AUTH/AUTHZ/AUDIT line with a community to ``sink`` (must not block)."""
    _audit_sinks.append(sink)


def remove_audit_sink(sink: Callable[[dict[str, Any]], None]) -> None:
    if sink in _audit_sinks:
        _audit_sinks.remove(sink)


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    """Route structlog and stdlib logging through one JSON (or console) renderer on stderr."""
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(
            colors=sys.stderr.isatty(),
            exception_formatter=structlog.dev.plain_traceback,  # see kernel/lean_imports.py
        )
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        count_serious,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    # Fill the configured processor list in place rather than handing structlog a new one:
    # loggers already cached hold a reference to the list, and would otherwise keep the old
    # chain (and be invisible to ``structlog.testing.capture_logs``) after a reconfigure.
    processors = structlog.get_config()["processors"]
    processors[:] = [
        # A line below the level is dropped here, before any other processor runs (an AUTHZ
        # decision per command cost ~3 % of the server's CPU at WARNING without this).
        structlog.stdlib.filter_by_level,
        *shared,
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
        structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
    ]
    structlog.configure(
        processors=processors,
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                renderer,
            ],
            # stdlib records (uvicorn, asyncio, libraries) carry exc_info too: render the
            # traceback as text, not the repr of the (type, value, traceback) tuple
            foreign_pre_chain=[*shared, structlog.processors.format_exc_info],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("uvicorn.access", "httpx", "aiosqlite", "asyncio"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def bind_event(event_id: str) -> None:
    """Stamp ``event_id`` on every later log line of the current task (and tasks it starts).

    The id an event keeps from the collector's webhook through the router to the sender
    (``Event.id``, ``OutboundMessage.event_id``), so ``grep <id>`` over every process's logs
    shows its whole path. Call it where a task starts handling one event: asyncio gives each
    task its own copy of the context, so the binding never leaks into other events.
    """
    structlog.contextvars.bind_contextvars(event_id=event_id)


def forget_event() -> None:
    """Undo :func:`bind_event` in a task that goes on to handle other events."""
    structlog.contextvars.unbind_contextvars("event_id")


_TRACED: dict[str, logging.Logger] = {}  # the stdlib logger of each module that traces


def trace(name: str, action: str, **fields: Any) -> None:
    """A DEBUG line marking one step of an event's path (queued, done, reply sent).

    Checked against the stdlib level first, so at INFO it costs one cached comparison and
    nothing is rendered: per-message lines only for ``WADDLEBOT_LOG_LEVEL=DEBUG``.
    """
    stdlib = _TRACED.get(name)
    if stdlib is None:  # logging.getLogger takes the logging module's lock on every call
        stdlib = _TRACED[name] = logging.getLogger(name)
    if stdlib.isEnabledFor(logging.DEBUG):
        structlog.get_logger(name).debug(
            action, category=Category.SYSTEM.value, action=action, **fields
        )


_SERIOUS = frozenset({"warning", "error", "critical"})


def count_serious(_logger: Any, _method: str, event_dict: Any) -> Any:
    """Count warning-and-above lines (``waddlebot_log_lines_total``) for the error-rate alert."""
    level = event_dict.get("level")
    if level in _SERIOUS:
        LOG_LINES.labels(level).inc()
    return event_dict


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)


def log_event(
    logger: Any,
    category: Category,
    action: str,
    result: str,
    *,
    community: str | None = None,
    user: str | None = None,
    level: str = "info",
    audited: bool = True,
    **fields: Any,
) -> None:
    """Emit one AAA log line with the fields every category shares.

    ``event`` is structlog's name for the message itself, so a field of that name is renamed
    ``event_id`` instead of breaking the call. ``audited=False`` keeps an AUTH/AUTHZ/AUDIT line
    out of the audit store (a routine decision recorded elsewhere).
    """
    if "event" in fields:
        fields["event_id"] = fields.pop("event")
    if audited and _audit_sinks and community and category in AUDITED:
        _offer_audit(category, action, result, community, user, fields)
    getattr(logger, level)(
        action,
        category=category.value,
        action=action,
        result=result,
        community=community,
        user=user,
        **fields,
    )


def _offer_audit(
    category: Category,
    action: str,
    result: str,
    community: str,
    user: str | None,
    fields: dict[str, Any],
) -> None:
    """Give the line to the audit store; a broken store never breaks the caller."""
    record = {
        "at": datetime.now(UTC),
        "category": category.value,
        "action": str(action),
        "result": str(result),
        "community_id": str(community),
        "user_id": None if user is None else str(user),
        "via": None if fields.get("via") is None else str(fields["via"]),
        "details": {k: v for k, v in fields.items() if k not in ("via", "exc_info")},
    }
    try:
        _audit_sinks[-1](record)
    except Exception:
        logging.getLogger(__name__).exception("audit sink failed")
