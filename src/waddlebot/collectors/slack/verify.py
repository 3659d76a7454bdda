"""Slack request signing (v0 HMAC-SHA256 over the raw body), checked with slack_sdk."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from slack_sdk.signature import Clock, SignatureVerifier


class _Clock(Clock):
    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now

    def now(self) -> float:
        return self._now()


def verify_slack(
    signing_secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    window: int = 300,
    now: Callable[[], float] = time.time,
) -> bool:
    """True when ``body`` was signed by Slack with ``signing_secret`` within ``window`` s."""
    lowered = {key.lower(): value for key, value in headers.items()}
    timestamp = lowered.get("x-slack-request-timestamp", "")
    signature = lowered.get("x-slack-signature", "")
    if not timestamp or not signature:
        return False
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs(now() - sent) > window:
        return False
    verifier = SignatureVerifier(signing_secret, clock=_Clock(now))
    try:
        return verifier.is_valid(body=body, timestamp=timestamp, signature=signature)
    except (UnicodeDecodeError, ValueError):
        return False
