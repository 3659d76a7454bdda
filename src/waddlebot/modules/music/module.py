"""The ``music`` module object: song requests, the queue and both providers register on it."""

from __future__ import annotations

from waddlebot import __version__
from waddlebot.sdk import Module

module = Module(
    "music",
    version=__version__,
    description="Song requests: one queue per community, played on Spotify or YouTube.",
    categories=["built-in", "music"],
)
