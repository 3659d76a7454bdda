"""Refusals a service's own rules produce, with the HTTP status they mean.

Managers raise them; one exception handler (``kernel/web.py``) turns any of them into
``{"detail": message}`` with its status, so endpoints need no per-call translation, and chat
code can show ``message`` as it is.
"""

from __future__ import annotations


class Refusal(Exception):
    """A refusal with an HTTP status and a short message fit for a reply or an API answer."""

    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(Refusal):
    status = 404


class Forbidden(Refusal):
    status = 403


class Conflict(Refusal):
    status = 409


class Invalid(Refusal):
    status = 422


class DependencyUnavailable(Exception):
    """A backing service (database, cache, another WaddleBot service) did not answer.

    Not the caller's fault and not permanent: HTTP answers 503 with ``Retry-After`` (webhook
    platforms redeliver), background work backs off and retries, queued work stays queued.
    ``kernel/outages.py`` recognises the driver errors that mean the same thing.
    """

    def __init__(self, dependency: str, detail: str = "") -> None:
        super().__init__(f"{dependency} unavailable" + (f": {detail}" if detail else ""))
        self.dependency = dependency
        self.detail = detail
