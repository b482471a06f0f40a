"""Interop matrix (issue 2): real MCP clients x real upstream servers, all through one Giru.

One module-scoped `giru run` fronts every upstream (then the same matrix runs again through the
production topology of `make stack`: Envoy configured over xDS, ext_authz, two workers); each
upstream has its own unprefixed virtual server (`/mcp/<upstream>`, so clients see the upstream's
own tool names) and all of them are aggregated, prefixed, on `/mcp`. Every (client, upstream) pair
is one test: connect, list tools, call a simple tool, call a tool with progress, and a sampling and
an elicitation round trip where the upstream has such tools. Assertions are on content a user would
see (the echoed text, the progress values, the sampled text and the elicited value coming back
inside the tool result).

Clients (tests/interop/drivers.py): Python `mcp` 2.3.0 `mode="legacy"` and `mode="auto"`
(in process); `@modelcontextprotocol/sdk` 1.32.2 (legacy, Streamable HTTP);
`@modelcontextprotocol/client` 2.4.0 with `versionNegotiation: {mode: "auto"}` and
`{pin: "2026-07-28"}`; Go SDK v1.8.0 with its defaults (2026-07-28 via `server/discover`) and
`go-sdk-2025` = the same client with `ProtocolVersion: "2025-11-25"` (legacy `initialize`);
Inspector CLI 2.12.0 (`--cli --transport http`, legacy era, one process per method).
Giru is dual-era, so every *auto* client (py-auto, ts-v2-auto, go-sdk) negotiates 2026-07-28
with it; the test asserts each client's negotiated version.

Upstreams: server-everything over stdio / SSE (2024-11-05) / Streamable HTTP; server-memory and
server-filesystem over stdio; the go-sdk conformance fixture over Streamable HTTP, legacy era
(sessions) and stateless 2026-07-28 era; and `aggregated` = Giru's `/mcp` (prefixed names; the
test calls everything-http's echo, go-legacy's progress and elicitation tools and
everything-stdio's sampling tool through it).

2026-07-28 clients get sampling and elicitation from legacy upstreams through Giru's MRTR
translation (docs/protocol/eras.md section 5): the upstream's server->client request becomes an
`input_required` result, the client's SDK fulfils it with the same handlers and retries.

Documented expectations: every (client, upstream, op) cell passes except these, which are
asserted to *not* complete the round trip (a fix makes the test fail: update this list):

1. sampling + elicitation, every client x go-stateless: the stateless fixture cannot send
   server->client requests (no session); `test_sampling` / `test_elicitation` fail there even
   without Giru (docs/development/peers.md, direct baseline). Its MRTR tools
   (`test_input_required_result_*`) would need MRTR in Giru's upstream connector (not yet).
2. sampling + elicitation, inspector x everything-*, go-legacy, aggregated: the CLI declares
   neither capability, so Giru answers the upstream's request itself with -32601 "the client did
   not declare the <op> capability" (asserted: the user sees it in the tool's error result)
   instead of sending the client a request it would not answer.
3. progress values, inspector x all: the CLI prints only the final result; the call must
   succeed, the notifications are not observable.
4. progress, sampling, elicitation x memory, filesystem: those servers have no such tools (not
   run); memory runs create + search, filesystem list + read.

server-filesystem "roots": Giru declares only `sampling` and `elicitation` upstream and does not
forward `roots/list`, so the server keeps the root from its argv; the test asserts that root is
the one every client sees (`list_allowed_directories`), whatever roots the client declares.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pytest

from tests.integration.gateway import CLIENT, KEY, http_server, run_giru
from tests.interop.drivers import (
    CLIENTS,
    GO_CLIENT_SOURCE,
    ClientKind,
    Outcome,
    Step,
    Summary,
    build_go_client,
    elicited_value,
    inspector_entry,
    run_client,
    sampled_text,
)
from tests.peers import TOOLS, memory_argv, require_tools
from tests.stack import running_stack

pytestmark = [pytest.mark.interop, pytest.mark.integration]

UPSTREAMS: Final = (
    "everything-stdio",
    "everything-sse",
    "everything-http",
    "memory",
    "filesystem",
    "go-legacy",
    "go-stateless",
    "aggregated",
)
MODERN_CLIENTS: Final[frozenset[ClientKind]] = frozenset(
    {"py-auto", "ts-v2-auto", "ts-v2-pinned", "go-sdk"}
)
LEGACY_CLIENTS: Final[frozenset[ClientKind]] = frozenset({"py-legacy", "ts-sdk", "go-sdk-2025"})
EVERYTHING: Final = ("everything-stdio", "everything-sse", "everything-http")
INTERACTIVE_UPSTREAMS: Final = (*EVERYTHING, "go-legacy", "aggregated")
FILE_TEXT: Final = "hello from the interop root\n"
GO_SIMPLE_TEXT: Final = "This is a simple text response for testing."
SEP: Final = "__"


INSPECTOR_GAP: Final = "the Inspector CLI declares neither sampling nor elicitation"


def expected_gap(client: ClientKind, upstream: str, op: str) -> str | None:
    """Why (client, upstream, op) is expected not to complete (see the table), else None."""
    if op in ("sampling", "elicitation"):
        if upstream == "go-stateless":
            return "the stateless fixture cannot send server->client requests"
        if client == "inspector":
            return INSPECTOR_GAP
    return None


# --- Giru and its upstreams -------------------------------------------------------------------


def stdio_server(name: str, argv: Sequence[str]) -> str:
    args = ", ".join(f'"{a}"' for a in argv[1:])
    return f"""
