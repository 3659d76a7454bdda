"""Text helpers for replies that must fit one chat message on every platform."""

from __future__ import annotations

MAX_LISTING = 450  # stays inside the smallest platform message limit once prefixed


def fit(text: str, limit: int = MAX_LISTING) -> str:
    """Trim a listing to one chat message, marking the cut."""
    return text if len(text) <= limit else text[: limit - 1].rstrip(", ") + "…"
