"""Tokens our own services present to each other.

Every service of one installation shares the secret key, so a token is an HMAC of the service
name under that key: nothing to store, nothing to distribute, and rotating the secret key
rotates every token. Compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac

PREFIX = "wbs_"


def service_token(secret_key: str, service: str) -> str:
    """The bearer token service ``service`` sends to its peers."""
    digest = hmac.new(secret_key.encode(), f"service:{service}".encode(), hashlib.sha256)
    return f"{PREFIX}{service}_{digest.hexdigest()}"


def service_headers(secret_key: str, service: str) -> dict[str, str]:
    """The ``Authorization`` header service ``service`` sends."""
    return {"Authorization": f"Bearer {service_token(secret_key, service)}"}


def verify_service_token(secret_key: str, token: str) -> str | None:
    """The service name if ``token`` is a valid service token, else None."""
    if not token.startswith(PREFIX):
        return None
    service, _, _ = token[len(PREFIX) :].rpartition("_")
    if not service:
        return None
    expected = service_token(secret_key, service)
    return service if hmac.compare_digest(expected.encode(), token.encode()) else None
