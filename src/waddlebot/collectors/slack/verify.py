"""Slack request signing (v0 HMAC-SHA256 over the raw body), checked with slack_sdk."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, cast

from waddlebot.collectors.signatures import timed_signature

if TYPE_CHECKING:
    from slack_sdk.signature import Clock


class _Clock:
    """slack_sdk's ``Clock`` (it only calls ``now()``), without importing slack_sdk at start."""

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
    found = timed_signature(
        headers,
        signature_header="x-slack-signature",
        timestamp_header="x-slack-request-timestamp",
        window=window,
        now=now,
    )
    if found is None:
        return False
    signature, timestamp = found
    from slack_sdk.signature import SignatureVerifier

    verifier = SignatureVerifier(signing_secret, clock=cast("Clock", _Clock(now)))
    try:
        return verifier.is_valid(body=body, timestamp=timestamp, signature=signature)
    except (UnicodeDecodeError, ValueError, TypeError):  # TypeError: non-ASCII str compare
        return False
