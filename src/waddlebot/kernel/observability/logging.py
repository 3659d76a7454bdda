"""Structured logging (structlog) with the AAA categories every log line carries.

Categories: AUTH (who are you), AUTHZ (may you), AUDIT (what changed), ERROR, SYSTEM.
Use :func:`log_event` so every decision has the same fields: community, user, action, result.
"""

from __future__ import annotations

import logging
import sys
from enum import StrEnum
from typing import Any

import structlog


class Category(StrEnum):
    AUTH = "AUTH"
    AUTHZ = "AUTHZ"
    AUDIT = "AUDIT"
    ERROR = "ERROR"
    SYSTEM = "SYSTEM"


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    """Route structlog and stdlib logging through one JSON (or console) renderer on stderr."""
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
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
    **fields: Any,
) -> None:
    """Emit one AAA log line with the fields every category shares.

    ``event`` is structlog's name for the message itself, so a field of that name is renamed
    ``event_id`` instead of breaking the call.
    """
    if "event" in fields:
        fields["event_id"] = fields.pop("event")
    getattr(logger, level)(
        action,
        category=category.value,
        action=action,
        result=result,
        community=community,
        user=user,
        **fields,
    )
