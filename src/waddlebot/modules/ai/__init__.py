"""AI chat: ``!ai``/``!ask`` and mentions answered by an OpenAI-compatible model or Ollama,
with MCP tools, budgets, memory and a block list (see docs/ai.md)."""

from __future__ import annotations

from waddlebot.modules.ai import api, commands  # noqa: F401 - register handlers and routes
from waddlebot.modules.ai.module import module

__all__ = ["module"]
