"""EventSub message signatures: HMAC-SHA256 over id + timestamp + raw body, and replay checks.

The header strings are used exactly as received (never re-formatted) and compared in
constant time; the body is the raw bytes, before any JSON parsing.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from datetime import UTC, datetime

ID_HEADER = "twitch-eventsub-message-id"
TIMESTAMP_HEADER = "twitch-eventsub-message-timestamp"
SIGNATURE_HEADER = "twitch-eventsub-message-signature"
TYPE_HEADER = "twitch-eventsub-message-type"

_RFC3339 = re.compile(
    r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$", re.IGNORECASE
)


class SignatureRejected(Exception):
    """The delivery is not provably from Twitch (missing, bad or stale); answer 403."""


def sign(secret: str, message_id: str, timestamp: str, body: bytes) -> str:
    """The ``Twitch-Eventsub-Message-Signature`` value Twitch would send."""
    message = message_id.encode() + timestamp.encode() + body
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def parse_timestamp(value: str) -> datetime:
    """RFC 3339 with up to 9 fractional digits (Python keeps 6); ValueError when malformed."""
    match = _RFC3339.match(value.strip())
    if match is None:
        raise ValueError(f"not an RFC 3339 timestamp: {value!r}")
    base, fraction, zone = match.groups()
    micros = (fraction or "0")[:6].ljust(6, "0")
    offset = "+00:00" if zone.upper() == "Z" else zone
    return datetime.fromisoformat(f"{base}.{micros}{offset}").astimezone(UTC)


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    max_age: float,
    now: datetime | None = None,
) -> str:
    """Return the message id of a genuine, fresh delivery; raise SignatureRejected otherwise."""
    message_id = headers.get(ID_HEADER)
    timestamp = headers.get(TIMESTAMP_HEADER)
    signature = headers.get(SIGNATURE_HEADER)
    if not (message_id and timestamp and signature):
        raise SignatureRejected("missing EventSub headers")
    expected = sign(secret, message_id, timestamp, body)
    if not hmac.compare_digest(expected.encode(), signature.strip().encode()):
        raise SignatureRejected("bad signature")
    try:
        sent = parse_timestamp(timestamp)
    except ValueError:
        raise SignatureRejected("malformed timestamp") from None
    age = ((now or datetime.now(UTC)) - sent).total_seconds()
    if abs(age) > max_age:
        raise SignatureRejected(f"stale message ({age:.0f}s old)")
    return message_id
