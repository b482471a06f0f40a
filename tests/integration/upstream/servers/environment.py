"""A stdio MCP server (Python SDK) answering what its environment holds: `python environment.py`.

Tool: `variable(name)` answers the value of environment variable `name`, or `-` when unset.
"""

from __future__ import annotations

import os

from mcp.server.mcpserver import MCPServer

server = MCPServer("environment-test", version="1.0.0")


@server.tool()
def variable(name: str) -> str:
    """The value of environment variable `name` (`-` when it is not set)."""
    return os.environ.get(name, "-")


if __name__ == "__main__":
    server.run("stdio")