apiVersion: giru.ai/v1alpha1
kind: MCPServer
metadata: {{name: {name}}}
spec:
  transport: stdio
  command: {argv[0]}
  args: [{args}]
  timeouts: {{call: 20s, callMax: 60s, connect: 30s}}
"""


def solo(name: str) -> str:
    return f"""
apiVersion: giru.ai/v1alpha1
kind: VirtualServer
metadata: {{name: {name}}}
spec:
  servers: [{name}]
  prefix: false
"""


@dataclass(frozen=True)
class Matrix:
    base: str
    root: Path

    def url(self, upstream: str) -> str:
        return self.base + ("/mcp" if upstream == "aggregated" else f"/mcp/{upstream}")


@pytest.fixture(scope="module", params=["giru", "envoy-stack"])
def matrix(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    everything_stdio_argv: list[str],
    everything_sse: str,
    everything_http: str,
    filesystem_stdio_argv: Callable[[Path], list[str]],
    go_fixture_legacy: str,
    go_fixture_modern: str,
) -> Iterator[Matrix]:
    require_tools(TOOLS.node, inspector_entry(), GO_CLIENT_SOURCE / "go.sum")
    require_tools(TOOLS.package("@modelcontextprotocol/server-memory"))
    build_go_client()
    root = tmp_path_factory.mktemp("fs-root").resolve()
    (root / "hello.txt").write_text(FILE_TEXT)
    servers = [
        stdio_server("everything-stdio", everything_stdio_argv),
        http_server("everything-sse", "sse", everything_sse),
        http_server("everything-http", "streamable-http", everything_http),
        # a memory of its own per run: the entities the first run made would exist already
        stdio_server("memory", memory_argv(tmp_path_factory.mktemp("memory") / "memory.jsonl")),
        stdio_server("filesystem", filesystem_stdio_argv(root)),
        http_server("go-legacy", "streamable-http", go_fixture_legacy),
        http_server("go-stateless", "streamable-http", go_fixture_modern),
    ]
    names = [u for u in UPSTREAMS if u != "aggregated"]
    manifests = "---".join([*servers, CLIENT, *(solo(n) for n in names)])
    if request.param == "giru":  # one `giru run`
        with run_giru(manifests, tmp_path_factory.mktemp("giru")) as giru:
            yield Matrix(giru.base, root)
        return
    # the production topology: Envoy (xDS, ext_authz) in front of two workers (make stack)
    stack_root = tmp_path_factory.mktemp("stack")
    with running_stack(stack_root, manifests, env={"GIRU_E2E_KEY": KEY}) as stack:
        yield Matrix(stack.edge, root)


# --- plans and checks ---------------------------------------------------------------------------

Check = Callable[[Outcome], None]


def _everything_steps(kind: ClientKind, prefix: str = "") -> list[tuple[Step, Check]]:
    message = f"interop hello from {kind}"

    def echo(o: Outcome) -> None:
        assert o.text == f"Echo: {message}"

    def progress(o: Outcome) -> None:
        assert "Long running operation completed" in o.text
        assert "Steps: 3" in o.text
        if kind != "inspector":
            assert o.progress == [1.0, 2.0, 3.0]

    def sampling(o: Outcome) -> None:
        assert "LLM sampling result" in o.text
        assert sampled_text(kind) in o.text

    def elicitation(o: Outcome) -> None:
        assert "User provided the requested information" in o.text
        assert f"Name: {elicited_value(kind)}" in o.text

    return [
        (Step("echo", f"{prefix}echo", {"message": message}), echo),
        (
            Step(
                "progress",
                f"{prefix}trigger-long-running-operation",
                {"duration": 0.3, "steps": 3},
                progress=True,
            ),
            progress,
        ),
        (
            Step("sampling", f"{prefix}trigger-sampling-request", {"prompt": "hi", "maxTokens": 5}),
            sampling,
        ),
        (Step("elicitation", f"{prefix}trigger-elicitation-request"), elicitation),
    ]


def _go_steps(kind: ClientKind, prefix: str = "") -> list[tuple[Step, Check]]:
    def echo(o: Outcome) -> None:
        assert o.text == GO_SIMPLE_TEXT

    def progress(o: Outcome) -> None:
        assert o.text, "the fixture answers with the progress token it received"
        if kind != "inspector":
            assert o.progress == [0.0, 50.0, 100.0]

    def sampling(o: Outcome) -> None:
        assert o.text == f"LLM response: {sampled_text(kind)}"

    def elicitation(o: Outcome) -> None:
        assert "action=accept" in o.text
        assert f"username:{elicited_value(kind)}" in o.text

    return [
        (Step("echo", f"{prefix}test_simple_text"), echo),
        (Step("progress", f"{prefix}test_tool_with_progress", progress=True), progress),
        (Step("sampling", f"{prefix}test_sampling", {"prompt": "ping"}), sampling),
        (Step("elicitation", f"{prefix}test_elicitation", {"message": "Who?"}), elicitation),
    ]


def _memory_steps(kind: ClientKind) -> list[tuple[Step, Check]]:
    entity = f"interop-{kind}"
    observation = f"{kind} was here at {time.time_ns()}"

    def create(o: Outcome) -> None:
        assert entity in o.text

    def search(o: Outcome) -> None:
        assert entity in o.text
        assert observation in o.text

    entities = [{"name": entity, "entityType": "client", "observations": [observation]}]
    return [
        (Step("echo", "create_entities", {"entities": entities}), create),
        (Step("search", "search_nodes", {"query": entity}), search),
    ]


def _filesystem_steps(root: Path) -> list[tuple[Step, Check]]:
    def roots(o: Outcome) -> None:
        assert str(root) in o.text

    def read(o: Outcome) -> None:
        assert o.text == FILE_TEXT

    return [
        (Step("echo", "list_allowed_directories"), roots),
        (Step("read", "read_text_file", {"path": str(root / "hello.txt")}), read),
    ]


def _aggregated_steps(kind: ClientKind) -> list[tuple[Step, Check]]:
    ev = dict((s.op, (s, c)) for s, c in _everything_steps(kind, f"everything-http{SEP}"))
    go = dict((s.op, (s, c)) for s, c in _go_steps(kind, f"go-legacy{SEP}"))
    sampling_step, sampling_check = dict(
        (s.op, (s, c)) for s, c in _everything_steps(kind, f"everything-stdio{SEP}")
    )["sampling"]
    return [ev["echo"], go["progress"], (sampling_step, sampling_check), go["elicitation"]]


def plan(kind: ClientKind, upstream: str, root: Path) -> list[tuple[Step, Check]]:
    if upstream in EVERYTHING:
        return _everything_steps(kind)
    if upstream in ("go-legacy", "go-stateless"):
        return _go_steps(kind)
    if upstream == "memory":
        return _memory_steps(kind)
    if upstream == "filesystem":
        return _filesystem_steps(root)
    return _aggregated_steps(kind)


EXPECTED_TOOLS: Final = {
    "everything": {"echo", "get-sum", "trigger-long-running-operation"},
    "memory": {"create_entities", "read_graph", "search_nodes"},
    "filesystem": {"read_text_file", "list_allowed_directories", "write_file"},
    "go": {"test_simple_text", "test_tool_with_progress", "test_sampling", "test_elicitation"},
    "aggregated": {
        f"everything-stdio{SEP}echo",
        f"everything-sse{SEP}echo",
        f"everything-http{SEP}echo",
        f"memory{SEP}read_graph",
        f"filesystem{SEP}read_text_file",
        f"go-legacy{SEP}test_simple_text",
        f"go-stateless{SEP}test_simple_text",
    },
}


def _expected_tools(upstream: str) -> set[str]:
    family = upstream.split("-")[0] if upstream != "aggregated" else upstream
    return EXPECTED_TOOLS[family]


def _describe(summary: Summary, op: str) -> str:
    return f"{summary.client} {op}: {summary.calls.get(op)}\nsummary: {summary.raw or summary}"


def _passes(check: Check, outcome: Outcome) -> bool:
    try:
        check(outcome)
    except AssertionError:
        return False
    return True


# --- the matrix -----------------------------------------------------------------------------


@pytest.mark.parametrize("upstream", UPSTREAMS)
@pytest.mark.parametrize("client", CLIENTS)
async def test_interop(matrix: Matrix, client: ClientKind, upstream: str, tmp_path: Path) -> None:
    steps = plan(client, upstream, matrix.root)
    summary = await run_client(client, matrix.url(upstream), KEY, [s for s, _ in steps], tmp_path)

    assert summary.connected, f"{client} could not connect: {summary.error}"
    assert not summary.error, summary.error
    if client in MODERN_CLIENTS:
        assert summary.protocol_version == "2026-07-28", summary.raw or summary
    elif client in LEGACY_CLIENTS:
        assert summary.protocol_version == "2025-11-25", summary.raw or summary
    missing = _expected_tools(upstream) - set(summary.tools)
    assert not missing, f"tools/list lacks {sorted(missing)}; got {sorted(summary.tools)}"

    now_working: list[str] = []
    for step, check in steps:
        outcome = summary.calls[step.op]
        completed = outcome.ok and not outcome.is_error
        gap = expected_gap(client, upstream, step.op)
        if gap is None:
            assert completed, _describe(summary, step.op)
            check(outcome)
        elif completed and _passes(check, outcome):
            now_working.append(f"{step.op} ({gap}) now works: {outcome.text[:200]}")
        else:  # the gap shows as a clean error, not a hang or a crash of the session
            assert outcome.error or outcome.is_error, _describe(summary, step.op)
            if gap == INSPECTOR_GAP:  # Giru refuses, upstream, what the client did not declare
                assert f"the client did not declare the {step.op} capability" in outcome.text
    assert not now_working, f"update the expectations table: {now_working}"
    if client != "inspector" and upstream in INTERACTIVE_UPSTREAMS:
        assert (summary.sampled, summary.elicited) == (1, 1), summary.raw or summary
    else:
        assert (summary.sampled, summary.elicited) == (0, 0), summary.raw or summary
