"""The conformance suite's reference upstream written as a new user would: the official Python SDK's
low-level `Server`, serving both eras on one Streamable HTTP endpoint (a request naming 2026-07-28
is served statelessly, `initialize` gets a session). Its sampling and elicitation tools ask the
client through the session back-channel during the call (`ctx.session.create_message` /
`elicit`), which only a legacy-era request can carry; its `test_input_required_result_*` tools
answer 2026-07-28 requests with `input_required` results instead.

Usage: `python dual_era_server.py PORT` (serves `http://127.0.0.1:PORT/mcp`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import sys
from collections.abc import Awaitable, Callable
from typing import Any, Final, get_args

import anyio
import mcp_types as types
import uvicorn
from mcp.server.caching import CacheableMethod, CacheHint
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel.server import Server
from mcp.server.streamable_http import EventCallback, EventMessage, EventStore
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS, JSONRPCMessage
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

Ctx = ServerRequestContext[Any]
Json = dict[str, Any]

_PNG: Final = (  # a 1x1 PNG
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0g"
    "AAAABJRU5ErkJggg=="
)
_WAV: Final = "UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA="
_STATE_KEY: Final = secrets.token_bytes(32)
_STEP_S: Final = 0.05  # the suite asks for ~50 ms between a tool's notifications


def _text(text: str) -> Json:
    return {"type": "text", "text": text}


def _result(*content: Json, error: bool = False) -> Json:
    return {"content": list(content), "isError": error}


def _schema(properties: Json | None = None, required: list[str] | None = None) -> Json:
    schema: Json = {"type": "object", "properties": properties or {}}
    if required:
        schema["required"] = required
    return schema


def _elicit(message: str, properties: Json, required: list[str] | None = None) -> Json:
    return {
        "method": "elicitation/create",
        "params": {"message": message, "requestedSchema": _schema(properties, required)},
    }


def _sample(prompt: str, max_tokens: int) -> Json:
    message = {"role": "user", "content": _text(prompt)}
    return {
        "method": "sampling/createMessage",
        "params": {"messages": [message], "maxTokens": max_tokens},
    }


# --- tools that ask through the session back-channel (legacy era) -----------------------------


async def _log_steps(ctx: Ctx, params: types.CallToolRequestParams) -> Json:
    for step, text in enumerate(
        ("Tool execution started", "Tool processing data", "Tool execution completed")
    ):
        if step:
            await anyio.sleep(_STEP_S)
        await ctx.session.send_log_message("info", text, related_request_id=ctx.request_id)
    return _result(_text("Tool with logging executed successfully"))


async def _progress(ctx: Ctx, params: types.CallToolRequestParams) -> Json:
    for step, done in enumerate((0, 50, 100)):
        if step:
            await anyio.sleep(_STEP_S)
        await ctx.session.report_progress(done, 100, f"Completed step {done} of 100")
    token = (params.meta or {}).get("progress_token", 0)
    return _result(_text(str(token)))


async def _sampling(ctx: Ctx, params: types.CallToolRequestParams) -> Json:
    prompt = str((params.arguments or {}).get("prompt", ""))
    message = types.SamplingMessage(role="user", content=types.TextContent(text=prompt))
    try:
        answer = await ctx.session.create_message(
            [message], max_tokens=100, related_request_id=ctx.request_id
        )
    except Exception as exc:  # the failure is the tool's answer
        return _result(_text(f"Sampling failed: {exc}"), error=True)
    content = answer.content
    return _result(_text(f"LLM response: {getattr(content, 'text', '')}"))


def _asking(
    schema: Json, prefix: str, message: str | None = None
) -> Callable[[Ctx, types.CallToolRequestParams], Awaitable[Json]]:
    async def tool(ctx: Ctx, params: types.CallToolRequestParams) -> Json:
        text = message or str((params.arguments or {}).get("message", ""))
        try:
            answer = await ctx.session.elicit(text, schema, related_request_id=ctx.request_id)
        except Exception as exc:  # the failure is the tool's answer
            return _result(_text(f"Elicitation failed: {exc}"), error=True)
        content = json.dumps(answer.content or {})
        return _result(_text(f"{prefix}: action={answer.action}, content={content}"))

    return tool


async def _reconnection(ctx: Ctx, params: types.CallToolRequestParams) -> Json:
    """SEP-1699: close the response stream mid-call; the client resumes with Last-Event-ID."""
    await ctx.session.send_log_message(
        "info", "Before disconnect", related_request_id=ctx.request_id
    )
    if ctx.close_sse_stream is not None:
        await ctx.close_sse_stream()
    await anyio.sleep(4 * _STEP_S)
    return _result(_text("Reconnection test completed"))


_DEFAULTS: Final = _schema(
    {
        "name": {"type": "string", "default": "John Doe"},
        "age": {"type": "integer", "default": 30},
        "score": {"type": "number", "default": 95.5},
        "status": {
            "type": "string",
            "enum": ["active", "inactive", "pending"],
            "default": "active",
        },
        "verified": {"type": "boolean", "default": True},
    }
)
_ENUMS: Final = _schema(
    {
        "untitledSingle": {"type": "string", "enum": ["option1", "option2", "option3"]},
        "titledSingle": {
            "type": "string",
            "oneOf": [{"const": f"value{i}", "title": f"Option {i}"} for i in (1, 2, 3)],
        },
        "legacyEnum": {
            "type": "string",
            "enum": ["opt1", "opt2", "opt3"],
            "enumNames": ["Option One", "Option Two", "Option Three"],
        },
        "untitledMulti": {
            "type": "array",
            "items": {"type": "string", "enum": ["option1", "option2"]},
        },
        "titledMulti": {
            "type": "array",
            "items": {"anyOf": [{"const": f"value{i}", "title": f"Choice {i}"} for i in (1, 2)]},
        },
    }
)
_CONTACT: Final = _schema(
    {
        "username": {"type": "string", "description": "User's response"},
        "email": {"type": "string", "description": "User's email address"},
    },
    ["username", "email"],
)

# --- tools that answer with input_required (2026-07-28, SEP-2322) -----------------------------


def _seal(state: str) -> str:
    tag = hmac.new(_STATE_KEY, state.encode(), hashlib.sha256).digest()
    return f"{state}.{base64.urlsafe_b64encode(tag).decode()}"


def _unseal(sealed: str | None) -> str | None:
    """The state the server sealed, or None; a token it did not seal is a protocol error."""
    if sealed is None:
        return None
    state, _, tag = sealed.rpartition(".")
    if not hmac.compare_digest(_seal(state), f"{state}.{tag}"):
        raise ValueError("requestState failed its integrity check")
    return state


_ASK_NAME: Final = {
    "user_name": _elicit("What is your name?", {"name": {"type": "string"}}, ["name"])
}
_MISSING_CAPABILITY: Final = -32021


def _needs(requests: Json, state: str = "0") -> Json:
    """An `input_required` result; `state` (the round) travels sealed in `requestState`."""
    return {"resultType": "input_required", "inputRequests": requests, "requestState": _seal(state)}


def _rounds(
    asked: list[Json], done: Callable[[dict[str, Any]], str]
) -> Callable[[Ctx, types.CallToolRequestParams], Awaitable[Json]]:
    """A tool asking `asked[i]` in round i (keyed by each dict's keys), then answering `done`."""

    async def tool(ctx: Ctx, params: types.CallToolRequestParams) -> Json:
        state = _unseal(params.request_state)
        answers = dict(params.input_responses or {})
        step = int(state) if state is not None else 0
        while step < len(asked) and set(asked[step]) <= set(answers):
            step += 1
        if step < len(asked):
            return _needs(asked[step], str(step))
        return _result(_text(done(answers)))

    return tool


def _name_of(answers: dict[str, Any]) -> str:
    content = getattr(answers.get("user_name"), "content", None) or {}
    return str(content.get("name", "?"))


async def _needs_sampling(ctx: Ctx, params: types.CallToolRequestParams) -> Json:
    declared = ctx.session.client_capabilities
    if declared is None or declared.sampling is None:
        raise MCPError(
            _MISSING_CAPABILITY,
            "This tool needs the client's sampling capability",
            {"requiredCapabilities": {"sampling": {}}},
        )
    return _result(_text("the client can sample"))


async def _ask_what_is_declared(ctx: Ctx, params: types.CallToolRequestParams) -> Json:
    """Asks only through capabilities the client declared on this request."""
    declared = ctx.session.client_capabilities
    asked: Json = {}
    if declared is not None and declared.sampling is not None:
        asked["greeting"] = _sample("Generate a greeting", 50)
    if declared is not None and declared.elicitation is not None:
        asked.update(_ASK_NAME)
    if params.input_responses or not asked:
        return _result(_text("done"))
    return _needs(asked)


_Tool = Callable[[Ctx, types.CallToolRequestParams], Awaitable[Json]]


async def _fixed(result: Json) -> Json:
    return result


def _static(result: Json) -> _Tool:
    return lambda ctx, params: _fixed(result)


async def _fails(ctx: Ctx, params: types.CallToolRequestParams) -> Json:
    return _result(_text("This tool intentionally returns an error for testing"), error=True)


_RESOURCE_TEXT: Final = {"uri": "test://embedded-resource", "mimeType": "text/plain"}
_TOOLS: Final[dict[str, tuple[Json, _Tool]]] = {
    "test_simple_text": (
        {},
        _static(_result(_text("This is a simple text response for testing."))),
    ),
    "test_image_content": (
        {},
        _static(_result({"type": "image", "data": _PNG, "mimeType": "image/png"})),
    ),
    "test_audio_content": (
        {},
        _static(_result({"type": "audio", "data": _WAV, "mimeType": "audio/wav"})),
    ),
    "test_embedded_resource": (
        {},
        _static(
            _result(
                {
                    "type": "resource",
                    "resource": {**_RESOURCE_TEXT, "text": "This is an embedded resource content."},
                }
            )
        ),
    ),
    "test_multiple_content_types": (
        {},
        _static(
            _result(
                _text("Multiple content types test:"),
                {"type": "image", "data": _PNG, "mimeType": "image/png"},
                {
                    "type": "resource",
                    "resource": {
                        "uri": "test://mixed-content-resource",
                        "mimeType": "application/json",
                        "text": '{"test":"data","value":123}',
                    },
                },
            )
        ),
    ),
    "test_tool_with_logging": ({}, _log_steps),
    "test_tool_with_progress": ({}, _progress),
    "test_error_handling": ({}, _fails),
    "test_sampling": (_schema({"prompt": {"type": "string"}}, ["prompt"]), _sampling),
    "test_elicitation": (
        _schema({"message": {"type": "string"}}, ["message"]),
        _asking(_CONTACT, "User response"),
    ),
    "test_elicitation_sep1034_defaults": (
        {},
        _asking(_DEFAULTS, "Elicitation completed", "Please provide user information"),
    ),
    "test_elicitation_sep1330_enums": (
        {},
        _asking(
            _ENUMS,
            "Elicitation completed",
            "Please select values using different enum schema types",
        ),
    ),
    "test_reconnection": ({}, _reconnection),
    "json_schema_2020_12_tool": (
        {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "$defs": {
                "address": {
                    "$anchor": "addressDef",
                    "type": "object",
                    "properties": {"street": {"type": "string"}, "city": {"type": "string"}},
                }
            },
            "properties": {
                "name": {"type": "string"},
                "address": {"$ref": "#/$defs/address"},
                "contactMethod": {"type": "string", "enum": ["phone", "email"]},
                "phone": {"type": "string"},
                "email": {"type": "string"},
            },
            "allOf": [{"anyOf": [{"required": ["phone"]}, {"required": ["email"]}]}],
            "if": {
                "properties": {"contactMethod": {"const": "phone"}},
                "required": ["contactMethod"],
            },
            "then": {"required": ["phone"]},
            "else": {"required": ["email"]},
            "additionalProperties": False,
        },
        _static(_result(_text("ok"))),
    ),
    "test_custom_headers": (
        _schema({"region": {"type": "string", "x-mcp-header": "Region"}}, ["region"]),
        _static(_result(_text("ok"))),
    ),
    "test_missing_capability": ({}, _needs_sampling),
    "test_logging_tool": ({}, _log_steps),
    "test_streaming_elicitation": ({}, _rounds([_ASK_NAME], lambda a: f"Hello, {_name_of(a)}!")),
    "test_input_required_result_capabilities": ({}, _ask_what_is_declared),
    "test_input_required_result_elicitation": (
        {},
        _rounds([_ASK_NAME], lambda a: f"Hello, {_name_of(a)}!"),
    ),
    "test_input_required_result_sampling": (
        {},
        _rounds(
            [{"capital_question": _sample("What is the capital of France?", 100)}],
            lambda a: "sampled",
        ),
    ),
    "test_input_required_result_list_roots": (
        {},
        _rounds(
            [{"client_roots": {"method": "roots/list", "params": {}}}], lambda a: f"roots: {a}"
        ),
    ),
    "test_input_required_result_request_state": (
        {},
        _rounds(
            [{"confirm": _elicit("Please confirm", {"ok": {"type": "boolean"}}, ["ok"])}],
            lambda a: "state-ok",
        ),
    ),
    "test_input_required_result_tampered_state": (
        {},
        _rounds(
            [{"confirm": _elicit("Please confirm", {"ok": {"type": "boolean"}}, ["ok"])}],
            lambda a: "ok",
        ),
    ),
    "test_input_required_result_multiple_inputs": (
        {},
        _rounds(
            [
                {
                    **_ASK_NAME,
                    "greeting": _sample("Generate a greeting", 50),
                    "client_roots": {"method": "roots/list", "params": {}},
                }
            ],
            lambda a: f"Hello, {_name_of(a)}!",
        ),
    ),
    "test_input_required_result_multi_round": (
        {},
        _rounds(
            [
                {
                    "step1": _elicit(
                        "Step 1: What is your name?", {"name": {"type": "string"}}, ["name"]
                    )
                },
                {
                    "step2": _elicit(
                        "Step 2: What is your favorite color?",
                        {"color": {"type": "string"}},
                        ["color"],
                    )
                },
            ],
            lambda a: "all rounds done",
        ),
    ),
}


async def _list_tools(ctx: Ctx, params: types.PaginatedRequestParams) -> Json:
    tools = [
        {
            "name": name,
            "description": f"Conformance tool {name}",
            "inputSchema": schema or _schema(),
        }
        for name, (schema, _) in _TOOLS.items()
    ]
    return {"tools": tools}


async def _call_tool(ctx: Ctx, params: types.CallToolRequestParams) -> Json:
    entry = _TOOLS.get(params.name)
    if entry is None:
        raise MCPError(INVALID_PARAMS, f"Unknown tool: {params.name}")
    try:
        return await entry[1](ctx, params)
    except ValueError as exc:  # a tampered requestState
        raise MCPError(INVALID_PARAMS, str(exc)) from exc


# --- resources, prompts, completion, subscriptions, logging ---------------------------------------

_TEMPLATE_PREFIX, _TEMPLATE_SUFFIX = "test://template/", "/data"
_RESOURCES: Final[dict[str, Json]] = {
    "test://static-text": {
        "mimeType": "text/plain",
        "text": "This is the content of the static text resource.",
    },
    "test://static-binary": {"mimeType": "image/png", "blob": _PNG},
    "test://watched-resource": {"mimeType": "text/plain", "text": "Watched resource content"},
}
_subscriptions: set[str] = set()


async def _list_resources(ctx: Ctx, params: types.PaginatedRequestParams) -> Json:
    return {
        "resources": [
            {
                "uri": uri,
                "name": uri.removeprefix("test://"),
                "description": f"Resource {uri}",
                "mimeType": body["mimeType"],
            }
            for uri, body in _RESOURCES.items()
        ]
    }


async def _list_templates(ctx: Ctx, params: types.PaginatedRequestParams) -> Json:
    template = {
        "uriTemplate": f"{_TEMPLATE_PREFIX}{{id}}{_TEMPLATE_SUFFIX}",
        "name": "template",
        "description": "A resource template with parameter substitution",
        "mimeType": "application/json",
    }
    return {"resourceTemplates": [template]}


async def _read_resource(ctx: Ctx, params: types.ReadResourceRequestParams) -> Json:
    uri = str(params.uri)
    body = _RESOURCES.get(uri)
    if body is None and uri.startswith(_TEMPLATE_PREFIX) and uri.endswith(_TEMPLATE_SUFFIX):
        item = uri[len(_TEMPLATE_PREFIX) : -len(_TEMPLATE_SUFFIX)]
        text = json.dumps({"id": item, "templateTest": True, "data": f"Data for ID: {item}"})
        body = {"mimeType": "application/json", "text": text}
    if body is None:
        raise MCPError(INVALID_PARAMS, "Resource not found", {"uri": uri})
    return {"contents": [{"uri": uri, **body}]}


async def _subscribe(ctx: Ctx, params: types.SubscribeRequestParams) -> Json:
    _subscriptions.add(str(params.uri))
    return {}


async def _unsubscribe(ctx: Ctx, params: types.UnsubscribeRequestParams) -> Json:
    _subscriptions.discard(str(params.uri))
    return {}


def _user(content: Json) -> Json:
    return {"role": "user", "content": content}


_PROMPTS: Final[dict[str, tuple[list[str], Callable[[dict[str, str]], list[Json]]]]] = {
    "test_simple_prompt": ([], lambda a: [_user(_text("This is a simple prompt for testing."))]),
    "test_prompt_with_arguments": (
        ["arg1", "arg2"],
        lambda a: [
            _user(_text(f"Prompt with arguments: arg1='{a.get('arg1')}', arg2='{a.get('arg2')}'"))
        ],
    ),
    "test_prompt_with_embedded_resource": (
        ["resourceUri"],
        lambda a: [
            _user(
                {
                    "type": "resource",
                    "resource": {
                        "uri": a.get("resourceUri", ""),
                        "mimeType": "text/plain",
                        "text": "Embedded resource content for testing.",
                    },
                }
            ),
            _user(_text("Please process the embedded resource above.")),
        ],
    ),
    "test_prompt_with_image": (
        [],
        lambda a: [
            _user({"type": "image", "data": _PNG, "mimeType": "image/png"}),
            _user(_text("Please analyze the image above.")),
        ],
    ),
    "test_input_required_result_prompt": ([], lambda a: [_user(_text("Context received."))]),
}
_ASK_CONTEXT: Final = {
    "user_context": _elicit(
        "What context should the prompt use?", {"context": {"type": "string"}}, ["context"]
    )
}


async def _list_prompts(ctx: Ctx, params: types.PaginatedRequestParams) -> Json:
    prompts = [
        {
            "name": name,
            "description": f"Conformance prompt {name}",
            "arguments": [{"name": arg, "required": True} for arg in args],
        }
        for name, (args, _) in _PROMPTS.items()
    ]
    return {"prompts": prompts}


async def _get_prompt(ctx: Ctx, params: types.GetPromptRequestParams) -> Json:
    entry = _PROMPTS.get(params.name)
    if entry is None:
        raise MCPError(INVALID_PARAMS, f"Unknown prompt: {params.name}")
    if params.name == "test_input_required_result_prompt" and not params.input_responses:
        return _needs(_ASK_CONTEXT)
    return {"messages": entry[1](params.arguments or {})}


async def _complete(ctx: Ctx, params: types.CompleteRequestParams) -> Json:
    return {"completion": {"values": [], "total": 0, "hasMore": False}}


async def _set_level(ctx: Ctx, params: types.SetLevelRequestParams) -> Json:
    return {}


server: Server[Any] = Server(
    "giru-conformance-dual-era",
    version="1.0.0",
    cache_hints=dict.fromkeys(get_args(CacheableMethod), CacheHint()),
)
_Handler = Callable[[Ctx, Any], Awaitable[Json]]


def _complete_by_default(handler: _Handler) -> _Handler:
    """2026-07-28 results name their type (legacy results have no such field)."""

    async def answer(ctx: Ctx, params: Any) -> Json:
        result = await handler(ctx, params)
        if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
            return {"resultType": "complete", **result}
        return result

    return answer


_HANDLERS: Final[list[tuple[str, type[Any], _Handler]]] = [
    ("tools/list", types.PaginatedRequestParams, _list_tools),
    ("tools/call", types.CallToolRequestParams, _call_tool),
    ("resources/list", types.PaginatedRequestParams, _list_resources),
    ("resources/templates/list", types.PaginatedRequestParams, _list_templates),
    ("resources/read", types.ReadResourceRequestParams, _read_resource),
    ("resources/subscribe", types.SubscribeRequestParams, _subscribe),
    ("resources/unsubscribe", types.UnsubscribeRequestParams, _unsubscribe),
    ("prompts/list", types.PaginatedRequestParams, _list_prompts),
    ("prompts/get", types.GetPromptRequestParams, _get_prompt),
    ("completion/complete", types.CompleteRequestParams, _complete),
    ("logging/setLevel", types.SetLevelRequestParams, _set_level),
]
for _method, _params, _handler in _HANDLERS:
    server.add_request_handler(_method, _params, _complete_by_default(_handler))


class _MemoryEventStore(EventStore):
    """Every event kept, so a client resumes a closed stream with Last-Event-ID (SEP-1699)."""

    def __init__(self) -> None:
        self._events: list[tuple[str, str, JSONRPCMessage | None]] = []

    async def store_event(self, stream_id: str, message: JSONRPCMessage | None) -> str:
        event_id = str(len(self._events) + 1)
        self._events.append((event_id, stream_id, message))
        return event_id

    async def replay_events_after(
        self, last_event_id: str, send_callback: EventCallback
    ) -> str | None:
        found = [event for event in self._events if event[0] == last_event_id]
        if not found:
            return None
        stream_id = found[0][1]
        for event_id, stream, message in self._events[int(last_event_id) :]:
            if stream == stream_id and message is not None:
                await send_callback(EventMessage(message, event_id))
        return stream_id


def main(port: int) -> None:
    app = server.streamable_http_app(event_store=_MemoryEventStore(), retry_interval=100)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main(int(sys.argv[1]))
