"""Discord interaction signatures: Ed25519 over ``timestamp + raw body`` (PyNaCl)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from waddlebot.collectors.signatures import timed_signature


def verify_discord(
    public_key_hex: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    window: int = 300,
    now: Callable[[], float] = time.time,
) -> bool:
    """True when Discord signed ``body`` with the application's key, recently."""
    found = timed_signature(
        headers,
        signature_header="x-signature-ed25519",
        timestamp_header="x-signature-timestamp",
        window=window,
        now=now,
    )
    if found is None:
        return False
    signature, timestamp = found
    try:
        VerifyKey(bytes.fromhex(public_key_hex)).verify(
            timestamp.encode() + body, bytes.fromhex(signature)
        )
    except (BadSignatureError, ValueError, TypeError):
        return False
    return True
