"""MCP tools for the model: a community's servers (stdio command or streamable HTTP URL)
are opened for one answer, their allow-listed tools offered in the OpenAI ``tools`` format,
and each call the model makes run through the official ``mcp`` SDK with a timeout and a
size cap. A server that cannot be reached is skipped (logged), never fatal to the answer.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from waddlebot.kernel.observability.logging import Category, get_logger, log_event

logger = get_logger("waddlebot.modules.ai.tools")

CONNECT_TIMEOUT = 10.0  # at most, for starting a server and listing its tools
MAX_RESULT = 2000  # characters of a tool result handed back to the model
SAFE_NAME = re.compile(r"[^a-zA-Z0-9_-]")

if TYPE_CHECKING:
    from mcp import ClientSession


@dataclass(frozen=True, slots=True)
class McpServerSpec:
    """How to reach one server, and which of its tools may run."""

    name: str
    transport: str  # "stdio" or "http"
    command: str | None
    args: list[str]
    url: str | None
    allowed_tools: list[str]


@dataclass(frozen=True, slots=True)
class OfferedTool:
    server: str
    tool: str
    session: ClientSession


def function_name(server: str, tool: str) -> str:
    """The name the model sees: ``server__tool`` within OpenAI's 64 ``[a-zA-Z0-9_-]``."""
    return SAFE_NAME.sub("_", f"{server}__{tool}")[:64]


class Toolbox:
    """Open sessions to a community's MCP servers for the length of one answer."""

    def __init__(
        self, servers: list[McpServerSpec], *, call_timeout: float, connect_timeout: float
    ) -> None:
        self.servers = servers
        self.call_timeout = call_timeout
        self.connect_timeout = connect_timeout
        self.offered: dict[str, OfferedTool] = {}
        self.schemas: list[dict[str, Any]] = []
        self._stack = AsyncExitStack()

    async def __aenter__(self) -> Toolbox:
        for server in self.servers:
            if not server.allowed_tools:
                continue  # nothing may run: do not even start it
            try:
                async with asyncio.timeout(self.connect_timeout):
                    session = await self._open(server)
                    listed = (await session.list_tools()).tools
            except Exception as error:  # unreachable, crashed, not MCP: answer without it
                log_event(
                    logger,
                    Category.ERROR,
                    "ai:mcp",
                    "unreachable",
                    level="error",
                    server=server.name,
                    detail=f"{type(error).__name__}: {error}",
                )
                continue
            for tool in listed:
                if tool.name not in server.allowed_tools:
                    continue
                name = function_name(server.name, tool.name)
                self.offered[name] = OfferedTool(server.name, tool.name, session)
                function: dict[str, Any] = {
                    "name": name,
                    "description": (tool.description or tool.name)[:1000],
                }
                if tool.input_schema:
                    function["parameters"] = tool.input_schema
                self.schemas.append({"type": "function", "function": function})
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self._stack.aclose()
        except Exception as error:  # a server that dies on the way out changes nothing
            log_event(logger, Category.ERROR, "ai:mcp", "close failed", detail=str(error))

    async def _open(self, server: McpServerSpec) -> ClientSession:
        # the mcp SDK is imported on first use, not with the module (start-up time)
        from mcp import ClientSession, StdioServerParameters
        from mcp.client.stdio import stdio_client
        from mcp.client.streamable_http import streamable_http_client

        stack = AsyncExitStack()
        await self._stack.enter_async_context(stack)
        if server.transport == "stdio":
            assert server.command is not None
            params = StdioServerParameters(
                command=server.command, args=server.args, env={"PATH": os.environ.get("PATH", "")}
            )
            read, write = await stack.enter_async_context(stdio_client(params))
        else:
            assert server.url is not None
            streams = await stack.enter_async_context(streamable_http_client(server.url))
            read, write = streams[0], streams[1]
        session = await stack.enter_async_context(
            ClientSession(read, write, read_timeout_seconds=self.connect_timeout)
        )
        await session.initialize()
        return session

    async def call(self, name: str, arguments: dict[str, Any]) -> str:
        """Run an offered tool; the result (or why there is none) as capped text."""
        offered = self.offered.get(name)
        if offered is None:
            return f"Error: no tool named {name} is available."
        try:
            async with asyncio.timeout(self.call_timeout):
                result = await offered.session.call_tool(
                    offered.tool, arguments, read_timeout_seconds=self.call_timeout
                )
        except TimeoutError:
            return f"Error: the tool did not answer within {self.call_timeout:g} seconds."
        except Exception as error:
            return f"Error: the tool failed ({type(error).__name__})."
        return cap(_text_of(result))


def _text_of(result: Any) -> str:
    from mcp.types import CallToolResult, TextContent

    if not isinstance(result, CallToolResult):
        return "Error: the tool asked for input, which is not supported here."
    parts = [block.text for block in result.content if isinstance(block, TextContent)]
    if not parts and result.structured_content is not None:
        parts.append(json.dumps(result.structured_content, default=str))
    text = "\n".join(parts) or "(no text)"
    return f"Error: {text}" if result.is_error else text


def cap(text: str, limit: int = MAX_RESULT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
