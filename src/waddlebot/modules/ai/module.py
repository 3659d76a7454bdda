"""The ``ai`` module object; ``commands.py`` and ``api.py`` register on it."""

from __future__ import annotations

from waddlebot import __version__
from waddlebot.sdk import Module

module = Module(
    "ai",
    version=__version__,
    description="AI chat: !ai QUESTION answered by an OpenAI-compatible model or Ollama.",
)
