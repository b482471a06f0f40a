"""Client drivers of the interop matrix: each runs one plan against one Giru URL.

A plan is a list of tool calls (`Step`); every driver connects, lists the tools, runs the calls in
order and returns a `Summary` (the Node and Go drivers print it as one JSON line). A failing call
is recorded in the summary, never raised, so one broken capability does not hide the others.

Drivers answer server->client requests the same way, so results are recognisable per client:
sampling returns the text `interop-sampled-by-<tag>`; elicitation accepts, filling every required
field of the requested form with `interop-<tag>`.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

import mcp_types as types
from mcp import Client
from mcp.client.context import ClientRequestContext
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.dispatcher import ProgressFnT

from tests.peers import REPO_ROOT, TOOLS, node_env

__all__ = [
    "CLIENTS",
    "GO_CLIENT",
    "GO_CLIENT_SOURCE",
    "ClientKind",
    "Outcome",
    "Step",
    "Summary",
    "build_go_client",
    "run_client",
]

ClientKind = Literal[
    "py-legacy",
    "py-auto",
    "ts-sdk",
    "ts-v2-auto",
    "ts-v2-pinned",
    "go-sdk",
    "go-sdk-2025",
    "inspector",
]
CLIENTS: Final[tuple[ClientKind, ...]] = (
    "py-legacy",
    "py-auto",
    "ts-sdk",
    "ts-v2-auto",
    "ts-v2-pinned",
    "go-sdk",
    "go-sdk-2025",
    "inspector",
)

HERE: Final = Path(__file__).resolve().parent
TS_CLIENT: Final = HERE / "clients" / "tsclient.mjs"
GO_CLIENT_SOURCE: Final = HERE / "clients" / "goclient"
GO_CLIENT: Final = TOOLS.bin / "interop-goclient"
INSPECTOR: Final = "@modelcontextprotocol/inspector"
_INSPECTOR_ENTRY: Final = ("clients", "launcher", "build", "index.js")
_CLIENT_TIMEOUT_S: Final = 90.0
_INSPECTOR_TOOL_ERROR: Final = 5  # its exit code when the tool result has isError: true


@dataclass(frozen=True)
class Step:
    """One tool call of a plan. `op` names it in the summary (echo, progress, sampling, ...)."""

    op: str
    tool: str
    args: Mapping[str, Any] = field(default_factory=dict)
    progress: bool = False

    def as_json(self) -> dict[str, Any]:
        args = dict(self.args)
        return {"op": self.op, "tool": self.tool, "args": args, "progress": self.progress}


@dataclass
class Outcome:
    ok: bool = False
    is_error: bool = False
    text: str = ""
    error: str = ""
    progress: list[float] = field(default_factory=list)


@dataclass
class Summary:
    client: str
    connected: bool = False
    protocol_version: str | None = None
    error: str = ""
    tools: list[str] = field(default_factory=list)
    calls: dict[str, Outcome] = field(default_factory=dict)
    sampled: int = 0
    elicited: int = 0
    raw: str = ""

    @classmethod
    def from_json(cls, line: str) -> Summary:
        data = json.loads(line)
        calls = {
            op: Outcome(
                ok=bool(c.get("ok")),
                is_error=bool(c.get("isError")),
                text=str(c.get("text") or ""),
                error=str(c.get("error") or ""),
                progress=[float(p) for p in c.get("progress") or []],
            )
            for op, c in (data.get("calls") or {}).items()
        }
        return cls(
            client=str(data.get("client")),
            connected=bool(data.get("connected")),
            protocol_version=data.get("protocolVersion"),
            error=str(data.get("error") or ""),
            tools=list(data.get("tools") or []),
            calls=calls,
            sampled=int(data.get("sampled") or 0),
            elicited=int(data.get("elicited") or 0),
            raw=line,
        )


def _tag(kind: ClientKind) -> str:
    """The tag a client puts in its sampling/elicitation answers (as the drivers spell it)."""
    return {
        "py-legacy": "py-legacy",
        "py-auto": "py-auto",
        "ts-sdk": "sdk",
        "ts-v2-auto": "v2-auto",
        "ts-v2-pinned": "v2-pinned",
        "go-sdk": "go",
        "go-sdk-2025": "go",
        "inspector": "inspector",
    }[kind]


def sampled_text(kind: ClientKind) -> str:
    return f"interop-sampled-by-{_tag(kind)}"


def elicited_value(kind: ClientKind) -> str:
    return f"interop-{_tag(kind)}"


async def run_client(
    kind: ClientKind, url: str, api_key: str, steps: Sequence[Step], workdir: Path
) -> Summary:
    if kind in ("py-legacy", "py-auto"):
        return await _python(kind, url, api_key, steps)
    plan = json.dumps({"calls": [s.as_json() for s in steps]})
    if kind == "go-sdk":
        return await _subprocess([str(GO_CLIENT), url, api_key, plan], dict(os.environ))
    if kind == "go-sdk-2025":
        argv = [str(GO_CLIENT), url, api_key, plan, "2025-11-25"]
        return await _subprocess(argv, dict(os.environ))
    if kind == "inspector":
        return await _inspector(url, api_key, steps, workdir)
    flavour = {"ts-sdk": "sdk", "ts-v2-auto": "v2-auto", "ts-v2-pinned": "v2-pinned"}[kind]
    env = node_env({"INTEROP_NODE_MODULES": str(TOOLS.npm_modules)})
    return await _subprocess([str(TOOLS.node), str(TS_CLIENT), flavour, url, api_key, plan], env)


async def _run(argv: Sequence[str], env: Mapping[str, str]) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=dict(env),
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), _CLIENT_TIMEOUT_S)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return process.returncode, out.decode(errors="replace"), err.decode(errors="replace")


async def _subprocess(argv: Sequence[str], env: Mapping[str, str]) -> Summary:
    code, out, err = await _run(argv, env)
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if code != 0 or not lines:
        tail = f"{out[-2000:]}\n{err[-2000:]}"
        raise AssertionError(f"{argv[0]} exited {code} without a summary\n{tail}")
    return Summary.from_json(lines[-1])


# --- Python SDK (in process) ---------------------------------------------------------------


async def _python(kind: ClientKind, url: str, api_key: str, steps: Sequence[Step]) -> Summary:
    summary = Summary(client=kind)
    tag = _tag(kind)

    async def sample(
        context: ClientRequestContext, params: types.CreateMessageRequestParams
    ) -> types.CreateMessageResult:
        summary.sampled += 1
        return types.CreateMessageResult(
            role="assistant", content=types.TextContent(text=sampled_text(kind)), model="interop"
        )

    async def elicit(
        context: ClientRequestContext, params: types.ElicitRequestParams
    ) -> types.ElicitResult:
        summary.elicited += 1
        schema = getattr(params, "requested_schema", None) or {}
        required = schema.get("required", []) if isinstance(schema, dict) else []
        return types.ElicitResult(action="accept", content={k: f"interop-{tag}" for k in required})

    mode = "legacy" if kind == "py-legacy" else "auto"
    headers = {"Authorization": f"Bearer {api_key}"}
    try:
        async with (
            create_mcp_http_client(headers=headers) as http,
            Client(
                streamable_http_client(url, http_client=http),
                mode=mode,
                sampling_callback=sample,
                elicitation_callback=elicit,
            ) as client,
        ):
            summary.connected = True
            summary.protocol_version = client.protocol_version
            cursor: str | None = None
            while True:  # every page: the aggregated /mcp has more tools than one page
                listed = await client.list_tools(cursor=cursor)
                summary.tools += [tool.name for tool in listed.tools]
                cursor = listed.next_cursor
                if not cursor:
                    break
            for step in steps:
                summary.calls[step.op] = await _python_call(client, step)
    except Exception as exc:  # recorded, asserted on by the test
        summary.error = _explain(exc)
    return summary


async def _python_call(client: Client, step: Step) -> Outcome:
    outcome = Outcome()

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        outcome.progress.append(progress)

    callback: ProgressFnT | None = on_progress if step.progress else None
    try:
        result = await client.call_tool(
            step.tool, dict(step.args), read_timeout_seconds=30, progress_callback=callback
        )
    except Exception as exc:  # recorded, asserted on by the test
        outcome.error = _explain(exc)
        return outcome
    outcome.ok = True
    outcome.is_error = bool(result.is_error)
    outcome.text = "".join(b.text for b in result.content if isinstance(b, types.TextContent))
    return outcome


def _explain(exc: BaseException) -> str:
    """The leaf exceptions of a (possibly nested) exception group, one per line."""
    if isinstance(exc, BaseExceptionGroup):
        return "\n".join(_explain(inner) for inner in exc.exceptions)
    return f"{type(exc).__name__}: {exc}"


# --- Inspector CLI --------------------------------------------------------------------------


def inspector_entry() -> Path:
    return TOOLS.package(INSPECTOR).joinpath(*_INSPECTOR_ENTRY)


async def _inspector(url: str, api_key: str, steps: Sequence[Step], workdir: Path) -> Summary:
    """One CLI run per method: `tools/list`, then `tools/call` for each step."""
    env = node_env(
        {
            "HOME": str(workdir),  # it keeps a catalog and client config under ~/.mcp-inspector
            "MCP_CATALOG_PATH": str(workdir / "catalog.json"),
            "MCP_CLIENT_CONFIG_PATH": str(workdir / "client.json"),
        }
    )
    base = [
        str(TOOLS.node),
        str(inspector_entry()),
        "--cli",
        url,
        "--transport",
        "http",
        "--header",
        f"Authorization: Bearer {api_key}",
        "--format",
        "json",
        "--quiet",
    ]
    summary = Summary(client="inspector")
    code, out, err = await _run([*base, "--method", "tools/list"], env)
    if code != 0:
        summary.error = f"tools/list exited {code}: {(err or out)[-1500:]}"
        return summary
    summary.connected = True
    listed = json.loads(out)["result"]  # the CLI lists every page itself
    summary.tools = [tool["name"] for tool in listed["tools"]]
    if listed.get("nextCursor"):
        summary.error = "the Inspector CLI printed only one page of tools/list"
    for step in steps:
        argv = [*base, "--method", "tools/call", "--tool-name", step.tool]
        argv += ["--tool-args-json", json.dumps(dict(step.args))]
        code, out, err = await _run(argv, env)
        outcome = Outcome()
        if code not in (0, _INSPECTOR_TOOL_ERROR):
            outcome.error = f"exit {code}: {(err or out)[-1500:]}"
        else:
            result = json.loads(out)["result"]
            outcome.ok = True
            outcome.is_error = bool(result.get("isError"))
            outcome.text = "".join(
                b.get("text", "") for b in result.get("content", []) if b.get("type") == "text"
            )
        summary.calls[step.op] = outcome
    return summary


# --- Go client build --------------------------------------------------------------------------


def build_go_client() -> Path:
    """`go build` the Go driver into .tools/bin (scripts/peers-go-client.sh does the same)."""
    script = REPO_ROOT / "scripts" / "peers-go-client.sh"
    done = subprocess.run(
        ["bash", str(script)], capture_output=True, text=True, timeout=300, check=False
    )
    if done.returncode != 0 or not GO_CLIENT.exists():
        raise AssertionError(f"building the Go client failed:\n{done.stdout}\n{done.stderr}")
    return GO_CLIENT
