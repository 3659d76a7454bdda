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
import sys
from dataclasses import dataclass

import sqlalchemy.exc

from waddlebot.kernel.errors import DependencyUnavailable

CACHE = "cache"
DATABASE = "database"

# The drivers' own errors, named rather than imported: redis-py and asyncpg cost ~8 MiB and are
# loaded only by installations that use Redis or PostgreSQL (an error of a driver that was
# never imported cannot occur).
_CACHE_ERRORS = ("redis.exceptions", ("ConnectionError", "TimeoutError"))  # + BusyLoadingError
_POSTGRES_ERRORS = (
    "asyncpg.exceptions",
    # "connection does not exist" …; starting up, shutting down, terminated
    ("PostgresConnectionError", "OperatorInterventionError"),
)
_BASE_ERRORS: tuple[type[Exception], ...] = (
    DependencyUnavailable,
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.TimeoutError,  # no pooled connection in time
    sqlalchemy.exc.DBAPIError,  # only those that invalidated their connection (see below)
    ConnectionError,  # refused / reset, e.g. asyncpg connecting to a stopped server
    socket.gaierror,
)
_CONNECT_FAILED = ("Connect call failed", "Multiple exceptions")  # asyncio's connect errors


def _loaded(module: str, names: tuple[str, ...]) -> tuple[type[Exception], ...]:
    found = sys.modules.get(module)
    return tuple(getattr(found, name) for name in names) if found is not None else ()


def unavailable_errors(
    *, cache: bool = False, postgres: bool = False
) -> tuple[type[Exception], ...]:
    """Every error class that means a dependency is away (the HTTP edge answers each with
    503): ``cache``/``postgres`` import those drivers first, so their errors are included."""
    if cache:
        import redis.exceptions  # noqa: F401
    if postgres:
        import asyncpg.exceptions  # noqa: F401
    return _BASE_ERRORS + _loaded(*_CACHE_ERRORS) + _loaded(*_POSTGRES_ERRORS)


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
    if isinstance(error, _loaded(*_CACHE_ERRORS)):
        return CACHE
    if isinstance(error, sqlalchemy.exc.DBAPIError) and not isinstance(
        error, sqlalchemy.exc.OperationalError | sqlalchemy.exc.InterfaceError
    ):
        return DATABASE if error.connection_invalidated else None
    if isinstance(error, unavailable_errors()):
        return DATABASE if _from_database(error) else _origin(error)
    if isinstance(error, OSError) and any(text in str(error) for text in _CONNECT_FAILED):
        return _origin(error)
    return None


def _from_database(error: BaseException) -> bool:
    if isinstance(error, sqlalchemy.exc.SQLAlchemyError):
        return True
    asyncpg = sys.modules.get("asyncpg")
    return asyncpg is not None and isinstance(error, asyncpg.PostgresError)


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
