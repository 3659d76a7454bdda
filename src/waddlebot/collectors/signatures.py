"""What signed platform webhooks share before their own cryptography: find the signature and
timestamp headers (case-insensitively) and refuse stale deliveries (replay window).

Slack (HMAC) and Discord (Ed25519) both sign a Unix timestamp; Twitch's RFC 3339 timestamp
and message id are handled in its own ``signature.py``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

MAX_DIGITS = 12


def timed_signature(
    headers: Mapping[str, str],
    *,
    signature_header: str,
    timestamp_header: str,
    window: int,
    now: Callable[[], float] = time.time,
) -> tuple[str, str] | None:
    """``(signature, timestamp)`` when both headers are present and the timestamp is within
    ``window`` seconds of now; None otherwise (missing, malformed or stale)."""
    lowered = {key.lower(): value for key, value in headers.items()}
    signature = lowered.get(signature_header.lower(), "")
    timestamp = lowered.get(timestamp_header.lower(), "")
    if not signature or not timestamp or not signature.isascii():
        return None  # a signature is hex (ASCII): anything else cannot match, refuse it here
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= MAX_DIGITS):
        return None  # Unix seconds: digits only, and few enough to compare with a float
    if abs(now() - int(timestamp)) > window:
        return None
    return signature, timestamp
