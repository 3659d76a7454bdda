"""Discord interaction signatures: Ed25519 over ``timestamp + raw body`` (PyNaCl)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey


def verify_discord(
    public_key_hex: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    window: int = 300,
    now: Callable[[], float] = time.time,
) -> bool:
    """True when Discord signed ``body`` with the application's key, recently."""
    lowered = {key.lower(): value for key, value in headers.items()}
    signature = lowered.get("x-signature-ed25519", "")
    timestamp = lowered.get("x-signature-timestamp", "")
    if not signature or not timestamp:
        return False
    try:
        if abs(now() - int(timestamp)) > window:
            return False
        VerifyKey(bytes.fromhex(public_key_hex)).verify(
            timestamp.encode() + body, bytes.fromhex(signature)
        )
    except (BadSignatureError, ValueError, TypeError):
        return False
    return True
