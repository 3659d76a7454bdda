"""A real MCP server over stdio for the tests (run with ``sys.executable``): ``add`` is
allow-listed by the tests, ``secret`` never is, ``slow`` outlasts the call timeout and
``big`` answers more than the size cap."""

from __future__ import annotations

import time

from mcp.server.mcpserver import MCPServer

server = MCPServer("calc")


@server.tool()
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


@server.tool()
def secret() -> str:
    """Never offered to the model."""
    return "the secret"


@server.tool()
def slow() -> str:
    """Answers after the call timeout."""
    time.sleep(30)
    return "late"


@server.tool()
def big() -> str:
    """A result far over the size cap."""
    return "x" * 50_000


if __name__ == "__main__":
    import sys

    if len(sys.argv) > 1:  # a port: streamable HTTP on loopback
        server.run(transport="streamable-http", host="127.0.0.1", port=int(sys.argv[1]))
    else:
        server.run()
