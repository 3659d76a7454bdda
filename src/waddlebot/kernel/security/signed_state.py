"""Signed, expiring values for round trips through a browser (OAuth ``state``, links).

Uses itsdangerous: the payload is signed with the secret key and a purpose-specific salt, so a
``state`` minted for Twitch login cannot be replayed as a Slack install.
"""

from __future__ import annotations

from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer


class InvalidState(Exception):
    """The value was tampered with, minted for another purpose, or has expired."""


class StateSigner:
    def __init__(self, secret_key: str, purpose: str) -> None:
        self._serializer = URLSafeTimedSerializer(secret_key, salt=f"waddlebot:{purpose}")

    def sign(self, payload: dict[str, Any]) -> str:
        return self._serializer.dumps(payload)

    def verify(self, token: str, *, max_age: int) -> dict[str, Any]:
        try:
            payload = self._serializer.loads(token, max_age=max_age)
        except SignatureExpired:
            raise InvalidState("expired") from None
        except BadSignature:
            raise InvalidState("invalid signature") from None
        if not isinstance(payload, dict):
            raise InvalidState("unexpected payload")
        return payload
