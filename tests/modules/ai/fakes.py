"""Fake model servers on loopback, real HTTP: an OpenAI-compatible ``/v1/chat/completions``
and Ollama's ``/api/chat``. Each answers from a script (:class:`Step`s, in order; an empty
script echoes the question) and records every request body."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.support import serve_asgi


@dataclass
class Step:
    """One scripted answer."""

    text: str = ""
    tool_calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    usage: int | None = 25  # total tokens; None: no usage reported
    status: int = 200
    code: str | None = None
    delay: float = 0.0
    finish_reason: str | None = None


@dataclass
class FakeModel:
    script: list[Step] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    keys: list[str | None] = field(default_factory=list)

    def next(self) -> Step:
        if self.script:
            return self.script.pop(0)
        question = self.requests[-1]["messages"][-1]["content"]
        return Step(text=f"You asked: {question}")

    def say(self, *steps: Step) -> None:
        self.script.extend(steps)

    @property
    def last(self) -> dict[str, Any]:
        return self.requests[-1]


async def _wait(step: Step, request: Request) -> None:
    """Sleep ``step.delay`` unless the client gives up first (a quick server shutdown)."""
    loop = asyncio.get_running_loop()
    until = loop.time() + step.delay
    while loop.time() < until:
        if await request.is_disconnected():
            return
        await asyncio.sleep(0.05)


def openai_app(model: FakeModel) -> FastAPI:
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def completions(request: Request) -> JSONResponse:
        model.requests.append(await request.json())
        model.keys.append(request.headers.get("authorization"))
        step = model.next()
        await _wait(step, request)
        if step.status != 200:
            error = {"message": "scripted failure", "type": "test", "code": step.code}
            return JSONResponse({"error": error}, status_code=step.status)
        calls = [
            {
                "id": f"call_{i}",
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(args)},
            }
            for i, (name, args) in enumerate(step.tool_calls)
        ]
        message: dict[str, Any] = {"role": "assistant", "content": step.text or None}
        if calls:
            message["tool_calls"] = calls
        body: dict[str, Any] = {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1,
            "model": model.requests[-1]["model"],
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "finish_reason": step.finish_reason or ("tool_calls" if calls else "stop"),
                }
            ],
        }
        if step.usage is not None:
            body["usage"] = {
                "prompt_tokens": step.usage - 5,
                "completion_tokens": 5,
                "total_tokens": step.usage,
            }
        return JSONResponse(body)

    return app


def ollama_app(model: FakeModel) -> FastAPI:
    app = FastAPI()

    @app.post("/api/chat")
    async def chat(request: Request) -> JSONResponse:
        model.requests.append(await request.json())
        step = model.next()
        await _wait(step, request)
        if step.status != 200:
            return JSONResponse({"error": "scripted failure"}, status_code=step.status)
        message: dict[str, Any] = {"role": "assistant", "content": step.text}
        if step.tool_calls:
            message["tool_calls"] = [
                {"function": {"name": name, "arguments": args}} for name, args in step.tool_calls
            ]
        body: dict[str, Any] = {
            "model": model.requests[-1]["model"],
            "created_at": "2026-11-30T00:00:00Z",
            "message": message,
            "done": True,
            "done_reason": "stop",
        }
        if step.usage is not None:
            body |= {"prompt_eval_count": step.usage - 5, "eval_count": 5}
        return JSONResponse(body)

    return app


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[str]:
    async with serve_asgi(app) as url:
        yield url
