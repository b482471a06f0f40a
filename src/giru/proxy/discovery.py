"""`discovery: search` on a virtual server: tools/list offers a few tools and Giru's own
`search_tools`, which finds the others by what they do.

A search answers only with tools the caller's view lists (its grants and subscriptions) and
that policy lets it see (`visible`, the same decision tools/list uses); found tools are called
by their listed names, through the same pipeline as any other tool call.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from typing import Any, Final

import orjson

from giru.catalog.search import ToolSearch
from giru.catalog.views import View
from giru.manifests.discovery import SEARCH_LIMIT_MAX
from giru.mcp.jsonrpc import INVALID_PARAMS, JsonRpcError

__all__ = ["SEARCH_TOOL", "search_listing", "search_result"]

SEARCH_TOOL: Final = "search_tools"
_QUERY_MAX: Final = 512
_DEFINITION: Final[dict[str, Any]] = {
    "name": SEARCH_TOOL,
    "title": "Search tools",
    "description": (
        "Find the tools of this server that fit a task. Describe the task in a few words "
        "(for example 'create a calendar event' or 'read a file'); the answer lists the best "
        "matching tools, best first, with their full definitions. Call a found tool by its "
        "`name`, with arguments that follow its `inputSchema`."
    ),
    "inputSchema": {
        "type": "object",
        "properties": {
            "query": {
                "type": "string",
                "minLength": 1,
                "maxLength": _QUERY_MAX,
                "description": "What the tool should do, in words",
            },
            "limit": {
                "type": "integer",
                "minimum": 1,
                "maximum": SEARCH_LIMIT_MAX,
                "description": "At most this many tools (default: the server's setting)",
            },
        },
        "required": ["query"],
        "additionalProperties": False,
    },
    "outputSchema": {
        "type": "object",
        "properties": {
            "tools": {
                "type": "array",
                "description": "Tool definitions as tools/list gives them, best match first",
                "items": {
                    "type": "object",
                    "properties": {"name": {"type": "string"}},
                    "required": ["name"],
                },
            },
        },
        "required": ["tools"],
    },
    "annotations": {
        "title": "Search tools",
        "readOnlyHint": True,
        "idempotentHint": True,
        "openWorldHint": False,
    },
}

Visible = Callable[[], Awaitable[Collection[str]]]
"""The names of the view's tools policy lets the caller see (asked only when a search runs)."""


def search_listing(
    search: ToolSearch, items: tuple[dict[str, Any], ...]
) -> tuple[dict[str, Any], ...]:
    """What tools/list answers on a search endpoint: `search_tools`, then the `alwaysList`
    tools among `items` (what the caller may see), in catalog order."""
    kept = tuple(
        i for i in items if i.get("name") in search.always_list and i["name"] != SEARCH_TOOL
    )
    return (_DEFINITION, *kept)


async def search_result(
    view: View, search: ToolSearch, arguments: Any, visible: Visible
) -> dict[str, Any]:
    """The `search_tools` result: the best matches the caller may use, as JSON in the text
    content and as `structuredContent`."""
    query, limit = _arguments(arguments, search.limit)
    index = await search.index.get()
    allowed: Collection[str] | None = None
    found: list[dict[str, Any]] = []
    for route in index.ranked(query):
        tool = view.tool_by_route.get(route)
        if tool is None or tool["name"] == SEARCH_TOOL:
            continue  # not offered to this caller (grants, subscriptions), or shadowed
        if allowed is None:
            allowed = await visible()
        if tool["name"] in allowed:
            found.append(tool)
            if len(found) == limit:
                break
    structured = {"tools": found}
    text = orjson.dumps(structured).decode()
    return {"content": [{"type": "text", "text": text}], "structuredContent": structured}


def _arguments(arguments: Any, default_limit: int) -> tuple[str, int]:
    if not isinstance(arguments, dict):
        raise JsonRpcError(INVALID_PARAMS, "search_tools takes {query, limit}")
    unknown = set(arguments) - {"query", "limit"}
    if unknown:
        raise JsonRpcError(INVALID_PARAMS, f"search_tools has no argument {sorted(unknown)[0]!r}")
    query = arguments.get("query")
    if not isinstance(query, str) or not query.strip() or len(query) > _QUERY_MAX:
        raise JsonRpcError(
            INVALID_PARAMS, f"search_tools: query must be 1-{_QUERY_MAX} characters of text"
        )
    limit = arguments.get("limit", default_limit)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= SEARCH_LIMIT_MAX:
        raise JsonRpcError(
            INVALID_PARAMS, f"search_tools: limit must be an integer from 1 to {SEARCH_LIMIT_MAX}"
        )
    return query, limit
