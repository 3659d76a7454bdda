"""Recognise "a dependency is away" among driver errors, and keep retrying through it.

Redis, SQLAlchemy, asyncpg and the socket layer each raise their own error when the server is
down, restarting or unreachable. :func:`dependency_of` maps all of them (and
:class:`~waddlebot.kernel.errors.DependencyUnavailable`) to the dependency's name, so one HTTP
handler answers 503 and background loops tell an outage (wait and retry, count no attempt)
from a bug. :class:`Backoff` is the one retry schedule: capped exponential with jitter.
"""

from __future__ import annotations

import random
import socket
from dataclasses import dataclass

import asyncpg
import redis.exceptions
import sqlalchemy.exc

from waddlebot.kernel.errors import DependencyUnavailable

CACHE = "cache"
DATABASE = "database"

# Raised (or handled) wherever they surface; the HTTP handler is registered for each.
UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (
    DependencyUnavailable,
    redis.exceptions.ConnectionError,  # includes BusyLoadingError: Redis replaying its AOF
    redis.exceptions.TimeoutError,
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.TimeoutError,  # no pooled connection in time
    sqlalchemy.exc.DBAPIError,  # only those that invalidated their connection (see below)
    asyncpg.exceptions.PostgresConnectionError,  # includes "connection does not exist"
    asyncpg.exceptions.OperatorInterventionError,  # starting up, shutting down, terminated
    ConnectionError,  # refused / reset, e.g. asyncpg connecting to a stopped server
    socket.gaierror,
)
_DATABASE_ERRORS = (sqlalchemy.exc.SQLAlchemyError, asyncpg.PostgresError)
_CONNECT_FAILED = ("Connect call failed", "Multiple exceptions")  # asyncio's connect errors


def dependency_of(error: BaseException) -> str | None:
    """The name of the dependency whose absence caused ``error`` (or one of its causes).

    None means the error is not an outage: a bug or bad data, to be handled as such.
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        name = _direct(current)
        if name is not None:
            return name
        current = current.__cause__ or current.__context__
    return None


def _direct(error: BaseException) -> str | None:
    if isinstance(error, DependencyUnavailable):
        return error.dependency
    if isinstance(error, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError):
        return CACHE
    if isinstance(error, sqlalchemy.exc.DBAPIError) and not isinstance(
        error, sqlalchemy.exc.OperationalError | sqlalchemy.exc.InterfaceError
    ):
        return DATABASE if error.connection_invalidated else None
    if isinstance(error, UNAVAILABLE_ERRORS):
        return DATABASE if isinstance(error, _DATABASE_ERRORS) else _origin(error)
    if isinstance(error, OSError) and any(text in str(error) for text in _CONNECT_FAILED):
        return _origin(error)
    return None


def _origin(error: BaseException) -> str:
    """Whose socket a plain connection error came from, judged by the innermost driver frame
    (asyncpg connecting raises a bare ``ConnectionRefusedError``)."""
    modules: list[str] = []
    frame = error.__traceback__
    while frame is not None:
        modules.append(str(frame.tb_frame.f_globals.get("__name__", "")))
        frame = frame.tb_next
    for module in reversed(modules):
        if module.startswith(("asyncpg", "sqlalchemy", "aiosqlite")):
            return DATABASE
        if module.startswith("redis"):
            return CACHE
    return "backend"


def as_unavailable(error: BaseException) -> DependencyUnavailable | None:
    """``error`` as a :class:`DependencyUnavailable`, or None when it is not an outage."""
    if isinstance(error, DependencyUnavailable):
        return error
    name = dependency_of(error)
    return None if name is None else DependencyUnavailable(name, describe(error))


def describe(error: BaseException) -> str:
    """``Type: message`` in one short line (driver reprs often hide the message)."""
    text = " ".join(str(error).split())
    if isinstance(error, DependencyUnavailable):
        return text[:300]
    return f"{type(error).__name__}: {text}"[:300]


@dataclass(frozen=True, slots=True)
class Backoff:
    """Capped exponential backoff with jitter: attempt 1 waits about ``initial`` seconds,
    each further attempt doubles it up to ``maximum``; the wait is drawn from its upper half,
    so many processes retrying one server do not hit it in lock-step."""

    initial: float = 0.2
    maximum: float = 5.0

    def delay(self, attempt: int) -> float:
        ceiling = min(self.maximum, self.initial * 2 ** max(0, min(attempt - 1, 30)))
        return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not a secret
