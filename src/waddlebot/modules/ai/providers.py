"""Chat-completion providers: any OpenAI-compatible endpoint through the official ``openai``
package, and Ollama through the official ``ollama`` package.

Both speak one small shape: OpenAI-style ``messages`` in, a :class:`Completion` out (text,
tool calls, tokens used). Every failure becomes a :class:`ProviderFailure` with a ``kind``
the module turns into one short chat line and a metric; no exception text reaches chat.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

FailureKind = Literal["timeout", "down", "auth", "rate_limited", "refused", "bad_model", "error"]
DEFAULT_OLLAMA_HOST = "http://127.0.0.1:11434"


@dataclass(frozen=True, slots=True)
class ToolCall:
    """The model asked to run ``name`` with ``arguments`` (already parsed; {} if invalid)."""

    id: str
    name: str
    arguments: dict[str, Any]
    valid: bool = True


@dataclass(frozen=True, slots=True)
class Completion:
    """One model turn. ``tokens`` is None when the provider reported no usage."""

    text: str
    tool_calls: list[ToolCall] = field(default_factory=list)
    tokens: int | None = None
    refused: bool = False


class ProviderFailure(Exception):
    """The provider could not answer; ``kind`` says why (for chat, logs and metrics)."""

    def __init__(self, kind: FailureKind, detail: str, *, spent: int = 0) -> None:
        super().__init__(detail)
        self.kind: FailureKind = kind
        self.detail = detail
        self.spent = spent  # tokens already used by earlier rounds of this answer


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    """Which provider, where, which model, with which key (already unsealed)."""

    provider: Literal["openai", "ollama"]
    model: str
    base_url: str | None = None
    api_key: str | None = None


class Provider(Protocol):
    name: str

    async def complete(
        self,
        messages: list[dict[str, Any]],
        *,
        tools: list[dict[str, Any]],
        temperature: float,
        max_tokens: int,
        timeout: float,
    ) -> Completion: ...


def provider_for(config: ProviderConfig) -> Provider:
    if config.provider == "ollama":
        return OllamaProvider(config)
    return OpenAIProvider(config)


class OpenAIProvider:
    """``POST {base_url}/chat/completions`` through ``openai.AsyncOpenAI`` (no SDK retries:
    a chat answer has one deadline, and 429/5xx are answered in chat instead)."""

    name = "openai"

    def __init__(self, config: ProviderConfig) -> None:
        self.config = config

    async def complete(
        self,
        messages: list[dict[str, Any]],
        *,
        tools: list[dict[str, Any]],
        temperature: float,
        max_tokens: int,
        timeout: float,
    ) -> Completion:
        import openai  # here, not at import: it costs ~1 s of every process's start-up

        client = openai.AsyncOpenAI(
            # local servers (vLLM, llama.cpp, Ollama's /v1) take any non-empty key
            api_key=self.config.api_key or "not-needed",
            base_url=self.config.base_url or None,
            timeout=timeout,
            max_retries=0,
        )
        extra: dict[str, Any] = {"tools": tools} if tools else {}
        try:
            async with client, asyncio.timeout(timeout):
                answer = await client.chat.completions.create(
                    model=self.config.model,
                    messages=messages,  # type: ignore[arg-type]
                    temperature=temperature,
                    max_tokens=max_tokens,  # the field every compatible server accepts
                    **extra,
                )
        except (TimeoutError, openai.APITimeoutError) as error:
            raise ProviderFailure("timeout", f"no answer within {timeout:g}s") from error
        except openai.APIConnectionError as error:
            raise ProviderFailure("down", str(error)) from error
        except openai.AuthenticationError as error:
            raise ProviderFailure("auth", str(error)) from error
        except openai.PermissionDeniedError as error:
            raise ProviderFailure("auth", str(error)) from error
        except openai.RateLimitError as error:
            raise ProviderFailure("rate_limited", str(error)) from error
        except openai.NotFoundError as error:
            raise ProviderFailure("bad_model", str(error)) from error
        except openai.BadRequestError as error:
            kind: FailureKind = "refused" if error.code == "content_filter" else "error"
            raise ProviderFailure(kind, str(error)) from error
        except openai.OpenAIError as error:  # 5xx, malformed answers
            raise ProviderFailure("down" if _is_5xx(error) else "error", str(error)) from error
        if not answer.choices:
            raise ProviderFailure("error", "the answer had no choices")
        choice = answer.choices[0]
        message = choice.message
        calls = [_openai_call(call) for call in (message.tool_calls or [])]
        refused = bool(getattr(message, "refusal", None)) or choice.finish_reason == (
            "content_filter"
        )
        tokens = answer.usage.total_tokens if answer.usage is not None else None
        return Completion(message.content or "", calls, tokens, refused)


def _is_5xx(error: Exception) -> bool:
    status = getattr(error, "status_code", None)
    return isinstance(status, int) and status >= 500


def _openai_call(call: Any) -> ToolCall:
    function = getattr(call, "function", None)
    if function is None:  # a custom (non-function) tool call: nothing we offered
        return ToolCall(id=str(call.id), name="", arguments={}, valid=False)
    try:
        arguments = json.loads(function.arguments or "{}")
    except json.JSONDecodeError:
        return ToolCall(id=str(call.id), name=str(function.name), arguments={}, valid=False)
    valid = isinstance(arguments, dict)
    return ToolCall(str(call.id), str(function.name), arguments if valid else {}, valid)


class OllamaProvider:
    """``POST {host}/api/chat`` (not streamed) through ``ollama.AsyncClient``."""

    name = "ollama"

    def __init__(self, config: ProviderConfig) -> None:
        self.config = config

    async def complete(
        self,
        messages: list[dict[str, Any]],
        *,
        tools: list[dict[str, Any]],
        temperature: float,
        max_tokens: int,
        timeout: float,
    ) -> Completion:
        import ollama  # here, not at import (start-up time)

        client = ollama.AsyncClient(
            host=self.config.base_url or DEFAULT_OLLAMA_HOST, timeout=timeout
        )
        try:
            async with client, asyncio.timeout(timeout):
                answer = await client.chat(
                    model=self.config.model,
                    messages=[_ollama_message(m) for m in messages],
                    tools=tools or None,
                    stream=False,
                    options={"temperature": temperature, "num_predict": max_tokens},
                )
        except TimeoutError as error:
            raise ProviderFailure("timeout", f"no answer within {timeout:g}s") from error
        except ollama.ResponseError as error:
            raise ProviderFailure(_ollama_kind(error.status_code), str(error.error)) from error
        except ConnectionError as error:
            raise ProviderFailure("down", str(error)) from error
        except Exception as error:  # httpx timeouts and transport errors, bad JSON
            kind: FailureKind = "timeout" if "timeout" in type(error).__name__.lower() else "down"
            raise ProviderFailure(kind, f"{type(error).__name__}: {error}") from error
        calls = [
            ToolCall(
                id=f"call_{i}",
                name=call.function.name,
                arguments=dict(call.function.arguments or {}),
            )
            for i, call in enumerate(answer.message.tool_calls or [])
        ]
        counted = (answer.prompt_eval_count or 0) + (answer.eval_count or 0)
        return Completion(answer.message.content or "", calls, counted or None)


def _ollama_kind(status: int) -> FailureKind:
    if status in (401, 403):
        return "auth"
    if status == 429:
        return "rate_limited"
    if status == 404:
        return "bad_model"
    return "down" if status >= 500 or status < 0 else "error"


def _ollama_message(message: dict[str, Any]) -> dict[str, Any]:
    """OpenAI-style → Ollama: tool-call arguments are objects, tool results name the tool."""
    out = {"role": message["role"], "content": message.get("content") or ""}
    if message.get("tool_calls"):
        out["tool_calls"] = [
            {
                "function": {
                    "name": call["function"]["name"],
                    "arguments": json.loads(call["function"]["arguments"] or "{}"),
                }
            }
            for call in message["tool_calls"]
        ]
    if message["role"] == "tool" and message.get("name"):
        out["tool_name"] = message["name"]
    return out
