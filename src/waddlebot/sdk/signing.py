"""HMAC signatures on module requests: the router signs, the SDK's HTTP adapter verifies.

``X-WaddleBot-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`` under the
module's signing secret. Requests older or newer than :data:`TOLERANCE` seconds are refused, so
a captured request cannot be replayed later; the comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import time

HEADER = "X-WaddleBot-Signature"
TOLERANCE = 300


def module_secret(secret_key: str, module: str) -> str:
    """The signing secret of ``module`` in one installation (derived: nothing to store)."""
    digest = hmac.new(secret_key.encode(), f"module:{module}".encode(), hashlib.sha256)
    return f"wbm_{digest.hexdigest()}"


def _mac(secret: str, timestamp: int, body: bytes) -> str:
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, *, now: float | None = None) -> str:
    """The signature header value for ``body``."""
    timestamp = int(time.time() if now is None else now)
    return f"t={timestamp},v1={_mac(secret, timestamp, body)}"


def verify(secret: str, body: bytes, header: str | None, *, now: float | None = None) -> bool:
    """True when ``header`` signs ``body`` under ``secret`` and is fresh."""
    if not header:
        return False
    fields = dict(part.strip().partition("=")[::2] for part in header.split(","))
    try:
        timestamp = int(fields.get("t", ""))
    except ValueError:
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > TOLERANCE:
        return False
    expected = _mac(secret, timestamp, body)
    return hmac.compare_digest(expected.encode(), fields.get("v1", "").encode())
